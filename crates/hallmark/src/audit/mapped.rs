//! Text rewritten from a file that still knows where each of its bytes came from.
//!
//! Task runners do not hand their recipes to the shell as written: make turns `$$` into
//! `$` and expands `$(VAR)`, just replaces `{{var}}`, line continuations are joined. The
//! readers rewrite recipes into the shell text that would run, and a finding in that text
//! must still point at the line and column a reviewer sees in the file. A [`Mapped`] is
//! the rewritten text with the segments that map it back.

/// A place in the source: 1-based line and 1-based column counted in characters, as the
/// audit's findings count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

impl Pos {
    /// The place `line`, `column`.
    pub fn new(line: usize, column: usize) -> Self {
        Self { line, column }
    }
}

/// Where a run of the text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset in the text where the run starts.
    pub offset: usize,
    /// Where its first character is in the source.
    pub pos: Pos,
    /// The run was written by the reader in place of one construct (a function call, an
    /// interpolation): all of it maps to where that construct starts. Otherwise the run
    /// was copied character by character and maps one to one.
    pub whole: bool,
}

/// Rewritten text and the map back to its source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapped {
    /// The text, as the next stage (the shell) reads it.
    pub text: String,
    /// Runs of `text` in order of offset; the first starts at 0 when the text is not empty.
    pub segments: Vec<Segment>,
}

impl Mapped {
    /// Where the byte at `offset` of the text came from; `None` past the end or inside a
    /// character.
    pub fn position(&self, offset: usize) -> Option<Pos> {
        if offset >= self.text.len() || !self.text.is_char_boundary(offset) {
            return None;
        }
        let i = self.segments.partition_point(|s| s.offset <= offset);
        let seg = self.segments.get(i.checked_sub(1)?)?;
        if seg.whole {
            return Some(seg.pos);
        }
        // A copied run may span lines (a define body, a shebang recipe).
        let run = self.text.get(seg.offset..offset)?;
        let mut pos = seg.pos;
        for c in run.chars() {
            if c == '\n' {
                pos = Pos::new(pos.line + 1, 1);
            } else {
                pos.column += 1;
            }
        }
        Some(pos)
    }

    /// Where the character at 1-based `line` and `column` of the text (as the shell
    /// tokenizer counts them) came from.
    pub fn locate(&self, line: usize, column: usize) -> Option<Pos> {
        let (mut l, mut c) = (1, 1);
        for (offset, ch) in self.text.char_indices() {
            if (l, c) == (line, column) {
                return self.position(offset);
            }
            if ch == '\n' {
                if l == line {
                    return None;
                }
                l += 1;
                c = 1;
            } else {
                c += 1;
            }
        }
        None
    }

    /// Where the first occurrence of `needle` in the text came from.
    pub fn find(&self, needle: &str) -> Option<Pos> {
        self.position(self.text.find(needle)?)
    }
}

/// A [`Mapped`] text with the byte offset of each of its lines, so that finding where a
/// word came from costs the length of its line, not of the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    mapped: Mapped,
    starts: Vec<usize>,
    /// The positions are within a value (a YAML scalar) that is itself placed in the file
    /// by the script holding it, not in the file.
    pub relative: bool,
}

impl Located {
    /// `mapped`, its positions in the file (`relative` false) or in a value placed by its
    /// script (`relative` true).
    pub fn new(mapped: Mapped, relative: bool) -> Self {
        let starts = std::iter::once(0)
            .chain(mapped.text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            mapped,
            starts,
            relative,
        }
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.mapped.text
    }

    /// Where the character at 1-based `line` and `column` (in characters) came from.
    pub fn locate(&self, line: usize, column: usize) -> Option<Pos> {
        let start = *self.starts.get(line.checked_sub(1)?)?;
        let end = self
            .starts
            .get(line)
            .copied()
            .unwrap_or(self.mapped.text.len());
        let text = self.mapped.text.get(start..end)?;
        let (offset, _) = text.char_indices().nth(column.checked_sub(1)?)?;
        self.mapped.position(start + offset)
    }
}

/// The characters of one line of a file, each with its place.
pub(crate) fn chars_at(line: &str, line_no: usize) -> impl Iterator<Item = (char, Pos)> + '_ {
    line.chars()
        .enumerate()
        .map(move |(i, c)| (c, Pos::new(line_no, i + 1)))
}

/// The characters of a text of several lines, each with its place (1-based, within the
/// text); a line's newline is placed just past its last character.
pub(crate) fn chars_of(text: &str) -> Vec<(char, Pos)> {
    let mut cs: Vec<(char, Pos)> = Vec::with_capacity(text.len());
    let mut previous = 0;
    for (n, line) in text.split('\n').enumerate() {
        if n > 0 {
            cs.push(('\n', Pos::new(n, previous + 1)));
        }
        cs.extend(chars_at(line, n + 1));
        previous = line.chars().count();
    }
    cs
}

/// Builds a [`Mapped`], one character or one written construct at a time.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    text: String,
    segments: Vec<Segment>,
    /// Where the next copied character must be to extend the last run.
    next: Option<Pos>,
}

impl Builder {
    /// Copies `c` from `pos`.
    pub(crate) fn push(&mut self, c: char, pos: Pos) {
        if self.next != Some(pos) {
            self.segments.push(Segment {
                offset: self.text.len(),
                pos,
                whole: false,
            });
        }
        self.text.push(c);
        self.next = Some(if c == '\n' {
            Pos::new(pos.line + 1, 1)
        } else {
            Pos::new(pos.line, pos.column + 1)
        });
    }

    /// Writes `s` in place of a construct that starts at `pos`.
    pub(crate) fn write(&mut self, s: &str, pos: Pos) {
        if s.is_empty() {
            return;
        }
        self.segments.push(Segment {
            offset: self.text.len(),
            pos,
            whole: true,
        });
        self.text.push_str(s);
        self.next = None;
    }

    /// Writes a shell parameter expansion `${name}` for a construct at `pos`. Inside single
    /// quotes the shell would not expand it, but the task runner does before the shell
    /// runs: the quote is closed around it so the shell sees what would run.
    pub(crate) fn reference(&mut self, name: &str, pos: Pos, quotes: &Quotes) {
        let inner = format!("${{{name}}}");
        if quotes.single {
            self.write(&format!("'\"{inner}\"'"), pos);
        } else {
            self.write(&inner, pos);
        }
    }

    /// Appends another mapped text.
    pub(crate) fn append(&mut self, other: &Mapped) {
        let base = self.text.len();
        self.text.push_str(&other.text);
        self.segments.extend(other.segments.iter().map(|s| Segment {
            offset: base + s.offset,
            ..*s
        }));
        self.next = None;
    }

    /// Moves a written construct that starts at `offset` to `pos`.
    pub(crate) fn anchor(&mut self, offset: usize, pos: Pos) {
        let i = self.segments.partition_point(|s| s.offset < offset);
        if let Some(seg) = self.segments.get_mut(i)
            && seg.offset == offset
            && seg.whole
        {
            seg.pos = pos;
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.text.len()
    }

    pub(crate) fn finish(self) -> Mapped {
        Mapped {
            text: self.text,
            segments: self.segments,
        }
    }
}

/// Shell quoting state, followed character by character so that a substitution inside
/// single quotes can be written as the shell would receive it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Quotes {
    pub(crate) single: bool,
    double: bool,
    escaped: bool,
}

impl Quotes {
    pub(crate) fn feed(&mut self, c: char) {
        if self.escaped {
            self.escaped = false;
        } else if self.single {
            self.single = c != '\'';
        } else if c == '\\' {
            self.escaped = true;
        } else if c == '"' {
            self.double = !self.double;
        } else if c == '\'' && !self.double {
            self.single = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copied_runs_map_one_to_one_and_written_ones_to_their_start() {
        let mut b = Builder::default();
        for (c, p) in chars_at("ab", 3) {
            b.push(c, p);
        }
        b.write("${x}", Pos::new(3, 3));
        for (c, p) in chars_at("cd", 4) {
            b.push(c, p);
        }
        let m = b.finish();
        assert_eq!(m.text, "ab${x}cd");
        assert_eq!(m.position(1), Some(Pos::new(3, 2)));
        assert_eq!(m.position(4), Some(Pos::new(3, 3)));
        assert_eq!(m.position(7), Some(Pos::new(4, 2)));
        assert_eq!(m.position(8), None);
        assert_eq!(m.locate(1, 7), Some(Pos::new(4, 1)));
        let l = Located::new(m, false);
        assert_eq!(l.locate(1, 7), Some(Pos::new(4, 1)));
        assert_eq!(l.locate(1, 3), Some(Pos::new(3, 3)));
        assert_eq!(l.locate(2, 1), None);
    }

    #[test]
    fn a_copied_run_across_lines_keeps_counting() {
        let mut b = Builder::default();
        for (c, p) in chars_at("ab", 1) {
            b.push(c, p);
        }
        b.push('\n', Pos::new(1, 3));
        for (c, p) in chars_at("é z", 2) {
            b.push(c, p);
        }
        let m = b.finish();
        assert_eq!(m.segments.len(), 1);
        assert_eq!(m.find("z"), Some(Pos::new(2, 3)));
        assert_eq!(m.locate(2, 3), Some(Pos::new(2, 3)));
        assert_eq!(m.position(4), None, "inside the two bytes of é");
    }

    #[test]
    fn references_inside_single_quotes_leave_the_quotes() {
        let mut q = Quotes::default();
        let mut b = Builder::default();
        for c in "echo '".chars() {
            q.feed(c);
        }
        assert!(q.single);
        b.reference("IMG", Pos::new(1, 7), &q);
        assert_eq!(b.finish().text, "'\"${IMG}\"'");
        let mut q = Quotes::default();
        for c in "\"it's\" \\'".chars() {
            q.feed(c);
        }
        assert!(
            !q.single,
            "a quote in double quotes or escaped opens nothing"
        );
    }
}
