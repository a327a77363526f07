//! What a value is, as far as signing goes, once the variables known are substituted: a
//! reference by digest (safe to sign), by tag, one whose digest was asked of the registry
//! after the push, or unknown. Unknown stays unknown: a variable whose value cannot be
//! known is never taken for a reference without a tag.
//!
//! Also what a command writes to `$GITHUB_OUTPUT` and `$GITHUB_ENV`, which later steps
//! read.

use super::refs::{
    first_top, last_top, literal_digest, local_repo_digests, resolves_from_registry,
};
use super::state::{ShellState, StepFile, expr_key};
use crate::audit::model::{KnownValue, ValueClass};
use crate::audit::secrets::variable_at;
use crate::audit::shell::Command;

/// Most levels of variables followed when a variable's value is itself a variable.
const MAX_HOPS: usize = 8;

/// An expansion in a resolved text.
enum Expansion<'a> {
    /// `$NAME` or `${NAME}`, not known as text.
    Variable(&'a str),
    /// `${{ … }}`, its inside trimmed.
    Expression(String),
    /// `$(…)` or `` `…` ``.
    Command(&'a str),
    /// `${NAME:-word}` (or `-`, `:=`, `=`): the variable, else the word.
    Default(&'a str, &'a str),
    /// `${NAME#word}` (or `##`): the variable without a leading `word` (a scheme such
    /// as `oci://`), which leaves its tag or digest as it was.
    Prefix(&'a str, &'a str),
    /// `$1`, `${x%:*}` and the like.
    Other,
}

/// The expansions of `text`, in order (top level only).
fn expansions(text: &str) -> Vec<Expansion<'_>> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(at) = text[i..].find(['$', '`']).map(|a| a + i) {
        let tail = &text[at..];
        if let Some(inner) = tail.strip_prefix("${{") {
            let end = inner.find("}}").unwrap_or(inner.len());
            out.push(Expansion::Expression(expr_key(&inner[..end])));
            i = at + 3 + (end + 2).min(inner.len());
        } else if tail.starts_with("$(") || tail.starts_with('`') {
            // To the matching close, or the end.
            let (open, close) = if tail.starts_with('`') {
                (b'\0', b'`')
            } else {
                (b'(', b')')
            };
            let mut depth = 0usize;
            let mut end = tail.len();
            for (k, c) in tail.bytes().enumerate().skip(1) {
                if c == open {
                    depth += 1;
                } else if c == close {
                    if depth <= 1 || close == b'`' {
                        end = k + 1;
                        break;
                    }
                    depth -= 1;
                }
            }
            out.push(Expansion::Command(&tail[..end]));
            i = at + end.max(1);
        } else if let Some((name, default, len)) = with_default(tail) {
            out.push(Expansion::Default(name, default));
            i = at + len;
        } else if let Some((name, prefix, len)) = without_prefix(tail) {
            out.push(Expansion::Prefix(name, prefix));
            i = at + len;
        } else if let Some((name, len)) = variable_at(tail)
            .or_else(|| element_at(tail))
            .or_else(|| positional_at(tail))
        {
            out.push(Expansion::Variable(name));
            i = at + len;
        } else {
            if tail.len() > 1 {
                out.push(Expansion::Other);
            }
            i = at + 1;
        }
    }
    out
}

/// A positional parameter (`$1`, `${2}`, `$@`, `${*}`) at the start of `s`: a function's
/// parameter whose value is unknown may still have a class, given by its call.
pub(crate) fn positional_at(s: &str) -> Option<(&str, usize)> {
    let body = s.strip_prefix('$')?;
    let (inner, extra) = match body.strip_prefix('{') {
        Some(b) => (b, 2),
        None => (body, 0),
    };
    let c = *inner.as_bytes().first()?;
    if !(c.is_ascii_digit() || c == b'@' || c == b'*')
        || (extra == 2 && !inner[1..].starts_with('}'))
    {
        return None;
    }
    Some((&inner[..1], 2 + extra))
}

/// `${NAME[@]}`, `${NAME[0]}` at the start of `s`: an array's elements, by the array's
/// name.
fn element_at(s: &str) -> Option<(&str, usize)> {
    let inner = s.strip_prefix("${")?;
    let n = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let index = inner[n..].strip_prefix('[')?;
    let close = index.find("]}")?;
    (n > 0).then_some((&inner[..n], 2 + n + 1 + close + 2))
}

/// `${NAME#word}` or `${NAME##word}` at the start of `s`, `word` a literal: the name,
/// the word and the length.
fn without_prefix(s: &str) -> Option<(&str, &str, usize)> {
    let inner = s.strip_prefix("${")?;
    let n = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let rest = inner[n..].strip_prefix('#')?;
    let word = rest.strip_prefix('#').unwrap_or(rest);
    let close = word.find('}')?;
    let literal = !word[..close].contains(['*', '?', '[', '$', '{']);
    (n > 0 && literal).then(|| {
        (
            &inner[..n],
            &word[..close],
            s.len() - word.len() + close + 1,
        )
    })
}

/// `${NAME:-word}` at the start of `s`: the name, the word and the length.
fn with_default(s: &str) -> Option<(&str, &str, usize)> {
    let inner = s.strip_prefix("${")?;
    let n = inner
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let name = &inner[..n];
    let rest = &inner[n..];
    let op = [":-", ":=", "-", "="]
        .into_iter()
        .find(|op| rest.starts_with(op))?;
    let body = &rest[op.len()..];
    // To the matching `}`.
    let mut depth = 0usize;
    for (k, c) in body.bytes().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                return (!name.is_empty()).then_some((name, &body[..k], 2 + n + op.len() + k + 1));
            }
            b'}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// Contexts whose value is a plain name, never a tag or a digest: a reference ending in
/// one names no tag.
fn plain_context(expr: &str) -> bool {
    [
        "github.repository",
        "github.repository_owner",
        "github.actor",
        "github.event.repository.name",
        "github.event.repository.full_name",
    ]
    .contains(&expr)
}

/// The class of an expansion's value, as a whole reference: `None` when unknown.
fn class_of_expansion(e: &Expansion<'_>, st: &ShellState, hops: usize) -> Option<ValueClass> {
    match e {
        Expansion::Variable(name) => st.classes.get(*name).copied(),
        Expansion::Expression(key) => match st.exprs.get(key) {
            Some(KnownValue::Class(c)) => Some(*c),
            Some(KnownValue::Text(t)) if hops < MAX_HOPS => class_at(t, st, hops + 1),
            _ => None,
        },
        // The daemon's record of a push is the pushed digest; of a pull by tag, the
        // registry's answer for the tag.
        Expansion::Command(c) if local_repo_digests(c) => {
            if st
                .pulled
                .iter()
                .any(|r| !r.is_empty() && c.contains(r.as_str()))
            {
                Some(ValueClass::Lookup)
            } else {
                Some(ValueClass::Digest)
            }
        }
        Expansion::Command(c) => {
            (resolves_from_registry(c) || reads_looked_up_file(c, st)).then_some(ValueClass::Lookup)
        }
        // The variable's value is unknown here (else it would have been substituted): the
        // word may be the value.
        Expansion::Default(name, word) => st.classes.get(*name).copied().or_else(|| {
            (hops < MAX_HOPS)
                .then(|| class_at(word, st, hops + 1))
                .flatten()
        }),
        Expansion::Prefix(name, prefix) => match st.vars.get(*name) {
            Some(text) if hops < MAX_HOPS => {
                class_at(text.strip_prefix(prefix).unwrap_or(text), st, hops + 1)
            }
            _ => st.classes.get(*name).copied(),
        },
        Expansion::Other => None,
    }
}

/// `$(cat FILE)` or `$(< FILE)` of a file a registry lookup wrote (`crane digest … > FILE`).
fn reads_looked_up_file(c: &str, st: &ShellState) -> bool {
    let c = c
        .strip_prefix("$(")
        .map(|c| c.strip_suffix(')').unwrap_or(c))
        .or_else(|| c.strip_prefix('`').map(|c| c.trim_end_matches('`')))
        .unwrap_or(c)
        .trim();
    let file = c
        .strip_prefix("cat ")
        .or_else(|| c.strip_prefix('<'))
        .map(|f| f.trim().trim_matches(['"', '\'']));
    file.is_some_and(|f| st.looked_up.contains(super::commands::base(f)))
}

/// The class of `text` (variables known as text already substituted) as an image
/// reference: `None` when it cannot be known.
pub(crate) fn class_of(text: &str, st: &ShellState) -> Option<ValueClass> {
    class_at(text, st, 0)
}

fn class_at(text: &str, st: &ShellState, hops: usize) -> Option<ValueClass> {
    let text = text.trim().trim_start_matches("docker://");
    if text.is_empty() {
        return None;
    }
    if let Some(at) = last_top(text, b'@') {
        let digest = &text[at + 1..];
        if literal_digest(digest) {
            return Some(ValueClass::Digest);
        }
        if resolves_from_registry(digest)
            || expansions(digest)
                .iter()
                .any(|e| class_of_expansion(e, st, hops) == Some(ValueClass::Lookup))
        {
            return Some(ValueClass::Lookup);
        }
        // A digest from anywhere else (the build's output, a file) is not a tag.
        return Some(ValueClass::Digest);
    }
    let last = match last_top(text, b'/') {
        Some(at) => &text[at + 1..],
        None => text,
    };
    if let Some(colon) = first_top(last, b':')
        && colon + 1 < last.len()
    {
        return Some(ValueClass::Tag);
    }
    let found = expansions(last);
    match found.last() {
        // Written whole in the file: no tag, so `latest`.
        None => Some(ValueClass::Tag),
        Some(Expansion::Expression(e)) if plain_context(e) => Some(ValueClass::Tag),
        Some(e) => class_of_expansion(e, st, hops),
    }
}

/// The file a command appends to, when it is `$GITHUB_OUTPUT` or `$GITHUB_ENV`.
pub(crate) fn step_file(cmd: &Command) -> Option<StepFile> {
    cmd.redirects
        .iter()
        .filter(|r| matches!(r.op, ">>" | ">"))
        .find_map(|r| {
            let t = &r.target.text;
            if t.contains("GITHUB_OUTPUT") {
                Some(StepFile::Output)
            } else if t.contains("GITHUB_ENV") {
                Some(StepFile::Env)
            } else {
                None
            }
        })
}

/// The `NAME=value` lines a command writes (`echo`, `printf`, a heredoc given to `cat`),
/// from its arguments as resolved.
pub(crate) fn written_lines(
    name: &str,
    args: &[String],
    heredoc: Option<String>,
) -> Vec<(String, String)> {
    // Redirections are among the words: the text ends where they start.
    let end = args
        .iter()
        .position(|a| {
            a.trim_start_matches(|c: char| c.is_ascii_digit())
                .starts_with(['<', '>'])
        })
        .unwrap_or(args.len());
    let args = &args[..end];
    let text = match name {
        "echo" => args
            .iter()
            .skip_while(|a| matches!(a.as_str(), "-n" | "-e" | "-E" | "-ne" | "-en"))
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        "printf" => {
            let Some(format) = args.first() else {
                return Vec::new();
            };
            let mut out = String::new();
            let mut values = args[1..].iter();
            let mut rest = format.as_str();
            while let Some(at) = rest.find('%') {
                out.push_str(&rest[..at]);
                let spec = &rest[at + 1..];
                if let Some(after) = spec.strip_prefix('s') {
                    out.push_str(values.next().map(String::as_str).unwrap_or_default());
                    rest = after;
                } else {
                    out.push('%');
                    rest = spec;
                }
            }
            out.push_str(rest);
            out.replace("\\n", "\n")
        }
        "cat" => heredoc.unwrap_or_default(),
        _ => return Vec::new(),
    };
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once('=')?;
            let k = k.trim();
            // Output names may hold `-`.
            let named = !k.is_empty()
                && k.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            named.then(|| (k.to_string(), v.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::check::refs::{may_be_reference, split_reference};
    use std::rc::Rc;

    fn st() -> ShellState {
        let mut st = ShellState::default();
        st.classes.insert("TAGS".into(), ValueClass::Tag);
        st.exprs = Rc::new(
            [
                (
                    "steps.meta.outputs.tags".to_string(),
                    KnownValue::Class(ValueClass::Tag),
                ),
                (
                    "steps.d.outputs.digest".to_string(),
                    KnownValue::Text("$(crane digest reg.io/app:v1)".into()),
                ),
            ]
            .into(),
        );
        st
    }

    #[test]
    fn references_are_classed_by_what_names_their_digest_or_tag() {
        let st = st();
        let c = |t: &str| class_of(t, &st);
        assert_eq!(c("reg.io/app:v1"), Some(ValueClass::Tag));
        assert_eq!(c("reg.io/app"), Some(ValueClass::Tag));
        assert_eq!(c("$REPO:$TAG"), Some(ValueClass::Tag));
        assert_eq!(c("${{ steps.meta.outputs.tags }}"), Some(ValueClass::Tag));
        assert_eq!(c("$TAGS"), Some(ValueClass::Tag));
        assert_eq!(c("ghcr.io/${{ github.repository }}"), Some(ValueClass::Tag));
        assert_eq!(
            c("$REPO@$(crane digest $REPO:v1 | cut -d @ -f 2)"),
            Some(ValueClass::Lookup)
        );
        assert_eq!(
            c("reg.io/app:latest@${{ steps.d.outputs.digest }}"),
            Some(ValueClass::Lookup)
        );
        assert_eq!(
            c("${{ env.IMAGE }}@${{ steps.build.outputs.digest }}"),
            Some(ValueClass::Digest)
        );
        // Unknown stays unknown.
        assert_eq!(c("$IMAGE"), None);
        assert_eq!(c("${platform}"), None);
        assert_eq!(c("reg.io/$NAME"), None);
        assert_eq!(c("$(cat ref.txt)"), None);
        // A local image's RepoDigests are repo@sha256 references: signed by digest.
        let repo_digests = "$(docker inspect --format '{{index .RepoDigests 0}}' \"$IMAGE\")";
        assert_eq!(c(repo_digests), Some(ValueClass::Digest));
        // Unless that image was pulled by tag here: then it is the registry's answer.
        let mut pulled = st.clone();
        pulled.pulled.insert("$IMAGE".into());
        assert_eq!(class_of(repo_digests, &pulled), Some(ValueClass::Lookup));
        // A default is a value the variable may take.
        assert_eq!(c("${1:-reg.io/app:latest}"), Some(ValueClass::Tag));
        assert_eq!(c("${IMAGE:-$OTHER}"), None);
        // A scheme taken off a reference leaves its tag or digest.
        let mut st = st;
        st.vars
            .insert("CHART".into(), "oci://reg.io/charts/app:1.2.0".into());
        st.vars
            .insert("PINNED".into(), "oci://reg.io/charts/app@sha256:00".into());
        assert_eq!(class_of("${CHART#oci://}", &st), Some(ValueClass::Tag));
        assert_eq!(class_of("${PINNED##oci://}", &st), Some(ValueClass::Digest));
        assert_eq!(class_of("${CHART#*/}", &st), None);
    }

    #[test]
    fn only_what_may_be_a_reference_is_judged() {
        assert!(may_be_reference("ghcr.io/${OWNER,,}/${{ matrix.image }}"));
        assert!(may_be_reference("$(echo $IMAGE | cut -d : -f 1)"));
        assert!(!may_be_reference("GITHUB_ACTOR=$(whoami)"));
        assert!(!may_be_reference("env://COSIGN_KEY"));
        assert!(!may_be_reference("cosign.key"));
        assert_eq!(
            split_reference("$(x | cut -d @ -f 1)@$(crane digest a:b)"),
            ("$(x | cut -d @ -f 1)", Some("$(crane digest a:b)"))
        );
    }

    #[test]
    fn lines_written_for_later_steps_are_read() {
        assert_eq!(
            written_lines("echo", &["digest=sha256:1".into()], None),
            [("digest".to_string(), "sha256:1".to_string())]
        );
        assert_eq!(
            written_lines("printf", &["tag=%s\\n".into(), "v1".into()], None),
            [("tag".to_string(), "v1".to_string())]
        );
        assert_eq!(
            written_lines("cat", &[], Some("a=1\nb=2\n".into())).len(),
            2
        );
        assert!(written_lines("tee", &["x=1".into()], None).is_empty());
        assert_eq!(
            written_lines(
                "echo",
                &["a=1".into(), ">>".into(), "$GITHUB_ENV".into()],
                None
            ),
            [("a".to_string(), "1".to_string())]
        );
    }
}
