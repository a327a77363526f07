//! A shell tokenizer for `run:` and `script:` bodies, `RUN` lines and scripts: enough of
//! POSIX shell to find commands and their words where a person would see them.
//!
//! It understands single and double quotes, backslash escapes, line continuations,
//! comments, `$VAR`, `${VAR}`, `$(…)` and backquotes (kept inside the word), GitHub's
//! `${{ … }}` expressions (kept whole), and the operators that separate commands (`;`,
//! `&&`, `||`, `|`, `&`, newlines). It does not run anything or expand anything; words
//! that contain a substitution say so.

/// One word of a command, as written (quotes removed), with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word with quotes and escapes removed; substitutions kept as written.
    pub text: String,
    /// 1-based line where the word starts (within the body given).
    pub line: usize,
    /// 1-based column where the word starts.
    pub column: usize,
    /// True when part of the word was quoted.
    pub quoted: bool,
    /// True when the word holds `$…`, `${{ … }}`, `$(…)` or a backquoted command.
    pub dynamic: bool,
}

/// How a command is joined to the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    /// `;`, `&`, a newline, or the end.
    Sequence,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `|`: the next command reads this one's output.
    Pipe,
}

/// One simple command: its words, and how it is joined to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The words, assignments first (`A=b cmd …`).
    pub words: Vec<Word>,
    /// How the next command follows.
    pub then: Joiner,
}

impl Command {
    /// The command's name: the first word that is not an assignment.
    pub fn name(&self) -> Option<&Word> {
        self.words.iter().find(|w| !is_assignment(&w.text))
    }

    /// The words after the name.
    pub fn args(&self) -> &[Word] {
        let skip = self
            .words
            .iter()
            .position(|w| !is_assignment(&w.text))
            .map_or(self.words.len(), |i| i + 1);
        &self.words[skip..]
    }

    /// `(name, value)` of each leading assignment.
    pub fn assignments(&self) -> impl Iterator<Item = (&str, &Word)> {
        self.words
            .iter()
            .take_while(|w| is_assignment(&w.text))
            .filter_map(|w| w.text.split_once('=').map(|(k, _)| (k, w)))
    }
}

/// `NAME=value`, with a shell variable name.
pub(crate) fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Most bytes of one body tokenized: a hostile file costs bounded work. A body is never
/// longer than the file it is in, so every body of a file that was read is tokenized
/// whole; a longer one (from another caller) is cut here, and the audit says so.
pub(crate) const MAX_SCRIPT_BYTES: usize = super::MAX_FILE_BYTES as usize;

struct Cursor<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
    column: usize,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }
}

/// Splits `body` into commands. Never fails: an unterminated quote ends at the end of the
/// body, as a person reading it would take it.
pub fn tokenize(body: &str) -> Vec<Command> {
    let body = if body.len() > MAX_SCRIPT_BYTES {
        let mut end = MAX_SCRIPT_BYTES;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        &body[..end]
    } else {
        body
    };
    let mut c = Cursor {
        chars: body.chars().peekable(),
        line: 1,
        column: 1,
    };
    let mut commands = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let finish = |words: &mut Vec<Word>, then: Joiner, commands: &mut Vec<Command>| {
        if !words.is_empty() {
            commands.push(Command {
                words: std::mem::take(words),
                then,
            });
        } else if then == Joiner::Pipe
            && let Some(last) = commands.last_mut()
        {
            last.then = Joiner::Pipe;
        }
    };
    while let Some(ch) = c.peek() {
        match ch {
            ' ' | '\t' | '\r' => {
                c.bump();
            }
            '\\' => {
                // A line continuation between words.
                c.bump();
                if c.peek() == Some('\n') {
                    c.bump();
                } else {
                    let (line, column) = (c.line, c.column - 1);
                    let mut w = read_word(&mut c);
                    w.text.insert(0, '\\');
                    w.line = line;
                    w.column = column;
                    words.push(w);
                }
            }
            '#' => {
                // At a word boundary, a comment runs to the end of the line.
                while let Some(ch) = c.peek() {
                    if ch == '\n' {
                        break;
                    }
                    c.bump();
                }
            }
            '\n' | ';' => {
                c.bump();
                finish(&mut words, Joiner::Sequence, &mut commands);
            }
            '&' => {
                c.bump();
                if c.peek() == Some('&') {
                    c.bump();
                    finish(&mut words, Joiner::And, &mut commands);
                } else {
                    finish(&mut words, Joiner::Sequence, &mut commands);
                }
            }
            '|' => {
                c.bump();
                if c.peek() == Some('|') {
                    c.bump();
                    finish(&mut words, Joiner::Or, &mut commands);
                } else {
                    finish(&mut words, Joiner::Pipe, &mut commands);
                }
            }
            '(' | ')' | '{' | '}' if words.is_empty() => {
                // Grouping: the commands inside are read as commands.
                c.bump();
            }
            _ => words.push(read_word(&mut c)),
        }
    }
    finish(&mut words, Joiner::Sequence, &mut commands);
    commands
}

/// Reads one word starting at the cursor.
fn read_word(c: &mut Cursor<'_>) -> Word {
    let mut w = Word {
        text: String::new(),
        line: c.line,
        column: c.column,
        quoted: false,
        dynamic: false,
    };
    while let Some(ch) = c.peek() {
        match ch {
            ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' => break,
            '#' if w.text.is_empty() => break,
            '\'' => {
                c.bump();
                w.quoted = true;
                while let Some(ch) = c.bump() {
                    if ch == '\'' {
                        break;
                    }
                    w.text.push(ch);
                }
            }
            '"' => {
                c.bump();
                w.quoted = true;
                while let Some(ch) = c.peek() {
                    match ch {
                        '"' => {
                            c.bump();
                            break;
                        }
                        '\\' => {
                            c.bump();
                            match c.bump() {
                                Some('\n') => {}
                                Some(e @ ('"' | '\\' | '$' | '`')) => w.text.push(e),
                                Some(other) => {
                                    w.text.push('\\');
                                    w.text.push(other);
                                }
                                None => {}
                            }
                        }
                        '$' | '`' => read_substitution(c, &mut w),
                        _ => {
                            w.text.push(ch);
                            c.bump();
                        }
                    }
                }
            }
            '\\' => {
                c.bump();
                match c.bump() {
                    Some('\n') | None => {}
                    Some(e) => w.text.push(e),
                }
            }
            '$' | '`' => read_substitution(c, &mut w),
            _ => {
                w.text.push(ch);
                c.bump();
            }
        }
    }
    w
}

/// Copies a `$VAR`, `${…}`, `${{ … }}`, `$(…)` or `` `…` `` into the word as written.
fn read_substitution(c: &mut Cursor<'_>, w: &mut Word) {
    let Some(first) = c.bump() else { return };
    w.text.push(first);
    if first == '`' {
        w.dynamic = true;
        while let Some(ch) = c.bump() {
            w.text.push(ch);
            if ch == '`' {
                break;
            }
        }
        return;
    }
    match c.peek() {
        Some(open @ ('{' | '(')) => {
            w.dynamic = true;
            let close = if open == '{' { '}' } else { ')' };
            let mut depth = 0usize;
            while let Some(ch) = c.bump() {
                w.text.push(ch);
                if ch == open {
                    depth += 1;
                } else if ch == close {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
            }
        }
        Some(ch) if ch.is_ascii_alphabetic() || ch == '_' => {
            w.dynamic = true;
            while let Some(ch) = c.peek() {
                if !(ch.is_ascii_alphanumeric() || ch == '_') {
                    break;
                }
                w.text.push(ch);
                c.bump();
            }
        }
        Some(ch) if ch.is_ascii_digit() || "@*#?$!-".contains(ch) => {
            w.dynamic = true;
            w.text.push(ch);
            c.bump();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(body: &str) -> Vec<Vec<String>> {
        tokenize(body)
            .iter()
            .map(|c| c.words.iter().map(|w| w.text.clone()).collect())
            .collect()
    }

    #[test]
    fn quotes_continuations_and_operators() {
        let body = "docker push \"$REG/app:v1\" && cosign sign \\\n  --key k 'app:v1'\nA=1 B=\"two words\" make # note\ncurl -fsSL https://x/i.sh | bash";
        let cmds = tokenize(body);
        assert_eq!(
            names(body),
            vec![
                vec!["docker", "push", "$REG/app:v1"],
                vec!["cosign", "sign", "--key", "k", "app:v1"],
                vec!["A=1", "B=two words", "make"],
                vec!["curl", "-fsSL", "https://x/i.sh"],
                vec!["bash"],
            ]
        );
        assert_eq!(cmds[0].then, Joiner::And);
        assert_eq!(cmds[3].then, Joiner::Pipe);
        assert!(cmds[0].words[2].dynamic && cmds[0].words[2].quoted);
        // The continued command's last word is on line 2.
        assert_eq!(cmds[1].words[4].line, 2);
        assert_eq!(cmds[2].name().unwrap().text, "make");
        assert_eq!(cmds[2].assignments().count(), 2);
    }

    #[test]
    fn expressions_and_substitutions_stay_whole() {
        let body = "cosign sign ${{ env.IMAGE }}@$(crane digest \"$IMG:v1\") `date`";
        let cmds = tokenize(body);
        assert_eq!(cmds.len(), 1);
        let w = &cmds[0].words;
        assert_eq!(w[2].text, "${{ env.IMAGE }}@$(crane digest \"$IMG:v1\")");
        assert!(w[2].dynamic);
        assert_eq!(w[3].text, "`date`");
    }

    #[test]
    fn hostile_input_ends() {
        for body in [
            "'unterminated",
            "\"also",
            "$(((((",
            "\\",
            "${{",
            "`",
            "a |",
            "|| &&",
        ] {
            let _ = tokenize(body);
        }
        let big = "a ".repeat(MAX_SCRIPT_BYTES);
        assert!(tokenize(&big)[0].words.len() <= MAX_SCRIPT_BYTES / 2);
    }
}
