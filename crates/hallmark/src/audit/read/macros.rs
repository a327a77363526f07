//! Macros a CI system replaces in a script's text before the shell reads it: Azure
//! Pipelines' `$(name)` and Tekton's `$(params.name)`, `$(results.name.path)`. The shell
//! would read them as command substitutions; they are rewritten as references to a
//! variable (`${name}`, `${params_name}`: `.` and `-` become `_`), which the audit
//! resolves when the file sets it and otherwise leaves unknown.

use super::mapped::{Builder, Mapped, Quotes, chars_of};

/// True when `text` holds a macro the shell would misread.
pub(crate) fn any(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("$(") {
        if name(&rest[at + 2..]).is_some() {
            return true;
        }
        rest = &rest[at + 2..];
    }
    false
}

/// The macro name at the start of `s` (after `$(`), with its length up to the `)`.
fn name(s: &str) -> Option<(String, usize)> {
    let close = s.find(')')?;
    let inner = &s[..close];
    let ok = inner
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && inner
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-[]'\"".contains(c));
    // `$(date)` reads as a macro too: in these systems it is one when a variable of that
    // name exists, and an unknown value otherwise, which is what a substitution is.
    ok.then(|| {
        let name: String = inner
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        (name, close + 1)
    })
}

/// `text` (a scalar's value, lines and columns counted within it) with every macro
/// written as a shell reference; positions map back within the value.
pub(crate) fn rewrite(text: &str) -> Mapped {
    let cs = chars_of(text);
    let mut out = Builder::default();
    let mut quotes = Quotes::default();
    let mut i = 0;
    while let Some(&(c, pos)) = cs.get(i) {
        if c == '$' && cs.get(i + 1).is_some_and(|&(n, _)| n == '(') {
            // At most a line's worth: a macro never spans lines.
            let tail: String = cs[i + 2..]
                .iter()
                .take(256)
                .map(|&(c, _)| c)
                .take_while(|&c| c != '\n')
                .collect();
            if let Some((name, len)) = name(&tail) {
                out.reference(&name, pos, &quotes);
                i += 2 + len;
                continue;
            }
        }
        out.push(c, pos);
        quotes.feed(c);
        i += 1;
    }
    out.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::read::mapped::Pos;

    #[test]
    fn macros_become_references_and_substitutions_stay() {
        let m = rewrite("cosign sign $(params.IMAGE):$(tag) $(git rev-parse HEAD)\necho '$(x)'");
        assert_eq!(
            m.text,
            "cosign sign ${params_IMAGE}:${tag} $(git rev-parse HEAD)\necho ''\"${x}\"''"
        );
        assert_eq!(m.find("${tag}"), Some(Pos::new(1, 29)));
        assert_eq!(m.find("echo"), Some(Pos::new(2, 1)));
        assert!(any("a $(b.c) d"));
        assert!(!any("a $(git describe) d"));
    }
}
