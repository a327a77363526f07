//! `hardcoded-credential`: a credential written in the file: a login's password, a
//! token-shaped word, a URL's password, a literal under a secret's name, or a variable
//! assigned one and then used as a credential.
//!
//! Not credentials: key locations (paths, `env://`, `awskms://` … URIs), references of any
//! form (`${!NAME}`, `$1`, `$(params.x)`), keys whose value names a secret kept elsewhere
//! (`from_secret:`, `secretEnv:`), `printf`'s format string. Fix: revoke, then read it from
//! the CI system's secret store and pass passwords with `--password-stdin`.

use crate::audit::check::commands::{Site, place_of};
use crate::audit::secrets::{
    Credential, credential, literal_credential, literal_value, names_a_secret, read_as_credential,
    registry_host, secret_name, token_shape, url_password,
};
use crate::audit::check::state::ShellState;
use crate::audit::check::{Assignment, Check, Cx, Judged, judge};
use crate::audit::model::{Expands, LoginInput, Model, Script};
use crate::audit::shell::Command;
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "hardcoded-credential",
    severity: Severity::Critical,
    title: "A credential is written in the file",
    help: "Anyone who can read the repository can push with it. Revoke it now, then read it from the CI system's secret store (`${{ secrets.NAME }}`, a masked variable) and pass passwords with `--password-stdin`.",
    help_url: super::help_url!("hardcoded-credential"),
};

pub(super) const CHECK: &dyn Check = &HardcodedCredential;

struct HardcodedCredential;

impl Check for HardcodedCredential {
    fn assignment(&self, cx: &mut Cx<'_>, a: &Assignment<'_>, st: &ShellState) {
        let used = st.hidden.contains(a.name) || read_as_credential(a.name);
        if secret_name(a.name)
            && (literal_value(a.value, a.expands()) || used && literal_credential(a.value, a.expands()))
        {
            cx.report(
                &RULE,
                None,
                a.at,
                a.name,
                format!("{} is assigned a literal value", a.name),
            );
        }
    }

    fn words(&self, cx: &mut Cx<'_>, script: &Script, cmd: &Command, _: &ShellState) {
        for w in &cmd.words {
            if let Some(what) = token_shape(&w.text) {
                cx.report(
                    &RULE,
                    None,
                    place_of(script, w),
                    what,
                    format!("{what} is written in a command"),
                );
            }
        }
    }

    /// A variable read there that is assigned a value written in the file is as much a
    /// literal as the value itself.
    fn credential(&self, cx: &mut Cx<'_>, site: &Site, st: &ShellState) {
        let what = &site.what;
        match judge(&site.text, site.expands, st) {
            Judged::Empty | Judged::Reference(_) => {}
            Judged::LiteralVariable(name) => cx.report(
                &RULE,
                None,
                site.at,
                &format!("{} from {name}", site.subject),
                format!("{what} is {name}, which is assigned a value written in the file (read it from a secret store)"),
            ),
            Judged::Literal => cx.report(
                &RULE,
                None,
                site.at,
                &site.subject,
                if site.registry.is_some() {
                    format!("{what} is written in the command (use --password-stdin)")
                } else {
                    format!("{what} is written in the command (read it from a secret store)")
                },
            ),
        }
    }

    fn file(&self, cx: &mut Cx<'_>, m: &Model) {
        for login in &m.logins {
            login_input(cx, login);
        }
        if let Some(expands) = m.values_expand {
            literal_values(cx, m, expands);
        }
    }
}

/// `docker/login-action`'s password. An action's input is not a shell: `$NAME` in it is
/// the password itself.
fn login_input(cx: &mut Cx<'_>, login: &LoginInput) {
    let mut st = ShellState::default();
    for v in &login.env {
        st.assign(&v.name, &v.value, v.expands);
    }
    let registry = registry_host(&login.registry);
    match judge(&login.value, Expands::Expressions, &st) {
        Judged::Empty | Judged::Reference(_) => {}
        Judged::LiteralVariable(name) => cx.report(
            &RULE,
            None,
            login.at,
            &format!("login-action password from {name}"),
            format!("the password for {registry} is {name}, which is assigned a value written in the workflow"),
        ),
        Judged::Literal => cx.report(
            &RULE,
            None,
            login.at,
            "login-action password",
            format!("the password for {registry} is written in the workflow"),
        ),
    }
}

/// Literal secrets under secret-looking keys, and known token shapes anywhere.
fn literal_values(cx: &mut Cx<'_>, m: &Model, expands: Expands) {
    for v in &m.values {
        let text = v.text.as_str();
        let message = if let Some(what) = token_shape(text) {
            format!("{what} is written in the file")
        } else if !text.trim().contains(char::is_whitespace)
            && url_password(text.trim())
                .is_some_and(|p| credential(p, expands) == Credential::Literal)
        {
            // A whole value that is a URL: a script's URLs are judged word by word.
            "a URL with a password is written in the file".to_string()
        } else if let Some(key) = v
            .key
            .as_deref()
            .filter(|k| secret_name(k) && !names_a_secret(k))
            && (literal_value(text, expands)
                || (cx.used_as_credential(key) || read_as_credential(key))
                    && literal_credential(text, expands))
        {
            format!("{key} holds a literal value")
        } else {
            continue;
        };
        cx.report(&RULE, None, v.at, &message.clone(), message);
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn logins_with_a_written_password_are_found_and_stdin_is_not() {
        let login = "docker login reg.io -u ci -p hunter2hunter2\n";
        assert_eq!(
            findings("i.sh", Kind::Shell, login),
            [("hardcoded-credential".to_string(), 1)]
        );
        let login_ok = "echo \"$PW\" | docker login reg.io -u ci --password-stdin\n";
        assert!(findings("j.sh", Kind::Shell, login_ok).is_empty());
    }

    #[test]
    fn login_action_passwords_and_secret_keys_in_yaml() {
        let wf = "on: push\nenv:\n  PW: lit-Secret-value-1\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: docker/login-action@0123456789abcdef0123456789abcdef01234567\n        with:\n          password: ${{ env.PW }}\n      - uses: docker/login-action@0123456789abcdef0123456789abcdef01234567\n        with:\n          password: ${{ secrets.REGISTRY_TOKEN }}\n";
        // The env value (a secret's name, a literal) and the input reading it.
        assert_eq!(
            findings("w.yml", Kind::Workflow, wf),
            [
                ("hardcoded-credential".to_string(), 3),
                ("hardcoded-credential".to_string(), 10)
            ]
        );
    }

    #[test]
    fn glued_and_piped_passwords_are_found_and_locations_and_references_are_not() {
        let found = "docker login -u ci -p=lit-Secret-1 reg.io
docker login -u ci -plit-Secret-2 reg.io
echo 'lit-Secret-3' | docker login -u ci --password-stdin reg.io
REGISTRY_PASS=lit-Secret-4
";
        let lines: Vec<usize> = findings("l.sh", Kind::Shell, found)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(lines, [1, 2, 3, 4]);
        let safe = "COSIGN_PRIVATE_KEY=$HOME/.cosign/cosign.key
SIGNING_PRIVATE_KEY=awskms:///alias/release
COSIGN_PRIVATE_KEY=${!PARAM_PRIVATE_KEY}
export COSIGN_PASSWORD=${!PARAM_PASSWORD}
printf '%s\\n' \"$4\" | docker login --username \"$3\" --password-stdin reg.io
docker login -u ci -p=\"$REG_PW\" reg.io
";
        assert!(findings("s.sh", Kind::Shell, safe).is_empty());
        let drone = "kind: pipeline\nsteps:\n  - name: publish\n    image: plugins/docker@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n    settings:\n      password:\n        from_secret: docker_password\n    secrets: [docker_username, docker_password]\n";
        assert!(findings(".drone.yml", Kind::Kubernetes, drone).is_empty());
    }

    #[test]
    fn short_literals_of_variables_used_as_credentials_and_quotes_around_nothing() {
        // A short value is still the password when a login reads it, or a tool does.
        let mk = "TEST_REGISTRY_PASSWORD = test_pw\nPASSWORD_LENGTH = 16\n\ne2e:\n\texport COSIGN_PASSWORD=\"test\" && \\\n\tcosign login ${REG} -u ci -p ${TEST_REGISTRY_PASSWORD} && \\\n\tcosign sign --key cosign.key ${REG}/app@${D}\n";
        let lines: Vec<usize> = findings("Makefile", Kind::Make, mk)
            .into_iter()
            .filter(|(r, _)| r == "hardcoded-credential")
            .map(|(_, l)| l)
            .collect();
        assert_eq!(lines, [1, 5, 6]);
        let sh = "PW=short\ndocker login -u ci -p \"$PW\" reg.io\nTOKEN_NAME=ci\n";
        assert_eq!(
            findings("l.sh", Kind::Shell, sh),
            [
                ("hardcoded-credential".to_string(), 1),
                ("hardcoded-credential".to_string(), 2)
            ]
        );
        // A default of quotes around nothing, for the caller to set: the shell reads an
        // empty word.
        let outside = "REGISTRY_USER_NAME?=\"\"\nREGISTRY_PASSWORD?=\"\"\n\nupload:\n\tdocker login -u ${REGISTRY_USER_NAME} -p ${REGISTRY_PASSWORD} ${SERVER}\n";
        assert!(findings("Makefile", Kind::Make, outside).is_empty());
    }

    #[test]
    fn kubernetes_env_values_by_their_name_and_secret_store_paths() {
        let k8s = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - name: app\n      image: reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n      env:\n        - name: LEDGER_API_TOKEN\n          value: \"lt_live_8cQ2pX7mV4nR9sT1wY6z\"\n        - name: LOG_LEVEL\n          value: \"debug-verbose-mode\"\n        - name: API_TOKEN_FILE\n          value: /var/run/secrets/token\n";
        assert_eq!(
            findings("pod.yaml", Kind::Kubernetes, k8s),
            [("hardcoded-credential".to_string(), 9)]
        );
        let bk = "steps:\n  - command: make release\n    plugins:\n      - seek-oss/aws-sm#v2.3.2:\n          env:\n            GITHUB_TOKEN: release/github-token\n      - docker#v5.0.0:\n          env:\n            NPM_TOKEN: lit-Secret-value-1\n";
        assert_eq!(
            findings("pipeline.yml", Kind::Buildkite, bk),
            [("hardcoded-credential".to_string(), 9)]
        );
        let compose = "services:\n  app:\n    image: reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n    environment:\n      SESSION_SECRET: ${SESSION_SECRET:?set in .env}\n";
        assert!(findings("compose.yaml", Kind::Compose, compose).is_empty());
    }
}

