//! Steps given as a program and its arguments rather than a script (Tekton's `command:`
//! and `args:`, Cloud Build's `entrypoint:` and `args:`): `sh -c SCRIPT` is that script,
//! anything else is one command line, each word placed where the file writes it.

use std::sync::Arc;

use super::mapped::{Builder, Located, Pos};
use super::{Source, macros};
use crate::audit::model::Script;
use crate::audit::yaml::Node;

/// Programs whose `-c` argument is a script.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh"];

/// The script `words` run: the argument after `-c` when the program is a shell, else the
/// words as one command line. `None` when there is no word, or a word is not a string.
/// `program`, when given, is the command the words are arguments of (an image's own
/// entrypoint), written where the step starts.
pub(crate) fn script(
    src: &Source<'_>,
    program: Option<(&str, &Node)>,
    words: &[&Node],
) -> Option<Script> {
    let first = match program {
        Some((p, _)) => p,
        None => words.first()?.str()?,
    };
    let name = first.rsplit('/').next().unwrap_or(first);
    if SHELLS.contains(&name) {
        // `bash -e -c SCRIPT`: flags before `-c`; words after the script are `$0`, `$1`….
        let at = words.iter().position(|w| {
            w.str()
                .is_some_and(|s| s.starts_with('-') && !s.starts_with("--") && s.contains('c'))
        })?;
        let node = words.get(at + 1)?;
        return with_macros(src, node);
    }
    let mut b = Builder::default();
    let start = match program {
        Some((_, n)) => n,
        None => *words.first()?,
    };
    if let Some((p, n)) = program {
        b.write(p, Pos::new(n.line, n.column));
    }
    for (i, w) in words.iter().enumerate() {
        let text = w.str()?;
        if i > 0 || program.is_some() {
            b.write(" ", Pos::new(w.line, w.column));
        }
        let plain = !text.is_empty()
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%{}$()".contains(c));
        if plain && !macros::any(text) {
            for (k, c) in text.chars().enumerate() {
                b.push(c, Pos::new(w.line, w.column + k));
            }
        } else {
            // One argument, whatever it holds: quoted so the shell reads one word.
            let quoted = if macros::any(text) {
                let rewritten = macros::rewrite(&text.replace(['\'', '"', '`', '\\'], ""));
                format!("\"{}\"", rewritten.text)
            } else {
                format!("'{}'", text.replace('\'', "'\\''"))
            };
            b.write(&quoted, Pos::new(w.line, w.column));
        }
    }
    let mapped = b.finish();
    let mut s = Script::new(
        mapped.text.clone(),
        (start.line, start.column.saturating_sub(1), false),
    );
    s.located = Some(Arc::new(Located::new(mapped, false)));
    Some(s)
}

/// The script a scalar holds, its macros rewritten.
pub(crate) fn with_macros(src: &Source<'_>, node: &Node) -> Option<Script> {
    let mut s = src.script(node)?;
    rewrite_macros(&mut s);
    Some(s)
}

/// Rewrites the macros of a script read as written.
pub(crate) fn rewrite_macros(s: &mut Script) {
    if s.located.is_none() && macros::any(&s.body) {
        let mapped = macros::rewrite(&s.body);
        s.body = mapped.text.clone();
        s.located = Some(Arc::new(Located::new(mapped, true)));
    }
}
