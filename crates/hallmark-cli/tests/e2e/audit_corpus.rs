//! `hallmark audit` against a corpus of realistic pipelines of every CI system it reads:
//! GitHub Actions, GitLab CI, Jenkins, CircleCI, Travis, Azure Pipelines, Bitbucket,
//! Buildkite, Drone, Woodpecker, Tekton, Taskfile, just, Makefiles, Dockerfiles, shell
//! scripts, Kubernetes manifests and compose files. `audit-corpus/expected.tsv` lists every
//! finding that must be reported (file, line, rule) with the class of pipeline shape each
//! line tests; the findings must be exactly those. On a mismatch the test prints, per class,
//! how many were expected and found, then each missed and each extra finding with the text
//! of its line, so a regression names the shape it broke.
//!
//! `audit-corpus/known-gaps.tsv` names the expected findings audit does not make yet, each
//! with why: they are reported, not required, and one that is found fails the test until it
//! is taken off the list, so the list only shrinks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::harness::*;

type Key = (String, usize, String);

fn corpus() -> PathBuf {
    audit_fixture("audit-corpus")
}

/// One line of `expected.tsv`.
struct Expected {
    key: Key,
    class: String,
}

fn expected(root: &Path) -> Vec<Expected> {
    let text = std::fs::read_to_string(root.join("expected.tsv")).unwrap();
    let rules: BTreeSet<&str> = hallmark::audit::RULES.iter().map(|r| r.id).collect();
    let mut out: Vec<Expected> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() >= 4 && cols.get(4).is_none_or(|c| c.starts_with('#')),
            "expected.tsv:{n}: want path, line, rule, class and an optional # note: {line:?}"
        );
        let (path, at, rule, class) = (cols[0], cols[1], cols[2], cols[3]);
        let at: usize = at
            .parse()
            .unwrap_or_else(|_| panic!("expected.tsv:{n}: line {at:?} is not a number"));
        assert!(rules.contains(rule), "expected.tsv:{n}: no rule {rule:?}");
        let file = std::fs::read_to_string(root.join(path))
            .unwrap_or_else(|e| panic!("expected.tsv:{n}: {path}: {e}"));
        assert!(
            at >= 1 && at <= file.lines().count(),
            "expected.tsv:{n}: {path} has no line {at}"
        );
        let key = (path.to_string(), at, rule.to_string());
        assert!(
            !out.iter().any(|e| e.key == key),
            "expected.tsv:{n}: listed twice"
        );
        out.push(Expected {
            key,
            class: class.to_string(),
        });
    }
    out
}

/// Every file of the corpus but the expectations, relative to it.
fn corpus_files(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            corpus_files(root, &path, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel != "expected.tsv" && rel != "known-gaps.tsv" {
                out.push(rel);
            }
        }
    }
}

fn line_text(root: &Path, path: &str, line: usize) -> String {
    std::fs::read_to_string(root.join(path))
        .ok()
        .and_then(|t| {
            t.lines()
                .nth(line.wrapping_sub(1))
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_default()
}

/// `known-gaps.tsv`: expected findings not made yet, and why.
fn known_gaps(root: &Path, expected: &[Expected]) -> BTreeMap<Key, String> {
    let text = std::fs::read_to_string(root.join("known-gaps.tsv")).unwrap_or_default();
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(
            cols.len() == 4 && !cols[3].trim().is_empty(),
            "known-gaps.tsv:{n}: want path, line, rule and why: {line:?}"
        );
        let at: usize = cols[1]
            .parse()
            .unwrap_or_else(|_| panic!("known-gaps.tsv:{n}: line {:?} is not a number", cols[1]));
        let key = (cols[0].to_string(), at, cols[2].to_string());
        assert!(
            expected.iter().any(|e| e.key == key),
            "known-gaps.tsv:{n}: not in expected.tsv"
        );
        out.insert(key, cols[3].trim().to_string());
    }
    out
}

#[test]
fn the_corpus_yields_exactly_the_expected_findings() {
    let root = corpus();
    let expected = expected(&root);
    let gaps = known_gaps(&root, &expected);
    let mut files = Vec::new();
    corpus_files(&root, &root, &mut files);
    files.sort();
    // The corpus is meant to be broad: every CI system, and every rule at least once.
    assert!(files.len() >= 60, "only {} corpus files", files.len());
    for rule in hallmark::audit::RULES {
        assert!(
            expected.iter().any(|e| e.key.2 == rule.id),
            "{} is never expected",
            rule.id
        );
    }

    let o = audit_at(&root, &[".", "--output", "json"]);
    let v = json_out(&o);
    let found: BTreeSet<Key> = audit_findings(&v)
        .into_iter()
        .filter(|f| !f.suppressed)
        .map(|f| (f.path, f.line as usize, f.rule))
        .collect();
    let want: BTreeSet<Key> = expected.iter().map(|e| e.key.clone()).collect();

    let mut report = String::new();
    let mut ok = true;
    // Every file is read: nothing reported as not audited or of a kind audit does not know.
    let errors = v["errors"].as_array().cloned().unwrap_or_default();
    if !errors.is_empty() {
        ok = false;
        writeln!(report, "not audited:").unwrap();
        for e in &errors {
            writeln!(report, "  {e}").unwrap();
        }
    }
    let read = v["files"].as_u64().unwrap_or(0) as usize;
    if read < files.len() {
        ok = false;
        writeln!(report, "{read} files read of the corpus's {}", files.len()).unwrap();
    }

    // Per class: expected, found, missing.
    let mut classes: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in &expected {
        let c = classes.entry(e.class.as_str()).or_default();
        c.0 += 1;
        if found.contains(&e.key) {
            c.1 += 1;
        }
    }
    let hit = expected.iter().filter(|e| found.contains(&e.key)).count();
    writeln!(
        report,
        "recall {hit}/{} ({:.0} %), {} extra",
        expected.len(),
        100.0 * hit as f64 / expected.len() as f64,
        found.difference(&want).count()
    )
    .unwrap();
    writeln!(
        report,
        "{:<34} {:>8} {:>6} {:>8}",
        "class", "expected", "found", "missing"
    )
    .unwrap();
    for (class, (n, f)) in &classes {
        writeln!(report, "{class:<34} {n:>8} {f:>6} {:>8}", n - f).unwrap();
    }
    let missing: Vec<&Expected> = expected
        .iter()
        .filter(|e| !found.contains(&e.key) && !gaps.contains_key(&e.key))
        .collect();
    writeln!(report, "\nknown gaps (expected, not found yet):").unwrap();
    for (key, why) in &gaps {
        let (p, l, r) = key;
        if found.contains(key) {
            ok = false;
            writeln!(
                report,
                "  FOUND NOW, take it off known-gaps.tsv: {p}:{l} {r}"
            )
            .unwrap();
        } else {
            writeln!(report, "  {p}:{l} {r}: {why}").unwrap();
        }
    }
    if !missing.is_empty() {
        ok = false;
        writeln!(report, "\nmissing:").unwrap();
        for e in missing {
            let (p, l, r) = &e.key;
            writeln!(
                report,
                "  {p}:{l} {r} [{}]  {}",
                e.class,
                line_text(&root, p, *l)
            )
            .unwrap();
        }
    }
    let extra: Vec<&Key> = found.difference(&want).collect();
    if !extra.is_empty() {
        ok = false;
        writeln!(report, "\nextra:").unwrap();
        for (p, l, r) in extra {
            writeln!(report, "  {p}:{l} {r}  {}", line_text(&root, p, *l)).unwrap();
        }
    }
    assert!(ok, "\n{report}");
    eprintln!("{report}");
    // Findings exist, so the exit code says so.
    expect_code(&o, 1);
}
