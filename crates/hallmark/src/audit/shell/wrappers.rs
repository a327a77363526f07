//! Commands that run the command after them: the name a rule wants is past them.

use super::{Word, is_assignment};

/// Index of the command's name in `words`: past leading assignments, redirections and
/// wrappers.
pub(super) fn name_index(words: &[Word]) -> Option<usize> {
    let mut i = words.iter().position(|w| !is_assignment(&w.text))?;
    let mut wrapper = None;
    loop {
        while let Some(n) = words.get(i).map(redirect_len).filter(|n| *n > 0) {
            i += n;
        }
        // A wrapper with no command after it (`sudo -v`, `time`) is the command.
        let Some(w) = words.get(i) else {
            return wrapper;
        };
        match wrapper_len(w, &words[i + 1..]) {
            None => return Some(i),
            Some(n) => {
                wrapper = Some(i);
                i += 1 + n;
            }
        }
    }
}

/// How many words a redirection written here takes: 1 for `2>&1` or `<<<"$PW"`, 2 for a
/// bare operator and its target, 0 for a word that is no redirection.
fn redirect_len(word: &Word) -> usize {
    const OPS: &[&str] = &[
        "<<<", "<<-", "<<", "<>", "<&", "<", ">>", ">&", ">|", ">", "&>>", "&>",
    ];
    let t = word.text.trim_start_matches(|c: char| c.is_ascii_digit());
    if t.starts_with("<(") || t.starts_with(">(") {
        return 0;
    }
    match OPS.iter().find(|op| t.starts_with(*op)) {
        Some(op) if t.len() == op.len() => 2,
        Some(_) => 1,
        None => 0,
    }
}

/// The program a word names: its last path component, lower-cased.
pub(super) fn program(word: &Word) -> String {
    word.text
        .rsplit('/')
        .next()
        .unwrap_or(&word.text)
        .to_ascii_lowercase()
}

/// How many words after `word` are the wrapper's own (options, `NAME=V`, a duration), or
/// `None` when `word` does not run the command after it.
fn wrapper_len(word: &Word, rest: &[Word]) -> Option<usize> {
    let name = if word.dynamic {
        // `$SUDO apt-get …`: scripts that may or may not need sudo.
        match word.text.as_str() {
            "$SUDO" | "${SUDO}" | "$sudo" | "${sudo}" => "sudo".to_string(),
            _ => return None,
        }
    } else {
        program(word)
    };
    Some(match name.as_str() {
        "sudo" => options(
            rest,
            "ugpCDrtTUR",
            &[
                "--user",
                "--group",
                "--prompt",
                "--close-from",
                "--chdir",
                "--role",
                "--type",
                "--command-timeout",
                "--other-user",
                "--chroot",
                "--host",
            ],
            true,
        ),
        "doas" => options(rest, "uC", &[], false),
        "env" => options(rest, "uCS", &["--unset", "--chdir", "--split-string"], true),
        "time" => options(rest, "fo", &["--format", "--output"], false),
        "exec" => options(rest, "a", &[], false),
        "nohup" | "builtin" => options(rest, "", &[], false),
        "nice" => options(rest, "n", &["--adjustment"], false),
        "stdbuf" => options(rest, "ioe", &["--input", "--output", "--error"], false),
        "timeout" => {
            let n = options(rest, "sk", &["--signal", "--kill-after"], false);
            // The duration.
            n + usize::from(n < rest.len())
        }
        "xargs" => options(
            rest,
            "IELnPsda",
            &[
                "--arg-file",
                "--delimiter",
                "--max-args",
                "--max-procs",
                "--max-lines",
                "--max-chars",
                "--process-slot-var",
            ],
            false,
        ),
        "command" => {
            // `command -v x` and `command -V x` look a command up; they do not run it.
            let n = options(rest, "", &[], false);
            if rest[..n]
                .iter()
                .any(|w| !w.text.starts_with("--") && w.text.contains(['v', 'V']))
            {
                return None;
            }
            n
        }
        _ => return None,
    })
}

/// Counts the option words at the start of `rest`: short options in `short_arg` take an
/// argument (attached, or the next word when last in their cluster), long options in
/// `long_arg` take the next word unless written `--opt=value`, `--` ends the options, and
/// `NAME=V` words count as options when `assignments`.
fn options(rest: &[Word], short_arg: &str, long_arg: &[&str], assignments: bool) -> usize {
    let mut k = 0;
    while let Some(w) = rest.get(k) {
        let t = w.text.as_str();
        if t == "--" {
            return k + 1;
        }
        if let Some(long) = t.strip_prefix("--") {
            let takes = !long.contains('=') && long_arg.contains(&t);
            k += 1 + usize::from(takes);
            continue;
        }
        if let Some(letters) = t.strip_prefix('-').filter(|l| !l.is_empty()) {
            let takes = letters
                .char_indices()
                .find(|(_, c)| short_arg.contains(*c))
                .is_some_and(|(at, c)| at + c.len_utf8() == letters.len());
            k += 1 + usize::from(takes);
            continue;
        }
        if assignments && is_assignment(t) {
            k += 1;
            continue;
        }
        break;
    }
    k.min(rest.len())
}
