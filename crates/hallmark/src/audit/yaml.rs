//! YAML documents as a small tree that remembers where every node starts (line, column),
//! built from yaml-rust2's events. Multi-document streams give one tree per document.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .find(|(k, _)| k.str() == Some(key))
            .map(|(_, v)| v)
    }

    /// A mapping's entries (none for anything else).
    pub fn entries(&self) -> impl Iterator<Item = (&Node, &Node)> {
        let entries: &[(Node, Node)] = match &self.value {
            Value::Map(m) => m,
            _ => &[],
        };
        entries.iter().map(|(k, v)| (k, v))
    }

    /// A sequence's items (none for anything else).
    pub fn items(&self) -> &[Node] {
        match &self.value {
            Value::Seq(s) => s,
            _ => &[],
        }
    }

    /// Every node of the tree, depth first, with the key it sits under (if any).
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(Option<&'a str>, &'a Node)) {
        fn go<'a>(
            n: &'a Node,
            key: Option<&'a str>,
            visit: &mut dyn FnMut(Option<&'a str>, &'a Node),
        ) {
            visit(key, n);
            match &n.value {
                Value::Map(m) => {
                    for (k, v) in m {
                        go(v, k.str(), visit);
                    }
                }
                Value::Seq(s) => {
                    for v in s {
                        go(v, key, visit);
                    }
                }
                Value::Scalar(_) | Value::Alias => {}
            }
        }
        go(self, None, visit);
    }
}

/// Most nodes kept from one file: a hostile file costs bounded memory.
pub const MAX_NODES: usize = 200_000;

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, Option<Node>)>,
    nodes: usize,
}

impl Builder {
    fn push(&mut self, node: Node) {
        self.nodes += 1;
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
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.nodes > MAX_NODES {
            return;
        }
        let at = |value| Node {
            value,
            line: mark.line(),
            column: mark.col() + 1,
        };
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
    }
}

/// Parses every document of `text`; `Err` with the parser's message (and line) when the
/// text is not YAML.
pub fn parse(text: &str) -> Result<Vec<Node>, String> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| e.to_string())?;
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
        assert!(parse("a: [unclosed").is_err());
    }
}
