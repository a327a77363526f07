//! `hallmark man --dir DIR`: a page for every command `--help` lists, nested ones too, each
//! with its own synopsis, the global flags and the exit codes, naming only pages that were
//! written, and rendering without a warning.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::harness::*;

/// The commands a help text lists under "Commands:", without `help`.
fn listed_commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A description continued on the next line is indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command as typed (`key generate`), walked through `--help` of the real binary.
pub(crate) fn every_command() -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(words) = todo.pop() {
        let mut args: Vec<&str> = words.iter().map(String::as_str).collect();
        args.push("--help");
        let o = run(&args);
        expect_code(&o, 0);
        for sub in listed_commands(&stdout(&o)) {
            let mut next = words.clone();
            next.push(sub);
            todo.push(next);
        }
        out.push(words);
    }
    out
}

/// The pages a page names: `.BR hallmark\-x (1)` and `hallmark\-x(1)`.
fn references(page: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in page.lines() {
        let line = line
            .replace("\\-", "-")
            .replace("\\fB", "")
            .replace("\\fR", "");
        let mut rest = line.as_str();
        while let Some(at) = rest.find("hallmark") {
            let tail = &rest[at..];
            let name: String = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let after = tail[name.len()..].trim_start();
            if after.starts_with("(1)") {
                out.insert(name.clone());
            }
            rest = &tail[name.len()..];
        }
    }
    out
}

/// The lint of `tool` (groff or mandoc), or None when it is not installed.
fn lint(tool: &str, args: &[&str], page: &Path) -> Option<String> {
    let o = Command::new(tool).args(args).arg(page).output().ok()?;
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

#[test]
fn man_pages_cover_every_command_and_name_only_written_pages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let epoch = [("SOURCE_DATE_EPOCH", "1767225600")];
    let o = run_env(&["man", "--dir", &path_str(d)], &epoch);
    expect_code(&o, 0);

    let commands = every_command();
    assert!(commands.len() > 20, "{commands:?}");
    let written: BTreeSet<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut expected = BTreeSet::new();
    for words in &commands {
        let name = std::iter::once("hallmark")
            .chain(words.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        expected.insert(format!("{name}.1"));
    }
    assert_eq!(written, expected, "one page per command, no other");
    for nested in [
        "hallmark-key-generate.1",
        "hallmark-key-public.1",
        "hallmark-policy-check.1",
        "hallmark-trust-root-show.1",
    ] {
        assert!(written.contains(nested), "{nested}: {written:?}");
    }

    for words in &commands {
        let file = std::iter::once("hallmark")
            .chain(words.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("-");
        let path = d.join(format!("{file}.1"));
        let page = std::fs::read_to_string(&path).unwrap();
        let typed = std::iter::once("hallmark")
            .chain(words.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
            .replace('-', "\\-");
        let synopsis = page
            .split(".SH SYNOPSIS\n")
            .nth(1)
            .and_then(|s| s.lines().next())
            .unwrap_or_default();
        assert!(
            synopsis.starts_with(&format!("\\fB{typed}\\fR")),
            "{file}: synopsis {synopsis:?}"
        );
        for flag in ["\\-\\-verbose", "\\-\\-quiet", "\\-\\-output"] {
            assert!(synopsis.contains(flag), "{file}: {flag} not in {synopsis}");
            let options = page.split(".SH OPTIONS\n").nth(1).unwrap_or_default();
            assert!(options.contains(flag), "{file}: {flag} not in OPTIONS");
        }
        let exit = page
            .split(".SH \"EXIT STATUS\"\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{file}: no EXIT STATUS"));
        for (code, meaning) in [
            (0, "ok/verified"),
            (1, "not verified or denied"),
            (2, "bad input or usage"),
            (3, "registry/network/I\\-O failure"),
            (4, "drift (a tag moved)"),
        ] {
            assert!(
                exit.contains(&format!("\\fB{code}\\fR\n{meaning}\n")),
                "{file}: exit {code}"
            );
        }
        let named = references(&page);
        if words.is_empty() {
            for top in commands.iter().filter(|w| w.len() == 1) {
                let name = format!("hallmark-{}", top[0]);
                assert!(named.contains(&name), "{file} does not name {name}(1)");
            }
        } else {
            assert!(
                named.contains("hallmark"),
                "{file}: no SEE ALSO hallmark(1)"
            );
        }
        for name in &named {
            assert!(
                written.contains(&format!("{name}.1")),
                "{file} names {name}(1), which was not written"
            );
        }

        // groff is what man-db renders with; its warnings include every unknown character
        // and macro. mandoc's lint, where installed, is stricter about structure.
        let warnings = lint("groff", &["-man", "-Tutf8", "-ww", "-z"], &path)
            .expect("groff is installed with man-db");
        assert_eq!(warnings, "", "{file}: groff warns");
        if let Some(warnings) = lint("mandoc", &["-T", "lint", "-W", "warning"], &path) {
            assert_eq!(warnings, "", "{file}: mandoc warns");
        }
    }

    // `hallmark man` prints the top page, the same as the one written.
    let o = run_env(&["man"], &epoch);
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string(d.join("hallmark.1")).unwrap()
    );
    assert!(stdout(&o).contains(".TH hallmark 1 2026-01-01 \"hallmark "));
}

/// A page only names pages that exist: the reference finder itself sees a dangling one.
#[test]
fn a_dangling_reference_is_seen() {
    let page = ".SH \"SEE ALSO\"\n.BR hallmark (1) ,\n.BR hallmark\\-gone (1)\n\\fBhallmark\\-x\\fR(1) and hallmark\\-y(1)\n";
    let named = references(page);
    assert_eq!(
        named,
        ["hallmark", "hallmark-gone", "hallmark-x", "hallmark-y"]
            .into_iter()
            .map(String::from)
            .collect()
    );
}
