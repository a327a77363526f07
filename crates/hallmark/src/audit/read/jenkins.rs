//! Jenkinsfiles: the string given to each `sh` step, each in a fresh shell.

use super::Source;
use crate::audit::model::{Model, Script};

pub(super) fn read(src: &Source<'_>) -> Model {
    let mut m = Model::default();
    let text = &src.text;
    let mut from = 0;
    // Where the line of `counted` starts, and its number: counted forward only, so a
    // file of many steps costs one pass.
    let (mut counted, mut line, mut line_start) = (0, 1, 0);
    while let Some(at) = text[from..].find("sh ") {
        let at = from + at;
        from = at + 3;
        let rest = &text[at + 3..];
        let rest_trim = rest.trim_start();
        let quote = ["'''", "\"\"\"", "'", "\""]
            .into_iter()
            .find(|q| rest_trim.starts_with(q));
        let Some(q) = quote else { continue };
        let body_start = at + 3 + (rest.len() - rest_trim.len()) + q.len();
        // An unterminated string runs to the end of the file, as Groovy would read it.
        let len = text[body_start..]
            .find(q)
            .unwrap_or(text.len() - body_start);
        let body = &text[body_start..body_start + len];
        for (i, b) in text[counted..body_start].bytes().enumerate() {
            if b == b'\n' {
                line += 1;
                line_start = counted + i + 1;
            }
        }
        counted = body_start;
        m.scripts
            .push(Script::new(body, (line, body_start - line_start, false)));
        from = (body_start + len + q.len()).min(text.len());
    }
    m
}
