//! Where a file names images to deploy, byte for byte: what `pin` rewrites.

use super::Kind;
use super::yaml::{self, Node};

/// An image reference in a file: its text and its exact place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpan {
    /// The reference, as written.
    pub text: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Byte offset of its first byte in the file.
    pub start: usize,
}

impl ImageSpan {
    /// Byte offset just after it.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// Byte offset of 1-based (`line`, `column`) in `text`, columns counted in characters.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let line_text = &text[start..];
    let mut chars = line_text.char_indices();
    let (i, _) = chars.nth(column.checked_sub(1)?)?;
    Some(start + i)
}

/// The span of a YAML scalar `node` whose value is its exact text (plain, or quoted
/// without escapes); `None` for anything else (folded, escaped, dynamic).
fn scalar_span(text: &str, node: &Node) -> Option<ImageSpan> {
    let value = node.str()?;
    let mut at = offset(text, node.line, node.column)?;
    if text[at..].starts_with(['"', '\'']) {
        at += 1;
    }
    text[at..].starts_with(value).then(|| ImageSpan {
        text: value.to_string(),
        line: node.line,
        column: node.column,
        start: at,
    })
}

/// The image of a `FROM` instruction (`args` is what follows `FROM`), unless it is
/// `scratch` or an earlier build stage; an `AS name` is remembered in `stages`.
pub(crate) fn from_image<'a>(args: &'a str, stages: &mut Vec<String>) -> Option<&'a str> {
    let words: Vec<&str> = args
        .split_whitespace()
        .filter(|w| !w.starts_with("--"))
        .collect();
    if let [_, as_kw, name] = words.as_slice()
        && as_kw.eq_ignore_ascii_case("as")
    {
        stages.push(name.to_ascii_lowercase());
    }
    let image = *words.first()?;
    let built_here =
        image.eq_ignore_ascii_case("scratch") || stages.contains(&image.to_ascii_lowercase());
    (!built_here).then_some(image)
}

/// The YAML nodes that name images to run in a document of `kind`, each with what runs it:
/// `image:` anywhere in a Kubernetes object, compose services' images, and a workflow job's
/// container and service containers.
pub(crate) fn image_nodes(doc: &Node, kind: Kind) -> Vec<(&Node, &'static str)> {
    let mut nodes = Vec::new();
    match kind {
        Kind::Kubernetes if doc.get("kind").is_some() => {
            doc.walk(&mut |k, n| {
                if k == Some("image") {
                    nodes.push((n, "a Kubernetes container"));
                }
            });
        }
        Kind::Compose => {
            if let Some(services) = doc.get("services") {
                // Beside `build:`, `image:` names what is built, not what is pulled.
                for (_, s) in services.entries().filter(|(_, s)| s.get("build").is_none()) {
                    nodes.extend(s.get("image").map(|n| (n, "a compose service")));
                }
            }
        }
        Kind::Workflow | Kind::Action => {
            for (_, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
                if let Some(c) = job.get("container") {
                    nodes.push((c.get("image").unwrap_or(c), "the job's container"));
                }
                if let Some(s) = job.get("services") {
                    for (_, s) in s.entries() {
                        nodes.extend(s.get("image").map(|n| (n, "a service container")));
                    }
                }
            }
        }
        _ => {}
    }
    nodes
}

/// Every image reference `pin` may rewrite in a file of `kind`: Kubernetes and compose
/// `image:` values, workflow `container:`/`services:` images, Dockerfile `FROM` images.
/// References with variables or expressions are left out: they are not the file's to pin.
pub fn image_spans(text: &str, kind: Kind) -> Vec<ImageSpan> {
    let mut out = Vec::new();
    match kind {
        Kind::Dockerfile => {
            let mut stages: Vec<String> = Vec::new();
            let mut start = 0;
            for (i, line) in text.split_inclusive('\n').enumerate() {
                let trimmed = line.trim_start();
                let is_from = trimmed
                    .get(..5)
                    .is_some_and(|p| p.eq_ignore_ascii_case("FROM "));
                if is_from && let Some(image) = from_image(&trimmed[5..], &mut stages) {
                    let pos = image.as_ptr() as usize - line.as_ptr() as usize;
                    out.push(ImageSpan {
                        text: image.to_string(),
                        line: i + 1,
                        column: line[..pos].chars().count() + 1,
                        start: start + pos,
                    });
                }
                start += line.len();
            }
        }
        Kind::Kubernetes | Kind::Compose | Kind::Workflow => {
            let Ok(docs) = yaml::parse_written(text) else {
                return out;
            };
            for doc in &docs {
                out.extend(
                    image_nodes(doc, kind)
                        .into_iter()
                        .filter_map(|(n, _)| scalar_span(text, n)),
                );
            }
        }
        _ => {}
    }
    out.retain(|s| !s.text.contains('$') && !s.text.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_compose_image_beside_build_is_built_not_pulled() {
        let text = "services:\n  api:\n    build: ./api\n    image: acme/api:dev\n  db:\n    image: postgres:16\n";
        let doc = &yaml::parse(text).unwrap()[0];
        let found: Vec<&str> = image_nodes(doc, Kind::Compose)
            .into_iter()
            .filter_map(|(n, _)| n.str())
            .collect();
        assert_eq!(found, ["postgres:16"]);
    }

    #[test]
    fn spans_are_exact_bytes() {
        let text = "kind: Pod\nspec:\n  containers:\n    - image: \"reg.io/é/app:v1\" # quoted\n    - image: reg.io/b:v2\n    - image: ${{ x }}\n";
        let spans = image_spans(text, Kind::Kubernetes);
        assert_eq!(spans.len(), 2, "{spans:?}");
        for s in &spans {
            assert_eq!(&text[s.start..s.end()], s.text);
        }
        let docker =
            "FROM --platform=linux/amd64 golang:1.23 AS build\nFROM build\nFROM gcr.io/x/y:1\n";
        let spans = image_spans(docker, Kind::Dockerfile);
        assert_eq!(
            spans.iter().map(|s| s.text.as_str()).collect::<Vec<_>>(),
            ["golang:1.23", "gcr.io/x/y:1"]
        );
        for s in &spans {
            assert_eq!(&docker[s.start..s.end()], s.text);
        }
    }
}
