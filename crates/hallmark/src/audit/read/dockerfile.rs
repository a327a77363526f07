//! Dockerfiles and Containerfiles: `FROM` images (not `scratch`, not an earlier stage) and
//! `RUN` lines, each in a fresh shell, read as BuildKit reads them.
//!
//! - The `# escape=` parser directive sets the line-continuation character (a backtick in
//!   Windows-style files); comment lines inside a continued instruction are dropped.
//! - Heredocs (`RUN <<EOF`, `<<-EOF`, quoted delimiters, several in one instruction) are
//!   bodies, never instructions: a body given to `RUN` alone or to a shell (`RUN bash
//!   <<EOF`) is a script; one given to another program, or to `COPY`/`ADD`, is data.
//! - `ARG` and `ENV` values are known in the lines after them: `FROM $BASE` is judged with
//!   `ARG BASE=…`'s value, and `RUN` scripts see them as variables. An `ARG` without a
//!   default stays unknown.
//! - After `SHELL ["powershell", …]`, `RUN` text is still read: the rules know
//!   PowerShell's download-and-run idioms (`iex`), and a heredoc is fed to a shell only
//!   when the `RUN` names one.

use super::Source;
use crate::audit::images;
use crate::audit::model::{EnvVar, Expands, ImageUse, Model, Place, Script};

/// Shells that run a heredoc given to them as input: its body is then a script.
const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh", "ksh"];

/// Most heredocs read in one instruction: a hostile line costs bounded work.
const MAX_HEREDOCS: usize = 16;

pub(super) fn read(src: &Source<'_>) -> Model {
    let mut m = Model::default();
    let lines = &src.lines;
    let escape = escape_char(lines);
    let mut stages: Vec<String> = Vec::new();
    // `ARG`/`ENV` values in force, later ones last.
    let mut vars: Vec<EnvVar> = Vec::new();
    // Whether the stage has run something: each `RUN` is a fresh shell, but on the files
    // the stage's earlier ones left (`RUN curl -LO …/kubectl`, then `RUN chmod +x
    // kubectl`), as the lines of a Makefile recipe are.
    let mut stage_ran = false;
    let mut i = 0;
    while i < lines.len() {
        let start = i;
        let first = lines[i];
        if first.trim_start().starts_with('#') || first.trim().is_empty() {
            i += 1;
            continue;
        }
        let mut text = first.trim_end().to_string();
        while text.ends_with(escape) && i + 1 < lines.len() {
            text.pop();
            // The shell reads `\` and a newline as a continuation: the line numbers stay.
            text.push_str("\\\n");
            i += 1;
            // Docker drops comment lines inside an instruction; an empty one keeps the
            // line count.
            if lines[i].trim_start().starts_with('#') {
                text.push(escape);
                continue;
            }
            text.push_str(lines[i].trim_end());
        }
        i += 1;
        let trimmed = text.trim_start();
        let indent = text.len() - trimmed.len();
        let (instr, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let instr = instr.to_ascii_uppercase();
        // Heredoc bodies follow the instruction's last line, whatever the instruction.
        let docs = if matches!(instr.as_str(), "RUN" | "COPY" | "ADD") {
            heredocs(rest, lines, &mut i)
        } else {
            Vec::new()
        };
        match instr.as_str() {
            "FROM" => {
                stage_ran = false;
                let resolved = substitute(rest, &vars);
                let Some(image) = images::from_image(&resolved, &mut stages) else {
                    continue;
                };
                let written = rest
                    .split_whitespace()
                    .find(|w| !w.starts_with("--"))
                    .unwrap_or(image);
                let column = indent + instr.len() + 2 + rest.find(written).unwrap_or(0);
                m.images.push(ImageUse {
                    text: image.to_string(),
                    at: Place {
                        line: start + 1,
                        column,
                    },
                    what: "FROM",
                });
            }
            "ARG" | "ENV" => {
                for (name, value) in definitions(rest, instr == "ENV") {
                    vars.retain(|v| v.name != name);
                    if let Some(value) = value {
                        let var = EnvVar {
                            name,
                            value,
                            expands: Expands::Shell,
                        };
                        m.assignments.push(var.clone());
                        vars.push(var);
                    }
                }
            }
            "RUN" => {
                let column = indent + instr.len() + 1;
                let command = if docs.is_empty() {
                    rest.to_string()
                } else {
                    without_markers(rest)
                };
                if !command.trim().is_empty() {
                    let mut script = Script::new(command.clone(), (start + 1, column, false));
                    script.env = vars.clone();
                    script.continues = stage_ran;
                    stage_ran = true;
                    m.scripts.push(script);
                }
                let program = command
                    .split_whitespace()
                    .find(|w| !w.contains('='))
                    .unwrap_or_default();
                let program = program.rsplit('/').next().unwrap_or_default();
                let shell_input = command.trim().is_empty() || SHELLS.contains(&program);
                for doc in docs.into_iter().filter(|_| shell_input) {
                    let mut script = Script::new(doc.body, (doc.line, 0, false));
                    script.env = vars.clone();
                    script.continues = stage_ran;
                    stage_ran = true;
                    m.scripts.push(script);
                }
            }
            _ => {}
        }
    }
    m
}

/// The escape character set by a `# escape=` directive among the parser directives at
/// the top of the file; `\` otherwise.
fn escape_char(lines: &[&str]) -> char {
    for line in lines {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = directive.split_once('=') else {
            break;
        };
        if key.trim().eq_ignore_ascii_case("escape") && value.trim() == "`" {
            return '`';
        }
    }
    '\\'
}

/// A heredoc's body and the line it starts on.
struct Heredoc {
    body: String,
    line: usize,
}

/// The bodies of the heredocs that `rest` opens, read from `lines` at `*next` on, which
/// moves past them.
fn heredocs(rest: &str, lines: &[&str], next: &mut usize) -> Vec<Heredoc> {
    let mut docs = Vec::new();
    for (delimiter, strip_tabs) in markers(rest).into_iter().take(MAX_HEREDOCS) {
        let line = *next + 1;
        let mut body = String::new();
        while *next < lines.len() {
            let l = lines[*next];
            *next += 1;
            let l = if strip_tabs {
                l.trim_start_matches('\t')
            } else {
                l
            };
            if l.trim_end() == delimiter {
                break;
            }
            body.push_str(l);
            body.push('\n');
        }
        docs.push(Heredoc { body, line });
    }
    docs
}

/// The heredoc markers of an instruction, in order: the delimiter and whether `<<-`
/// strips leading tabs.
fn markers(rest: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut s = rest;
    while let Some(at) = s.find("<<") {
        s = &s[at + 2..];
        // `<<<` is a here-string, not a heredoc.
        if s.starts_with('<') {
            s = &s[1..];
            continue;
        }
        let strip = s.starts_with('-');
        let t = s.trim_start_matches('-');
        let t = t.trim_start_matches(['"', '\'']);
        let name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push((name, strip));
        }
    }
    out
}

/// An instruction's text without its heredoc markers: the command the bodies feed.
fn without_markers(rest: &str) -> String {
    rest.split_whitespace()
        .filter(|w| !w.starts_with("<<") || w.starts_with("<<<"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The names an `ARG` or `ENV` line defines, with their value when it has one:
/// `ARG A=1 B`, `ENV A=1 B="two words"`, and the old `ENV A value with spaces`.
fn definitions(rest: &str, env: bool) -> Vec<(String, Option<String>)> {
    let rest = rest.trim();
    let first = rest.split_whitespace().next().unwrap_or_default();
    if env && !first.contains('=') {
        let value = rest[first.len()..].trim();
        return vec![(first.to_string(), Some(unquote(value)))];
    }
    let mut out = Vec::new();
    for word in shell_words(rest) {
        match word.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), Some(unquote(v)))),
            None => out.push((word, None)),
        }
    }
    out
}

/// Words split on blanks outside quotes (quotes kept for `unquote`).
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                word.push(c);
            }
            (Some(q), c) if c == q => {
                quote = None;
                word.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (_, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

fn unquote(v: &str) -> String {
    v.chars().filter(|c| !matches!(c, '"' | '\'')).collect()
}

/// `text` with `$NAME` and `${NAME}` replaced by the values in `vars` (the last wins);
/// unknown names stay as written.
fn substitute(text: &str, vars: &[EnvVar]) -> String {
    let value = |name: &str| {
        vars.iter()
            .rev()
            .find(|v| v.name == name)
            .map(|v| v.value.clone())
    };
    let mut out = String::new();
    let mut s = text;
    while let Some(at) = s.find('$') {
        out.push_str(&s[..at]);
        let after = &s[at + 1..];
        let (name, used, default) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(close) => {
                    let inner = &inner[..close];
                    let (name, default) = match inner.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (inner, None),
                    };
                    (name, close + 2, default)
                }
                None => ("", 0, None),
            }
        } else {
            let len = after
                .bytes()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                .count();
            (&after[..len], len, None)
        };
        match value(name).or_else(|| default.map(str::to_string)) {
            Some(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&s[at..at + 1 + used]),
        }
        s = &after[used..];
    }
    out.push_str(s);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> Model {
        read(&Source::new(text))
    }

    #[test]
    fn heredocs_are_bodies_not_instructions() {
        let text = "\
FROM alpine:3.20@sha256:00
RUN <<EOF
curl -sSL https://example.com/i.sh | sh
FROM evil:latest
EOF
RUN bash <<-EOT
\tcosign sign reg/app:latest
\tEOT
COPY <<EOF /etc/motd
curl https://example.com | sh
EOF
RUN python3 <<EOF
print('curl x | sh')
EOF
RUN <<ONE sh && <<TWO bash
echo one
ONE
echo two
TWO
";
        let m = model(text);
        let images: Vec<&str> = m.images.iter().map(|i| i.text.as_str()).collect();
        assert_eq!(images, ["alpine:3.20@sha256:00"]);
        let scripts: Vec<(&str, usize)> = m
            .scripts
            .iter()
            .filter(|s| !s.body.trim().is_empty())
            .map(|s| (s.body.as_str(), s.line))
            .collect();
        assert_eq!(
            scripts,
            [
                (
                    "curl -sSL https://example.com/i.sh | sh\nFROM evil:latest\n",
                    3
                ),
                ("bash", 6),
                ("cosign sign reg/app:latest\n", 7),
                ("python3", 12),
                ("sh && bash", 15),
                ("echo one\n", 16),
                ("echo two\n", 18),
            ]
        );
    }

    #[test]
    fn runs_of_a_stage_continue_each_other_on_its_files() {
        let text = "\
FROM golang:1.22@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 AS tools
RUN curl -LO https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl
RUN chmod +x ./kubectl
RUN mv ./kubectl /usr/local/bin
RUN curl -fsSLo /opt/x.jar https://x/x.jar && curl -fsSLo /tmp/sums https://x/sums && sha256sum -c /tmp/sums
FROM alpine:3.20@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
RUN curl -LO https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl
RUN curl -LO https://dl.k8s.io/release/v1.30.0/bin/linux/amd64/kubectl.sha256
RUN echo \"$(cat kubectl.sha256)  kubectl\" | sha256sum -c -
RUN chmod +x kubectl && mv kubectl /usr/local/bin/
";
        let continues: Vec<bool> = model(text).scripts.iter().map(|s| s.continues).collect();
        assert_eq!(
            continues,
            [false, true, true, true, false, true, true, true]
        );
        // The list checked in the last `RUN` says nothing of what an earlier one installed.
        let (found, _) =
            crate::audit::audit_text("Dockerfile", text, crate::audit::Kind::Dockerfile);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("unchecked-download", 2)]);
    }

    #[test]
    fn escape_directive_and_comments_inside_an_instruction() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows:ltsc2022\nRUN curl https://example.com/i.sh `\n# a comment\n  | sh\nRUN echo done\n";
        let m = model(text);
        assert_eq!(m.scripts.len(), 2);
        assert_eq!(
            m.scripts[0].body,
            "curl https://example.com/i.sh \\\n\\\n  | sh"
        );
        assert_eq!(m.scripts[1].line, 6);
        // Without the directive, a backtick is text.
        let m = model("FROM a\nRUN echo `\nRUN echo two\n");
        assert_eq!(m.scripts.len(), 2);
    }

    #[test]
    fn args_and_env_resolve_later_lines_and_stages_are_not_pulls() {
        let text = "\
ARG BASE=reg.example.com/base:1.2
ARG UNSET
FROM $BASE AS build
ENV TOOL_URL=https://example.com/tool.sh OTHER=\"two words\"
ENV OLD style value
RUN curl $TOOL_URL | sh
FROM ${UNSET}
FROM build
FROM ${MISSING:-reg.example.com/def:3}
SHELL [\"powershell\", \"-Command\"]
RUN iex ((New-Object Net.WebClient).DownloadString('https://example.com/i.ps1'))
";
        let m = model(text);
        let images: Vec<(&str, usize, usize)> = m
            .images
            .iter()
            .map(|i| (i.text.as_str(), i.at.line, i.at.column))
            .collect();
        assert_eq!(
            images,
            [
                ("reg.example.com/base:1.2", 3, 6),
                ("${UNSET}", 7, 6),
                ("reg.example.com/def:3", 9, 6),
            ]
        );
        assert_eq!(m.scripts.len(), 2);
        assert!(m.scripts[1].body.starts_with("iex "));
        let env: Vec<(&str, &str)> = m.scripts[0]
            .env
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("BASE", "reg.example.com/base:1.2"),
                ("TOOL_URL", "https://example.com/tool.sh"),
                ("OTHER", "two words"),
                ("OLD", "style value"),
            ]
        );
    }
}
