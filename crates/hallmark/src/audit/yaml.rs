//! YAML documents as a small tree that remembers where every node starts (line, column),
//! built from yaml-rust2's events. Multi-document streams give one tree per document.
//!
//! The tree is what a CI system sees once it has loaded the file: an alias (`*sign`)
//! stands for a copy of its anchored node, `<<: *defaults` merges the anchored mapping's
//! keys under the ones written beside it, and of a key written twice only the last is
//! kept (YAML loaders keep the last). A copy keeps the positions of the anchored text, so
//! a finding in it points where the text is written. Copies are counted with the nodes
//! read, and bounded: a file of nested aliases ("billion laughs") is an error, not a
//! tree that fills memory.
//!
//! Two shapes Go's and libyaml's loaders accept (and so CI systems such as Cloud Build)
//! but yaml-rust2 does not are repaired before parsing again, keeping every line's number:
//! a flow sequence or mapping closed under its key (`args: [` … `]`), and `[-]`.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError};

use crate::class::ErrorClass;

/// Why a file is not read as YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum YamlError {
    /// The parser's message, with where it stopped.
    #[error("not YAML: {0}")]
    Syntax(ScanError),
    /// More than [`MAX_NODES`] nodes.
    #[error("line {line}: more than {MAX_NODES} YAML nodes")]
    TooManyNodes {
        /// Where the node over the limit starts.
        line: usize,
    },
    /// Nested deeper than `MAX_DEPTH`.
    #[error("line {line}: nested deeper than {MAX_DEPTH} levels")]
    TooDeep {
        /// Where the level over the limit opens.
        line: usize,
    },
    /// Aliases that, followed, would make more than [`MAX_NODES`] nodes.
    #[error("line {line}: aliases expand to more than {MAX_NODES} YAML nodes")]
    AliasBomb {
        /// Where the alias over the limit is.
        line: usize,
    },
}

impl YamlError {
    /// A file that is not read leaves its findings unknown: the report is partial, which
    /// is the class of what could not be done, not a verdict on the file.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Syntax(_)
            | Self::TooManyNodes { .. }
            | Self::TooDeep { .. }
            | Self::AliasBomb { .. } => ErrorClass::Unavailable,
        }
    }
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What it is.
    pub value: Value,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

/// A node's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A scalar, as text.
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (keys as text).
    Map(Vec<(Node, Node)>),
    /// An alias to no anchor known where it is written.
    Alias,
}

impl Node {
    /// The scalar's text.
    pub fn str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Self> {
        self.entries()
            .find(|(k, _)| k.str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A mapping's entries (none for anything else).
    pub fn entries(&self) -> impl Iterator<Item = (&Self, &Self)> {
        let entries: &[(Self, Self)] = match &self.value {
            Value::Map(m) => m,
            _ => &[],
        };
        entries.iter().map(|(k, v)| (k, v))
    }

    /// A sequence's items (none for anything else).
    pub fn items(&self) -> &[Self] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    /// Every node of the tree, depth first, with the key it sits under (if any).
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(Option<&'a str>, &'a Self)) {
        // A loop over an explicit stack: the depth of a tree is the file's to choose.
        let mut pending: Vec<(Option<&'a str>, &'a Self)> = vec![(None, self)];
        while let Some((key, n)) = pending.pop() {
            visit(key, n);
            match &n.value {
                Value::Map(m) => pending.extend(m.iter().rev().map(|(k, v)| (k.str(), v))),
                Value::Seq(s) => pending.extend(s.iter().rev().map(|v| (key, v))),
                Value::Scalar(_) | Value::Alias => {}
            }
        }
    }
}

impl Drop for Node {
    /// Frees the tree with a loop: the derived, recursive drop of a deeply nested tree
    /// would exhaust the stack.
    fn drop(&mut self) {
        let mut pending = Vec::new();
        take_children(&mut self.value, &mut pending);
        while let Some(mut n) = pending.pop() {
            take_children(&mut n.value, &mut pending);
        }
    }
}

fn take_children(value: &mut Value, into: &mut Vec<Node>) {
    match value {
        Value::Seq(items) => into.append(items),
        Value::Map(entries) => {
            for (k, v) in entries.drain(..) {
                into.push(k);
                into.push(v);
            }
        }
        Value::Scalar(_) | Value::Alias => {}
    }
}

/// Most nodes read from one file: a hostile file costs bounded memory.
pub const MAX_NODES: usize = 200_000;
/// Deepest nesting of sequences and mappings read. Real pipelines and manifests stay
/// under a few dozen levels; the limit keeps every walk of the tree, and the parser's own
/// stacks, small whatever the file.
pub(crate) const MAX_DEPTH: usize = 256;

/// A sequence or mapping being read.
struct Open {
    node: Node,
    /// A mapping's key waiting for its value.
    key: Option<Node>,
    /// Its anchor (0 for none).
    anchor: usize,
    /// Nodes counted when it opened: its size once closed.
    nodes_before: usize,
    /// Its deepest child's height.
    height: usize,
}

/// An anchored node, ready to be copied where an alias names it.
struct Anchored {
    node: Node,
    size: usize,
    height: usize,
}

#[derive(Default)]
struct Builder {
    /// Follow aliases and settle merge and duplicate keys (the loaded view); otherwise
    /// the text as written, aliases as [`Value::Alias`].
    resolve: bool,
    docs: Vec<Node>,
    stack: Vec<Open>,
    /// Nodes read or copied for aliases, for [`MAX_NODES`].
    nodes: usize,
    /// Nodes held in `anchors`, bounded like the tree itself.
    anchored: usize,
    anchors: HashMap<usize, Anchored>,
}

impl Builder {
    fn push(&mut self, node: Node, height: usize) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(open) => {
                open.height = open.height.max(height);
                match &mut open.node.value {
                    Value::Seq(items) => items.push(node),
                    Value::Map(entries) => match open.key.take() {
                        None => open.key = Some(node),
                        Some(k) => entries.push((k, node)),
                    },
                    Value::Scalar(_) | Value::Alias => {}
                }
            }
        }
    }

    /// Keeps a copy of `node` for the aliases to come.
    fn anchor(&mut self, id: usize, node: &Node, size: usize, height: usize) {
        if id == 0 || !self.resolve {
            return;
        }
        // Past the budget the anchor is forgotten: its aliases stay unresolved rather
        // than nested anchors multiplying the memory held.
        if self.anchored + size > MAX_NODES {
            return;
        }
        self.anchored += size;
        let node = node.clone();
        if let Some(old) = self.anchors.insert(id, Anchored { node, size, height }) {
            self.anchored -= old.size;
        }
    }

    /// Takes one event; `Err` when the file is beyond the limits.
    fn on_event(&mut self, ev: Event, mark: Marker) -> Result<(), YamlError> {
        let at = |value| Node {
            value,
            line: mark.line(),
            column: mark.col() + 1,
        };
        let opens = matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..));
        if matches!(ev, Event::Scalar(..) | Event::Alias(_)) || opens {
            self.nodes += 1;
            if self.nodes > MAX_NODES {
                return Err(YamlError::TooManyNodes { line: mark.line() });
            }
        }
        if opens && self.stack.len() >= MAX_DEPTH {
            return Err(YamlError::TooDeep { line: mark.line() });
        }
        let open = |value, anchor, nodes_before| Open {
            node: at(value),
            key: None,
            anchor,
            nodes_before,
            height: 0,
        };
        match ev {
            Event::Scalar(text, _, anchor, _) => {
                let node = at(Value::Scalar(text));
                self.anchor(anchor, &node, 1, 1);
                self.push(node, 1);
            }
            Event::Alias(id) => {
                let Some(a) = self.anchors.get(&id) else {
                    self.push(at(Value::Alias), 1);
                    return Ok(());
                };
                // The alias itself was counted above; its copy costs the rest.
                if self.nodes - 1 + a.size > MAX_NODES {
                    return Err(YamlError::AliasBomb { line: mark.line() });
                }
                if self.stack.len() + a.height > MAX_DEPTH {
                    return Err(YamlError::TooDeep { line: mark.line() });
                }
                self.nodes = self.nodes - 1 + a.size;
                let (node, height) = (a.node.clone(), a.height);
                self.push(node, height);
            }
            Event::SequenceStart(anchor, _) => {
                let o = open(Value::Seq(Vec::new()), anchor, self.nodes - 1);
                self.stack.push(o);
            }
            Event::MappingStart(anchor, _) => {
                let o = open(Value::Map(Vec::new()), anchor, self.nodes - 1);
                self.stack.push(o);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(mut o) = self.stack.pop() {
                    if self.resolve
                        && let Value::Map(entries) = &mut o.node.value
                    {
                        *entries = settle(std::mem::take(entries));
                    }
                    let height = o.height + 1;
                    self.anchor(o.anchor, &o.node, self.nodes - o.nodes_before, height);
                    self.push(o.node, height);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A mapping's entries as a loader sees them: `<<` merge keys replaced by the merged
/// mappings' entries (an explicit key wins over a merged one; of several merged mappings
/// the first wins), and of a key written twice only the last.
fn settle(entries: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let merges = entries
        .iter()
        .any(|(k, v)| k.str() == Some("<<") && merged(v));
    let mut out: Vec<(Node, Node, bool)> = Vec::with_capacity(entries.len());
    for (k, mut v) in entries {
        if k.str() == Some("<<") && merged(&v) {
            let maps = match std::mem::replace(&mut v.value, Value::Alias) {
                Value::Map(m) => vec![m],
                Value::Seq(items) => items
                    .into_iter()
                    .map(
                        |mut i| match std::mem::replace(&mut i.value, Value::Alias) {
                            Value::Map(m) => m,
                            _ => Vec::new(),
                        },
                    )
                    .collect(),
                _ => Vec::new(),
            };
            for m in maps {
                out.extend(m.into_iter().map(|(k, v)| (k, v, true)));
            }
        } else {
            out.push((k, v, false));
        }
    }
    let written: HashMap<&str, usize> = {
        let mut last = HashMap::new();
        for (i, (k, _, from_merge)) in out.iter().enumerate() {
            if let (Some(k), false) = (k.str(), from_merge) {
                last.insert(k, i);
            }
        }
        last
    };
    if !merges && written.len() == out.iter().filter(|(k, ..)| k.str().is_some()).count() {
        return out.into_iter().map(|(k, v, _)| (k, v)).collect();
    }
    let mut first_merged: HashMap<&str, usize> = HashMap::new();
    for (i, (k, _, from_merge)) in out.iter().enumerate() {
        if let (Some(k), true) = (k.str(), from_merge) {
            first_merged.entry(k).or_insert(i);
        }
    }
    let keep: Vec<bool> = out
        .iter()
        .enumerate()
        .map(|(i, (k, _, from_merge))| match k.str() {
            None => true,
            Some(k) if *from_merge => !written.contains_key(k) && first_merged.get(k) == Some(&i),
            Some(k) => written.get(k) == Some(&i),
        })
        .collect();
    out.into_iter()
        .zip(keep)
        .filter(|(_, keep)| *keep)
        .map(|((k, v, _), _)| (k, v))
        .collect()
}

/// What a `<<` merges: a mapping, or a sequence of mappings.
fn merged(v: &Node) -> bool {
    match &v.value {
        Value::Map(_) => true,
        Value::Seq(items) => items.iter().all(|i| matches!(i.value, Value::Map(_))),
        _ => false,
    }
}

/// Parses every document of `text` as a loader sees it (aliases followed, merge keys
/// merged, the last of duplicate keys); `Err` with the parser's message (and line) when
/// the text is not YAML, or nests deeper than `MAX_DEPTH`, or has more than
/// [`MAX_NODES`] nodes, aliases expanded.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    build(text, true)
}

/// Parses every document of `text` as written: an alias is a [`Value::Alias`] at its own
/// place, keys stay as written. For rewriting the text (`pin`), where an alias's target
/// is not the alias's bytes.
pub fn parse_written(text: &str) -> Result<Vec<Node>, YamlError> {
    build(text, false)
}

/// How many places of a file [`build`] repairs before giving up on it.
const MAX_REPAIRS: usize = 64;

fn build(text: &str, resolve: bool) -> Result<Vec<Node>, YamlError> {
    let mut text = std::borrow::Cow::Borrowed(text);
    let mut repaired = 0;
    loop {
        match build_once(&text, resolve) {
            Err(YamlError::Syntax(e)) if repaired < MAX_REPAIRS => {
                let Some(fixed) = repair(&text, &e) else {
                    return Err(YamlError::Syntax(e));
                };
                text = std::borrow::Cow::Owned(fixed);
                repaired += 1;
            }
            other => return other,
        }
    }
}

/// `text` repaired where `e` stopped on what Go's and libyaml's loaders (which CI
/// systems use) accept and yaml-rust2 does not; `None` for any other error. Each repair
/// keeps every line's number.
fn repair(text: &str, e: &ScanError) -> Option<String> {
    let line = e.marker().line();
    let start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2)?.0 + 1
    };
    let rest = &text[start..];
    let this = rest.lines().next()?;
    let mut fixed = String::with_capacity(text.len() + 2);
    fixed.push_str(&text[..start]);
    if e.info().contains("invalid indentation") && this.trim_start().starts_with([']', '}']) {
        // `args: [` … `]` with the `]` under the `a` of `args`: indenting the closer
        // changes no value.
        fixed.push_str("  ");
        fixed.push_str(rest);
    } else if e.info().contains("plain scalar cannot start with '-'") {
        // `waitFor: [-]` (Cloud Build: start at once): the `-` is a plain scalar there.
        let at = this
            .char_indices()
            .nth(e.marker().col())
            .map(|(i, _)| i)
            .filter(|&i| this[i..].starts_with('-'))?;
        fixed.push_str(&this[..at]);
        fixed.push_str("'-'");
        fixed.push_str(&rest[at + 1..]);
    } else {
        return None;
    }
    Some(fixed)
}

fn build_once(text: &str, resolve: bool) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder {
        resolve,
        ..Builder::default()
    };
    let mut parser = Parser::new_from_str(text);
    // Events are pulled one at a time: yaml-rust2's `load` recurses once per level of
    // nesting, which a file of 40 000 nested `- ` would turn into a stack overflow.
    loop {
        let (ev, mark) = parser.next_token().map_err(YamlError::Syntax)?;
        if ev == Event::StreamEnd {
            break;
        }
        builder.on_event(ev, mark)?;
    }
    Ok(builder.docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_sequence_closed_under_its_key_is_read() {
        let text = "steps:\n- name: gcr.io/cloud-builders/docker\n  args: [\n    'build',\n    '-t', 'img',\n  ]\n  env: {\n    A: b,\n  }\n- name: last\n";
        let docs = parse(text).unwrap();
        let steps = docs[0].get("steps").unwrap().items();
        assert_eq!(steps[0].get("args").unwrap().items().len(), 3);
        assert_eq!(
            steps[0].get("env").unwrap().get("A").unwrap().str(),
            Some("b")
        );
        assert_eq!(steps[1].line, 10);
        let docs = parse("- id: a\n  waitFor: [-]\n- id: b\n  waitFor: ['-', a]\n").unwrap();
        let wait = docs[0].items()[0].get("waitFor").unwrap().items();
        assert_eq!(wait[0].str(), Some("-"));
        assert_eq!(docs[0].items()[1].line, 3);
        // A closer out of place in block context is still an error.
        assert!(parse("a:\n  b: 1\n c: 2\n").is_err());
    }

    #[test]
    fn documents_keep_their_positions() {
        let text = "kind: Deployment\nspec:\n  containers:\n    - name: app\n      image: reg/app:v1\n---\nkind: Pod\n";
        let docs = parse(text).unwrap();
        assert_eq!(docs.len(), 2);
        let image = docs[0]
            .get("spec")
            .unwrap()
            .get("containers")
            .unwrap()
            .items()[0]
            .get("image")
            .unwrap();
        assert_eq!(image.str(), Some("reg/app:v1"));
        assert_eq!((image.line, image.column), (5, 14));
        assert_eq!(docs[1].get("kind").unwrap().str(), Some("Pod"));
        let mut images = Vec::new();
        docs[0].walk(&mut |k, n| {
            if k == Some("image") {
                images.push(n.str().unwrap().to_string());
            }
        });
        assert_eq!(images, ["reg/app:v1"]);
        let err = parse("a: [unclosed").unwrap_err();
        assert!(matches!(err, YamlError::Syntax(_)), "{err}");
        assert!(err.to_string().starts_with("not YAML: "), "{err}");
    }

    #[test]
    fn nesting_is_bounded_and_deep_trees_are_freed_without_recursion() {
        let deep = format!("{}x\n", "- ".repeat(40_000));
        let err = parse(&deep).unwrap_err();
        assert!(matches!(err, YamlError::TooDeep { .. }), "{err}");
        assert!(
            err.to_string().contains("nested deeper than 256 levels"),
            "{err}"
        );
        let flow = format!("{}{}", "[".repeat(40_000), "]".repeat(40_000));
        assert!(parse(&flow).is_err());
        let ok = format!("{}x\n", "- ".repeat(MAX_DEPTH));
        let docs = parse(&ok).unwrap();
        let mut depth = 0;
        docs[0].walk(&mut |_, _| depth += 1);
        assert_eq!(depth, MAX_DEPTH + 1);
        // A tree far deeper than the parser allows, built by hand: walking and dropping it
        // must not recurse.
        let mut node = Node {
            value: Value::Scalar("x".into()),
            line: 1,
            column: 1,
        };
        for _ in 0..1_000_000 {
            node = Node {
                value: Value::Seq(vec![node]),
                line: 1,
                column: 1,
            };
        }
        let mut count = 0;
        node.walk(&mut |_, _| count += 1);
        assert_eq!(count, 1_000_001);
        drop(node);
    }

    #[test]
    fn node_limit_is_an_error_not_a_silent_cut() {
        let many = format!("[{}]", "a,".repeat(MAX_NODES + 1));
        let err = parse(&many).unwrap_err();
        assert_eq!(err, YamlError::TooManyNodes { line: 1 });
        assert!(
            err.to_string().contains("more than 200000 YAML nodes"),
            "{err}"
        );
        assert_eq!(err.class(), ErrorClass::Unavailable);
    }

    #[test]
    fn aliases_stand_for_their_anchor_where_it_is_written() {
        let text = "\
.sign: &sign
  - cosign sign reg/app:latest
img: &img reg/app:v1
job:
  image: *img
  script: *sign
  run: *img
";
        let doc = &parse(text).unwrap()[0];
        let job = doc.get("job").unwrap();
        let image = job.get("image").unwrap();
        assert_eq!(image.str(), Some("reg/app:v1"));
        assert_eq!((image.line, image.column), (3, 11));
        let script = &job.get("script").unwrap().items()[0];
        assert_eq!(script.str(), Some("cosign sign reg/app:latest"));
        assert_eq!(script.line, 2);
        // As written, an alias is itself.
        let written = &parse_written(text).unwrap()[0];
        let image = written.get("job").unwrap().get("image").unwrap();
        assert_eq!((&image.value, image.line), (&Value::Alias, 5));
        // An alias to no anchor stays an alias.
        let doc = &parse("a: *nowhere\n");
        assert!(
            doc.as_ref()
                .map_or(true, |d| d[0].get("a").unwrap().value == Value::Alias)
        );
    }

    #[test]
    fn merge_keys_and_duplicate_keys_read_as_a_loader_reads_them() {
        let text = "\
.defaults: &defaults
  image: reg/base:1
  script: echo default
.more: &more
  script: echo more
  tags: [a]
job:
  <<: [*defaults, *more]
  script: echo job
dup:
  run: cosign sign reg/app:latest
  run: cosign sign reg/app@sha256:00
";
        let doc = &parse(text).unwrap()[0];
        let job = doc.get("job").unwrap();
        let keys: Vec<_> = job.entries().map(|(k, _)| k.str().unwrap()).collect();
        assert_eq!(keys, ["image", "tags", "script"]);
        assert_eq!(job.get("script").unwrap().str(), Some("echo job"));
        assert_eq!(job.get("image").unwrap().line, 2);
        let dup = doc.get("dup").unwrap();
        assert_eq!(dup.entries().count(), 1);
        assert_eq!(
            dup.get("run").unwrap().str(),
            Some("cosign sign reg/app@sha256:00")
        );
        // `<<` over something that is not a mapping is an ordinary key.
        let doc = &parse("a:\n  <<: text\n").unwrap()[0];
        assert_eq!(doc.get("a").unwrap().get("<<").unwrap().str(), Some("text"));
    }

    #[test]
    fn alias_bombs_are_an_error_not_a_tree() {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&text).unwrap_err();
        assert!(matches!(err, YamlError::AliasBomb { .. }), "{err}");
        assert!(err.to_string().contains("aliases expand"), "{err}");
        assert_eq!(err.class(), ErrorClass::Unavailable);
        // Deep anchors aliased deep are bounded by the depth limit too.
        let deep = format!("a: &a {}x{}\n", "[".repeat(200), "]".repeat(200));
        let nested = format!("{deep}b: {}*a{}\n", "[".repeat(100), "]".repeat(100));
        assert!(matches!(parse(&nested), Err(YamlError::TooDeep { .. })));
    }
}
