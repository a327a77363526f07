//! The recursive-descent parser behind [`super::parse`].
//!
//! The input is a sequence of characters that each carry their place in the original
//! body, so a body parsed again (a `-c` string, an `eval`, a heredoc, a backquoted
//! command) reports its words where they are written in the file. A character that came
//! from an expansion the enclosing parse already read (`$(…)` in a double-quoted `-c`
//! string) is marked live: it is copied into words as it is and never read as syntax
//! again, so its commands are not reported twice.

use std::collections::HashSet;

use super::wrappers::{name_index, program};
use super::{
    AssignKind, Assignment, Call, Command, ForLoop, Function, Item, Joiner, Limit, MAX_COMMANDS,
    MAX_DEPTH, MAX_SCRIPT_BYTES, Read, Redirect, Script, Word, is_name,
};

/// A character and where it is written.
#[derive(Debug, Clone, Copy)]
struct Ch {
    c: char,
    line: u32,
    col: u32,
    live: bool,
}

/// What `peek` shows for a live character: never syntax.
const LIVE: char = '\u{F8FF}';

/// State shared by a body and the bodies parsed again inside it.
struct Ctx {
    commands: usize,
    /// Characters that bodies parsed again may still read.
    budget: usize,
    limit: Option<Limit>,
    /// Set when a bound stops the parse: every reader then sees the end.
    abort: bool,
    /// Scripts kept in variables (`S="$(cat <<EOF … EOF)"`), for a shell that runs one
    /// later (`bash -c "$S"`, `su user -c "$S"`, `eval "$S"`).
    snippets: std::collections::HashMap<String, Vec<Ch>>,
}

/// Most scripts kept in variables remembered.
const MAX_SNIPPETS: usize = 64;

impl Ctx {
    fn reach(&mut self, limit: Limit, abort: bool) {
        self.limit.get_or_insert(limit);
        self.abort |= abort;
    }
}

/// A word with the place of each of its characters, for parsing it again.
struct RawWord {
    word: Word,
    chars: Vec<Ch>,
}

struct Parser<'s, 'c> {
    src: &'s [Ch],
    i: usize,
    depth: usize,
    /// `(newline, resume)`: heredoc bodies start after that newline; reading it jumps past
    /// them.
    skip: Option<(usize, usize)>,
    ctx: &'c mut Ctx,
    /// Items of substitutions and nested bodies met in the current pipeline: they run
    /// before it.
    pre: Vec<Item>,
}

pub(super) fn parse(body: &str) -> Script {
    let mut limit = None;
    let body = if body.len() > MAX_SCRIPT_BYTES {
        limit = Some(Limit::Bytes);
        let mut end = MAX_SCRIPT_BYTES;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        &body[..end]
    } else {
        body
    };
    let mut src = Vec::with_capacity(body.len());
    let (mut line, mut col) = (1u32, 1u32);
    for c in body.chars() {
        src.push(Ch {
            c,
            line,
            col,
            live: false,
        });
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    let mut ctx = Ctx {
        commands: 0,
        budget: src.len().saturating_mul(2).saturating_add(1 << 16),
        limit,
        abort: false,
        snippets: std::collections::HashMap::new(),
    };
    let mut p = Parser {
        src: &src,
        i: 0,
        depth: 0,
        skip: None,
        ctx: &mut ctx,
        pre: Vec::new(),
    };
    let mut items = p.program();
    let mut functions = HashSet::new();
    function_names(&items, &mut functions);
    if !functions.is_empty() {
        items = add_calls(items, &functions);
    }
    Script {
        items,
        limit: ctx.limit,
    }
}

fn function_names(items: &[Item], out: &mut HashSet<String>) {
    for item in items {
        match item {
            Item::Function(f) => {
                out.insert(f.name.text.clone());
                function_names(&f.body, out);
            }
            Item::For(f) => function_names(&f.body, out),
            _ => {}
        }
    }
}

fn add_calls(items: Vec<Item>, functions: &HashSet<String>) -> Vec<Item> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Item::Command(c) => {
                let call = c
                    .name()
                    .filter(|n| !n.quoted && !n.dynamic && functions.contains(&n.text))
                    .map(|n| Call {
                        name: n.clone(),
                        args: c.args().to_vec(),
                    });
                out.push(Item::Command(c));
                if let Some(call) = call {
                    out.push(Item::Call(call));
                }
            }
            Item::For(mut f) => {
                f.body = add_calls(f.body, functions);
                out.push(Item::For(f));
            }
            Item::Function(mut f) => {
                f.body = add_calls(f.body, functions);
                out.push(Item::Function(f));
            }
            other => out.push(other),
        }
    }
    out
}

/// The last command `items` run (not one inside a function definition).
fn last_command(items: &mut [Item]) -> Option<&mut Command> {
    for item in items.iter_mut().rev() {
        match item {
            Item::Command(c) => return Some(c),
            Item::For(f) => {
                if let Some(c) = last_command(&mut f.body) {
                    return Some(c);
                }
            }
            _ => {}
        }
    }
    None
}

fn set_then(items: &mut [Item], then: Joiner) {
    if let Some(c) = last_command(items) {
        c.then = then;
    }
}

fn is_delimiter(c: Option<char>) -> bool {
    matches!(
        c,
        None | Some(' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>')
    )
}

const CLOSERS: &[&str] = &["then", "elif", "else", "fi", "do", "done", "esac", "}"];

/// Shells whose `-c` string, heredoc or here-string is read as shell.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "dash", "ksh", "ash", "mksh"];

impl Parser<'_, '_> {
    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        if self.ctx.abort {
            return None;
        }
        self.src
            .get(self.i + k)
            .map(|c| if c.live { LIVE } else { c.c })
    }

    /// Consumes a character: how syntax sees it (live ones as [`LIVE`]) and what it is.
    fn next(&mut self) -> Option<(char, Ch)> {
        let c = self.peek()?;
        self.bump().map(|ch| (c, ch))
    }

    fn bump(&mut self) -> Option<Ch> {
        if self.ctx.abort {
            return None;
        }
        let ch = *self.src.get(self.i)?;
        self.i += 1;
        if let Some((nl, resume)) = self.skip
            && nl + 1 == self.i
        {
            self.i = resume.max(self.i);
            self.skip = None;
        }
        Some(ch)
    }

    fn at(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.peek_at(k) == Some(c))
    }

    /// `kw` as a whole word here.
    fn at_word(&self, kw: &str) -> bool {
        self.at(kw) && is_delimiter(self.peek_at(kw.chars().count()))
    }

    fn keyword(&mut self, kw: &str) -> bool {
        self.skip_blanks();
        if self.at_word(kw) {
            for _ in kw.chars() {
                self.bump();
            }
            true
        } else {
            false
        }
    }

    fn at_closer(&self) -> bool {
        self.peek() == Some(')')
            || self.at(";;")
            || self.at(";&")
            || CLOSERS.iter().any(|k| self.at_word(k))
    }

    /// The commands up to the `)` that closes a subshell or a substitution (consumed; the
    /// end of the text closes it too), past closers that belong to nothing here.
    fn list_to_paren(&mut self, items: &mut Vec<Item>) {
        loop {
            items.extend(self.list());
            match self.peek() {
                Some(')') => {
                    self.bump();
                    break;
                }
                None => break,
                _ => self.skip_closer(),
            }
        }
    }

    /// Consumes a closer no construct here expects.
    fn skip_closer(&mut self) {
        let n = if self.at(";;&") {
            3
        } else if self.at(";;") || self.at(";&") {
            2
        } else {
            CLOSERS
                .iter()
                .find(|k| self.at_word(k))
                .map_or(1, |k| k.len())
        };
        for _ in 0..n {
            self.bump();
        }
    }

    /// Blanks, line continuations and comments (we are always at a word boundary here).
    fn skip_blanks(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                Some('\\') if self.peek_at(1) == Some('\n') => {
                    self.bump();
                    self.bump();
                }
                Some('#') => {
                    while !matches!(self.peek(), None | Some('\n')) {
                        self.bump();
                    }
                }
                _ => return,
            }
        }
    }

    fn skip_blanks_and_newlines(&mut self) {
        loop {
            self.skip_blanks();
            if self.peek() == Some('\n') {
                self.bump();
            } else {
                return;
            }
        }
    }

    fn skip_separators(&mut self) {
        loop {
            self.skip_blanks();
            match (self.peek(), self.peek_at(1)) {
                (Some('\n'), _) => {}
                (Some(';'), n) if !matches!(n, Some(';' | '&')) => {}
                (Some('&'), n) if !matches!(n, Some('&' | '>')) => {}
                _ => return,
            }
            self.bump();
        }
    }

    /// The whole body: lists, skipping closers nothing opened.
    fn program(&mut self) -> Vec<Item> {
        let mut items = Vec::new();
        loop {
            items.extend(self.list());
            if self.peek().is_none() {
                return items;
            }
            self.skip_closer();
        }
    }

    /// Commands up to a closer or the end.
    fn list(&mut self) -> Vec<Item> {
        let mut out = Vec::new();
        if self.depth >= MAX_DEPTH {
            self.ctx.reach(Limit::Depth, true);
            return out;
        }
        self.depth += 1;
        loop {
            self.skip_separators();
            if self.peek().is_none() || self.at_closer() {
                break;
            }
            // A line that starts with `|`, `&&` or `||` continues the previous one: readers
            // that join continued lines (`RUN a \` / `| sh`) leave the newline in.
            let joiner = if self.at("&&") {
                Some((Joiner::And, 2))
            } else if self.at("||") {
                Some((Joiner::Or, 2))
            } else if self.at("|&") {
                Some((Joiner::Pipe, 2))
            } else if self.at("|") {
                Some((Joiner::Pipe, 1))
            } else {
                None
            };
            if let Some((joiner, n)) = joiner {
                for _ in 0..n {
                    self.bump();
                }
                set_then(&mut out, joiner);
                continue;
            }
            let before = self.i;
            self.and_or(&mut out);
            if self.i == before {
                self.bump();
            }
        }
        self.depth -= 1;
        out
    }

    fn and_or(&mut self, out: &mut Vec<Item>) {
        loop {
            self.pipeline(out);
            self.skip_blanks();
            let then = if self.at("&&") {
                Joiner::And
            } else if self.at("||") {
                Joiner::Or
            } else {
                return;
            };
            self.bump();
            self.bump();
            set_then(out, then);
            self.skip_blanks_and_newlines();
        }
    }

    fn pipeline(&mut self, out: &mut Vec<Item>) {
        let outer = std::mem::take(&mut self.pre);
        let mut buf = Vec::new();
        loop {
            self.skip_blanks();
            if self.at_word("!") {
                self.bump();
            } else {
                break;
            }
        }
        loop {
            let before = self.i;
            self.command(&mut buf);
            self.skip_blanks();
            if self.peek() == Some('|') && self.peek_at(1) != Some('|') {
                self.bump();
                if self.peek() == Some('&') {
                    self.bump();
                }
                set_then(&mut buf, Joiner::Pipe);
                self.skip_blanks_and_newlines();
                if self.i != before {
                    continue;
                }
            }
            break;
        }
        out.append(&mut self.pre);
        out.append(&mut buf);
        self.pre = outer;
    }

    fn command(&mut self, buf: &mut Vec<Item>) {
        self.skip_blanks();
        let compound = if self.at_word("if") {
            self.if_clause(buf);
            true
        } else if self.at_word("while") || self.at_word("until") {
            self.keyword("while");
            self.keyword("until");
            self.loop_clause(buf);
            true
        } else if self.at_word("for") || self.at_word("select") {
            self.for_clause(buf);
            true
        } else if self.at_word("case") {
            self.case_clause(buf);
            true
        } else if self.at_word("function") {
            self.keyword("function");
            self.skip_blanks();
            if let Some(name) = self.read_word(false) {
                self.skip_blanks();
                if self.at("(") {
                    self.bump();
                    self.skip_blanks();
                    if self.peek() == Some(')') {
                        self.bump();
                    }
                }
                self.function_body(name.word, buf);
            }
            true
        } else if self.at_word("{") {
            self.bump();
            buf.extend(self.list());
            self.keyword("}");
            true
        } else if self.at("((") {
            self.arithmetic();
            true
        } else if self.peek() == Some('(') {
            self.bump();
            self.list_to_paren(buf);
            true
        } else {
            self.simple(buf);
            false
        };
        if compound {
            // `done < <(…)`, `} > log`: read for their substitutions.
            loop {
                self.skip_blanks();
                if self.at_redirect() {
                    self.redirect();
                } else {
                    break;
                }
            }
        }
    }

    fn function_body(&mut self, name: Word, buf: &mut Vec<Item>) {
        self.skip_blanks_and_newlines();
        let mut body = Vec::new();
        let outer = std::mem::take(&mut self.pre);
        self.command(&mut body);
        let mut pre = std::mem::replace(&mut self.pre, outer);
        pre.append(&mut body);
        buf.push(Item::Function(Function { name, body: pre }));
    }

    fn if_clause(&mut self, buf: &mut Vec<Item>) {
        self.keyword("if");
        buf.extend(self.list());
        self.keyword("then");
        buf.extend(self.list());
        loop {
            if self.keyword("elif") {
                buf.extend(self.list());
                self.keyword("then");
                buf.extend(self.list());
            } else if self.keyword("else") {
                buf.extend(self.list());
            } else {
                break;
            }
        }
        self.keyword("fi");
    }

    fn loop_clause(&mut self, buf: &mut Vec<Item>) {
        buf.extend(self.list());
        self.keyword("do");
        buf.extend(self.list());
        self.keyword("done");
    }

    fn for_clause(&mut self, buf: &mut Vec<Item>) {
        if !self.keyword("for") {
            self.keyword("select");
        }
        self.skip_blanks();
        let var = if self.at("((") {
            self.arithmetic();
            None
        } else {
            self.read_word(false).map(|w| w.word)
        };
        self.skip_blanks_and_newlines();
        let words = if self.keyword("in") {
            let mut words = Vec::new();
            loop {
                self.skip_blanks();
                match self.peek() {
                    None | Some('\n' | ';' | '&' | '|' | ')') => break,
                    _ => match self.read_word(true) {
                        Some(w) => words.push(w.word),
                        None => {
                            self.bump();
                        }
                    },
                }
            }
            Some(words)
        } else {
            None
        };
        self.skip_separators();
        let body = if self.keyword("do") {
            let body = self.list();
            self.keyword("done");
            body
        } else if self.keyword("{") {
            let body = self.list();
            self.keyword("}");
            body
        } else {
            Vec::new()
        };
        match var {
            Some(var) => buf.push(Item::For(ForLoop { var, words, body })),
            None => buf.extend(body),
        }
    }

    fn case_clause(&mut self, buf: &mut Vec<Item>) {
        self.keyword("case");
        self.skip_blanks();
        self.read_word(false);
        self.skip_blanks_and_newlines();
        self.keyword("in");
        loop {
            self.skip_separators();
            if self.peek().is_none() || self.keyword("esac") {
                return;
            }
            let before = self.i;
            if self.peek() == Some('(') {
                self.bump();
            }
            // The patterns, up to `)`.
            loop {
                self.skip_blanks();
                match self.peek() {
                    Some(')') => {
                        self.bump();
                        break;
                    }
                    Some('|') => {
                        self.bump();
                    }
                    None | Some('\n' | ';') => break,
                    _ => {
                        if self.read_word(false).is_none() {
                            self.bump();
                        }
                    }
                }
            }
            buf.extend(self.list());
            self.skip_blanks();
            if self.at(";;") || self.at(";&") {
                self.skip_closer();
            } else if self.at_word("esac") {
            } else if self.at_closer() {
                // A closer of an enclosing construct: the case ends here.
                return;
            } else if self.i == before {
                self.bump();
            }
        }
    }

    /// `((…))` or `$((…))` from its first `(`: kept whole, not parsed.
    fn arithmetic(&mut self) -> Vec<Ch> {
        let mut out = Vec::new();
        let mut depth = 0usize;
        while let Some((c, ch)) = self.next() {
            out.push(ch);
            match c {
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn at_redirect(&self) -> bool {
        let mut k = 0;
        while self.peek_at(k).is_some_and(|c| c.is_ascii_digit()) {
            k += 1;
        }
        match (self.peek_at(k), self.peek_at(k + 1)) {
            (Some('<' | '>'), Some('(')) => false,
            (Some('<' | '>'), _) => true,
            (Some('&'), Some('>')) => k == 0,
            _ => false,
        }
    }

    /// One redirection; a heredoc's body is read from after the current line. Also gives
    /// the redirection's words as written (`2>&1`, or `<<<` and `"$PW"`).
    fn redirect(&mut self) -> (Redirect, Option<Vec<Ch>>, Vec<RawWord>) {
        let start = self.src.get(self.i).copied();
        let op_start = self.i;
        let mut digits = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            digits.push(c);
            self.bump();
        }
        const OPS: &[&str] = &[
            "<<<", "<<-", "<<", "<>", "<&", "<", ">>", ">&", ">|", ">", "&>>", "&>",
        ];
        let op = OPS.iter().find(|op| self.at(op)).copied().unwrap_or(">");
        for _ in op.chars() {
            self.bump();
        }
        let mut op_word = RawWord {
            word: Word {
                text: String::new(),
                line: start.map_or(1, |c| c.line as usize),
                column: start.map_or(1, |c| c.col as usize),
                quoted: false,
                dynamic: false,
            },
            chars: Vec::new(),
        };
        for k in op_start..self.i.min(self.src.len()) {
            push(&mut op_word, self.src[k]);
        }
        let glued = !matches!(self.peek(), Some(' ' | '\t' | '\\'));
        self.skip_blanks();
        let here = self.src.get(self.i).or(start.as_ref()).copied();
        let empty = |ch: Option<Ch>| Word {
            text: String::new(),
            line: ch.map_or(1, |c| c.line as usize),
            column: ch.map_or(1, |c| c.col as usize),
            quoted: false,
            dynamic: false,
        };
        let target = self.read_word(false);
        let written = match &target {
            Some(t) if glued => {
                op_word.word.text.push_str(&t.word.text);
                op_word.word.quoted = t.word.quoted;
                op_word.word.dynamic = t.word.dynamic;
                op_word.chars.extend_from_slice(&t.chars);
                vec![op_word]
            }
            Some(t) => vec![
                op_word,
                RawWord {
                    word: t.word.clone(),
                    chars: t.chars.clone(),
                },
            ],
            None => vec![op_word],
        };
        let redirect = |target: Word| Redirect {
            fd: digits.parse().ok(),
            op,
            target,
        };
        if op == "<<" || op == "<<-" {
            let (delim, quoted) = target
                .as_ref()
                .map(|t| (t.word.text.clone(), t.word.quoted))
                .unwrap_or_default();
            let body = self.heredoc(&delim, op == "<<-");
            let mut word = empty(body.first().copied().or(here));
            word.text = body.iter().map(|c| c.c).collect();
            word.quoted = quoted;
            word.dynamic = !quoted && word.text.contains('$');
            return (redirect(word), Some(body), written);
        }
        match target {
            Some(t) => {
                let chars = t.chars;
                (redirect(t.word), Some(chars), written)
            }
            None => (redirect(empty(here)), None, written),
        }
    }

    /// Reads a heredoc body after the newline that ends the current line (or after the
    /// previous heredoc of this line), and arranges for that newline to jump past it.
    fn heredoc(&mut self, delim: &str, strip_tabs: bool) -> Vec<Ch> {
        let len = self.src.len();
        let (nl, start) = match self.skip {
            Some((nl, resume)) => (nl, resume),
            None => match self.src[self.i.min(len)..].iter().position(|c| c.c == '\n') {
                Some(k) => (self.i + k, self.i + k + 1),
                None => return Vec::new(),
            },
        };
        let mut body = Vec::new();
        let mut k = start;
        while k < len {
            let end = self.src[k..]
                .iter()
                .position(|c| c.c == '\n')
                .map_or(len, |e| k + e);
            let mut s = k;
            if strip_tabs {
                while s < end && self.src[s].c == '\t' {
                    s += 1;
                }
            }
            let mut text_end = end;
            if text_end > s && self.src[text_end - 1].c == '\r' {
                text_end -= 1;
            }
            let line = &self.src[s..text_end];
            if line.len() == delim.chars().count() && line.iter().map(|c| c.c).eq(delim.chars()) {
                k = (end + 1).min(len);
                break;
            }
            body.extend_from_slice(&self.src[s..(end + 1).min(len)]);
            k = end + 1;
        }
        self.skip = Some((nl, k.min(len)));
        body
    }

    fn simple(&mut self, buf: &mut Vec<Item>) {
        let mut words: Vec<RawWord> = Vec::new();
        // Which of `words` are redirections.
        let mut redir: Vec<bool> = Vec::new();
        let mut redirects: Vec<(Redirect, Option<Vec<Ch>>)> = Vec::new();
        let mut test = false;
        loop {
            self.skip_blanks();
            let Some(c) = self.peek() else { break };
            if test {
                if test_end(self) {
                    words.push(self.op_word(2));
                    redir.push(false);
                    test = false;
                    continue;
                }
                if c == '\n' {
                    self.bump();
                    continue;
                }
                if self.at("&&") || self.at("||") {
                    words.push(self.op_word(2));
                    redir.push(false);
                    continue;
                }
                if matches!(c, '(' | ')' | '<' | '>' | '!') {
                    words.push(self.op_word(1));
                    redir.push(false);
                    continue;
                }
            }
            match c {
                '\n' | ';' | ')' | '|' => break,
                '&' if self.peek_at(1) != Some('>') => break,
                _ if self.at_redirect() => {
                    let (r, chars, written) = self.redirect();
                    redir.extend(written.iter().map(|_| true));
                    words.extend(written);
                    redirects.push((r, chars));
                }
                '(' if words.len() == 1 && redir == [false] && self.function_parens() => {
                    if let Some(name) = words.pop() {
                        self.function_body(name.word, buf);
                    }
                    return;
                }
                _ => {
                    let paren = c == '(' || !words.is_empty();
                    match self.read_word(paren) {
                        Some(w) => {
                            test |=
                                !redir.contains(&false) && w.word.text == "[[" && !w.word.quoted;
                            words.push(w);
                            redir.push(false);
                        }
                        None => {
                            self.bump();
                        }
                    }
                }
            }
        }
        if words.is_empty() && redirects.is_empty() {
            return;
        }
        self.ctx.commands += 1;
        if self.ctx.commands > MAX_COMMANDS {
            self.ctx.reach(Limit::Commands, true);
            return;
        }
        self.finish(words, &redir, redirects, buf);
    }

    /// After a command's first word: `( )` makes it a function definition.
    fn function_parens(&mut self) -> bool {
        let mut k = 1;
        while matches!(self.peek_at(k), Some(' ' | '\t')) {
            k += 1;
        }
        if self.peek_at(k) != Some(')') {
            return false;
        }
        for _ in 0..=k {
            self.bump();
        }
        true
    }

    fn op_word(&mut self, n: usize) -> RawWord {
        let mut chars = Vec::new();
        for _ in 0..n {
            chars.extend(self.bump());
        }
        let first = chars.first().copied();
        RawWord {
            word: Word {
                text: chars.iter().map(|c| c.c).collect(),
                line: first.map_or(1, |c| c.line as usize),
                column: first.map_or(1, |c| c.col as usize),
                quoted: false,
                dynamic: false,
            },
            chars,
        }
    }

    /// Builds the command and what it implies: assignments, `read` targets, and the
    /// commands of a shell string it runs.
    fn finish(
        &mut self,
        all: Vec<RawWord>,
        redir: &[bool],
        redirects: Vec<(Redirect, Option<Vec<Ch>>)>,
        buf: &mut Vec<Item>,
    ) {
        let written: Vec<Word> = all.iter().map(|w| w.word.clone()).collect();
        // The command without its redirections.
        let words: Vec<&RawWord> = all
            .iter()
            .zip(redir)
            .filter(|(_, r)| !**r)
            .map(|(w, _)| w)
            .collect();
        let plain: Vec<Word> = words.iter().map(|w| w.word.clone()).collect();
        let name_at = name_index(&plain);
        let name = name_at.map(|i| program(&plain[i])).unwrap_or_default();
        let name_at = name_at.unwrap_or(plain.len());
        let first = plain
            .iter()
            .position(|w| !super::is_assignment(&w.text))
            .unwrap_or(plain.len());
        // Assignments.
        let prefix_kind = if first == plain.len() {
            AssignKind::Shell
        } else {
            AssignKind::CommandEnv
        };
        for w in &words[..first] {
            buf.extend(assignment(w, prefix_kind).map(Item::Assign));
            if prefix_kind == AssignKind::Shell {
                self.keep_snippet(w);
            }
        }
        let declared = match name.as_str() {
            "export" => Some(AssignKind::Export),
            "local" => Some(AssignKind::Local),
            "readonly" => Some(AssignKind::Readonly),
            "declare" | "typeset" => Some(AssignKind::Declare),
            _ => None,
        };
        let args = words.get(name_at + 1..).unwrap_or_default();
        if let Some(kind) = declared {
            for w in args.iter().filter(|w| !w.word.text.starts_with(['-', '+'])) {
                buf.extend(assignment(w, kind).map(Item::Assign));
                self.keep_snippet(w);
            }
        }
        if let Some(read) = read_targets(&name, &plain, name_at) {
            buf.push(Item::Read(read));
        }
        // Shell strings run by this command.
        if SHELLS.contains(&name.as_str()) {
            match shell_string(args) {
                ShellInput::String(k) => {
                    let chars = self
                        .snippet_of(args[k])
                        .unwrap_or_else(|| args[k].chars.clone());
                    let items = self.nested(chars);
                    self.pre.extend(items);
                }
                ShellInput::Stdin => {
                    for (r, chars) in &redirects {
                        if matches!(r.op, "<<" | "<<-" | "<<<")
                            && let Some(chars) = chars
                        {
                            let items = self.nested(chars.clone());
                            self.pre.extend(items);
                        }
                    }
                }
                ShellInput::File => {}
            }
        } else if name == "su" {
            // `su USER -c CMD`: CMD runs in the user's shell.
            let at = args
                .iter()
                .position(|a| matches!(a.word.text.as_str(), "-c" | "--command"));
            if let Some(cmd) = at.and_then(|k| args.get(k + 1)) {
                let chars = self.snippet_of(cmd).unwrap_or_else(|| cmd.chars.clone());
                let items = self.nested(chars);
                self.pre.extend(items);
            }
        } else if name == "eval"
            && let [one] = args
            && let Some(chars) = self.snippet_of(one)
        {
            let items = self.nested(chars);
            self.pre.extend(items);
        } else if name == "eval" {
            let mut chars = Vec::new();
            // eval joins its arguments with spaces.
            for w in args {
                if let Some(last) = chars.last().copied() {
                    chars.push(Ch {
                        c: ' ',
                        live: false,
                        ..last
                    });
                }
                chars.extend_from_slice(&w.chars);
            }
            let items = self.nested(chars);
            self.pre.extend(items);
        }
        buf.push(Item::Command(Command {
            words: written,
            then: Joiner::Sequence,
            redirects: redirects.into_iter().map(|(r, _)| r).collect(),
        }));
    }

    /// Remembers the script an assignment keeps in its variable (the body of a heredoc
    /// given to `cat` in a command substitution), or forgets the variable's.
    fn keep_snippet(&mut self, w: &RawWord) {
        let Some(eq) = w.chars.iter().position(|c| c.c == '=' && !c.live) else {
            return;
        };
        let name: String = w.chars[..eq].iter().map(|c| c.c).collect();
        match heredoc_snippet(&w.chars[eq + 1..]) {
            Some(body) if self.ctx.snippets.len() < MAX_SNIPPETS => {
                self.ctx.snippets.insert(name, body);
            }
            _ => {
                self.ctx.snippets.remove(&name);
            }
        }
    }

    /// The script a word names when it is one variable holding one (`"$S"`, `"${S}"`).
    fn snippet_of(&self, w: &RawWord) -> Option<Vec<Ch>> {
        let t = w.word.text.as_str();
        let inner = t.strip_prefix('$')?;
        let name = inner
            .strip_prefix('{')
            .and_then(|i| i.strip_suffix('}'))
            .unwrap_or(inner);
        self.ctx.snippets.get(name).cloned()
    }

    /// Parses characters again as a body of their own (`-c` strings, `eval`, heredocs,
    /// backquotes), within the budget.
    fn nested(&mut self, chars: Vec<Ch>) -> Vec<Item> {
        if chars.iter().all(|c| c.live || c.c.is_whitespace()) {
            return Vec::new();
        }
        if chars.len() > self.ctx.budget {
            self.ctx.reach(Limit::Nested, false);
            return Vec::new();
        }
        self.ctx.budget -= chars.len();
        let mut p = Parser {
            src: &chars,
            i: 0,
            depth: self.depth + 1,
            skip: None,
            ctx: &mut *self.ctx,
            pre: Vec::new(),
        };
        p.program()
    }

    /// One word, or `None` when none starts here. `paren`: a `(` inside the word is read
    /// through its `)` (PowerShell's `iex (iwr …)`, extglob) rather than ending it.
    fn read_word(&mut self, paren: bool) -> Option<RawWord> {
        let first = *self.src.get(self.i)?;
        if self.ctx.abort {
            return None;
        }
        let start = self.i;
        let mut w = RawWord {
            word: Word {
                text: String::new(),
                line: first.line as usize,
                column: first.col as usize,
                quoted: false,
                dynamic: false,
            },
            chars: Vec::new(),
        };
        while let Some(c) = self.peek() {
            match c {
                '<' | '>' if self.peek_at(1) == Some('(') => self.substitution(&mut w, 2),
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | ')' | '<' | '>' => break,
                '(' => {
                    let array = w.word.text.ends_with('=')
                        && is_name(w.word.text.trim_end_matches('=').trim_end_matches('+'));
                    let extglob = w.word.text.ends_with(['?', '*', '+', '@', '!']);
                    if !(paren || array || extglob) {
                        break;
                    }
                    self.balanced(&mut w, array);
                }
                '#' if w.chars.is_empty() && !w.word.quoted => break,
                '\'' => {
                    self.bump();
                    w.word.quoted = true;
                    while let Some(ch) = self.bump() {
                        if ch.c == '\'' && !ch.live {
                            break;
                        }
                        push(&mut w, ch);
                    }
                }
                '"' => {
                    self.bump();
                    w.word.quoted = true;
                    while let Some(c) = self.peek() {
                        match c {
                            '"' => {
                                self.bump();
                                break;
                            }
                            '\\' => {
                                let Some(bs) = self.bump() else { break };
                                match self.peek() {
                                    Some('\n') => {
                                        self.bump();
                                    }
                                    Some('"' | '\\' | '$' | '`') => {
                                        if let Some(e) = self.bump() {
                                            push(&mut w, e);
                                        }
                                    }
                                    _ => push(&mut w, bs),
                                }
                            }
                            '$' => self.dollar(&mut w),
                            '`' => self.backquote(&mut w),
                            _ => {
                                if let Some(ch) = self.bump() {
                                    push(&mut w, ch);
                                }
                            }
                        }
                    }
                }
                '\\' => {
                    self.bump();
                    match self.bump() {
                        Some(ch) if ch.c == '\n' && !ch.live => {}
                        Some(ch) => push(&mut w, ch),
                        None => {}
                    }
                }
                '$' => self.dollar(&mut w),
                '`' => self.backquote(&mut w),
                _ => {
                    if let Some(ch) = self.bump() {
                        push(&mut w, ch);
                    }
                }
            }
        }
        (self.i != start).then_some(w)
    }

    /// A `( … )` group inside a word, copied as written. It ends at its line unless it
    /// is an array (`A=(a b)`), so one stray `(` cannot swallow the body.
    fn balanced(&mut self, w: &mut RawWord, multiline: bool) {
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if c == '\n' && depth > 0 && !multiline && quote.is_none() {
                break;
            }
            let Some(ch) = self.bump() else { break };
            push(w, ch);
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
    }

    /// At `$`: a substitution, a parameter, or a plain `$`.
    fn dollar(&mut self, w: &mut RawWord) {
        match self.peek_at(1) {
            Some('(') if self.peek_at(2) == Some('(') => {
                let start = self.i;
                self.bump();
                self.arithmetic();
                self.copy_live(w, start);
            }
            Some('(') => self.substitution(w, 2),
            Some('{') => {
                let start = self.i;
                self.bump();
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    self.bump();
                    match c {
                        '{' => depth += 1,
                        '}' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                self.copy_live(w, start);
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.i;
                self.bump();
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    self.bump();
                }
                self.copy_live(w, start);
            }
            Some(c) if c.is_ascii_digit() || "@*#?$!-".contains(c) => {
                let start = self.i;
                self.bump();
                self.bump();
                self.copy_live(w, start);
            }
            _ => {
                if let Some(ch) = self.bump() {
                    push(w, ch);
                }
            }
        }
    }

    /// Copies `src[start..i]` into the word as an expansion already read.
    fn copy_live(&mut self, w: &mut RawWord, start: usize) {
        for k in start..self.i.min(self.src.len()) {
            push_live(w, self.src[k]);
        }
    }

    /// `$(…)`, `<(…)` or `>(…)` (`open` characters before the commands): its commands run
    /// before the pipeline, its text stays in the word.
    fn substitution(&mut self, w: &mut RawWord, open: usize) {
        let start = self.i;
        for _ in 0..open {
            self.bump();
        }
        let inner = self.i;
        let mut items = Vec::new();
        self.list_to_paren(&mut items);
        // `$(IMAGE)` in a Makefile recipe is a variable of make, not a command.
        let content: String = self.src[inner..self.i.saturating_sub(1).max(inner)]
            .iter()
            .map(|c| c.c)
            .collect();
        let make_var = content
            .trim()
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && content.trim().starts_with(|c: char| c.is_ascii_uppercase());
        if !make_var {
            self.pre.extend(items);
        }
        self.copy_live(w, start);
    }

    /// `` `…` ``: its text (with `\``, `\\`, `\$` unescaped) is parsed again.
    fn backquote(&mut self, w: &mut RawWord) {
        let start = self.i;
        self.bump();
        let mut inner = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '`' => {
                    self.bump();
                    break;
                }
                '\\' if matches!(self.peek_at(1), Some('`' | '\\' | '$')) => {
                    self.bump();
                    inner.extend(self.bump());
                }
                _ => inner.extend(self.bump()),
            }
        }
        self.copy_live(w, start);
        let items = self.nested(inner);
        self.pre.extend(items);
    }
}

/// The body of the heredoc in a value `$(cat <<EOF … EOF)` (quoted or not), as written in
/// the file: the script a variable keeps. It was read as `cat`'s input, not as commands,
/// so it is syntax again here.
fn heredoc_snippet(value: &[Ch]) -> Option<Vec<Ch>> {
    let text: Vec<char> = value.iter().map(|c| c.c).collect();
    let mut i = usize::from(text.first() == Some(&'"'));
    let at = |i: usize, s: &str| {
        s.chars()
            .enumerate()
            .all(|(k, c)| text.get(i + k) == Some(&c))
    };
    if !at(i, "$(") {
        return None;
    }
    i += 2;
    while text.get(i).is_some_and(|c| c.is_whitespace()) {
        i += 1;
    }
    if !at(i, "cat") {
        return None;
    }
    i += 3;
    while text.get(i).is_some_and(|c| matches!(c, ' ' | '\t')) {
        i += 1;
    }
    if !at(i, "<<") || at(i, "<<<") {
        return None;
    }
    i += 2;
    let strip_tabs = text.get(i) == Some(&'-');
    i += usize::from(strip_tabs);
    while text.get(i).is_some_and(|c| matches!(c, ' ' | '\t')) {
        i += 1;
    }
    let mut delim = String::new();
    while let Some(&c) = text.get(i) {
        if c.is_whitespace() || c == ')' {
            break;
        }
        if !matches!(c, '\'' | '"' | '\\') {
            delim.push(c);
        }
        i += 1;
    }
    if delim.is_empty() {
        return None;
    }
    let start = i + text[i..].iter().position(|c| *c == '\n')? + 1;
    let mut line = start;
    while line < text.len() {
        let end = text[line..]
            .iter()
            .position(|c| *c == '\n')
            .map_or(text.len(), |p| line + p);
        let l: String = text[line..end].iter().collect();
        let l = if strip_tabs {
            l.trim_start_matches('\t')
        } else {
            &l
        };
        if l == delim {
            return Some(
                value[start..line]
                    .iter()
                    .map(|c| Ch { live: false, ..*c })
                    .collect(),
            );
        }
        line = end + 1;
    }
    None
}

/// `]]` as a word.
fn test_end(p: &Parser<'_, '_>) -> bool {
    p.at("]]") && is_delimiter(p.peek_at(2))
}

fn push(w: &mut RawWord, ch: Ch) {
    w.word.text.push(ch.c);
    w.word.dynamic |= ch.live;
    w.chars.push(ch);
}

fn push_live(w: &mut RawWord, ch: Ch) {
    w.word.text.push(ch.c);
    w.word.dynamic = true;
    w.chars.push(Ch { live: true, ..ch });
}

/// `NAME=value` (or `NAME+=value`, `NAME[i]=value`) as an assignment.
fn assignment(w: &RawWord, kind: AssignKind) -> Option<Assignment> {
    let eq = w.chars.iter().position(|c| c.c == '=' && !c.live)?;
    let lhs: String = w.chars[..eq].iter().map(|c| c.c).collect();
    let (lhs, append) = match lhs.strip_suffix('+') {
        Some(l) => (l.to_string(), true),
        None => (lhs, false),
    };
    let base = lhs.split_once('[').map_or(lhs.as_str(), |(b, _)| b);
    if !is_name(base) {
        return None;
    }
    let value = &w.chars[eq + 1..];
    // Right after `=`, where an opening quote would be.
    let at = w.chars[eq];
    Some(Assignment {
        name: lhs,
        value: Word {
            text: value.iter().map(|c| c.c).collect(),
            line: at.line as usize,
            column: at.col as usize + 1,
            quoted: w.word.quoted,
            dynamic: value.iter().any(|c| c.live),
        },
        kind,
        append,
    })
}

/// The variables `read`/`mapfile`/`readarray` set.
fn read_targets(name: &str, words: &[Word], name_at: usize) -> Option<Read> {
    let (with_arg, default, array) = match name {
        "read" => ("adinNptu", "REPLY", false),
        "mapfile" | "readarray" => ("dnOsuCc", "MAPFILE", true),
        _ => return None,
    };
    let args = words.get(name_at + 1..).unwrap_or_default();
    let mut targets = Vec::new();
    let mut array = array;
    let mut k = 0;
    while let Some(w) = args.get(k) {
        k += 1;
        if let Some(flags) = w.text.strip_prefix('-').filter(|f| !f.is_empty()) {
            if flags == "-" {
                continue;
            }
            if let Some((at, c)) = flags.char_indices().find(|(_, c)| with_arg.contains(*c)) {
                let attached = &flags[at + c.len_utf8()..];
                let value = if attached.is_empty() {
                    k += 1;
                    args.get(k - 1).cloned()
                } else {
                    let mut v = w.clone();
                    v.text = attached.to_string();
                    Some(v)
                };
                // `read -a ARRAY`.
                if c == 'a' && name == "read" {
                    array = true;
                    targets.extend(value);
                }
            }
            continue;
        }
        targets.push(w.clone());
    }
    if targets.is_empty() {
        let at = &words[name_at];
        targets.push(Word {
            text: default.to_string(),
            ..at.clone()
        });
    }
    Some(Read { targets, array })
}

enum ShellInput {
    /// `-c`: the string at this index of the arguments.
    String(usize),
    /// Commands on standard input (no script file): heredocs and here-strings.
    Stdin,
    /// A script file.
    File,
}

fn shell_string(args: &[&RawWord]) -> ShellInput {
    let mut c = false;
    let mut stdin = false;
    let mut k = 0;
    while let Some(a) = args.get(k) {
        let t = a.word.text.as_str();
        if t == "--" || t == "-" {
            k += 1;
            break;
        }
        if let Some(long) = t.strip_prefix("--") {
            k += 1 + usize::from(matches!(long, "rcfile" | "init-file"));
            continue;
        }
        match t.strip_prefix(['-', '+']).filter(|f| !f.is_empty()) {
            Some(flags) if !a.word.dynamic => {
                c |= t.starts_with('-') && flags.contains('c');
                stdin |= t.starts_with('-') && flags.contains('s');
                k += 1 + usize::from(flags.contains(['o', 'O']));
            }
            _ => break,
        }
    }
    match args.get(k) {
        Some(_) if c => ShellInput::String(k),
        None if c => ShellInput::File,
        None => ShellInput::Stdin,
        Some(_) if stdin => ShellInput::Stdin,
        Some(_) => ShellInput::File,
    }
}
