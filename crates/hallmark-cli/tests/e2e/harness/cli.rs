//! Running the real binary.

use std::process::{Command, Output, Stdio};

use super::PASSWORD;

/// The real binary.
pub fn hallmark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hallmark"));
    c.env_remove("HALLMARK_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env_remove("COSIGN_REPOSITORY")
        .env("DOCKER_CONFIG", "/nonexistent-hallmark-test")
        .env("CI", "true")
        // Signers racing on one signature tag are tested in `races` with the real settle
        // window; elsewhere one writer at a time needs no wait (0 also means a slow
        // registry under a loaded test machine is never reported as unsettled).
        .env("HALLMARK_SETTLE_MS", "0")
        .stdin(Stdio::null());
    c
}

/// Runs the binary with arguments and returns its output (never panics on exit code).
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = hallmark();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    // Async tests call this from a runtime thread: run the child off it.
    c.output().expect("run hallmark")
}

/// Runs the binary in `dir`, with the test password.
pub fn run_in(dir: &std::path::Path, args: &[&str]) -> Output {
    let mut c = hallmark();
    c.args(args)
        .current_dir(dir)
        .env("HALLMARK_PASSWORD", PASSWORD);
    c.output().expect("run hallmark")
}

/// Runs the binary with `input` on its standard input (for --password-stdin).
pub fn run_stdin(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    use std::io::Write;
    let mut c = hallmark();
    c.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run hallmark");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for hallmark")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code, showing the output when it differs.
#[track_caller]
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(
        code(o),
        want,
        "exit code {} (want {want})\nstdout: {}\nstderr: {}",
        code(o),
        stdout(o),
        stderr(o)
    );
}

/// Asserts that stderr says `text`, showing it when it does not.
#[track_caller]
pub fn expect_stderr(o: &Output, text: &str) {
    assert!(
        stderr(o).contains(text),
        "stderr lacks {text:?}: {}",
        stderr(o)
    );
}

/// `hallmark publish` with the test password.
pub fn publish(args: &[&str]) -> Output {
    let mut all = vec!["publish"];
    all.extend_from_slice(args);
    run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)])
}

/// stdout as the one JSON document it must be.
pub fn json_out(o: &Output) -> serde_json::Value {
    serde_json::from_str(stdout(o).trim()).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// `hallmark sign` with the test password.
pub fn sign(args: &[&str]) -> Output {
    let mut all = vec!["sign"];
    all.extend_from_slice(args);
    run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)])
}

/// A path as a command-line argument.
pub fn path_str(p: &std::path::Path) -> String {
    p.display().to_string()
}

/// A file's JSON.
pub fn json_file(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A peer's run (cosign, crane, skopeo) must have succeeded; `what` names it in the failure.
#[track_caller]
pub fn peer_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}
