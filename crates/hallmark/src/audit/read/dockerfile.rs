//! Dockerfiles and Containerfiles: `FROM` images (not `scratch`, not an earlier stage) and
//! `RUN` lines, each in a fresh shell.

use super::Source;
use crate::audit::images;
use crate::audit::model::{ImageUse, Model, Place, Script};

pub(super) fn read(src: &Source<'_>) -> Model {
    let mut m = Model::default();
    let lines = &src.lines;
    let mut stages: Vec<String> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let mut text = lines[i].trim_end().to_string();
        while text.ends_with('\\') && i + 1 < lines.len() {
            text.pop();
            i += 1;
            text.push('\n');
            text.push_str(lines[i]);
        }
        i += 1;
        let trimmed = text.trim_start();
        let indent = text.len() - trimmed.len();
        let (instr, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        match instr.to_ascii_uppercase().as_str() {
            "FROM" => {
                let Some(image) = images::from_image(rest, &mut stages) else {
                    continue;
                };
                let column = indent + instr.len() + 2 + rest.find(image).unwrap_or(0);
                m.images.push(ImageUse {
                    text: image.to_string(),
                    at: Place {
                        line: start + 1,
                        column,
                    },
                    what: "FROM",
                });
            }
            "RUN" => {
                let column = indent + instr.len() + 1;
                m.scripts
                    .push(Script::new(rest, (start + 1, column, false)));
            }
            _ => {}
        }
    }
    m
}
