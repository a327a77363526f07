//! What a command is fed, as values: a `for` loop's list, the lines `read`/`mapfile` are
//! given (a here-string, `echo` through a pipe or `< <(…)`, a file — unknown unless a tool
//! wrote digest references to it), and the items `xargs` passes on.

use super::commands::{self, command_name};
use super::flow::class_of;
use super::refs;
use super::state::ShellState;
use crate::audit::model::ValueClass;
use crate::audit::shell::{self, Command, Word};

/// The values a list of words gives (a `for` loop's, what `read` is fed): each word
/// resolved, split where an unquoted expansion would be; or, when a word's text is not
/// known, the class of the values when one is known (a list of tags).
pub(super) fn list_values<'x>(
    words: impl Iterator<Item = &'x str>,
    st: &ShellState,
) -> (Vec<String>, Option<ValueClass>) {
    let mut values = Vec::new();
    let mut class = None;
    let mut unknown = false;
    for w in words {
        for text in st.resolve_all(w) {
            if text.contains('$') || text.contains('`') {
                let c = class_of(&text, st);
                if c == Some(ValueClass::Tag) || class.is_none() {
                    class = c.or(class);
                }
                unknown |= c.is_none();
                continue;
            }
            values.extend(
                text.split(|c: char| c.is_whitespace() || c == ',')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
    }
    // A list partly unknown is unknown, unless a known part is a tag.
    if unknown || class.is_some() {
        let tagged = class == Some(ValueClass::Tag)
            || values
                .iter()
                .any(|v| class_of(v, st) == Some(ValueClass::Tag));
        return (Vec::new(), tagged.then_some(ValueClass::Tag));
    }
    values.dedup();
    let keep = values.len().saturating_sub(8);
    values.drain(..keep);
    (values, None)
}

/// What feeds `read`/`mapfile`: words printed in the file, or a file's lines.
enum Feed {
    /// Words written in the file (a here-string, `echo`/`printf`).
    Words(Vec<String>),
    /// The lines of a file (`< FILE`, `< <(cat FILE)`, `cat FILE |`), by its name.
    File(String),
    /// Another command's output: unknown, or only its class known.
    Output(Option<ValueClass>),
}

/// True when `script`, a `sed` script, ends each line with a tag (`s|$|:${VERSION}|`):
/// whatever the lines were, they name tags after it.
fn sed_appends_tag(script: &str) -> bool {
    script.split(';').any(|e| {
        let e = e.trim();
        let Some(rest) = e.strip_prefix('s') else {
            return false;
        };
        let Some(d) = rest.chars().next().filter(|c| !c.is_alphanumeric()) else {
            return false;
        };
        let parts: Vec<&str> = rest[d.len_utf8()..].split(d).collect();
        parts.len() >= 2 && parts[0] == "$" && parts[1].len() > 1 && parts[1].starts_with(':')
    })
}

/// Commands a pipeline's lines pass through on their way to `read` without becoming
/// something else: what they pass on is what was fed to them.
const FILTERS: &[&str] = &["tr", "sort", "uniq", "jq", "grep", "head", "tail", "sed"];

/// What the command `words` (`echo …`, `cat FILE`, the text of `<(…)`) prints, as a feed.
fn feed_of(words: &[&str]) -> Feed {
    let name = words.first().map_or("", |w| commands::base(w));
    let args = || {
        words[1..]
            .iter()
            .take_while(|w| !matches!(**w, "||" | "&&" | ";" | "|"))
            .filter(|w| !w.starts_with('-'))
    };
    match name {
        "echo" | "printf" => Feed::Words(args().map(|w| w.to_string()).collect()),
        "cat" => match args().next() {
            Some(f) => Feed::File(f.to_string()),
            None => Feed::Output(None),
        },
        "sed" if args().any(|a| sed_appends_tag(a.trim_matches(['"', '\'']))) => {
            Feed::Output(Some(ValueClass::Tag))
        }
        _ => Feed::Output(None),
    }
}

/// Sets the targets of `read`/`mapfile` (the command at `index`) from what it is fed: a
/// here-string, `echo`/`printf` through `< <(…)` or a pipe, or a file. A file's lines are
/// unknown, unless a tool wrote digest references to it (`ko build --image-refs FILE`);
/// another command's output is unknown.
pub(super) fn read_into(read: &shell::Read, cmds: &[Command], index: usize, st: &mut ShellState) {
    let cmd = &cmds[index];
    let mut feeds: Vec<Feed> = Vec::new();
    for r in cmd.redirects.iter().filter(|r| matches!(r.op, "<<<" | "<")) {
        let t = r.target.text.as_str();
        feeds.push(if r.op == "<<<" {
            // One word, quoted or not: its quotes are not part of the values.
            let t = t
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(t);
            Feed::Words(vec![t.to_string()])
        } else if let Some(inner) = t.strip_prefix("<(").and_then(|t| t.strip_suffix(')')) {
            feed_of(&inner.split_whitespace().collect::<Vec<_>>())
        } else {
            Feed::File(t.to_string())
        });
    }
    // Back through the filters of the pipeline to what prints.
    let mut at = index;
    while let Some(prev) = at.checked_sub(1).map(|p| &cmds[p])
        && prev.then == shell::Joiner::Pipe
    {
        let words: Vec<&str> = prev.words.iter().map(|w| w.text.as_str()).collect();
        let name = prev.name().map(command_name).unwrap_or_default();
        if FILTERS.contains(&name.as_str()) && at > 1 && cmds[at - 2].then == shell::Joiner::Pipe {
            at -= 1;
            continue;
        }
        feeds.push(feed_of(&words));
        break;
    }
    let mut values: Vec<&str> = Vec::new();
    let mut class = None;
    let mut unknown = false;
    for f in &feeds {
        match f {
            Feed::Words(ws) => values.extend(ws.iter().flat_map(|w| refs::top_words(w))),
            Feed::File(name) => {
                let file = st.resolve(name);
                let file = commands::base(&file);
                if st.digest_files.contains(file) {
                    class = class.or(Some(ValueClass::Digest));
                } else if st.looked_up.contains(file) {
                    class = Some(ValueClass::Lookup);
                } else {
                    unknown = true;
                }
            }
            Feed::Output(None) => unknown = true,
            Feed::Output(Some(c)) => class = Some(*c),
        }
    }
    let (values, class) = if unknown {
        (Vec::new(), None)
    } else if class.is_some() {
        (Vec::new(), class)
    } else if values.is_empty() {
        (Vec::new(), None)
    } else {
        list_values(values.into_iter(), st)
    };
    for t in &read.targets {
        match values.last() {
            Some(last) if class.is_none() && !read.array => {
                st.set(&t.text, last.clone(), values.clone())
            }
            // An array's elements are read one by one (`${tags[@]}`): by their class.
            Some(_) if class.is_none() => {
                let tagged = values
                    .iter()
                    .any(|v| class_of(v, st) == Some(ValueClass::Tag));
                st.unknown(&t.text, tagged.then_some(ValueClass::Tag));
            }
            _ => st.unknown(&t.text, class),
        }
    }
}

/// Options by which a tool writes the digest references it pushed to a file: ko's
/// `--image-refs`/`--imagerefs`, crane's `--image-refs`, buildx's `--metadata-file`
/// (whose `containerimage.digest` is the pushed digest).
const DIGEST_FILE_OPTIONS: &[&str] = &["--image-refs", "--imagerefs", "--metadata-file"];

/// The files `words` (a command's) has a tool write pushed digest references to.
pub(super) fn digest_files(words: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (j, w) in words.iter().enumerate() {
        for o in DIGEST_FILE_OPTIONS {
            if *w == *o {
                out.extend(words.get(j + 1).map(|f| f.to_string()));
            } else if let Some(f) = w.strip_prefix(o).and_then(|r| r.strip_prefix('=')) {
                out.push(f.to_string());
            }
        }
    }
    out
}

/// For a command run by `xargs -I R` fed by `echo`/`printf` through a pipe: `R`, and the
/// words printed, each line of which takes `R`'s place in turn.
pub(super) fn xargs_feed(cmds: &[Command], index: usize) -> Option<(String, Vec<&Word>)> {
    let wrappers = cmds[index].wrappers();
    let at = wrappers.iter().position(|w| command_name(w) == "xargs")?;
    let mut replace = None;
    let mut options = wrappers[at + 1..].iter();
    while let Some(o) = options.next() {
        let o = o.text.as_str();
        replace = match o {
            "-I" => options.next().map(|w| w.text.clone()),
            "-i" | "--replace" => Some("{}".to_string()),
            _ => o
                .strip_prefix("--replace=")
                .or_else(|| o.strip_prefix("-I"))
                .map(str::to_string)
                .or(replace),
        };
    }
    let feeder = cmds[..index]
        .last()
        .filter(|c| c.then == shell::Joiner::Pipe)?;
    let name = feeder.name().map(command_name)?;
    let args = feeder.args();
    let printed: Vec<&Word> = match name.as_str() {
        "echo" => args.iter().filter(|w| !w.text.starts_with('-')).collect(),
        // The format's `%s` takes each argument in turn.
        "printf" => args.iter().skip(1).collect(),
        _ => return None,
    };
    Some((replace?, printed))
}

/// The texts an argument `text` stands for: itself, or, holding the replace string of an
/// `xargs` fed by [`xargs_feed`], each word fed in its place. Never empty.
pub(super) fn fed_texts(fed: &Option<(String, Vec<&Word>)>, text: &str) -> Vec<String> {
    match fed {
        Some((replace, words))
            if !replace.is_empty() && !words.is_empty() && text.contains(replace.as_str()) =>
        {
            words
                .iter()
                .map(|w| text.replace(replace.as_str(), &w.text))
                .collect()
        }
        _ => vec![text.to_string()],
    }
}
