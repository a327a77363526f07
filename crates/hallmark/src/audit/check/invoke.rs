//! Which tool a command really runs, and which of its words is the verb: `cosign` behind
//! a variable (`$COSIGN sign`), a path (`./bin/cosign`), a release file name
//! (`cosign-linux-amd64`), `go run …/cmd/cosign`, or cosign's own image run by `docker
//! run`; the verb past the tool's global flags (`cosign -d --timeout 5m sign`). Rules ask
//! here rather than matching the first word, so that one spelling of a command is not a
//! way around them.

use super::refs::image_ref;
use crate::audit::secrets::variable_at;
use crate::audit::shell;

/// Tools a variable's name may stand for (`$COSIGN`, `${CURL_CMD}`), in the order tried.
const NAMED_TOOLS: &[&str] = &["cosign", "notation", "hallmark", "curl", "wget"];

/// A command's name as matched: the last part of a path, lower case, without `.exe` or a
/// release file's platform suffix (`cosign-linux-amd64`), and the tool a variable stands
/// for when its name says so (`$COSIGN`, `${COSIGN_BIN}`, `$CURL`).
pub(crate) fn tool_name(written: &str) -> String {
    if written.starts_with('$')
        && let Some((var, len)) = variable_at(written)
        && len == written.len()
    {
        let var = var.to_ascii_lowercase();
        if let Some(t) = NAMED_TOOLS.iter().find(|t| var.contains(*t)) {
            return (*t).to_string();
        }
    }
    let base = written.rsplit(['/', '\\']).next().unwrap_or(written);
    let lower = base.to_ascii_lowercase();
    let lower = lower.strip_suffix(".exe").unwrap_or(&lower);
    for t in ["cosign", "notation"] {
        if let Some(rest) = lower.strip_prefix(t)
            && [
                "-linux", "-darwin", "-windows", "_linux", "_darwin", "_windows",
            ]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            return t.to_string();
        }
    }
    lower.to_string()
}

/// The tool a command runs and where its own arguments start among the command's
/// (resolved) arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Invocation {
    /// The tool, as [`tool_name`] gives it.
    pub(crate) tool: String,
    /// Index in the command's arguments of the tool's first argument.
    pub(crate) start: usize,
}

/// What the command named `name` with arguments `args` runs: itself, or the tool it starts
/// (`go run …/cmd/cosign ARGS`, `docker run … cosign-image ARGS`).
pub(crate) fn invocation(name: &str, args: &[String]) -> Invocation {
    let direct = Invocation {
        tool: name.to_string(),
        start: 0,
    };
    match name {
        "go" if args.first().is_some_and(|a| a == "run") => {
            // `go run [build flags] PACKAGE[@version] ARGS`.
            let Some(j) = (1..args.len()).find(|&j| !args[j].starts_with('-')) else {
                return direct;
            };
            let package = args[j].split('@').next().unwrap_or_default();
            let tool = package.rsplit('/').next().unwrap_or_default();
            if package.contains('/') && NAMED_TOOLS.contains(&tool) {
                return Invocation {
                    tool: tool.to_string(),
                    start: j + 1,
                };
            }
            direct
        }
        "docker" | "podman" | "nerdctl" => match container_image(args) {
            Some(j) => match image_tool(&args[j]) {
                Some(tool) => Invocation {
                    tool: tool.to_string(),
                    start: j + 1,
                },
                None => direct,
            },
            None => direct,
        },
        _ => direct,
    }
}

/// The tool an image is, when it is a signer's own image (`gcr.io/projectsigstore/cosign`,
/// `ghcr.io/sigstore/cosign/cosign`, `bitnami/cosign`, `ghcr.io/notaryproject/notation`).
fn image_tool(image: &str) -> Option<&'static str> {
    // An image variable not known here, named for the tool (`"$COSIGN_IMAGE"`).
    if let Some((var, len)) = image.starts_with('$').then(|| variable_at(image)).flatten()
        && len == image.len()
    {
        let var = var.to_ascii_lowercase();
        return ["cosign", "notation"]
            .into_iter()
            .find(|t| var.contains(t) && var.contains("image"));
    }
    let r = image_ref(image)?;
    let last = r.repository.rsplit('/').next()?.to_ascii_lowercase();
    ["cosign", "notation"].into_iter().find(|t| last == *t)
}

/// The subcommand of a container engine (`run`, `pull`, `create`), read through its
/// management-command spelling (`container run`, `image pull`), and the index of the first
/// argument after it.
pub(crate) fn engine_verb(args: &[String]) -> Option<(&str, usize)> {
    let first = args.first()?.as_str();
    match (first, args.get(1).map(String::as_str)) {
        ("container", Some(v @ ("run" | "create"))) | ("image", Some(v @ "pull")) => Some((v, 2)),
        _ => Some((first, 1)),
    }
}

/// Options of `docker run`/`create` (and podman's, nerdctl's) that take no value; every
/// other option takes the next word unless written `--opt=value`.
const ENGINE_FLAGS: &[&str] = &[
    "--rm",
    "--init",
    "--privileged",
    "--read-only",
    "--interactive",
    "--tty",
    "--detach",
    "--publish-all",
    "--no-healthcheck",
    "--oom-kill-disable",
    "--sig-proxy",
    "--quiet",
    "--all-tags",
    "--disable-content-trust",
    "--help",
    "--replace",
    "--systemd",
    "--tls-verify",
];

/// Short options of `docker run` that take no value, as they combine (`-it`, `-dit`).
const ENGINE_SHORT_FLAGS: &str = "itdPq";

/// Index in `args` (a container engine's arguments, from its subcommand) of the image a
/// `run`, `create` or `pull` names: the first word after the options and their values.
pub(crate) fn container_image(args: &[String]) -> Option<usize> {
    let (verb, from) = engine_verb(args)?;
    if !matches!(verb, "run" | "create" | "pull") {
        return None;
    }
    let mut j = from;
    while j < args.len() {
        let a = args[j].as_str();
        if a == "--" {
            return (j + 1 < args.len()).then_some(j + 1);
        }
        if !a.starts_with('-') || a == "-" {
            // A redirection is not the image.
            if a.starts_with(['<', '>']) || a.trim_start_matches(char::is_numeric).starts_with('>')
            {
                j += 1;
                continue;
            }
            return Some(j);
        }
        let takes_value = if a.starts_with("--") {
            !a.contains('=') && !ENGINE_FLAGS.contains(&a)
        } else {
            // `-it` combines flags; `-v X`, `-e X`, `-p 80:80`, `-eFOO=1` take a value.
            let body = &a[1..];
            !body.chars().all(|c| ENGINE_SHORT_FLAGS.contains(c)) && body.len() == 1
        };
        j += if takes_value { 2 } else { 1 };
    }
    None
}

/// Options of cosign that take a value, before the verb and after it: a word after one of
/// these is its value, never the image.
const COSIGN_VALUE_FLAGS: &[&str] = &[
    "--timeout",
    "-t",
    "--output-file",
    "--key",
    "-a",
    "--annotations",
    "--predicate",
    "--type",
    "--output-signature",
    "--output-certificate",
    "--output-payload",
    "--output-attestation",
    "--certificate",
    "--certificate-chain",
    "--fulcio-url",
    "--rekor-url",
    "--oidc-issuer",
    "--oidc-client-id",
    "--oidc-client-secret-file",
    "--oidc-provider",
    "--oidc-redirect-url",
    "--identity-token",
    "--signing-config",
    "--trusted-root",
    "--registry-username",
    "--registry-password",
    "--registry-token",
    "--attachment",
    "--payload",
    "--slot",
    "--bundle",
    "--tsa-server-url",
    "--timestamp-server-url",
    "--rekor-entry-type",
    "--k8s-keychain",
    "--attachment-tag-prefix",
    "--signature-digest-algorithm",
    "--replace-tag",
    // notation's and hallmark's.
    "-k",
    "--signature-format",
    "--plugin-config",
    "--expiry",
    "-e",
    "--id",
    "--plugin",
    "--user-metadata",
    "-m",
    "--expect-digest",
    "--username",
    "-u",
    "--password",
    "-p",
];

/// Index in `args` of the verb of `tool` run with `args` from `start`: the first word
/// that is not a global option or its value (`cosign -d --timeout 5m sign`).
pub(crate) fn verb_index(args: &[String], start: usize) -> Option<usize> {
    let mut j = start;
    while j < args.len() {
        let a = args[j].as_str();
        if !a.starts_with('-') {
            return Some(j);
        }
        j += if takes_value(a) { 2 } else { 1 };
    }
    None
}

/// Whether the signer option `a` takes the next word as its value.
pub(crate) fn takes_value(a: &str) -> bool {
    !a.contains('=') && COSIGN_VALUE_FLAGS.contains(&a)
}

/// Tools a shell function may wrap that rules look through.
const WRAPPED_TOOLS: &[&str] = &[
    "cosign",
    "notation",
    "hallmark",
    "curl",
    "wget",
    "iwr",
    "invoke-webrequest",
];

/// Most functions of one script looked at, and most bytes of each body: a hostile script
/// costs bounded work.
const MAX_FUNCTIONS: usize = 64;
const MAX_FUNCTION_BYTES: usize = 64 * 1024;

/// A script's address and length, and its functions with the tool each runs.
type FunctionCache = Option<((usize, usize), Vec<(String, String)>)>;

thread_local! {
    /// The functions of the last script asked about, by the script's address
    /// and length: found once per script, not once per command.
    static FUNCTIONS: std::cell::RefCell<FunctionCache> =
        const { std::cell::RefCell::new(None) };
}

/// The tool that function `name` of `script` runs (`fetch() { curl -fsSL "$@"; }` runs
/// curl; `cosign_docker() { docker run … "$COSIGN_IMAGE" "$@"; }` runs cosign), when it is
/// one of the tools rules look for.
pub(crate) fn function_tool(script: &str, name: &str) -> Option<String> {
    let key = (script.as_ptr() as usize, script.len());
    FUNCTIONS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.as_ref().is_none_or(|(k, _)| *k != key) {
            *cache = Some((key, function_tools(script)));
        }
        cache
            .as_ref()
            .and_then(|(_, fns)| fns.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone()))
    })
}

/// The functions defined in `script` (`name() { … }`, `function name { … }`) whose body
/// runs one of the tools rules look for, with that tool.
fn function_tools(script: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut seen = 0;
    let mut from = 0;
    while seen < MAX_FUNCTIONS {
        let next_parens = script[from..].find("()").map(|i| (from + i, true));
        let next_kw = script[from..].find("function ").map(|i| (from + i, false));
        let Some((at, parens)) = [next_parens, next_kw].into_iter().flatten().min() else {
            break;
        };
        let (name, rest) = if parens {
            let before = script[..at].trim_end_matches([' ', '\t']);
            // Past the character before the name, however many bytes it takes.
            let start = before
                .char_indices()
                .rev()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let rest = &script[at + 2..];
            from = at + 2;
            (&before[start..], rest)
        } else {
            let rest = &script[at + "function ".len()..];
            from = at + "function ".len();
            let rest = rest.trim_start_matches([' ', '\t']);
            let n = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            let after = rest[n..].trim_start_matches([' ', '\t']);
            (&rest[..n], after.strip_prefix("()").unwrap_or(after))
        };
        let Some(body) = rest.trim_start().strip_prefix('{') else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        seen += 1;
        let mut end = body.len().min(MAX_FUNCTION_BYTES);
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        let body = &body[..end];
        let mut depth = 1usize;
        let close = body.char_indices().find_map(|(k, c)| {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                _ => {}
            }
            (depth == 0).then_some(k)
        });
        let body = &body[..close.unwrap_or(body.len())];
        let tool = shell::tokenize(body).iter().find_map(|c| {
            let n = c.name()?;
            let args: Vec<String> = c.args().iter().map(|w| w.text.clone()).collect();
            let t = invocation(&tool_name(&n.text), &args).tool;
            WRAPPED_TOOLS.contains(&t.as_str()).then_some(t)
        });
        if let Some(tool) = tool {
            out.push((name.to_string(), tool));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn a_function_name_after_a_wide_character_is_read() {
        assert_eq!(
            function_tool("é get() { curl -fsSL \"$@\"; }\n", "get").as_deref(),
            Some("curl")
        );
        // No name at all, only a wide character before the parentheses; a byte past a
        // two-byte character is inside it: slicing there once panicked.
        assert_eq!(function_tool("=é() { curl x; }", "x"), None);
        assert!(function_tools(">|\u{139}--()").is_empty());
    }

    #[test]
    fn names_behind_variables_paths_and_release_files() {
        assert_eq!(tool_name("$COSIGN"), "cosign");
        assert_eq!(tool_name("${COSIGN_BIN}"), "cosign");
        assert_eq!(tool_name("$CURL"), "curl");
        assert_eq!(tool_name("./bin/cosign"), "cosign");
        assert_eq!(tool_name("/tmp/cosign-linux-amd64"), "cosign");
        assert_eq!(tool_name("cosign.exe"), "cosign");
        // Only a whole variable stands for a tool; an unrelated one stays as written.
        assert_eq!(tool_name("$IMAGE"), "$image");
        assert_eq!(tool_name("$COSIGN/x"), "x");
        assert_eq!(tool_name("cosigner"), "cosigner");
    }

    #[test]
    fn tools_run_through_go_run_and_containers() {
        let go = args("run github.com/sigstore/cosign/v2/cmd/cosign@v2.4.1 sign r/a:v1");
        assert_eq!(
            invocation("go", &go),
            Invocation {
                tool: "cosign".into(),
                start: 2
            }
        );
        let docker = args(
            "run --rm -it -e COSIGN_PASSWORD -v /k:/k:ro --network=host gcr.io/projectsigstore/cosign:v2.4.1 sign r/a:v1",
        );
        assert_eq!(invocation("docker", &docker).tool, "cosign");
        assert_eq!(invocation("docker", &docker).start, 9);
        let other = args("container run --rm -e FOO reg.io/app:v1 serve");
        assert_eq!(container_image(&other), Some(5));
        assert_eq!(invocation("docker", &other).tool, "docker");
        assert_eq!(
            container_image(&args("image pull -q reg.io/app:v1")),
            Some(3)
        );
        assert_eq!(container_image(&args("push reg.io/app:v1")), None);
    }

    #[test]
    fn verbs_past_global_flags() {
        let a = args("-d --timeout 5m --output-file=x sign --key k r/a:v1");
        assert_eq!(verb_index(&a, 0), Some(4));
        assert_eq!(verb_index(&args("--verbose"), 0), None);
    }
}
