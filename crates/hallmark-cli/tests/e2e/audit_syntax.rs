//! `hallmark audit` on the syntax that hides commands in pipeline files: YAML anchors,
//! merge keys and duplicate keys, GitLab includes, every form of Jenkins `sh` step and
//! Groovy interpolation, Dockerfile heredocs and the escape directive, and suppression
//! markers that count only as comments. Each fixture holds safe lines beside the unsafe
//! ones: nothing but the expected findings may fire.

use std::path::PathBuf;

use crate::harness::*;

fn fixtures(dir: &str) -> PathBuf {
    audit_fixture("audit-syntax").join(dir)
}

/// `audit . --output json` in the fixture directory `dir`: its exit code and report.
fn audit_json(dir: &str) -> (i32, serde_json::Value) {
    let o = audit_at(&fixtures(dir), &[".", "--output", "json"]);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    (code(&o), v)
}

/// (file, line, rule, suppressed) of every finding, sorted.
fn findings(v: &serde_json::Value) -> Vec<(String, u64, String, bool)> {
    let mut out: Vec<_> = audit_findings(v)
        .into_iter()
        .map(|f| (f.path, f.line, f.rule, f.suppressed))
        .collect();
    out.sort();
    out
}

fn expected(list: &[(&str, u64, &str, bool)]) -> Vec<(String, u64, String, bool)> {
    let mut out: Vec<_> = list
        .iter()
        .map(|(p, l, r, s)| (p.to_string(), *l, r.to_string(), *s))
        .collect();
    out.sort();
    out
}

fn problems(v: &serde_json::Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["error"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn gitlab_anchors_merge_keys_duplicates_and_local_includes() {
    let (code, v) = audit_json("gitlab");
    assert_eq!(code, 1);
    // The builder image reaches `build` through `<<: *runner` and is reported where it is
    // written; the install list through `- *install`. Of the two `script:` of `release`,
    // only the last runs: the first (a digest resolved from a tag) is not reported, the
    // last (a digest) is safe. The included file sees `APP` from the including file.
    assert_eq!(
        findings(&v),
        expected(&[
            (".gitlab-ci.yml", 9, "deploy-by-tag", false),
            (".gitlab-ci.yml", 13, "unchecked-download", false),
            ("ci/sign.yml", 4, "sign-by-tag", false),
        ])
    );
    assert_eq!(v["files"], 2);
    assert_eq!(v["partial"], false);
    assert_eq!(
        problems(&v, "warnings"),
        ["line 3: include of remote https://gitlab.example.com/templates/scan.yml: not audited"]
    );
}

#[test]
fn gitlab_includes_that_cannot_be_followed_make_the_audit_partial() {
    let (code, v) = audit_json("badinclude");
    // A finding decides the exit code; the report still says it is partial.
    assert_eq!(code, 1);
    assert_eq!(v["partial"], true);
    // The file that includes itself and the top file is read once, as GitLab CI.
    assert_eq!(
        findings(&v),
        expected(&[("ci/loop.yml", 7, "unchecked-download", false)])
    );
    assert_eq!(
        problems(&v, "errors"),
        [
            "line 2: include ../outside.yml: leads outside the audited tree: not followed, not audited",
            "line 3: include ci/missing.yml: no such file in the audited tree: not audited",
        ]
    );
    assert_eq!(
        problems(&v, "warnings"),
        ["line 5: include of project platform/ci-templates: not audited"]
    );
}

#[test]
fn jenkins_sh_in_every_form_with_groovy_interpolation() {
    let (code, v) = audit_json("jenkins");
    assert_eq!(code, 1);
    // `sh(script: "… ${INSTALLER} …")` takes the environment block's value; the tag of
    // `imageTag` comes from a `def` built from another; the shared library's step is read.
    // The checked download, the commented step, the echoed text and the signature by a
    // digest read from `crane` are not findings.
    assert_eq!(
        findings(&v),
        expected(&[
            ("Jenkinsfile", 12, "unchecked-download", false),
            ("Jenkinsfile", 20, "sign-by-tag", false),
            ("vars/signImage.groovy", 4, "sign-by-tag", false),
        ])
    );
}

#[test]
fn jenkins_steps_share_their_workspace_and_parameters_take_their_calls_values() {
    let (code, v) = audit_json("jenkins-steps");
    assert_eq!(code, 1);
    // A program saved by one `sh` step and made executable by the next is installed
    // unchecked; the download checked by the step between is not. A method's parameter
    // takes the tag its call gives, a closure's the items of the list it walks; the
    // digest-pinned calls and lists are quiet. `bat` and `powershell` steps are read.
    // Groovy outside `vars/` is read when it runs steps; application Groovy is not.
    assert_eq!(v["files"], 3);
    assert_eq!(
        findings(&v),
        expected(&[
            ("pipelines/tools.groovy", 3, "unchecked-download", false),
            ("vars/releaseImages.groovy", 3, "unchecked-download", false),
            ("vars/releaseImages.groovy", 15, "sign-by-tag", false),
            ("vars/releaseImages.groovy", 31, "sign-by-tag", false),
            ("vars/windowsAgent.groovy", 3, "unchecked-download", false),
            ("vars/windowsAgent.groovy", 5, "unchecked-download", false),
            ("vars/windowsAgent.groovy", 7, "unchecked-download", false),
        ])
    );
}

#[test]
fn groovy_named_on_the_command_line_is_read() {
    let o = hallmark()
        .args(["audit", "vars/signImage.groovy", "--output", "json"])
        .current_dir(fixtures("jenkins"))
        .output()
        .unwrap();
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_eq!(v["files"], 1);
    assert_eq!(
        findings(&v),
        expected(&[("vars/signImage.groovy", 4, "sign-by-tag", false)])
    );
}

#[test]
fn dockerfile_heredocs_escape_directive_and_args() {
    let (code, v) = audit_json("docker");
    assert_eq!(code, 1);
    // `FROM $BASE` is judged with the ARG's value; the RUN heredoc is a script while the
    // COPY heredoc and the one fed to python are data; a stage is not a pull; the
    // backtick continues the line under `# escape=`, in a POSIX RUN as in a PowerShell
    // one.
    assert_eq!(
        findings(&v),
        expected(&[
            ("Dockerfile", 3, "deploy-by-tag", false),
            ("Dockerfile", 6, "unchecked-download", false),
            ("windows/Dockerfile", 4, "unchecked-download", false),
            ("windows/Dockerfile", 8, "unchecked-download", false),
        ])
    );
}

#[test]
fn a_suppression_marker_inside_a_string_does_not_suppress() {
    let (code, v) = audit_json("suppress");
    assert_eq!(code, 1);
    // A marker in a comment suppresses its line; the same text printed by `echo` (a
    // string, on the line above the next signature) does not.
    assert_eq!(
        findings(&v),
        expected(&[
            (".gitlab-ci.yml", 4, "sign-by-tag", true),
            (".gitlab-ci.yml", 6, "sign-by-tag", false),
            ("Jenkinsfile", 2, "sign-by-tag", true),
            ("Jenkinsfile", 4, "sign-by-tag", false),
        ])
    );
    assert_eq!(v["suppressed"], 2);
}
