//! The rules over small files of every kind.

use super::refs::{image_ref, resolves_from_registry};
use super::secrets::{
    Credential, Expands, Shape, credential, credential_option, credential_values, literal_value,
    positionals, registry_host, secret_name, token_shape, url_password,
};
use super::*;
use crate::audit::shell;

fn findings(path: &str, kind: Kind, text: &str) -> Vec<(String, usize)> {
    let mut f = FileAudit::new(path, text);
    f.run(kind).unwrap();
    f.findings
        .iter()
        .map(|f| (f.rule.to_string(), f.line))
        .collect()
}

#[test]
fn references_and_tokens() {
    assert_eq!(
        image_ref("reg.io/app:v1").unwrap().tag.as_deref(),
        Some("v1")
    );
    assert_eq!(image_ref("localhost:5000/app").unwrap().tag, None);
    assert!(image_ref("./cosign.key").is_none());
    assert!(image_ref("https://example.com/x").is_none());
    assert!(resolves_from_registry("$(crane digest app:v1)"));
    assert!(!resolves_from_registry("${{ steps.build.outputs.digest }}"));
    assert_eq!(
        token_shape(&format!("x ghp_{}", "a".repeat(36))),
        Some("a GitHub token")
    );
    assert_eq!(token_shape("ghp_short"), None);
    assert_eq!(
        token_shape(&format!("AKIA{}", "A".repeat(16))),
        Some("an AWS access key")
    );
}

#[test]
fn only_real_expansions_are_references() {
    use Credential::{Literal, Reference};
    let r = |s: &str| Reference(s.to_string());
    for (value, expands, want) in [
        (
            "${{ secrets.GHCR_TOKEN }}",
            Expands::Expressions,
            r("GHCR_TOKEN"),
        ),
        ("${{secrets.X}}", Expands::Shell, r("X")),
        (
            "${{ steps.login.outputs.token }}",
            Expands::Expressions,
            r("steps.login.outputs.token"),
        ),
        (
            "${{ secrets.A || secrets.B }}",
            Expands::Expressions,
            r("an expression"),
        ),
        ("${{ 'hunter2-literal' }}", Expands::Expressions, Literal),
        ("$uperSecretPass2024", Expands::Expressions, Literal),
        (
            "$uperSecretPass2024",
            Expands::Shell,
            r("uperSecretPass2024"),
        ),
        (
            "${REGISTRY_PASSWORD}",
            Expands::Variables,
            r("REGISTRY_PASSWORD"),
        ),
        (
            "$(REGISTRY_PASSWORD)",
            Expands::Variables,
            r("REGISTRY_PASSWORD"),
        ),
        (
            "$(cat /run/secrets/pw)",
            Expands::Shell,
            r("a command's output"),
        ),
        ("$(cat /run/secrets/pw)", Expands::Variables, Literal),
        ("$PW$SUFFIX", Expands::Shell, Literal),
        ("trueNorth-Pass-4417", Expands::Shell, Literal),
        ("exampleCorp-Prod-9931", Expands::Shell, Literal),
        ("changeme-please", Expands::Shell, Literal),
        ("<your-password>", Expands::Shell, Literal),
    ] {
        assert_eq!(credential(value, expands), want, "{value} {expands:?}");
    }
    assert_eq!(credential("  ", Expands::Shell), Credential::Empty);
    assert!(!literal_value("true", Expands::Variables));
}

#[test]
fn options_that_take_credentials_are_never_positional() {
    let args: Vec<String> = [
        "copy",
        "--dest-creds",
        "ci:pw",
        "-p",
        "pw2",
        "--password-stdin",
        "a:1",
        "b:2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let pos: Vec<&str> = positionals(&args).into_iter().map(|(_, a)| a).collect();
    assert_eq!(pos, ["copy", "a:1", "b:2"]);
    let args: Vec<String> = ["login", "<<<", "pw", "<<<pw2", "2>&1", "reg.io", "<", "f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let pos: Vec<&str> = positionals(&args).into_iter().map(|(_, a)| a).collect();
    assert_eq!(pos, ["login", "reg.io"]);
    assert_eq!(
        registry_host("https://ci:pw@reg.example.com"),
        "reg.example.com"
    );
}

#[test]
fn credential_names_urls_and_glued_values() {
    for name in [
        "PW",
        "REG_PW",
        "CI_REG_PASS",
        "GH_PAT",
        "DOCKER_CREDS",
        "QUAY_PASSWORD",
    ] {
        assert!(secret_name(name), "{name}");
    }
    for name in ["PWD", "PATH", "PASSAGE", "IMAGE", "REGISTRY"] {
        assert!(!secret_name(name), "{name}");
    }
    assert_eq!(url_password("https://ci:pw-1@reg.io/v2/"), Some("pw-1"));
    assert_eq!(url_password("https://ci@reg.io"), None);
    assert_eq!(url_password("https://reg.io/a@b:c"), None);
    assert!(!credential_option("-pglued-Secret-8888"));
    assert!(!credential_option("-uci"));
    assert!(credential_option("-p") && credential_option("--password"));
    let words = |s: &str| shell::tokenize(s).remove(0).args().to_vec();
    let found = |name: &str, login: bool, s: &str| -> Vec<(String, Shape)> {
        credential_values(name, login, &words(s))
            .into_iter()
            .map(|(_, v, shape, _)| (v.to_string(), shape))
            .collect()
    };
    assert_eq!(
        found("docker", true, "docker login -u ci -pX reg --password=Y"),
        [("X".into(), Shape::Whole), ("Y".into(), Shape::Whole)]
    );
    // A port and a user of `docker run`, the flag `--password-stdin`: no credential.
    assert!(found("docker", false, "docker run -p 80:80 -u 1:1 app").is_empty());
    assert!(found("docker", true, "docker login --password-stdin reg").is_empty());
    assert_eq!(
        found("curl", false, "curl -u ci:pw https://x"),
        [("ci:pw".into(), Shape::UserPassword)]
    );
    assert_eq!(
        found("skopeo", false, "skopeo copy --src-creds=a:b x y"),
        [("a:b".into(), Shape::UserPassword)]
    );
}

#[test]
fn every_line_of_a_block_scalar_is_placed_where_it_is_written() {
    let text = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - run: |\n          echo hi\n          docker login -u ci -p lit-abc reg.example.com\n";
    let mut f = FileAudit::new("a.yml", text);
    f.run(Kind::Workflow).unwrap();
    let at: Vec<(usize, usize)> = f.findings.iter().map(|f| (f.line, f.column)).collect();
    assert_eq!(at, [(8, 33)]);
}

#[test]
fn credential_variables_are_never_substituted() {
    let mut st = ShellState::default();
    st.assign("PW", "lit-Secret-1", Expands::Shell);
    st.assign("COPY", "$PW", Expands::Shell);
    st.assign("URL", "https://ci:u-1@reg.io", Expands::Shell);
    st.assign("TAG", "v1", Expands::Shell);
    st.hidden = Rc::new(["COPY".to_string()].into());
    assert_eq!(st.resolve("r/a:$PW"), "r/a:$PW");
    assert_eq!(st.resolve("r/a:${COPY}"), "r/a:${COPY}");
    assert_eq!(st.resolve("$URL/a:$TAG"), "$URL/a:v1");
    // A value written in the file stays one when copied.
    assert!(st.literal.contains("PW") && st.literal.contains("COPY"));
    assert!(!st.literal.contains("X"));
}

#[test]
fn variables_resolve_by_name_in_one_pass() {
    let mut st = ShellState::default();
    st.vars.insert("REG".into(), "reg.io".into());
    st.vars.insert("TAG".into(), "v1".into());
    assert_eq!(st.resolve("$REG/app:${TAG}"), "reg.io/app:v1");
    assert_eq!(st.resolve("${{ env.REG }}/x"), "reg.io/x");
    // A longer name is another variable, not REG followed by text.
    assert_eq!(st.resolve("$REGISTRY/app"), "$REGISTRY/app");
    assert_eq!(st.resolve("$ $1 ${"), "$ $1 ${");
}

#[test]
fn identical_findings_get_distinct_fingerprints_by_rank() {
    let text = "curl https://a/i.sh | sh\necho hi\ncurl https://b/i.sh | sh\n";
    let mut f = FileAudit::new("x.sh", text);
    f.run(Kind::Shell).unwrap();
    assert_eq!(f.findings.len(), 2);
    assert_ne!(f.findings[0].fingerprint, f.findings[1].fingerprint);
    let moved = "\n\ncurl https://a/i.sh | sh\ncurl https://b/i.sh | sh\n";
    let mut g = FileAudit::new("x.sh", moved);
    g.run(Kind::Shell).unwrap();
    let prints = |a: &FileAudit<'_>| {
        a.findings
            .iter()
            .map(|f| f.fingerprint.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(prints(&f), prints(&g));
}

#[test]
fn gitlab_templates_are_audited_where_they_are_written() {
    let ci = ".login: &login\n  - docker login -u ci -p hunter2hunter2 reg.io\n.docker:\n  before_script:\n    - curl https://x/i.sh | sh\n.rules:\n  - if: $CI\nrelease:\n  extends: .docker\n  script:\n    - *login\n";
    assert_eq!(
        findings(".gitlab-ci.yml", Kind::GitLab, ci),
        [
            ("hardcoded-credential".to_string(), 2),
            ("unchecked-download".to_string(), 5)
        ]
    );
}

#[test]
fn shell_rules_fire_where_they_should() {
    let script = "docker push reg.io/app:v1\ncosign sign --key k reg.io/app:v1\n";
    assert_eq!(
        findings("a.sh", Kind::Shell, script),
        [("sign-by-tag".to_string(), 2)]
    );
    let good = "cosign sign --key k reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nhallmark sign reg.io/app:v1 --expect-digest \"$D\" --key k\n";
    assert!(findings("b.sh", Kind::Shell, good).is_empty());
    let resolved = "IMG=reg.io/app\ncosign sign --key k \"$IMG@$(crane digest $IMG:v1)\"\n";
    assert_eq!(
        findings("c.sh", Kind::Shell, resolved),
        [("sign-resolved-digest".to_string(), 2)]
    );
    let race = "cosign verify --key k reg.io/app:v1 && docker pull reg.io/app:v1\n";
    assert_eq!(
        findings("d.sh", Kind::Shell, race),
        [("verify-then-pull-by-tag".to_string(), 1)]
    );
    let pinned = "ref=$(hallmark verify reg.io/app:v1 --key k) && docker pull \"$ref\"\n";
    assert!(findings("e.sh", Kind::Shell, pinned).is_empty());
    let pipe = "curl -fsSL https://get.example.com | sudo bash\n";
    assert_eq!(
        findings("f.sh", Kind::Shell, pipe),
        [("unchecked-download".to_string(), 1)]
    );
    let checked =
        "curl -o up.sh https://x/up.sh\nsha256sum -c up.sh.sha256\nchmod +x up.sh\n./up.sh\n";
    assert!(findings("g.sh", Kind::Shell, checked).is_empty());
    let unchecked = "curl -o up.sh https://x/up.sh\nchmod +x up.sh\n./up.sh\n";
    assert_eq!(
        findings("h.sh", Kind::Shell, unchecked),
        [("unchecked-download".to_string(), 3)]
    );
    let login = "docker login reg.io -u ci -p hunter2hunter2\n";
    assert_eq!(
        findings("i.sh", Kind::Shell, login),
        [("hardcoded-credential".to_string(), 1)]
    );
    let login_ok = "echo \"$PW\" | docker login reg.io -u ci --password-stdin\n";
    assert!(findings("j.sh", Kind::Shell, login_ok).is_empty());
    for body in [
        "iex (iwr https://x/install.ps1)\n",
        "wget -qO- https://x/i.sh | sh\n",
        "bash <(curl -s https://x/i.sh)\n",
    ] {
        assert_eq!(
            findings("k.sh", Kind::Shell, body),
            [("unchecked-download".to_string(), 1)],
            "{body}"
        );
    }
    let set = "kubectl set image deploy/app app=reg.io/app:v1\n";
    assert_eq!(
        findings("l.sh", Kind::Shell, set),
        [("deploy-by-tag".to_string(), 1)]
    );
}
