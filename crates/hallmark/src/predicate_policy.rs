//! Checks on what an attestation says: `verify-attestation --policy FILE.rego`, the Rego
//! policies `cosign verify-attestation --policy` takes, read and judged as cosign does.
//!
//! cosign evaluates the query `data.signature.allow` in Rego v0 syntax with the in-toto
//! statement as `input`; an attestation passes only when that query is exactly `true`.
//! A file written for cosign therefore works unchanged. Evaluation is bounded: the file's
//! size, line count and line length are capped, and evaluation stops after
//! [`EVAL_TIME_LIMIT`]. The engine is built without the built-ins that reach outside
//! (`http.send`, `opa.runtime`): a policy reads its input and nothing else.
//!
//! cosign's other language, CUE, has no maintained Rust implementation: `.cue` files are
//! refused by name rather than misread.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regorus::utils::limits::{ExecutionTimerConfig, PolicyLengthConfig, TimeSource};

use crate::class::ErrorClass;

/// The query cosign asks of a Rego policy.
pub const QUERY: &str = "data.signature.allow";

/// The package that query lives in.
const PACKAGE: &str = "data.signature";

/// How long one evaluation may run.
pub const EVAL_TIME_LIMIT: Duration = Duration::from_secs(5);

/// The largest policy file read.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// A policy that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PredicatePolicyError {
    /// The file cannot be read.
    #[error(transparent)]
    File(#[from] crate::fsio::FileError),
    /// A CUE policy (cosign's other language), which hallmark cannot evaluate.
    #[error(
        "{}: CUE policies are not supported (no maintained CUE implementation in Rust)",
        .0.display()
    )]
    Cue(PathBuf),
    /// A trust policy (TOML): who must sign is `verify --policy`'s, not a check on content.
    #[error(
        "{}: a TOML policy says who must sign, and is read by verify --policy (its [[rule.attestation]] tables require attestations); verify-attestation --policy takes a Rego policy on the statement",
        .0.display()
    )]
    Toml(PathBuf),
    /// Neither `.rego` nor `.cue`: cosign refuses these too.
    #[error("{}: a policy file must end in .rego", .0.display())]
    Extension(PathBuf),
    /// Not valid Rego, or not cosign's shape (`package signature`).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// What is wrong, on one line.
        message: String,
    },
}

impl PredicatePolicyError {
    /// A policy that cannot be used is bad input.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::File(e) => e.class(),
            Self::Cue(_) | Self::Toml(_) | Self::Extension(_) | Self::Invalid { .. } => {
                ErrorClass::Usage
            }
        }
    }
}

/// A loaded Rego policy, parsed once to refuse a broken file before any request.
#[derive(Debug, Clone)]
pub struct PredicatePolicy {
    path: PathBuf,
    source: String,
}

/// What a policy made of one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `data.signature.allow` is `true`.
    Allowed,
    /// Anything else, in one line: the value, undefined, or why evaluation stopped.
    Denied(String),
}

/// The clock regorus's execution timer reads: built without its `std` feature, it has
/// none of its own, and an evaluation without a clock would never time out.
struct Monotonic;

impl TimeSource for Monotonic {
    fn now(&self) -> Option<Duration> {
        static ANCHOR: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        Some(ANCHOR.get_or_init(std::time::Instant::now).elapsed())
    }
}

static CLOCK: Monotonic = Monotonic;

impl PredicatePolicy {
    /// Reads and parses the policy at `path`.
    pub fn load(path: &Path) -> Result<Self, PredicatePolicyError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("rego") => {}
            Some("cue") => return Err(PredicatePolicyError::Cue(path.to_path_buf())),
            Some("toml") => return Err(PredicatePolicyError::Toml(path.to_path_buf())),
            _ => return Err(PredicatePolicyError::Extension(path.to_path_buf())),
        }
        let bytes = crate::fsio::read_input(path, MAX_POLICY_BYTES)?;
        let invalid = |message: String| PredicatePolicyError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        let source = String::from_utf8(bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
        let policy = Self {
            path: path.to_path_buf(),
            source,
        };
        let engine = policy.engine().map_err(|e| invalid(one_line(&e)))?;
        let packages = engine
            .get_packages()
            .map_err(|e| invalid(one_line(&e.to_string())))?;
        if !packages.iter().any(|p| p == PACKAGE) {
            return Err(invalid(format!(
                "declares {}, but cosign's query is {QUERY}: the policy must say `package signature`",
                packages.join(", ")
            )));
        }
        Ok(policy)
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// An engine holding the policy, parsed as cosign parses it (Rego v0), within limits.
    fn engine(&self) -> Result<regorus::Engine, String> {
        // Set once per process; a second call finds it set, which is what is wanted.
        let _already = regorus::utils::limits::set_time_source(&CLOCK);
        let mut engine = regorus::Engine::new();
        engine.set_rego_v0(true);
        engine.set_policy_length_config(PolicyLengthConfig {
            max_col: NonZeroU32::new(4096).expect("non-zero"),
            max_file_bytes: NonZeroUsize::new(MAX_POLICY_BYTES as usize).expect("non-zero"),
            max_lines: NonZeroUsize::new(50_000).expect("non-zero"),
        });
        engine.set_execution_timer_config(ExecutionTimerConfig {
            limit: EVAL_TIME_LIMIT,
            check_interval: NonZeroU32::new(64).expect("non-zero"),
        });
        engine.set_strict_builtin_errors(false);
        engine
            .add_policy(self.path.display().to_string(), self.source.clone())
            .map_err(|e| e.to_string())?;
        Ok(engine)
    }

    /// Judges `statement` (the in-toto statement, as cosign hands it to the policy).
    pub fn evaluate(&self, statement: &serde_json::Value) -> Verdict {
        match self.try_evaluate(statement) {
            Ok(regorus::Value::Bool(true)) => Verdict::Allowed,
            Ok(regorus::Value::Undefined) => Verdict::Denied(format!("{QUERY} is undefined")),
            Ok(v) => {
                let shown = match v.to_json_str() {
                    Ok(json) => one_line(&json.split_whitespace().collect::<Vec<_>>().join(" ")),
                    Err(_) => "not a value".to_string(),
                };
                Verdict::Denied(format!("{QUERY} is {shown}, not true"))
            }
            Err(e) => Verdict::Denied(format!("evaluation failed: {}", one_line(&e))),
        }
    }

    fn try_evaluate(&self, statement: &serde_json::Value) -> Result<regorus::Value, String> {
        let mut engine = self.engine()?;
        let input =
            regorus::Value::from_json_str(&statement.to_string()).map_err(|e| e.to_string())?;
        engine.set_input(input);
        engine
            .eval_rule(QUERY.to_string())
            .map_err(|e| e.to_string())
    }
}

/// regorus's errors quote the source over several lines; the first says where, and the
/// last what is wrong.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let Some(first) = lines.first() else {
        return "unknown error".into();
    };
    let what = lines
        .iter()
        .rev()
        .find_map(|l| l.split_once("error:").map(|(_, what)| what.trim()));
    // A parse error: `--> FILE:LINE:COLUMN`, the source quoted, then `error: WHAT`.
    if let Some(place) = first.strip_prefix("-->") {
        let mut parts = place.trim().rsplitn(3, ':');
        if let (Some(column), Some(line)) = (parts.next(), parts.next()) {
            return format!(
                "line {line}, column {column}: {}",
                what.unwrap_or("does not parse")
            );
        }
    }
    match what {
        Some(what) if lines.len() > 1 => format!("{first} ({what})"),
        _ => (*first).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(text: &str) -> Result<PredicatePolicy, PredicatePolicyError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.rego");
        std::fs::write(&path, text).unwrap();
        PredicatePolicy::load(&path)
    }

    fn statement(builder: &str) -> serde_json::Value {
        serde_json::json!({
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": "reg/app", "digest": {"sha256": "00"}}],
            "predicateType": "https://slsa.dev/provenance/v1",
            "predicate": {"builder": {"id": builder}},
        })
    }

    const BUILDER: &str = r#"package signature

allow {
    input.predicate.builder.id == "https://ci.example/builder"
}
"#;

    #[test]
    fn a_cosign_policy_in_rego_v0_allows_and_denies_by_the_predicate() {
        let p = policy(BUILDER).unwrap();
        assert_eq!(
            p.evaluate(&statement("https://ci.example/builder")),
            Verdict::Allowed
        );
        assert_eq!(
            p.evaluate(&statement("https://evil.example")),
            Verdict::Denied("data.signature.allow is undefined".into())
        );
    }

    #[test]
    fn only_true_allows() {
        let p = policy("package signature\ndefault allow = false\n").unwrap();
        assert_eq!(
            p.evaluate(&statement("x")),
            Verdict::Denied("data.signature.allow is false, not true".into())
        );
        let p = policy("package signature\nallow = \"yes\"\n").unwrap();
        assert!(matches!(p.evaluate(&statement("x")), Verdict::Denied(_)));
    }

    #[test]
    fn broken_and_foreign_policies_are_refused_at_load() {
        for (text, fragment) in [
            ("package signature\nallow {\n", "p.rego: line "),
            (
                "package sigstore\ndefault isCompliant = false\n",
                "package signature",
            ),
        ] {
            let e = policy(text).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(fragment), "{shown}");
            assert!(!shown.contains('\n'), "{shown}");
            assert_eq!(e.class(), ErrorClass::Usage);
        }
        let e = PredicatePolicy::load(Path::new("policy.cue")).unwrap_err();
        assert!(e.to_string().contains("CUE"), "{e}");
        let e = PredicatePolicy::load(Path::new("policy.json")).unwrap_err();
        assert!(e.to_string().contains(".rego"), "{e}");
    }

    #[test]
    fn built_ins_that_reach_outside_are_not_there() {
        for call in [
            "http.send({\"method\": \"get\", \"url\": \"http://127.0.0.1:9/\"}).status_code == 200",
            "opa.runtime().env.HOME != \"\"",
            "time.now_ns() > 0",
        ] {
            let p = policy(&format!("package signature\nallow {{\n  {call}\n}}\n")).unwrap();
            let verdict = p.evaluate(&statement("x"));
            assert!(
                matches!(verdict, Verdict::Denied(ref m) if m.starts_with("evaluation failed")),
                "{call}: {verdict:?}"
            );
        }
    }

    #[test]
    fn evaluation_stops_at_the_time_limit() {
        let p = policy(
            "package signature\nallow {\n  count([x | x := numbers.range(1, 30000)[_]; y := numbers.range(1, 30000)[_]; x == y]) > 0\n}\n",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let verdict = p.evaluate(&statement("x"));
        assert!(
            matches!(verdict, Verdict::Denied(ref m) if m.contains("evaluation failed")),
            "{verdict:?}"
        );
        assert!(
            started.elapsed() < EVAL_TIME_LIMIT * 3,
            "{:?}",
            started.elapsed()
        );
    }
}
