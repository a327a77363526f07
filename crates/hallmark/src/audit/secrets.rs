//! What a value holds: token shapes, secret-looking names, a credential's value as
//! written (a literal or a reference), and the options and URLs of commands that carry one.

use crate::audit::model::Expands;
use crate::audit::shell::Word;

/// Token shapes of well-known services: (what, prefix, allowed characters, minimum length
/// after the prefix).
pub(crate) const TOKEN_SHAPES: &[(&str, &str, &str, usize)] = &[
    ("a GitHub token", "ghp_", "", 36),
    ("a GitHub token", "gho_", "", 36),
    ("a GitHub token", "ghs_", "", 36),
    ("a GitHub token", "ghu_", "", 36),
    ("a GitHub token", "github_pat_", "_", 60),
    ("a GitLab token", "glpat-", "-_", 20),
    ("a Docker Hub token", "dckr_pat_", "-_", 20),
    ("an AWS access key", "AKIA", "", 16),
    ("an npm token", "npm_", "", 36),
    ("a PyPI token", "pypi-AgEIcHlwaS5vcmc", "-_", 50),
];

/// The fewest bytes a token of [`TOKEN_SHAPES`] takes: its prefix and its minimum length.
const SHORTEST_TOKEN: usize = {
    let mut shortest = usize::MAX;
    let mut i = 0;
    while i < TOKEN_SHAPES.len() {
        let n = TOKEN_SHAPES[i].1.len() + TOKEN_SHAPES[i].3;
        if n < shortest {
            shortest = n;
        }
        i += 1;
    }
    shortest
};

/// What kind of token `s` contains, if any.
pub(crate) fn token_shape(s: &str) -> Option<&'static str> {
    // Most words are shorter than any token: the audit asks of every word, so they are
    // answered before a searcher is built for each shape.
    if s.len() < SHORTEST_TOKEN {
        return None;
    }
    for (what, prefix, extra, min) in TOKEN_SHAPES {
        let mut rest = s;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at + prefix.len()..];
            let n = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || extra.contains(*c))
                .count();
            let boundary = rest[..at]
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if n >= *min && boundary {
                return Some(what);
            }
            rest = &rest[at + prefix.len()..];
        }
    }
    None
}

/// A name that holds a secret: one with a secret's word in it, or a part (between `_`,
/// `-` or `.`) that is a usual short name for one (`PW`, `REG_PASS`, `GH_PAT`; not `PWD`).
pub(crate) fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    // `AWS_WEB_IDENTITY_TOKEN_FILE`, `SECRETS_DIR`: where a secret is, not the secret.
    if n.rsplit(['_', '-', '.'])
        .next()
        .is_some_and(|last| ["FILE", "PATH", "DIR", "FILES"].contains(&last))
    {
        return false;
    }
    n.split(['_', '-', '.'])
        .any(|part| ["PW", "PASS", "PAT", "CREDS", "CREDENTIALS"].contains(&part))
        || [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "APIKEY",
            "ACCESS_KEY",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// A key whose value is the *name* of a secret kept elsewhere, never the secret: Drone's
/// `from_secret:` and `secrets:` lists, Cloud Build's `secretEnv:`, Kubernetes'
/// `secretName:` and `secretKeyRef:`, Helm's `existingSecret:`.
pub(crate) fn names_a_secret(key: &str) -> bool {
    let k: String = key
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        k.as_str(),
        "fromsecret" | "secrets" | "secretenv" | "secretref" | "secretkeyref" | "secretid"
    ) || k.ends_with("secretname")
        || k.starts_with("existingsecret")
}

/// A value that says where a key is, not what it is: a file path (`./cosign.key`,
/// `$HOME/.cosign/cosign.key`, `/run/secrets/pw`) or a key-management URI (`env://NAME`,
/// `k8s://ns/name`, `awskms://…`, `gcpkms://…`, `azurekms://…`, `hashivault://…`,
/// `pkcs11:`). A key variable set to one names the key; a reviewer reading the file
/// learns nothing secret from it.
pub(crate) fn key_location(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() || v.contains(char::is_whitespace) {
        return false;
    }
    let lower = v.to_ascii_lowercase();
    let uri = [
        "env://",
        "k8s://",
        "awskms://",
        "gcpkms://",
        "azurekms://",
        "hashivault://",
        "file://",
        "pkcs11:",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    let extension = [
        ".key", ".pem", ".pub", ".p12", ".pfx", ".gpg", ".asc", ".crt", ".der", ".json",
    ]
    .iter()
    .any(|e| lower.ends_with(e));
    // A path starts at a directory: the root, here, home, or a variable naming one.
    let rooted = ["/", "./", "../", "~/"].iter().any(|p| v.starts_with(p))
        || (v.starts_with('$') && {
            let rest = v.trim_start_matches(['$', '{']);
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest[n..].trim_start_matches('}').starts_with('/')
        });
    uri || (rooted && (extension || v.matches('/').count() >= 2)) || (extension && v.contains('/'))
}

/// What a credential's value is, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Nothing.
    Empty,
    /// An expansion of a known form, by the name it reads: safe to name.
    Reference(String),
    /// Anything else, however much it looks like a placeholder or a variable: a value
    /// written in the file, which is never printed.
    Literal,
}

/// A shell variable name.
pub(crate) fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Judges a credential's value `v`. Only a whole value that is one expansion of a known
/// form is a reference; `$uperSecret` in an action input, `trueNorth-…` and
/// `example-…` are literals.
pub(crate) fn credential(v: &str, expands: Expands) -> Credential {
    let v = v.trim();
    if v.is_empty() {
        return Credential::Empty;
    }
    // Shell text (a Makefile's `PW ?= ""` pasted into `-p ${PW}`): quotes around nothing
    // are an empty word once the shell reads them.
    if expands != Expands::Expressions && matches!(v, "\"\"" | "''") {
        return Credential::Empty;
    }
    if let Some(inner) = v.strip_prefix("${{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("}}")
    {
        let expr = inner.trim();
        // A quoted string inside the expression is a literal written in the file.
        if expr.is_empty() || expr.contains(['\'', '"']) {
            return Credential::Literal;
        }
        let dotted = expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        return Credential::Reference(if !dotted {
            "an expression".to_string()
        } else {
            match expr.split_once('.') {
                Some(("secrets" | "env" | "vars" | "inputs", name)) => name.to_string(),
                _ => expr.to_string(),
            }
        });
    }
    if expands == Expands::Expressions {
        return Credential::Literal;
    }
    // `${!NAME}` (bash indirection) reads the variable NAME names: still a reference.
    let braced = v
        .strip_prefix("${")
        .and_then(|r| r.strip_suffix('}'))
        .map(|r| r.strip_prefix('!').unwrap_or(r));
    let bare = v.strip_prefix('$');
    if let Some(name) = braced.or(bare)
        && is_name(name)
    {
        return Credential::Reference(name.to_string());
    }
    // `${NAME:?message}` fails when NAME is unset; `${NAME:-default}` reads NAME, and is
    // only as literal as its default.
    if let Some(inner) = braced
        && let Some(at) = inner.find([':', '?', '-'])
        && is_name(&inner[..at])
    {
        let (name, op) = (&inner[..at], inner[at..].trim_start_matches(':'));
        if op.starts_with('?') {
            return Credential::Reference(name.to_string());
        }
        if let Some(default) = op.strip_prefix('-')
            && credential(default, expands) != Credential::Literal
        {
            return Credential::Reference(name.to_string());
        }
    }
    // `$$NAME`, `$${NAME}`: Cloud Build and compose files escape `$` as `$$`, so the shell
    // reads `$NAME`; read as shell text it is the PID and a name, never a secret either.
    if let Some(escaped) = v.strip_prefix("$$") {
        let name = escaped
            .strip_prefix('{')
            .and_then(|r| r.strip_suffix('}'))
            .unwrap_or(escaped);
        if is_name(name) {
            return Credential::Reference(name.to_string());
        }
    }
    // PowerShell's environment variables: `$env:NAME`.
    if let Some(name) = v.strip_prefix("$env:").or_else(|| v.strip_prefix("$Env:"))
        && is_name(name)
    {
        return Credential::Reference(name.to_string());
    }
    // A script's or a function's parameters: `$1`, `${2}`, `$@`, `$*`.
    if let Some(p) = braced.or(bare)
        && (p.bytes().all(|b| b.is_ascii_digit()) || p == "@" || p == "*")
    {
        return Credential::Reference(format!("parameter {p}"));
    }
    if let Some(inner) = v.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        if expands == Expands::Variables && is_name(inner) {
            return Credential::Reference(inner.to_string());
        }
        // Tekton's and Azure's `$(params.name)`, `$(variables.x)`: a dotted name is a
        // reference to a value given elsewhere, never a command.
        if inner.contains('.')
            && inner.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-[]'".contains(c))
            })
        {
            return Credential::Reference(inner.to_string());
        }
        if expands == Expands::Shell && !inner.contains(')') {
            return Credential::Reference("a command's output".to_string());
        }
    }
    Credential::Literal
}

/// True for the value of a secret-looking key or variable that is written in the file.
/// Short values are left out: they are flags and names (`true`, `none`), not secrets.
/// A value that is where a key is (a path, a KMS URI) is none.
pub(crate) fn literal_value(v: &str, expands: Expands) -> bool {
    v.trim().len() >= 8 && literal_credential(v, expands)
}

/// True for a value written in the file, of any length, that is not where a key is. For a
/// variable known to be a credential (one a login reads, or one a tool reads from the
/// environment) a short value is still the password: `test` is what the job logs in with.
pub(crate) fn literal_credential(v: &str, expands: Expands) -> bool {
    credential(v, expands) == Credential::Literal && !key_location(v)
}

/// Environment variables a tool reads as its password, with no option naming them:
/// setting one is using it (`export COSIGN_PASSWORD=…` before `cosign sign --key`).
/// Passwords only: a token is never short, so a short value under a token's name is a
/// placeholder, which the length rule of [`literal_value`] already leaves out.
pub(crate) fn read_as_credential(name: &str) -> bool {
    [
        "COSIGN_PASSWORD",
        "NOTATION_PASSWORD",
        "ORAS_PASSWORD",
        "TWINE_PASSWORD",
    ]
    .contains(&name.to_ascii_uppercase().as_str())
}

/// Options whose value is a credential: it is never the registry, the image or anything
/// else that is printed.
pub(crate) fn credential_option(flag: &str) -> bool {
    let f = flag.trim_start_matches('-').to_ascii_lowercase();
    // `-pVALUE` and `-uNAME` carry their value: the next word is not theirs.
    let glued = !flag.starts_with("--")
        && f.len() > 1
        && f.starts_with(['p', 'u'])
        && !["password", "pass", "user", "username"].contains(&f.as_str());
    flag.starts_with('-')
        && !glued
        && !flag.contains('=')
        && (f == "p"
            || f == "u"
            || ["pass", "cred", "token", "secret", "auth", "user"]
                .iter()
                .any(|w| f.contains(w)))
        && !f.ends_with("-stdin")
}

/// The positional words of `args` (resolved), skipping options and the value after an
/// option that takes a credential.
pub(crate) fn positionals(args: &[String]) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for (j, a) in args.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if a.starts_with('-') {
            skip_next = credential_option(a);
            continue;
        }
        // A redirection (`< pw.txt`, `<<<"$PW"`, `2>&1`) is no argument; neither is the
        // word after a bare operator.
        let op = a.trim_start_matches(|c: char| c.is_ascii_digit());
        if op.starts_with(['<', '>']) {
            skip_next = op.chars().all(|c| "<>&|".contains(c));
            continue;
        }
        out.push((j, a.as_str()));
    }
    out
}

/// A registry as written, without any `user:password@` in it.
pub(crate) fn registry_host(r: &str) -> &str {
    let host = r.split_once("://").map_or(r, |(_, h)| h);
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

/// The password of a URL's `user:password@` in `s`, as written, when there is one.
pub(crate) fn url_password(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password)
}

/// The variables named in `s`: `$NAME`, `${NAME}`, `${{ env.NAME }}` and the like.
pub(crate) fn names_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        match variable_at(tail) {
            Some((name, len)) => {
                out.push(name.to_string());
                rest = &tail[len..];
            }
            None => rest = &tail[1..],
        }
    }
    if let Credential::Reference(name) = credential(s, Expands::Variables)
        && is_name(&name)
    {
        out.push(name);
    }
    out
}

/// How a credential option's value holds the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// The whole value is the secret.
    Whole,
    /// `user:password`: what follows the first `:` is.
    UserPassword,
}

/// The credentials `words` (a command's arguments) give: the word holding each, its
/// text, its shape and the option's name. Only options whose value is a secret whatever
/// the command (`--password`, `--…-token`, `--…creds`), plus `-p` of a login and `-u` of
/// curl: `-p` of `docker run` is a port, `-u` of `docker run` a user.
pub(crate) fn credential_values<'w>(
    name: &str,
    login: bool,
    words: &'w [Word],
) -> Vec<(&'w Word, &'w str, Shape, String)> {
    let mut out = Vec::new();
    let mut j = 0;
    while j < words.len() {
        let w = &words[j];
        let a = w.text.as_str();
        j += 1;
        if !a.starts_with('-') {
            continue;
        }
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o, Some(v)),
            _ => (a, None),
        };
        let lower = opt.to_ascii_lowercase();
        let long = lower.trim_start_matches('-');
        let short = !lower.starts_with("--");
        // `-pVALUE`, `-uUSER:PASSWORD`: the value glued to the flag.
        let glued = |flag: char| {
            short
                && long.len() > 1
                && long.starts_with(flag)
                && !["password", "pass", "user", "username"].contains(&long)
        };
        if login && glued('p') {
            // `-p=VALUE` is `-pVALUE` with the `=` that some write.
            let v = &a[2..];
            out.push((
                w,
                v.strip_prefix('=').unwrap_or(v),
                Shape::Whole,
                "-p".to_string(),
            ));
            continue;
        }
        if name == "curl" && glued('u') {
            out.push((w, &a[2..], Shape::UserPassword, "-u".to_string()));
            continue;
        }
        let flag = ["no-", "ask-", "prompt-", "with-"]
            .iter()
            .any(|p| long.starts_with(p));
        let shape = if login && lower == "-p" {
            Shape::Whole
        } else if (name == "curl" && (lower == "-u" || long == "user" || long == "proxy-user"))
            || long.ends_with("creds")
        {
            Shape::UserPassword
        } else if !flag
            && (long.ends_with("password")
                || long.ends_with("passwd")
                || long == "pass"
                || long == "token"
                || long.ends_with("-token")
                || long.ends_with("-secret"))
        {
            Shape::Whole
        } else {
            continue;
        };
        match inline {
            Some(v) => out.push((w, v, shape, opt.to_string())),
            None => {
                if let Some(next) = words.get(j) {
                    out.push((next, next.text.as_str(), shape, opt.to_string()));
                    j += 1;
                }
            }
        }
    }
    out
}

/// What expands in a shell word: a single-quoted `$NAME` is the text itself, while
/// GitHub replaces `${{ … }}` before any shell sees the word.
pub(crate) fn shell_expands(w: &Word) -> Expands {
    if w.dynamic {
        Expands::Shell
    } else {
        Expands::Expressions
    }
}

/// The variable a reference at the start of `s` (which starts with `$`) reads, and the
/// reference's length in bytes.
pub(crate) fn variable_at(s: &str) -> Option<(&str, usize)> {
    let name_len = |t: &str| {
        t.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let body = s.strip_prefix('$')?;
    if let Some(inner) = body.strip_prefix("{{") {
        let end = inner.find("}}")?;
        let name = inner[..end].trim().strip_prefix("env.")?;
        is_name(name).then_some((name, 3 + end + 2))
    } else if let Some(inner) = body.strip_prefix('{') {
        let n = name_len(inner);
        (is_name(&inner[..n]) && inner[n..].starts_with('}')).then(|| (&inner[..n], n + 3))
    } else {
        let n = name_len(body);
        is_name(&body[..n]).then(|| (&body[..n], n + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::shell;

    #[test]
    fn tokens() {
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
        for name in [
            "PWD",
            "PATH",
            "PASSAGE",
            "IMAGE",
            "REGISTRY",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "SECRETS_DIR",
        ] {
            assert!(!secret_name(name), "{name}");
        }
        for (v, judged) in [
            (
                "${PW:?set in .env}",
                Credential::Reference("PW".to_string()),
            ),
            ("${PW?}", Credential::Reference("PW".to_string())),
            ("${PW:-}", Credential::Reference("PW".to_string())),
            ("${PW:-$OTHER}", Credential::Reference("PW".to_string())),
            ("${PW:-hunter2-Secret}", Credential::Literal),
            (
                "$env:REGISTRY_PW",
                Credential::Reference("REGISTRY_PW".to_string()),
            ),
        ] {
            assert_eq!(credential(v, Expands::Variables), judged, "{v}");
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
    fn key_locations_and_secret_name_keys_hold_no_secret() {
        for v in [
            "$HOME/.cosign/cosign.key",
            "./cosign.key",
            "/run/secrets/registry-password",
            "${KEY_DIR}/release.pem",
            "env://COSIGN_PRIVATE_KEY",
            "k8s://ci/cosign-key",
            "awskms:///alias/release",
            "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
            "hashivault://release",
        ] {
            assert!(key_location(v), "{v}");
            assert!(!literal_value(v, Expands::Shell), "{v}");
        }
        for v in [
            "hunter2hunter2",
            "a/b",
            "-----BEGIN ENCRYPTED COSIGN PRIVATE KEY-----",
        ] {
            assert!(!key_location(v), "{v}");
        }
        for k in [
            "from_secret",
            "secrets",
            "secretEnv",
            "secretName",
            "existingSecret",
        ] {
            assert!(names_a_secret(k), "{k}");
        }
        for k in ["client_secret", "SECRET_KEY", "password"] {
            assert!(!names_a_secret(k), "{k}");
        }
        use Credential::Reference;
        assert!(matches!(
            credential("${!PARAM_PASSWORD}", Expands::Shell),
            Reference(_)
        ));
        assert!(matches!(credential("$4", Expands::Shell), Reference(_)));
        assert!(matches!(
            credential("$(params.shared-secret)", Expands::Shell),
            Reference(_)
        ));
    }
}
