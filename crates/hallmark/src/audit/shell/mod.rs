//! A bounded shell parser for `run:` and `script:` bodies, `RUN` lines and scripts: the
//! part of POSIX shell and bash that decides which commands run, with the exact place of
//! every word in the body.
//!
//! # Why a parser of our own
//!
//! The maintained Rust shell parsers do not fit an audit of pipeline files. `brush-parser`
//! (MIT, active) rejects a whole body on one unterminated quote or one stray `fi`, and its
//! PEG grammar recurses without a limit (deeply nested parentheses overflow the stack);
//! pipeline bodies are often half shell (GitHub `${{ … }}`, Makefile `$(VAR)`, Groovy
//! `${env.X}`), and one odd line must not hide the rest. `yash-syntax` is GPL-3.0, outside
//! the licences `deny.toml` allows, and its parser is async. `conch-parser` has had no
//! release since 2019. `tree-sitter-bash` recovers well but brings a C parser and unsafe
//! bindings into a crate that forbids unsafe code, to read hostile input. So this module
//! is a hand-written recursive-descent parser of the subset that matters, tolerant of what
//! it does not understand and bounded in depth, commands and re-parsed text.
//!
//! # What it reads
//!
//! Quotes, escapes, line continuations and comments; `$VAR`, `${…}`, GitHub's `${{ … }}`
//! and `$((…))` kept whole inside their word; lists (`;`, `&`, newlines, `&&`, `||`) and
//! pipelines (`|`, `|&`, a leading `!`); redirections (kept apart from the words, in
//! [`Command::redirects`]), heredocs and here-strings; `if/then/elif/else/fi`,
//! `while/until … do … done`, `for/select … in … do … done`, `case … esac`, `{ …; }`,
//! `( … )`, `[[ … ]]`, `(( … ))`, functions (`f() { …; }`, `function f { …; }`); the
//! commands inside `$(…)`, backquotes, `<(…)` and `>(…)`; and the bodies of `bash -c "…"`,
//! `sh -c '…'`, `eval "…"` and of heredocs or here-strings fed to a shell, parsed again as
//! shell with every word placed where it is written in the file. A `$(NAME)` whose content
//! is one upper-case name is a Makefile variable, not a command. A heredoc not fed to a
//! shell is data. Nothing is run or expanded; a word holding an expansion says so.
//!
//! # Two views
//!
//! [`tokenize`] gives every simple command in the order it would run, compound commands
//! flattened: the commands of a substitution (or of a `-c` body) come before the pipeline
//! that uses them, and a pipeline's joiners stay on its commands (`curl … | sudo -E bash`
//! is a `curl` joined by [`Joiner::Pipe`] to a command named `bash`).
//! [`Command::name`] looks through wrappers (`sudo`, `env`, `time`, `exec`, `timeout`,
//! `nohup`, `nice`, `stdbuf`, `xargs`, `command`, `builtin`), which
//! [`Command::wrappers`] gives back.
//!
//! [`parse`] gives a [`Script`]: the same commands in the same order, with what data flow
//! needs beside them ([`Item`]): assignments (`A=b`, `export`, `local`, `readonly`,
//! `declare`, `typeset`, and `A=b cmd` for one command) and the targets of `read` and
//! `mapfile`, each right before the command that makes them; `for VAR in WORDS` loops with
//! their body; function definitions with their body; and, right after a command that calls
//! a function defined in the same body, a [`Call`] with its arguments, to bind `$1…`.
//!
//! # Bounds
//!
//! At most `MAX_SCRIPT_BYTES` of a body, [`MAX_DEPTH`] levels of nesting and
//! [`MAX_COMMANDS`] commands are read, and the bodies parsed again (`-c`, `eval`,
//! heredocs, backquotes) read at most twice the body's length in total. Past a bound the
//! parse stops or skips that part, and [`Script::limit`] says which bound was reached.

mod parse;
mod wrappers;

#[cfg(test)]
mod tests;

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
    /// `|` or `|&`: the next command reads this one's output.
    Pipe,
}

/// A redirection of a command: `> f`, `2>&1`, `< f`, a heredoc or a here-string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The file descriptor written before the operator (`2>`), if any.
    pub fd: Option<u32>,
    /// The operator: `<`, `>`, `>>`, `>|`, `<>`, `<&`, `>&`, `&>`, `&>>`, `<<`, `<<-`, `<<<`.
    pub op: &'static str,
    /// The file, descriptor or here-string; for a heredoc, its body (positioned where the
    /// body starts).
    pub target: Word,
}

/// One simple command: its words, and how it is joined to the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The words, assignments first (`A=b cmd …`); redirections are not words.
    pub words: Vec<Word>,
    /// How the next command follows.
    pub then: Joiner,
    /// The redirections, in order.
    pub redirects: Vec<Redirect>,
}

impl Command {
    /// Where the command's name is in [`Command::words`]: the first word that is neither an
    /// assignment nor a wrapper (`sudo -E`, `env A=b`, `timeout 5m`, `xargs -n1` …). A
    /// wrapper with nothing after it is the name itself (`sudo -v`, `command -v cosign`).
    pub fn name_index(&self) -> Option<usize> {
        wrappers::name_index(&self.words)
    }

    /// The command's name, past assignments and wrappers.
    pub fn name(&self) -> Option<&Word> {
        self.name_index().and_then(|i| self.words.get(i))
    }

    /// The words after the name.
    pub fn args(&self) -> &[Word] {
        let skip = self.name_index().map_or(self.words.len(), |i| i + 1);
        &self.words[skip..]
    }

    /// The wrapper words before the name, with their options (`sudo -E`, `timeout 30s`).
    pub fn wrappers(&self) -> &[Word] {
        let first = self
            .words
            .iter()
            .position(|w| !is_assignment(&w.text))
            .unwrap_or(self.words.len());
        let name = self.name_index().unwrap_or(self.words.len());
        &self.words[first.min(name)..name]
    }

    /// `(name, value)` of each leading assignment.
    pub fn assignments(&self) -> impl Iterator<Item = (&str, &Word)> {
        self.words
            .iter()
            .take_while(|w| is_assignment(&w.text))
            .filter_map(|w| {
                w.text
                    .split_once('=')
                    .map(|(k, _)| (k.trim_end_matches('+'), w))
            })
    }
}

/// `NAME=value` or `NAME+=value`, with a shell variable name.
pub(crate) fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => is_name(name.strip_suffix('+').unwrap_or(name)),
        None => false,
    }
}

/// A shell variable name.
pub(crate) fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Most bytes of one body parsed: a hostile file costs bounded work. A body is never
/// longer than the file it is in, so every body of a file that was read is parsed whole;
/// a longer one (from another caller) is cut here, and the audit says so.
pub(crate) const MAX_SCRIPT_BYTES: usize = super::MAX_FILE_BYTES as usize;

/// Most levels of nesting (compound commands, substitutions, bodies parsed again).
pub const MAX_DEPTH: usize = 64;

/// Most simple commands read from one body, its nested bodies included.
pub const MAX_COMMANDS: usize = 50_000;

/// A bound the parse reached: what follows it was not (or not all) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The body is longer than `MAX_SCRIPT_BYTES`; the rest was not read.
    Bytes,
    /// Nesting deeper than [`MAX_DEPTH`]; the parse stopped there.
    Depth,
    /// More than [`MAX_COMMANDS`] commands; the parse stopped there.
    Commands,
    /// The bodies parsed again (`-c`, `eval`, heredocs, backquotes) exceeded their budget;
    /// some were kept as words only.
    Nested,
}

impl Limit {
    /// What was not read, for a reader.
    pub fn describe(self) -> String {
        match self {
            Self::Bytes => format!("the script after its first {MAX_SCRIPT_BYTES} bytes"),
            Self::Depth => format!("the script past {MAX_DEPTH} levels of nesting"),
            Self::Commands => format!("the script after its first {MAX_COMMANDS} commands"),
            Self::Nested => "commands nested in strings past the parse budget".to_string(),
        }
    }
}

/// What an assignment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignKind {
    /// `A=b` alone: a shell variable from here on.
    Shell,
    /// `A=b cmd`: in the environment of that one command only.
    CommandEnv,
    /// `export A=b`.
    Export,
    /// `local A=b`.
    Local,
    /// `readonly A=b`.
    Readonly,
    /// `declare A=b` or `typeset A=b`.
    Declare,
}

/// `NAME=value`, with the value's own position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The variable (`A`, or `A` of `A+=b`, or `A[0]` of `A[0]=b`).
    pub name: String,
    /// The value, positioned where it starts (right after `=`).
    pub value: Word,
    /// How the variable is set.
    pub kind: AssignKind,
    /// True for `A+=b` (appends).
    pub append: bool,
}

/// `for VAR in WORDS; do BODY; done` (and `select`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForLoop {
    /// The loop variable.
    pub var: Word,
    /// The words it takes in turn; `None` for `for VAR; do` (the positional parameters).
    pub words: Option<Vec<Word>>,
    /// The loop's body.
    pub body: Vec<Item>,
}

/// The variables `read` or `mapfile`/`readarray` set from their input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    /// The variables set (`REPLY` or `MAPFILE` when none is named, positioned at the command).
    pub targets: Vec<Word>,
    /// True when the targets are arrays (`read -a`, `mapfile`).
    pub array: bool,
}

/// A function definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    /// Its name.
    pub name: Word,
    /// Its body.
    pub body: Vec<Item>,
}

/// A command that calls a function defined in the same body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The function's name, as the call writes it.
    pub name: Word,
    /// The arguments: `$1`, `$2` … of the call.
    pub args: Vec<Word>,
}

/// One thing a body does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A simple command, as [`tokenize`] gives it.
    Command(Command),
    /// An assignment, right before the command that makes it.
    Assign(Assignment),
    /// A `for` or `select` loop.
    For(ForLoop),
    /// `read`/`mapfile` targets, right before the command.
    Read(Read),
    /// A function definition (its body runs only when called).
    Function(Function),
    /// A call of a function of this body, right after its command.
    Call(Call),
}

/// A parsed body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Script {
    /// What the body does, in order.
    pub items: Vec<Item>,
    /// The bound reached, if any: then part of the body was not read.
    pub limit: Option<Limit>,
}

impl Script {
    /// Every simple command, flattened in order (loop and function bodies where written).
    pub fn commands(&self) -> Vec<&Command> {
        let mut out = Vec::new();
        flatten(&self.items, &mut out);
        out
    }

    /// [`Script::commands`], owned.
    pub fn into_commands(self) -> Vec<Command> {
        let mut out = Vec::new();
        flatten_owned(self.items, &mut out);
        out
    }
}

fn flatten<'a>(items: &'a [Item], out: &mut Vec<&'a Command>) {
    for item in items {
        match item {
            Item::Command(c) => out.push(c),
            Item::For(f) => flatten(&f.body, out),
            Item::Function(f) => flatten(&f.body, out),
            Item::Assign(_) | Item::Read(_) | Item::Call(_) => {}
        }
    }
}

fn flatten_owned(items: Vec<Item>, out: &mut Vec<Command>) {
    for item in items {
        match item {
            Item::Command(c) => out.push(c),
            Item::For(f) => flatten_owned(f.body, out),
            Item::Function(f) => flatten_owned(f.body, out),
            Item::Assign(_) | Item::Read(_) | Item::Call(_) => {}
        }
    }
}

/// Parses `body`. Never fails: what is not shell is read as words or skipped, an
/// unterminated quote ends at the end of the body, and a bound reached is in
/// [`Script::limit`].
pub fn parse(body: &str) -> Script {
    parse::parse(body)
}

/// The simple commands of `body`, flattened in order (see [`parse`]).
pub fn tokenize(body: &str) -> Vec<Command> {
    parse(body).into_commands()
}
