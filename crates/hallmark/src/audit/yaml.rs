//! YAML documents as a small tree that remembers where every node starts (line, column),
//! built from yaml-rust2's events. Multi-document streams give one tree per document.

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
}

impl YamlError {
    /// A file that is not read leaves its findings unknown: the report is partial, which
    /// is the class of what could not be done, not a verdict on the file.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Syntax(_) | Self::TooManyNodes { .. } | Self::TooDeep { .. } => {
                ErrorClass::Unavailable
            }
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
    /// An alias (not followed: anchors cannot make the work grow).
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

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, Option<Node>)>,
    nodes: usize,
}

impl Builder {
    fn push(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some((parent, pending_key)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(k) => entries.push((k, node)),
                },
                Value::Scalar(_) | Value::Alias => {}
            },
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
        match ev {
            Event::Scalar(text, ..) => self.push(at(Value::Scalar(text))),
            Event::Alias(_) => self.push(at(Value::Alias)),
            Event::SequenceStart(..) => self.stack.push((at(Value::Seq(Vec::new())), None)),
            Event::MappingStart(..) => self.stack.push((at(Value::Map(Vec::new())), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _)) = self.stack.pop() {
                    self.push(node);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parses every document of `text`; `Err` with the parser's message (and line) when the
/// text is not YAML, or nests deeper than `MAX_DEPTH`, or has more than [`MAX_NODES`]
/// nodes.
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
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
}
