//! Jenkinsfiles and shared-library Groovy: the script given to each `sh` step, each in a
//! fresh shell.
//!
//! Every way Groovy gives `sh` its string is read: `sh 'cmd'`, `sh "cmd"`, triple-quoted
//! strings, `sh('cmd')`, `sh(script: 'cmd', returnStdout: true)`, `sh script: "cmd"`. A
//! double-quoted string is a GString: `${name}` and `$name` in it are Groovy's, replaced
//! by the value a `def`, an `env.NAME =` or an `environment { NAME = '…' }` gave when that
//! value is a literal, and left as shell text (unknown) otherwise. Comments and strings
//! that are not steps are skipped by a small lexer, so `// sh 'x'` is not a step.
//! `bat` and `powershell` steps are not shell, and not read.

use std::collections::HashMap;

use super::Source;
use crate::audit::model::{EnvVar, Expands, Model, Script};

/// A string literal of the file.
struct Lit {
    /// Byte offset of its first character (after the quotes).
    start: usize,
    /// Its text between the quotes, escapes undone.
    text: String,
    /// Offset just after its closing quotes.
    end: usize,
}

/// Most variables remembered, and most bytes of one value: a hostile file costs bounded
/// memory.
const MAX_VARS: usize = 4096;
const MAX_VALUE: usize = 4096;

pub(super) fn read(src: &Source<'_>) -> Model {
    let mut m = Model::default();
    let text = src.text.as_bytes();
    // Groovy variables with literal values, and those also in the environment of steps.
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut env: Vec<EnvVar> = Vec::new();
    let mut lines = LineIndex::default();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'/' if text.get(i + 1) == Some(&b'/') => {
                i = find_from(text, i, b"\n").unwrap_or(text.len());
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i = find_from(text, i + 2, b"*/").map_or(text.len(), |e| e + 2);
            }
            b'\'' | b'"' => i = string_at(&src.text, i, &vars).end,
            c if is_ident_start(c) && (i == 0 || !is_ident(text[i - 1])) => {
                let end = i + text[i..].iter().take_while(|c| is_ident(**c)).count();
                let word = &src.text[i..end];
                i = end;
                if word == "sh" {
                    if let Some(lit) = step_script(&src.text, end, &vars) {
                        let (line, column) = lines.at(text, lit.start);
                        let mut script = Script::new(lit.text, (line, column, false));
                        script.env = env.clone();
                        m.scripts.push(script);
                        i = lit.end;
                    }
                } else if let Some((name, lit)) = assignment(&src.text, i, word, &vars) {
                    i = lit.end;
                    let value: String = lit.text.chars().take(MAX_VALUE).collect();
                    let in_env = word == "env" || lines.in_environment(text, i);
                    if in_env && env.len() < MAX_VARS {
                        let var = EnvVar {
                            name: name.clone(),
                            value: value.clone(),
                            expands: Expands::Shell,
                        };
                        m.assignments.push(var.clone());
                        env.push(var);
                    }
                    if vars.len() < MAX_VARS || vars.contains_key(&name) {
                        vars.insert(name, value);
                    }
                }
            }
            _ => i += 1,
        }
    }
    m
}

/// Lines counted forward as offsets grow: a file of many steps costs one pass.
#[derive(Default)]
struct LineIndex {
    counted: usize,
    line: usize,
    line_start: usize,
}

impl LineIndex {
    /// The 1-based line of `at`, and the columns before it on that line.
    fn at(&mut self, text: &[u8], at: usize) -> (usize, usize) {
        if self.line == 0 {
            self.line = 1;
        }
        for (i, b) in text[self.counted..at].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.counted + i + 1;
            }
        }
        self.counted = at.max(self.counted);
        (self.line, at - self.line_start)
    }

    /// True when the innermost block open before `at` is `environment {`.
    fn in_environment(&self, text: &[u8], at: usize) -> bool {
        let mut depth = 0usize;
        let mut j = at.min(text.len());
        // Bounded look back: an `environment` block is a few lines long.
        let stop = j.saturating_sub(16 * 1024);
        while j > stop {
            j -= 1;
            match text[j] {
                b'}' => depth += 1,
                b'{' if depth == 0 => {
                    let before = String::from_utf8_lossy(&text[stop..j]);
                    return before.trim_end().ends_with("environment");
                }
                b'{' => depth -= 1,
                _ => {}
            }
        }
        false
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn find_from(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    text.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn skip_blank(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    i
}

/// The string literal opening at `at` (a quote), read to its end; an unterminated one
/// runs to the end of the file, as Groovy would read it.
fn string_at(text: &str, at: usize, vars: &HashMap<String, String>) -> Lit {
    let b = text.as_bytes();
    let quote = b[at];
    let triple = b
        .get(at..at + 3)
        .is_some_and(|t| t.iter().all(|c| *c == quote));
    let open = if triple { 3 } else { 1 };
    let start = at + open;
    let mut out = String::new();
    let mut i = start;
    let interpolates = quote == b'"';
    let end;
    loop {
        let Some(&c) = b.get(i) else {
            end = b.len();
            break;
        };
        if c == quote
            && (!triple
                || b.get(i..i + 3)
                    .is_some_and(|t| t.iter().all(|x| *x == quote)))
        {
            end = i + open;
            break;
        }
        if c == b'\n' && !triple {
            // A one-line string does not cross a line: the file is not Groovy here.
            end = i;
            break;
        }
        if c == b'\\' {
            let next = text[i + 1..].chars().next();
            match next {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\n') => {}
                Some(n) => out.push(n),
                None => {}
            }
            i += 1 + next.map_or(0, char::len_utf8);
            continue;
        }
        if c == b'$'
            && interpolates
            && let Some((value, used)) = interpolation(&text[i..], vars)
        {
            out.push_str(&value);
            i += used;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        i += ch.len_utf8();
    }
    Lit {
        start,
        text: out,
        end,
    }
}

/// A GString's `${name}`, `${env.NAME}` or `$name` at the start of `s` whose value is
/// known: the value and the bytes it takes. Anything else is left as written, which the
/// shell then sees as a variable it does not know.
fn interpolation(s: &str, vars: &HashMap<String, String>) -> Option<(String, usize)> {
    let (name, used) = if let Some(rest) = s.strip_prefix("${") {
        let close = rest.find('}')?;
        (rest[..close].trim(), close + 3)
    } else {
        let rest = &s[1..];
        let len = rest
            .bytes()
            .take_while(|c| is_ident(*c) || *c == b'.')
            .count();
        (rest[..len].trim_end_matches('.'), 1 + len)
    };
    let name = name.strip_prefix("env.").unwrap_or(name);
    // A value of several lines would move every place after it.
    vars.get(name)
        .filter(|v| !v.contains('\n'))
        .map(|v| (v.clone(), used))
}

/// The script of the `sh` step whose name ends at `at`, if this is one.
fn step_script(text: &str, at: usize, vars: &HashMap<String, String>) -> Option<Lit> {
    let b = text.as_bytes();
    let i = skip_blank(text, at);
    match b.get(i)? {
        b'\'' | b'"' => Some(string_at(text, i, vars)),
        b'(' => {
            let j = skip_ws(text, i + 1);
            match b.get(j)? {
                b'\'' | b'"' => Some(string_at(text, j, vars)),
                _ => named_script(text, j, vars, b')'),
            }
        }
        c if is_ident_start(*c) => named_script(text, i, vars, b'\n'),
        _ => None,
    }
}

fn skip_ws(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The `script:` argument among named arguments starting at `at`, which end at `close`
/// (outside strings) or with the file.
fn named_script(text: &str, at: usize, vars: &HashMap<String, String>, close: u8) -> Option<Lit> {
    let b = text.as_bytes();
    let mut i = at;
    while i < b.len() && b[i] != close {
        match b[i] {
            b'\'' | b'"' => i = string_at(text, i, vars).end,
            c if is_ident_start(c) && (i == 0 || !is_ident(b[i - 1])) => {
                let end = i + b[i..].iter().take_while(|c| is_ident(**c)).count();
                let word = &text[i..end];
                let j = skip_blank(text, end);
                if b.get(j) == Some(&b':') {
                    let k = skip_ws(text, j + 1);
                    if word == "script" && matches!(b.get(k), Some(b'\'' | b'"')) {
                        return Some(string_at(text, k, vars));
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    None
}

/// `name = 'literal'` (after `def`, a type, or `env.`) with the word at `at` being the
/// name or `env`; `vars` expands a GString value. `None` when the value is not a lone
/// string literal: such a name stays unknown.
fn assignment(
    text: &str,
    at: usize,
    word: &str,
    vars: &HashMap<String, String>,
) -> Option<(String, Lit)> {
    let b = text.as_bytes();
    let (name, after) = if word == "env" && b.get(at) == Some(&b'.') {
        let end = at + 1 + b[at + 1..].iter().take_while(|c| is_ident(**c)).count();
        (text[at + 1..end].to_string(), end)
    } else {
        (word.to_string(), at)
    };
    if name.is_empty() || matches!(name.as_str(), "def" | "sh" | "if" | "return") {
        return None;
    }
    let i = skip_blank(text, after);
    if b.get(i) != Some(&b'=') || b.get(i + 1) == Some(&b'=') {
        return None;
    }
    let j = skip_blank(text, i + 1);
    if !matches!(b.get(j), Some(b'\'' | b'"')) {
        return None;
    }
    let lit = string_at(text, j, vars);
    // `x = 'a' + y` is not a literal value.
    let k = skip_blank(text, lit.end);
    if !matches!(b.get(k), None | Some(b'\n' | b';' | b'}' | b'/')) {
        return None;
    }
    Some((name, lit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(text: &str) -> Vec<(String, usize, usize)> {
        read(&Source::new(text))
            .scripts
            .into_iter()
            .map(|s| (s.body, s.line, s.shift))
            .collect()
    }

    #[test]
    fn every_way_of_giving_sh_its_script_is_read() {
        let text = r#"pipeline {
  stages { stage('x') { steps {
    sh 'echo one'
    sh "echo two"
    sh '''echo three
cosign sign a'''
    sh """echo four"""
    sh(script: 'echo five')
    sh(script: "echo six", returnStdout: true)
    sh script: "echo seven", label: 'x'
    sh("echo eight")
    sh(returnStdout: true, script: 'echo nine').trim()
    bat 'echo not shell'
    // sh 'echo in a comment'
    /* sh 'echo in a block comment' */
    echo "sh 'echo in a string'"
    publish(sh: 'x')
  } } }
}"#;
        let got: Vec<String> = scripts(text).into_iter().map(|s| s.0).collect();
        assert_eq!(
            got,
            [
                "echo one",
                "echo two",
                "echo three\ncosign sign a",
                "echo four",
                "echo five",
                "echo six",
                "echo seven",
                "echo eight",
                "echo nine",
            ]
        );
        let placed = scripts(text);
        assert_eq!((placed[0].1, placed[0].2), (3, 8));
        assert_eq!((placed[4].1, placed[4].2), (8, 16));
    }

    #[test]
    fn gstrings_take_literal_values_and_leave_the_rest_unknown() {
        let text = r#"def service = 'reg.example.com/app'
def buildNumber = "42"
def imageTag = "${service}:${buildNumber}"
String digest = sh(script: 'crane digest x', returnStdout: true)
pipeline {
  environment {
    IMAGE = 'reg.example.com/env:latest'
  }
  stages { stage('s') { steps { script {
    env.REPO = 'reg.example.com/repo'
    sh "cosign sign ${imageTag} $imageTag ${env.REPO} ${digest} \$HOME"
    sh 'cosign sign $IMAGE'
  } } } }
}"#;
        let m = read(&Source::new(text));
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(
            bodies[1],
            "cosign sign reg.example.com/app:42 reg.example.com/app:42 reg.example.com/repo ${digest} $HOME"
        );
        let env: Vec<(&str, &str)> = m.scripts[2]
            .env
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("IMAGE", "reg.example.com/env:latest"),
                ("REPO", "reg.example.com/repo")
            ]
        );
    }

    #[test]
    fn unterminated_and_odd_text_ends() {
        for text in [
            "sh '",
            "sh \"\"\"",
            "sh(",
            "sh script:",
            "env.",
            "x = '",
            "sh \"${",
            "\\",
        ] {
            let _ = scripts(text);
        }
        assert_eq!(scripts("sh 'abc")[0].0, "abc");
    }
}
