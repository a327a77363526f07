//! cosign's flag and command names, as users paste them from cosign's documentation and
//! their own scripts. clap's "did you mean" picks the nearest hallmark name by spelling,
//! which for these is the wrong one (`--insecure-ignore-tlog` → `--signature-repository`,
//! `clean` → `scan`). Each name here is either read as hallmark's word of the same meaning,
//! or refused in one line that says what to use instead. The table is consulted only for
//! an argument clap refused, so hallmark's own flags always win; names that hallmark
//! spells alike with the same meaning are clap aliases in `cli.rs` instead.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// What a cosign name becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Becomes {
    /// The same meaning: replaced by these words (none: what hallmark does anyway).
    Same(&'static [&'static str]),
    /// No equivalent: what to use instead, and why.
    Instead(&'static str),
}

use Becomes::{Instead, Same};

/// Commands that sign or attest images, where a cosign signing flag means the same.
const SIGNING: &[&str] = &["sign", "publish"];

/// A cosign flag's value as cosign reads a boolean: absent or true, or false.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    On,
    Off,
}

/// What cosign's flag `name` (given `switch` and used with hallmark's `command`) becomes.
fn flag(name: &str, switch: Switch, command: &str) -> Option<Becomes> {
    let signing = SIGNING.contains(&command);
    Some(match (name, switch) {
        // cosign asks to confirm uploads to the public log; hallmark never asks there.
        ("-y" | "--yes", _) => Same(&[]),
        ("--new-bundle-format", Switch::On) if signing => Same(&["--format=bundle"]),
        ("--new-bundle-format", Switch::Off) if signing => Same(&["--format=legacy"]),
        ("--new-bundle-format", Switch::Off) if command == "attest" => Instead(
            "hallmark writes attestations as Sigstore bundles only (cosign 3's format); cosign 2's .att tag is read, not written",
        ),
        ("--new-bundle-format", Switch::Off) if command == "sign-blob" => Instead(
            "sign-blob writes a Sigstore bundle (--bundle), and the bare signature with --output-signature",
        ),
        // Verification reads both formats; attest and sign-blob write the new one.
        ("--new-bundle-format", _) => Same(&[]),
        // Without --signing-config FILE, hallmark fetches no signing config.
        ("--use-signing-config", Switch::Off) => Same(&[]),
        ("--use-signing-config", Switch::On) => Instead(
            "hallmark does not fetch Sigstore's signing config: pass it with --signing-config FILE, or name the services with --fulcio-url, --rekor-url and --timestamp-server-url",
        ),
        // cosign attest appends by default; hallmark replaces the key's earlier one.
        ("--replace", Switch::On) => Same(&[]),
        ("--replace", Switch::Off) => Same(&["--keep-existing"]),
        ("--private-infrastructure", Switch::On) => Same(&["--insecure-ignore-tlog"]),
        ("--private-infrastructure", Switch::Off) => Same(&[]),
        ("--insecure-ignore-tlog", _) => Instead(
            "only verification reads the log (verify, verify-attestation, verify-blob take this flag); with --key, hallmark logs nothing unless --tlog-upload, and keyless signatures are always logged",
        ),
        ("--insecure-ignore-sct", _) => Instead(
            "hallmark checks a keyless certificate's SCT against the trusted root's CT logs; for a private Sigstore, pass its root with --trusted-root",
        ),
        // sign and publish take --recursive themselves: only other commands get here.
        ("--recursive" | "-r", _) => Instead(
            "sign --recursive and publish sign an index and every manifest it lists; verify and copy take --platform OS/ARCH for one platform",
        ),
        ("-a" | "--annotations" | "--annotation", _) => Instead(
            "only verify checks annotations (verify -a key=value, or a policy rule's annotations = { key = \"value\" }, see docs/POLICY.md); sign, attest and publish record them with -a",
        ),
        (
            "--certificate-identity"
            | "--certificate-identity-regexp"
            | "--certificate-oidc-issuer"
            | "--certificate-oidc-issuer-regexp"
            | "--certificate-github-workflow-repository"
            | "--certificate-github-workflow-ref"
            | "--certificate-github-workflow-sha"
            | "--certificate-github-workflow-trigger"
            | "--certificate-github-workflow-name",
            _,
        ) => Instead(
            "it names who must have signed, when verifying (verify, verify-attestation, verify-blob, copy, scan, pin); a keyless signature's identity is its token's (--identity-token)",
        ),
        ("--certificate" | "--certificate-chain", _) => Instead(
            "hallmark reads a keyless signature's certificate from the signature itself and checks it against the trusted root (--trusted-root)",
        ),
        ("--k8s-keychain", _) => Instead(
            "hallmark has no Kubernetes keychain: it reads docker's credentials (docker login, ~/.docker/config.json) or --username with --password-stdin",
        ),
        ("--output-signature", _) => Instead(
            "an image's signature is stored in the registry: the result line names it and hallmark signatures REF lists it (sign-blob takes --output-signature)",
        ),
        ("--bundle", _) => Instead(
            "hallmark keeps an image's signature bundle in the registry, beside the image (hallmark signatures REF lists it); --bundle is sign-blob's and verify-blob's",
        ),
        ("--output-certificate", _) => Instead(
            "a keyless certificate is kept with its signature: in the registry for an image, in the bundle (--bundle) for a file",
        ),
        ("--output-file", _) => Instead("redirect standard output instead: --output json > FILE"),
        ("--registry-password" | "--registry-token", _) => Instead(
            "a secret on the command line is visible to other users (ps): pipe the password to --password-stdin with --username, or use docker login",
        ),
        ("--type" | "--predicate", _) => Instead(
            "attestations have their own commands: hallmark attest REF --predicate FILE --type TYPE, and hallmark verify-attestation REF --type TYPE",
        ),
        ("--local-image", _) => Instead(
            "name the layout as oci:DIR (oci:DIR:TAG or oci:DIR@sha256:…), where a reference goes",
        ),
        _ => return None,
    })
}

/// What cosign's command `name` becomes.
fn command(name: &str) -> Option<Becomes> {
    Some(match name {
        "generate-key-pair" => Same(&["key", "generate"]),
        "public-key" => Same(&["key", "public"]),
        "completion" => Same(&["completions"]),
        "version" => Same(&["--version"]),
        "clean" => Instead(
            "hallmark signatures REF --all --dry-run lists what would be removed; then --all (with --yes outside a terminal) removes every signature and attestation of the digest",
        ),
        "tree" | "triangulate" => Instead(
            "hallmark signatures REF lists the digest's signatures and attestations, in both formats, and where each is stored",
        ),
        "download" => Instead(
            "hallmark verify-attestation REF --type TYPE prints the predicates that verify, and hallmark signatures REF --output json lists the signatures",
        ),
        "upload" => Instead(
            "hallmark publish file:FILE REG/REPO:TAG --key KEY pushes a file as an artifact and signs it",
        ),
        "attach" => Instead(
            "hallmark stores only the signatures it makes (hallmark sign, hallmark attest); it verifies what cosign attach stored",
        ),
        "load" => Instead(
            "hallmark copy oci:DIR REG/REPO:TAG --key PUB verifies a layout and pushes it; hallmark publish oci:DIR REG/REPO:TAG --key KEY signs an unsigned one and pushes it",
        ),
        "save" => Instead(
            "hallmark copy REG/REPO:TAG oci:DIR --key PUB verifies the image and writes it to a layout, with the signature it verified",
        ),
        "initialize" => Instead(
            "hallmark fetches no TUF root: keyless verification uses the public-good root built in (hallmark trust-root show), or --trusted-root FILE",
        ),
        "login" => Instead(
            "hallmark reads docker's credentials: docker login REG, or pass --username with --password-stdin",
        ),
        "attest-blob" => Instead(
            "hallmark attests images (hallmark attest); a file is signed with hallmark sign-blob",
        ),
        "verify-blob-attestation" => Instead(
            "hallmark verify-blob FILE --bundle B verifies a DSSE bundle about FILE (or sha256:<hex>)",
        ),
        "dockerfile" | "manifest" => Instead(
            "hallmark audit FILES finds images used by tag, and hallmark pin FILES --key PUB rewrites them to verified digests",
        ),
        "import-key-pair" => Instead(
            "hallmark uses cosign's encrypted key files: import the key with cosign import-key-pair, then pass it with --key",
        ),
        "trusted-root" => Instead(
            "hallmark trust-root show prints the trusted root in use; pass another with --trusted-root FILE",
        ),
        "signing-config" => {
            Instead("pass a signing config to the signing commands with --signing-config FILE")
        }
        "piv-tool" | "pkcs11-tool" => Instead(
            "hallmark has no token tool: list tokens and keys with OpenSC's pkcs11-tool, and sign with --key 'pkcs11:token=LABEL;object=KEY?module-path=/path/to/module.so'",
        ),
        "env" => Instead(
            "hallmark reads HALLMARK_PASSWORD (or COSIGN_PASSWORD), COSIGN_REPOSITORY, HALLMARK_TRUSTED_ROOT and SIGSTORE_ID_TOKEN; the README lists them",
        ),
        _ => return None,
    })
}

/// What to do about an argument clap refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Cosign {
    /// The arguments with the cosign name replaced: parse them again.
    Retry(Vec<OsString>),
    /// The one line to print (exit 2).
    Refused(String),
}

/// The cosign name `e` refused in `args` (the process's arguments, the program's name
/// first), if it is one: read as hallmark's equivalent, or refused with what to use instead.
/// `commands` are hallmark's command names, to know which command the flag was given to.
pub fn translate(e: &clap::Error, args: &[OsString], commands: &[String]) -> Option<Cosign> {
    let (kind, word) = match e.kind() {
        ErrorKind::UnknownArgument => ("flag", context(e, ContextKind::InvalidArg)?),
        ErrorKind::InvalidSubcommand => ("command", context(e, ContextKind::InvalidSubcommand)?),
        _ => return None,
    };
    let is_flag = kind == "flag";
    // Only words before `--` are flags or commands.
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (at, name, switch) = args[..end].iter().enumerate().skip(1).find_map(|(i, a)| {
        let a = a.to_str()?;
        let (name, value) = match a.split_once('=') {
            Some((n, v)) if is_flag => (n, Some(v)),
            _ => (a, None),
        };
        (name == word || a == word).then_some((i, name, value))
    })?;
    let (switch, boolean) = match switch.map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "1" | "t") => (Switch::On, true),
        Some("false" | "0" | "f") => (Switch::Off, true),
        Some(_) => (Switch::On, false),
    };
    let becomes = if !is_flag {
        command(name)?
    } else {
        let used = args[1..at]
            .iter()
            .filter_map(|a| a.to_str())
            .find(|a| commands.iter().any(|c| c == a))
            .unwrap_or_default();
        flag(name, switch, used)?
    };
    Some(match becomes {
        // A value cosign would not read as a boolean is no use of the switch: clap's to refuse.
        Same(_) if !boolean => return None,
        Same(words) => {
            let mut args = args.to_vec();
            args.splice(at..=at, words.iter().map(OsString::from));
            Cosign::Retry(args)
        }
        Instead(what) => Cosign::Refused(format!("{name} is cosign's {kind}; {what}")),
    })
}

/// The text of one context of a clap error.
fn context(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(s) => s.first().cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    fn commands() -> Vec<String> {
        crate::cli::Cli::command()
            .get_subcommands()
            .map(|c| c.get_name().to_string())
            .collect()
    }

    fn try_args(args: &[&str]) -> Result<crate::cli::Cli, Cosign> {
        let mut args: Vec<OsString> = args.iter().map(OsString::from).collect();
        for _ in 0..8 {
            match crate::cli::Cli::try_parse_from(&args) {
                Ok(cli) => return Ok(cli),
                Err(e) => match translate(&e, &args, &commands()) {
                    Some(Cosign::Retry(next)) => args = next,
                    Some(refused) => return Err(refused),
                    None => panic!("{args:?}: not a cosign name: {e}"),
                },
            }
        }
        panic!("{args:?}: no end")
    }

    const D: &str = "127.0.0.1:5000/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn cosign_names_of_the_same_meaning_are_read_as_hallmarks() {
        let cli = try_args(&[
            "hallmark",
            "sign",
            D,
            "--key",
            "k",
            "-y",
            "--new-bundle-format=false",
            "--use-signing-config=false",
            "--tlog-upload=false",
        ])
        .unwrap();
        let crate::cli::Command::Sign(s) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(s.format, Some(crate::cli::SignatureFormat::Legacy));
        assert!(!s.signing.tlog_upload);
        let cli = try_args(&["hallmark", "sign", D, "--key", "k", "--new-bundle-format"]).unwrap();
        let crate::cli::Command::Sign(s) = cli.command else {
            panic!("{cli:?}")
        };
        assert_eq!(s.format, Some(crate::cli::SignatureFormat::Bundle));
        // cosign's --recursive, in each of its spellings, is sign's own flag.
        for (flag, recursive) in [
            (None, false),
            (Some("--recursive"), true),
            (Some("-r"), true),
            (Some("--recursive=true"), true),
            (Some("--recursive=false"), false),
        ] {
            let mut args = vec!["hallmark", "sign", D, "--key", "k"];
            args.extend(flag);
            let cli = try_args(&args).unwrap();
            let crate::cli::Command::Sign(s) = cli.command else {
                panic!("{cli:?}")
            };
            assert_eq!(s.recursive, recursive, "{flag:?}");
        }
        let cli = try_args(&["hallmark", "generate-key-pair", "--output-key-prefix", "p"]).unwrap();
        assert!(matches!(
            cli.command,
            crate::cli::Command::Key(crate::cli::KeyCommand::Generate(_))
        ));
        let cli = try_args(&[
            "hallmark",
            "verify",
            D,
            "--key",
            "k.pub",
            "--private-infrastructure",
            "--new-bundle-format=true",
        ])
        .unwrap();
        let crate::cli::Command::Verify(v) = cli.command else {
            panic!("{cli:?}")
        };
        assert!(v.trust.root.insecure_ignore_tlog);
    }

    #[test]
    fn cosign_names_without_an_equivalent_say_what_to_use() {
        for (args, words) in [
            (
                &[
                    "hallmark",
                    "sign",
                    D,
                    "--key",
                    "k",
                    "--insecure-ignore-tlog",
                ][..],
                "--insecure-ignore-tlog is cosign's flag; only verification reads the log",
            ),
            (
                &["hallmark", "verify", D, "--key", "k", "--recursive"][..],
                "--recursive is cosign's flag; sign --recursive and publish sign an index",
            ),
            (
                &["hallmark", "clean", D][..],
                "clean is cosign's command; hallmark signatures REF --all",
            ),
            (
                &[
                    "hallmark", "copy", D, "oci:out", "--key", "k", "-a", "env=prod",
                ][..],
                "-a is cosign's flag; only verify checks annotations",
            ),
            (
                &[
                    "hallmark",
                    "attest",
                    D,
                    "--key",
                    "k",
                    "--type",
                    "custom",
                    "--predicate",
                    "p",
                    "--new-bundle-format=false",
                ][..],
                "Sigstore bundles only",
            ),
            (
                &["hallmark", "sign", D, "--registry-password", "hunter2"][..],
                "--password-stdin",
            ),
            (
                &["hallmark", "sign", D, "--use-signing-config"][..],
                "--signing-config FILE",
            ),
            (
                &["hallmark", "sign", D, "--key", "k", "--bundle", "b.json"][..],
                "--bundle is cosign's flag; hallmark keeps an image's signature bundle in the registry",
            ),
        ] {
            match try_args(args) {
                Err(Cosign::Refused(line)) => {
                    assert!(line.contains(words), "{args:?}: {line}");
                    assert!(!line.contains('\n') && !line.contains("hunter2"), "{line}");
                }
                other => panic!("{args:?}: {other:?}"),
            }
        }
    }

    /// A name hallmark does not know that cosign does not have either is left to clap.
    #[test]
    fn other_names_are_left_to_clap() {
        let args: Vec<OsString> = ["hallmark", "sign", D, "--frobnicate"]
            .iter()
            .map(OsString::from)
            .collect();
        let e = crate::cli::Cli::try_parse_from(&args).unwrap_err();
        assert_eq!(translate(&e, &args, &commands()), None);
        // After `--`, a word is no flag.
        let args: Vec<OsString> = ["hallmark", "sign", "--", "--recursive"]
            .iter()
            .map(OsString::from)
            .collect();
        let e = crate::cli::Cli::try_parse_from(&args).unwrap_err();
        assert_eq!(translate(&e, &args, &commands()), None);
    }
}
