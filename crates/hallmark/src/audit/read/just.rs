//! Justfiles: each recipe line (or each shebang or `[script]` recipe whole) as the shell
//! text just would run, and the variables as written.
//!
//! just replaces `{{expr}}` before the shell reads a line. An interpolation becomes a shell
//! reference so the shell reader follows it like any `${VAR}`: a variable or recipe
//! parameter `{{image}}` becomes `${image}`, string literals and `+` concatenation are
//! written out (`{{registry + "/app"}}` is `${registry}/app`), and what the shell cannot
//! know (a backtick, a function call, `if`) becomes `${__just_fn}` ([`FUNCTION`]):
//! unknown, never empty. Variable values (`x := "…"`) are translated the same way.
//!
//! Without a shebang every logical line runs in a shell of its own, so each is a
//! [`Script`]; a `\` at the end of a line joins the next one with its indentation removed,
//! as just does. Positions map back to the file through [`Mapped`].

use super::mapped::{Builder, Mapped, Pos, Quotes, chars_at};

/// Most lines read.
pub const MAX_LINES: usize = 200_000;
/// Most variables kept.
pub const MAX_VARS: usize = 50_000;
/// Most scripts kept.
pub const MAX_SCRIPTS: usize = 50_000;
/// Most imports and modules kept.
pub const MAX_IMPORTS: usize = 1_000;

/// Stands for what the shell cannot know: a backtick's output, a function call, `if`.
pub const FUNCTION: &str = "__just_fn";
/// Stands for a name the shell cannot spell (`{{my-var}}`).
pub const COMPUTED: &str = "__just_var";

/// One variable assignment, `name := expression`.
#[derive(Debug, Clone)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// The expression translated to text (see the module's description).
    pub value: Mapped,
    /// 1-based line.
    pub line: usize,
    /// Given with `export`.
    pub export: bool,
}

/// Shell text that a recipe runs.
#[derive(Debug, Clone)]
pub struct Script {
    /// The recipe's name.
    pub recipe: String,
    /// Its parameters: inside the recipe they hide variables of the same name.
    pub params: Vec<String>,
    /// 1-based line where the script starts.
    pub line: usize,
    /// The text: sigils (`@`, `-`) removed, continuations joined, interpolations replaced.
    pub body: Mapped,
    /// For a recipe run whole by an interpreter: its `#!` line, or the `[script(…)]`
    /// attribute as written. The body may not be shell.
    pub interpreter: Option<String>,
}

/// A file or module the justfile loads (`import`, `mod`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The path as written, or the module's name when no path is given.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// `import?` or `mod?`.
    pub optional: bool,
}

/// What a justfile holds.
#[derive(Debug, Clone, Default)]
pub struct Justfile {
    /// Recipe scripts, in file order.
    pub scripts: Vec<Script>,
    /// Variables, in file order.
    pub vars: Vec<Var>,
    /// Files and modules loaded.
    pub imports: Vec<Import>,
    /// `set shell := […]`: the command and arguments recipes lines run with.
    pub shell: Option<Vec<String>>,
    /// `set export`: every variable and parameter is in the environment.
    pub export: bool,
    /// The bound that was reached, when one was: the file was read only in part.
    pub cut: Option<&'static str>,
}

impl Justfile {
    /// The value of variable `name` (its last assignment), for a script whose parameters
    /// do not hide it.
    pub fn value(&self, name: &str, script: &Script) -> Option<&Var> {
        if script.params.iter().any(|p| p == name) {
            return None;
        }
        self.vars.iter().rev().find(|v| v.name == name)
    }
}

type Chars = Vec<(char, Pos)>;

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Index just past the string literal that starts at `i` (`'…'`, `"…"`, triple-quoted,
/// or backticks), and its content's range.
fn literal(cs: &[(char, Pos)], i: usize) -> (usize, usize, usize) {
    let q = cs[i].0;
    let triple = cs.get(i + 1).is_some_and(|x| x.0 == q) && cs.get(i + 2).is_some_and(|x| x.0 == q);
    let width = if triple { 3 } else { 1 };
    let start = i + width;
    let mut j = start;
    while j < cs.len() {
        if q == '"' && cs[j].0 == '\\' {
            j += 2;
            continue;
        }
        if cs[j].0 == q && (0..width).all(|k| cs.get(j + k).is_some_and(|x| x.0 == q)) {
            return (start, j, j + width);
        }
        j += 1;
    }
    (start, cs.len(), cs.len())
}

/// Writes the text of a just expression; `quotes` is the shell quoting around it.
fn expression(cs: &[(char, Pos)], quotes: &Quotes, out: &mut Builder) {
    let mut i = 0;
    while let Some(&(c, pos)) = cs.get(i) {
        match c {
            c if c.is_whitespace() => i += 1,
            '+' | '(' | ')' => i += 1,
            '/' => {
                out.push('/', pos);
                i += 1;
            }
            '`' => {
                let (_, _, end) = literal(cs, i);
                out.reference(FUNCTION, pos, quotes);
                i = end;
            }
            '\'' | '"' => {
                let (start, stop, end) = literal(cs, i);
                let mut j = start;
                while j < stop {
                    let (ch, p) = cs[j];
                    if c == '"' && ch == '\\' {
                        let escaped = match cs.get(j + 1).map(|x| x.0) {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some(other) => other,
                            None => '\\',
                        };
                        out.push(escaped, p);
                        j += 2;
                    } else {
                        out.push(ch, p);
                        j += 1;
                    }
                }
                i = end;
            }
            c if is_ident_start(c) => {
                let len = cs[i..].iter().take_while(|x| is_ident(x.0)).count();
                let name: String = cs[i..i + len].iter().map(|x| x.0).collect();
                let next = cs[i + len..].iter().find(|x| !x.0.is_whitespace());
                if name == "if" || matches!(next, Some(('(', _))) {
                    // A call or a conditional: its value is not known here, and what
                    // follows belongs to it.
                    out.reference(FUNCTION, pos, quotes);
                    return;
                }
                let name = if name.contains('-') { COMPUTED } else { &name };
                out.reference(name, pos, quotes);
                i += len;
            }
            _ => {
                out.reference(FUNCTION, pos, quotes);
                return;
            }
        }
    }
}

/// Replaces `{{…}}` in a recipe's text; `{{{{` is a literal `{{`.
fn interpolate(cs: &[(char, Pos)], out: &mut Builder) {
    let mut quotes = Quotes::default();
    let mut i = 0;
    while let Some(&(c, pos)) = cs.get(i) {
        let opens = c == '{' && cs.get(i + 1).is_some_and(|x| x.0 == '{');
        if !opens {
            out.push(c, pos);
            quotes.feed(c);
            i += 1;
            continue;
        }
        if cs.get(i + 2).is_some_and(|x| x.0 == '{') && cs.get(i + 3).is_some_and(|x| x.0 == '{') {
            out.push('{', pos);
            out.push('{', cs[i + 1].1);
            i += 4;
            continue;
        }
        let close = cs[i + 2..]
            .windows(2)
            .position(|w| w[0].0 == '}' && w[1].0 == '}')
            .map(|k| i + 2 + k);
        let Some(close) = close else {
            out.reference(FUNCTION, pos, &quotes);
            return;
        };
        let start = out.len();
        expression(&cs[i + 2..close], &quotes, out);
        // A word that starts with the interpolation starts where `{{` is.
        out.anchor(start, pos);
        i = close + 2;
    }
}

fn finish(f: impl FnOnce(&mut Builder)) -> Mapped {
    let mut b = Builder::default();
    f(&mut b);
    b.finish()
}

/// The strings of a list `["bash", "-euc"]`.
fn strings(cs: &[(char, Pos)]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        if matches!(cs[i].0, '\'' | '"') {
            let (start, stop, end) = literal(cs, i);
            out.push(cs[start..stop].iter().map(|x| x.0).collect());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// `name := …` (after `export`): the name and the value's characters.
fn assignment(cs: &[(char, Pos)]) -> Option<(String, &[(char, Pos)])> {
    let first = cs.first()?.0;
    if !is_ident_start(first) {
        return None;
    }
    let len = cs.iter().take_while(|x| is_ident(x.0)).count();
    let rest = &cs[len..];
    let blanks = rest
        .iter()
        .take_while(|x| x.0 == ' ' || x.0 == '\t')
        .count();
    let rest = &rest[blanks..];
    if rest.first()?.0 != ':' || rest.get(1)?.0 != '=' {
        return None;
    }
    Some((cs[..len].iter().map(|x| x.0).collect(), &rest[2..]))
}

/// Index of the colon that ends a recipe header, outside quotes and parentheses.
fn header_colon(cs: &[(char, Pos)]) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < cs.len() {
        match cs[i].0 {
            '\'' | '"' | '`' => {
                i = literal(cs, i).2;
                continue;
            }
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ':' if depth == 0 => {
                return (cs.get(i + 1).map(|x| x.0) != Some('=')).then_some(i);
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn leading_blanks(line: &str) -> &str {
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    file: Justfile,
    /// `[script]` or `[script("…")]` seen before the next recipe.
    script_attribute: Option<String>,
}

impl Reader<'_> {
    fn cut(&mut self, what: &'static str) {
        self.file.cut.get_or_insert(what);
    }

    fn push(&mut self, script: Script) {
        if self.file.scripts.len() >= MAX_SCRIPTS {
            return self.cut("scripts");
        }
        self.file.scripts.push(script);
    }

    fn import(&mut self, path: String, line: usize, optional: bool) {
        if self.file.imports.len() >= MAX_IMPORTS {
            return self.cut("imports");
        }
        self.file.imports.push(Import {
            path,
            line,
            optional,
        });
    }

    /// A line outside recipes, its continuations joined; returns the next line.
    fn statement(&mut self, i: usize) -> usize {
        let mut cs: Chars = Vec::new();
        let mut j = i;
        while let Some(line) = self.lines.get(j) {
            let mut chars: Chars = chars_at(line, j + 1).collect();
            if j > i {
                let blanks = chars.iter().take_while(|x| x.0.is_whitespace()).count();
                chars.drain(..blanks);
                cs.push((' ', chars.first().map_or(Pos::new(j + 1, 1), |x| x.1)));
            }
            let more = line.ends_with('\\') && j + 1 < self.lines.len();
            if more {
                chars.pop();
            }
            cs.extend(chars);
            j += 1;
            if !more {
                break;
            }
        }
        let line = i + 1;
        let text: String = cs.iter().map(|x| x.0).collect();
        let mut words = text.split_whitespace();
        let first = words.next().unwrap_or("");
        if first.starts_with('#') {
            return j;
        }
        if first.starts_with('[') {
            if text.contains("script") {
                self.script_attribute = Some(text.trim().to_string());
            }
            return j;
        }
        let skip = |cs: &[(char, Pos)], word: &str| -> usize {
            let lead = cs.iter().take_while(|x| x.0.is_whitespace()).count();
            let after = lead + word.chars().count();
            after
                + cs[after.min(cs.len())..]
                    .iter()
                    .take_while(|x| x.0.is_whitespace())
                    .count()
        };
        match first {
            "set" => {
                let rest = &cs[skip(&cs, first)..];
                let name: String = rest
                    .iter()
                    .take_while(|x| is_ident(x.0))
                    .map(|x| x.0)
                    .collect();
                let value = rest.iter().position(|x| x.0 == '=').map(|k| &rest[k + 1..]);
                match name.as_str() {
                    "shell" => self.file.shell = value.map(strings),
                    "export" => {
                        let v: String = value.unwrap_or(&[]).iter().map(|x| x.0).collect();
                        self.file.export = v.trim() != "false";
                    }
                    _ => {}
                }
                return j;
            }
            "alias" => return j,
            "import" | "import?" | "mod" | "mod?" => {
                let rest = &cs[skip(&cs, first)..];
                let optional = first.ends_with('?');
                let path = strings(rest).into_iter().next().or_else(|| {
                    let name: String = rest
                        .iter()
                        .take_while(|x| is_ident(x.0))
                        .map(|x| x.0)
                        .collect();
                    (first.starts_with("mod") && !name.is_empty()).then_some(name)
                });
                if let Some(path) = path {
                    self.import(path, line, optional);
                }
                return j;
            }
            _ => {}
        }
        let (export, body) = if first == "export" {
            (true, &cs[skip(&cs, first)..])
        } else {
            (false, &cs[skip(&cs, "")..])
        };
        if let Some((name, value)) = assignment(body) {
            if self.file.vars.len() >= MAX_VARS {
                self.cut("variables");
                return j;
            }
            let value = finish(|b| expression(value, &Quotes::default(), b));
            self.file.vars.push(Var {
                name,
                value,
                line,
                export,
            });
            return j;
        }
        if let Some(colon) = header_colon(&cs) {
            return self.recipe(&cs[..colon], j);
        }
        j
    }

    /// A recipe whose header (up to its colon) is `head`; its body starts at line `from`.
    fn recipe(&mut self, head: &[(char, Pos)], from: usize) -> usize {
        let head: String = head.iter().map(|x| x.0).collect();
        let mut words = head.split_whitespace();
        let recipe = words
            .next()
            .unwrap_or("")
            .trim_start_matches('@')
            .to_string();
        let params = words
            .filter_map(|w| {
                let w = w.trim_start_matches(['+', '*', '$']);
                let name: String = w.chars().take_while(|&c| is_ident(c)).collect();
                (!name.is_empty() && w.chars().next().is_some_and(is_ident_start)).then_some(name)
            })
            .collect();
        let interpreter = self.script_attribute.take();
        let mut end = from;
        let mut last = from;
        while let Some(line) = self.lines.get(end) {
            if line.trim().is_empty() {
                end += 1;
                continue;
            }
            if !line.starts_with([' ', '\t']) {
                break;
            }
            end += 1;
            last = end;
        }
        let body = self.lines[from.min(last)..last].to_vec();
        let Some(indent) = body
            .iter()
            .find(|l| !l.trim().is_empty())
            .map(|l| leading_blanks(l))
        else {
            return last.max(from);
        };
        let strip = |line: &'_ str| -> usize {
            let n = if line.starts_with(indent) {
                indent.len()
            } else {
                leading_blanks(line).len()
            };
            line[..n].chars().count()
        };
        let first_line = body
            .iter()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or("");
        let shebang = first_line.trim_start().starts_with("#!");
        if shebang || interpreter.is_some() {
            let mut cs: Chars = Vec::new();
            for (k, line) in body.iter().enumerate() {
                let n = from + k + 1;
                if k > 0 {
                    let prev = body[k - 1].chars().count();
                    cs.push(('\n', Pos::new(n - 1, prev + 1)));
                }
                cs.extend(chars_at(line, n).skip(strip(line)));
            }
            let interpreter = if shebang {
                Some(first_line.trim().to_string())
            } else {
                interpreter
            };
            let line = cs
                .iter()
                .find(|x| x.0 != '\n')
                .map_or(from + 1, |x| x.1.line);
            self.push(Script {
                recipe,
                params,
                line,
                body: finish(|b| interpolate(&cs, b)),
                interpreter,
            });
            return last;
        }
        let mut k = 0;
        while k < body.len() {
            let mut cs: Chars = Vec::new();
            loop {
                let line = body[k];
                let n = from + k + 1;
                let skip = if cs.is_empty() {
                    strip(line)
                } else {
                    leading_blanks(line).chars().count()
                };
                cs.extend(chars_at(line, n).skip(skip));
                k += 1;
                if line.ends_with('\\') && k < body.len() {
                    cs.pop();
                } else {
                    break;
                }
            }
            let sigils = cs
                .iter()
                .take_while(|x| matches!(x.0, '@' | '-' | '?'))
                .count();
            let cs = &cs[sigils..];
            if cs.is_empty() || cs[0].0 == '#' {
                continue;
            }
            self.push(Script {
                recipe: recipe.clone(),
                params: params.clone(),
                line: cs[0].1.line,
                body: finish(|b| interpolate(cs, b)),
                interpreter: None,
            });
        }
        last
    }

    fn read(mut self) -> Justfile {
        let mut i = 0;
        while i < self.lines.len() {
            let line = self.lines[i];
            if line.trim().is_empty() || line.starts_with([' ', '\t']) {
                i += 1;
                continue;
            }
            i = self.statement(i).max(i + 1);
        }
        self.file
    }
}

/// Reads a justfile. Never fails: what just would refuse is read as far as it makes sense,
/// and a file past the bounds is read in part ([`Justfile::cut`]).
pub fn parse(text: &str) -> Justfile {
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take(MAX_LINES + 1)
        .collect();
    let mut file = Justfile::default();
    if lines.len() > MAX_LINES {
        lines.truncate(MAX_LINES);
        file.cut = Some("lines");
    }
    Reader {
        lines,
        file,
        script_attribute: None,
    }
    .read()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUSTFILE: &str = r#"set shell := ["bash", "-euo", "pipefail", "-c"]
set export

registry := "ghcr.io/acme"
version := `git describe --tags`
image := registry + "/app:" + version
export COSIGN_YES := 'true'

import 'ci/common.just'
mod? deploy

# Build and push
[group('release')]
release tag: build
    docker push {{image}}
    @cosign sign --yes {{ image }}
    # a comment is not run
    -echo '{{tag}}' \
      done

publish:
    #!/usr/bin/env bash
    set -euo pipefail
    for t in {{version}} latest; do
      cosign sign "{{registry}}/app:$t"
    done
"#;

    fn bodies(j: &Justfile) -> Vec<&str> {
        j.scripts.iter().map(|s| s.body.text.as_str()).collect()
    }

    #[test]
    fn settings_variables_and_imports() {
        let j = parse(JUSTFILE);
        assert_eq!(
            j.shell.as_deref(),
            Some(&["bash", "-euo", "pipefail", "-c"].map(String::from)[..])
        );
        assert!(j.export);
        let vars: Vec<_> = j
            .vars
            .iter()
            .map(|v| (v.name.as_str(), v.value.text.as_str(), v.line, v.export))
            .collect();
        assert_eq!(
            vars,
            [
                ("registry", "ghcr.io/acme", 4, false),
                ("version", "${__just_fn}", 5, false),
                ("image", "${registry}/app:${version}", 6, false),
                ("COSIGN_YES", "true", 7, true),
            ]
        );
        assert_eq!(j.vars[2].value.find("/app"), Some(Pos::new(6, 22)));
        assert_eq!(j.vars[0].value.find("ghcr"), Some(Pos::new(4, 14)));
        let imports: Vec<_> = j
            .imports
            .iter()
            .map(|i| (i.path.as_str(), i.line, i.optional))
            .collect();
        assert_eq!(
            imports,
            [("ci/common.just", 9, false), ("deploy", 10, true)]
        );
    }

    #[test]
    fn recipe_lines_are_scripts_with_their_places() {
        let j = parse(JUSTFILE);
        let release: Vec<_> = j.scripts.iter().filter(|s| s.recipe == "release").collect();
        let texts: Vec<_> = release.iter().map(|s| s.body.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "docker push ${image}",
                "cosign sign --yes ${image}",
                "echo ''\"${tag}\"'' done"
            ]
        );
        assert_eq!(release[0].params, ["tag"]);
        assert_eq!(release[0].body.find("${image}"), Some(Pos::new(15, 17)));
        assert_eq!(
            release[1].body.find("cosign"),
            Some(Pos::new(16, 6)),
            "after `@`"
        );
        assert_eq!(release[1].body.find("${image}"), Some(Pos::new(16, 24)));
        assert_eq!(
            release[2].body.find("done"),
            Some(Pos::new(19, 7)),
            "continued"
        );
        assert_eq!(release[2].line, 18);
        let s = release[1];
        assert!(
            j.value("tag", s).is_none(),
            "a parameter is not the variable"
        );
        assert_eq!(j.value("image", s).unwrap().line, 6);
    }

    #[test]
    fn a_shebang_recipe_is_one_script() {
        let j = parse(JUSTFILE);
        let publish = j.scripts.iter().find(|s| s.recipe == "publish").unwrap();
        assert_eq!(publish.interpreter.as_deref(), Some("#!/usr/bin/env bash"));
        assert_eq!(
            publish.body.text,
            "#!/usr/bin/env bash\nset -euo pipefail\nfor t in ${version} latest; do\n  cosign sign \"${registry}/app:$t\"\ndone"
        );
        assert_eq!(publish.line, 22);
        assert_eq!(publish.body.find("cosign"), Some(Pos::new(25, 7)));
        assert_eq!(publish.body.find("/app:$t"), Some(Pos::new(25, 32)));
        assert_eq!(publish.body.locate(4, 3), Some(Pos::new(25, 7)));
        assert_eq!(j.scripts.len(), 4);
    }

    #[test]
    fn script_attributes_parameters_and_expressions() {
        let text = r#"[script("bash")]
sign-all +images:
  for i in {{images}}; do cosign sign "$i"; done

@push name='app:latest' *args $debug="0": (build name) && notify
	docker push {{ "ghcr.io/acme/" + name }} {{args}}
	docker push {{env_var("IMG")}} {{ if debug == "1" { "x" } else { "y" } }}
	echo '{{{{not interpolated}}' {{my-var}}
	echo {{unterminated
"#;
        let j = parse(text);
        assert_eq!(
            j.scripts[0].interpreter.as_deref(),
            Some("[script(\"bash\")]")
        );
        assert_eq!(j.scripts[0].params, ["images"]);
        assert_eq!(
            j.scripts[0].body.text,
            "for i in ${images}; do cosign sign \"$i\"; done"
        );
        let push: Vec<_> = j.scripts[1..].iter().collect();
        assert_eq!(push[0].recipe, "push");
        assert_eq!(push[0].params, ["name", "args", "debug"]);
        assert_eq!(
            bodies(&j)[1..],
            [
                "docker push ghcr.io/acme/${name} ${args}",
                "docker push ${__just_fn} ${__just_fn}",
                "echo '{{not interpolated}}' ${__just_var}",
                "echo ${__just_fn}",
            ]
        );
        assert_eq!(push[0].body.find("acme"), Some(Pos::new(6, 26)));
        assert_eq!(push[0].body.find("${name}"), Some(Pos::new(6, 35)));
        assert_eq!(push[1].body.find(" ${__just_fn}"), Some(Pos::new(7, 13)));
    }

    #[test]
    fn indented_lines_outside_recipes_and_odd_input() {
        let j = parse("  cosign sign x\nx := 'a'\n  echo no\n");
        assert!(j.scripts.is_empty());
        assert_eq!(j.vars.len(), 1);
        for text in [
            "{{",
            "a:\n {{",
            "a:\n \\",
            "x := \"",
            "a:\n\t#!",
            "é:\n é{{é}}",
            ":",
            "[script]\n",
        ] {
            let j = parse(text);
            for s in &j.scripts {
                for k in 0..=s.body.text.len() {
                    let _ = s.body.position(k);
                }
            }
        }
    }

    #[test]
    fn a_long_file_is_read_whole_and_a_longer_one_in_part() {
        let mut text = String::new();
        for k in 0..25_000 {
            text.push_str(&format!(
                "image{k} := \"ghcr.io/acme/app{k}:\" + `git describe`\nsign{k}:\n    cosign sign {{{{image{k}}}}}\n\n"
            ));
        }
        let j = parse(&text);
        assert_eq!(
            (j.scripts.len(), j.vars.len(), j.cut),
            (25_000, 25_000, None)
        );
        assert_eq!(
            j.scripts[24_999].body.find("cosign"),
            Some(Pos::new(99_999, 5))
        );
        text.push_str(&"\n".repeat(MAX_LINES));
        assert_eq!(parse(&text).cut, Some("lines"));
        let many = "A := 1\n".repeat(MAX_VARS + 1);
        let m = parse(&many);
        assert_eq!((m.vars.len(), m.cut), (MAX_VARS, Some("variables")));
    }
}
