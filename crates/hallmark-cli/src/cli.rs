//! Command-line syntax. Raw values are validated here, before any work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use hallmark::digest::Digest;
use hallmark::reference::{DestinationRef, ImageRef, Source};

use crate::output::Format;

const AFTER_HELP: &str = "\
Exit codes: 0 ok/verified, 1 not verified or denied, 2 bad input or usage,
            3 registry/network/I-O failure, 4 drift (a tag moved).
Quick start: hallmark demo";

#[derive(Parser, Debug)]
#[command(
    name = "hallmark",
    version,
    about = "Sign artifacts by digest, verify them pinned: signing that a tag swap cannot trick.",
    long_about = "Sign artifacts by digest, verify them pinned: signing that a tag swap cannot trick.\n\n\
Tags are mutable aliases; anyone with write access to a registry can move one between your\n\
push and your sign. hallmark signs digests only, prints the exact repo@sha256:… it verified,\n\
and writes cosign-compatible signatures (verify with either tool).",
    after_help = AFTER_HELP
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More detail on stderr: -v each registry request, -vv also its headers (credentials redacted)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Result format on stdout (an error under json is a JSON document too)
    #[arg(long, global = true, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and inspect signing keys (cosign's encrypted format)
    #[command(subcommand)]
    Key(KeyCommand),
    /// Print the digest (sha256:…) of an artifact, and nothing else
    Digest(DigestArgs),
    /// Sign an artifact by digest (a bare tag is refused)
    #[command(
        after_help = "Examples:\n  hallmark sign reg.example.com/app@sha256:<digest> --key cosign.key\n  \
hallmark sign reg.example.com/app:v1.1 --expect-digest sha256:<digest> --key cosign.key --bind-tag"
    )]
    Sign(SignArgs),
    /// Sign a local artifact, then push it by digest, its signature, and the tags last
    #[command(
        after_help = "Examples:\n  hallmark publish oci:./build:v1.1 registry.example.com/app:v1.1,latest --key cosign.key --bind-tag\n  \
hallmark publish docker-archive:app.tar registry.example.com/app:v1.1 --key cosign.key\n  \
hallmark publish file:./uploader.sh registry.example.com/tools/uploader:1.0 --key cosign.key\n\n\
Exit 4 if a tag no longer points at the published digest after it was set."
    )]
    Publish(PublishArgs),
    /// Verify an artifact's signatures; prints the pinned reference to pull
    #[command(after_help = "Pull what was verified, nothing else:\n  \
ref=$(hallmark verify reg.example.com/app:v1.1 --key cosign.pub) && docker pull \"$ref\"")]
    Verify(VerifyArgs),
    /// Verify, then copy exactly the verified digest (every byte checked) to DEST
    #[command(
        after_help = "Nothing is written to DEST unless SOURCE verifies; blobs are committed only when\n\
their digest matches, and manifests and tags only after every blob arrived."
    )]
    Copy(CopyArgs),
    /// Attest a predicate (SLSA provenance, an SBOM, …) about an artifact, by digest
    #[command(
        after_help = "Example:\n  hallmark attest reg.example.com/app@sha256:<digest> --predicate provenance.json --type slsaprovenance1 --key cosign.key\n\n\
--type takes a URI or cosign's short names: slsaprovenance (0.2), slsaprovenance02, slsaprovenance1,\n\
link, spdx, spdxjson, cyclonedx, vuln, openvex, custom."
    )]
    Attest(AttestArgs),
    /// Verify an artifact's attestations of a type; prints each verified predicate
    VerifyAttestation(VerifyAttestationArgs),
    /// Sign a file (an installer, a tarball) by its SHA-256 into a Sigstore bundle
    #[command(
        after_help = "Example:\n  hallmark sign-blob uploader.sh --key cosign.key --bundle uploader.sh.sigstore.json\n\n\
The bundle is what `cosign sign-blob` writes; `cosign verify-blob --key cosign.pub --bundle B FILE`\n\
verifies it. Blobs are signed with ECDSA P-256 keys (cosign's default)."
    )]
    SignBlob(SignBlobArgs),
    /// Verify a file against a Sigstore bundle or a bare signature, before you run it
    #[command(after_help = "Run only what was verified:\n  \
hallmark verify-blob uploader.sh --key cosign.pub --bundle uploader.sh.sigstore.json && sh uploader.sh\n\n\
Exit 1 when the file is not what was signed (tampered, another file, another key).")]
    VerifyBlob(VerifyBlobArgs),
    /// List an artifact's signatures and attestations (both formats), or remove some
    #[command(
        after_help = "Examples:\n  hallmark signatures reg.example.com/app:v1.1 --key cosign.pub\n  \
hallmark signatures reg.example.com/app@sha256:<digest> --key old.pub --remove <KEY_ID> --dry-run\n  \
hallmark signatures reg.example.com/app@sha256:<digest> --key old.pub --remove <KEY_ID> --yes\n\n\
The tag is resolved once; everything listed is about that digest. Each line: format, kind,\n\
key id (\"?\" when unknown; \"(claimed)\" when no given key confirms it), signed time, bound\n\
tags, and which --key it is valid for. --remove takes a key id from this list and removes\n\
only what verifies with that key, given with --key. --remove and --all ask on a terminal;\n\
elsewhere they need --yes (exit 2 without it). --dry-run lists what would go. A signature\n\
manifest or referrers index left empty is deleted, or named when the registry refuses."
    )]
    Signatures(SignaturesArgs),
    /// Scan registries: unsigned, invalid, drifted (moved) and stale tags, orphaned signatures
    #[command(
        after_help = "Examples:\n  hallmark scan reg.example.com/team/app --key cosign.pub\n  \
hallmark scan reg.example.com --policy policy.toml --output json\n  \
hallmark scan reg.example.com/prod/** --key release.pub --fail-on drifted,invalid\n\n\
TARGET is REG (every repository in the catalog), REG/REPO, or REG/PREFIX/** (a glob).\n\
Statuses: verified, allowed (policy allow-unsigned), unsigned, invalid (signed, not trusted),\n\
drifted (a trusted signature binds the tag to another digest: it was moved), stale (past\n\
max-age), orphaned (a signed digest no tag names), error (could not be read), ambiguous\n\
(signatures of the same second bind the tag to two digests: a rollback cannot be ruled out).\n\
Tag lists are bounded (--max-tags, --max-list-mib; --max-scan-tags, --max-scan-list-mib for\n\
the whole scan); a list cut short, by a bound or a loop, makes its repository partial.\n\
Exit 1 when a status in --fail-on occurs; 3 when the scan is partial or a tag is ambiguous\n\
(and nothing failed)."
    )]
    Scan(ScanArgs),
    /// Audit CI and deployment files: sign-by-tag, deploy-by-tag, unchecked downloads, leaked credentials
    #[command(
        after_help = "Examples:\n  hallmark audit .\n  hallmark audit .github/ deploy/ --severity high --output sarif > hallmark.sarif\n\n\
Reads GitHub Actions workflows and actions, GitLab CI, Jenkinsfiles, shell scripts,\n\
Dockerfiles, Kubernetes manifests and compose files. Suppress one finding with a comment\n\
on its line or the line above: # hallmark: ignore[RULE-ID] why it is safe\n\
Exit 1 when an unsuppressed finding at or above --severity exists; else 3 when a file or part\n\
of one was not audited (too large, not YAML, a link leaving the tree; with --strict also a\n\
warning), each listed."
    )]
    Audit(AuditArgs),
    /// Rewrite image references in deployments to verified digests (repo:tag@sha256:…)
    #[command(
        after_help = "Examples:\n  hallmark pin deploy/ --key cosign.pub            # prints a diff\n  \
hallmark pin deploy/ docker-compose.yml --policy policy.toml --write\n\n\
Each tag is resolved once and verified as `verify` does; only verified references are\n\
rewritten, and only their bytes change (comments, quoting, indentation and order stay).\n\
Exit 1 when a reference does not verify (it is left as it is, with the reason)."
    )]
    Pin(PinArgs),
    /// Kubernetes admission: verify every image of a Pod or workload, pin the verified digests
    #[command(
        after_help = "Examples:\n  hallmark admit --policy policy.toml --tls-cert tls.crt --tls-key tls.key\n  \
hallmark admit --review request.json --policy policy.toml\n  \
hallmark admit --review - --policy policy.toml --endpoint validate < request.json\n\n\
Serves the webhook over HTTPS (POST /mutate, POST /validate; GET /healthz, GET /metrics),\n\
one JSON log line per request on stderr, until SIGTERM; or, with --review, answers one\n\
AdmissionReview (admission.k8s.io/v1) offline, as the webhook will, printing the\n\
AdmissionReview response on stdout. Every image of a Pod, Deployment, ReplicaSet, StatefulSet,\n\
DaemonSet, Job, CronJob, ReplicationController or PodTemplate (containers, init and ephemeral\n\
containers, image volumes) is verified as `verify` does. mutate pins each image written by tag\n\
to the digest that verified (a JSON Patch: repo:tag@sha256:…); validate denies any image not\n\
pinned to a verified digest. An image already pinned is never rewritten: its digest verifies or\n\
the request is denied. Anything not decided within --deadline (or the apiserver's timeout,\n\
less a second) is denied. deploy/kubernetes/ has the manifests (failurePolicy: Fail).\n\
With --review: exit 0 allowed (patched or not), 1 denied, 2 not an AdmissionReview v1, 3\n\
denied because a registry could not be reached in time (retry). Serving: exit 0 after\n\
SIGTERM or Ctrl-C (requests being answered finish first), 2 bad certificate or flags, 3\n\
address in use."
    )]
    #[command(mut_arg("deadline", |a| a.long("registry-deadline").hide(true)))]
    Admit(AdmitArgs),
    /// Check policy files
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Inspect the Sigstore trusted root keyless verification uses
    #[command(subcommand)]
    TrustRoot(TrustRootCommand),
    /// The sigstore-conformance client protocol (for the conformance suite)
    #[command(hide = true)]
    VerifyBundle(VerifyBundleArgs),
    /// Watch the attack succeed against sign-by-tag, and fail against hallmark
    Demo(DemoArgs),
    /// Print shell completions: hallmark completions bash > /etc/bash_completion.d/hallmark
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one per command with --dir
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write hallmark.1 and hallmark-COMMAND.1 pages into this directory
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Generate a key pair: PREFIX.key (encrypted, 0600) and PREFIX.pub
    #[command(
        after_help = "The password comes from HALLMARK_PASSWORD, else COSIGN_PASSWORD, else a prompt."
    )]
    Generate(KeyGenerateArgs),
    /// Print the public key (PEM) of a private key
    Public(KeyPublicArgs),
}

#[derive(Args, Debug)]
pub struct KeyGenerateArgs {
    /// Write PREFIX.key and PREFIX.pub
    #[arg(long, default_value = "cosign", value_name = "PREFIX")]
    pub output_key_prefix: PathBuf,
    #[arg(long, value_enum, default_value_t = KeyAlgorithm::EcdsaP256)]
    pub algorithm: KeyAlgorithm,
    /// Overwrite existing files
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyAlgorithm {
    EcdsaP256,
    Ed25519,
}

#[derive(Args, Debug)]
pub struct KeyPublicArgs {
    /// Encrypted private key, or a key in a PKCS#11 token (pkcs11:token=…;object=…?module-path=…)
    #[arg(long)]
    pub key: PathBuf,
}

/// How to reach registries.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Registry access")]
pub struct RegistryArgs {
    /// Allow plain HTTP to non-loopback registries (a loopback one is tried over HTTPS first)
    #[arg(long, alias = "allow-http-registry")]
    pub allow_http: bool,
    /// Extra CA certificates (PEM) to trust, or the registry's own self-signed certificate
    #[arg(long, value_name = "PEM", alias = "registry-cacert")]
    pub ca_file: Option<PathBuf>,
    /// Registry username (instead of ~/.docker/config.json)
    #[arg(long, requires = "password_stdin", alias = "registry-username")]
    pub username: Option<String>,
    /// Read the registry password from stdin
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Seconds before a stalled request fails
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Retries on 429, 5xx and connection failures
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(0..=20))]
    pub retries: u32,
    /// Seconds the whole command may take, whatever the registry does (exit 3 after)
    #[arg(long, default_value_t = 1800, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub deadline: u64,
    /// false: accept any TLS certificate and host name, as skopeo's flag (warns; plain
    /// HTTP still needs --allow-http)
    #[arg(long, value_name = "BOOL", default_value_t = true, action = clap::ArgAction::Set)]
    pub tls_verify: bool,
    /// Same as --tls-verify=false, as cosign spells it (warns)
    #[arg(long)]
    pub allow_insecure_registry: bool,
    /// Milliseconds a writer of a signature tag other signers share waits before checking
    /// that no concurrent signer overwrote its write: at least 2000 (what every signer
    /// counts on), or 0 to switch the check off when nobody else writes there
    #[arg(long, default_value_t = 2000, value_name = "MS", env = "HALLMARK_SETTLE_MS",
          hide_env_values = true, value_parser = parse_settle)]
    pub settle: u64,
}

impl RegistryArgs {
    /// True when the user turned transport checks off.
    pub fn insecure(&self) -> bool {
        !self.tls_verify || self.allow_insecure_registry
    }
}

impl Command {
    /// The whole-command deadline, for commands that talk to registries.
    pub fn deadline(&self) -> Option<std::time::Duration> {
        let args = match self {
            Command::Digest(a) => &a.registry,
            Command::Sign(a) => &a.registry,
            Command::Publish(a) => &a.registry,
            Command::Verify(a) => &a.registry,
            Command::Copy(a) => &a.registry,
            Command::Attest(a) => &a.registry,
            Command::VerifyAttestation(a) => &a.registry,
            Command::Demo(a) => &a.registry_args,
            Command::Signatures(a) => &a.registry,
            Command::Scan(a) => &a.registry,
            Command::Pin(a) => &a.registry,
            // The review's own --deadline decides (a denial), well before this backstop; a
            // server runs until it is stopped.
            Command::Admit(a) => {
                return a
                    .review
                    .as_ref()
                    .map(|_| a.deadline + std::time::Duration::from_secs(30));
            }
            Command::SignBlob(a) => {
                return Some(std::time::Duration::from_secs(a.service.deadline));
            }
            Command::Key(_)
            | Command::Audit(_)
            | Command::Completions(_)
            | Command::Man(_)
            | Command::Policy(_)
            | Command::VerifyBlob(_)
            | Command::TrustRoot(_)
            | Command::VerifyBundle(_) => return None,
        };
        Some(std::time::Duration::from_secs(args.deadline))
    }
}

#[derive(Args, Debug)]
pub struct DigestArgs {
    /// REG/REPO[:TAG][@DIGEST], oci:DIR[:TAG], oci-archive:FILE.tar[:TAG], dir:DIR (skopeo's),
    /// docker-archive:FILE.tar or file:FILE
    #[arg(value_parser = parse_source)]
    pub source: Source,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub signing: SigningArgs,
    /// Record TAG in the signed payload, so a rollback of TAG is detectable (repeatable;
    /// without a value, the tag REF names)
    #[arg(long, value_name = "TAG", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub bind_tag: Vec<String>,
    /// Signature format [default: legacy with --key alone; bundle, cosign 3's, when keyless
    /// or with --tlog-upload; legacy then needs a Rekor v1 log]
    #[arg(long, value_enum)]
    pub format: Option<SignatureFormat>,
    /// For an image index: also sign every manifest it lists (nested indexes too), each by
    /// its own digest, as cosign's --recursive
    #[arg(short = 'r', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set,
          hide_default_value = true, hide_possible_values = true)]
    pub recursive: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What to sign, with which key and what to record: shared by `sign` and `attest`.
#[derive(Args, Debug)]
pub struct SigningArgs {
    /// REG/REPO@sha256:… (or a tag with --expect-digest), or oci:DIR@sha256:…
    #[arg(value_parser = parse_source)]
    pub reference: Source,
    /// Encrypted private key (cosign format) or pkcs11:URI (a key in a PKCS#11 token); without it, signs keyless (--identity-token)
    #[arg(long, conflicts_with = "identity_token")]
    pub key: Option<PathBuf>,
    /// With --key: also timestamp the signature and log it in Rekor (bundle format;
    /// services and root as for keyless); =false, cosign's spelling, is the default
    #[arg(long, requires = "key", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set,
          hide_default_value = true, hide_possible_values = true)]
    pub tlog_upload: bool,
    #[command(flatten)]
    pub keyless: KeylessSignArgs,
    #[command(flatten)]
    pub sigstore: SigstoreArgs,
    /// Signed annotation (repeatable)
    #[arg(short = 'a', long = "annotation", alias = "annotations", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<(String, String)>,
    /// The digest your pipeline built; a tag reference must resolve to it (else exit 4)
    #[arg(long, value_name = "sha256:…", value_parser = parse_digest)]
    pub expect_digest: Option<Digest>,
    /// Store signatures in this repository instead of the artifact's (like COSIGN_REPOSITORY)
    #[arg(long, value_name = "REG/REPO", value_parser = parse_signature_repository)]
    pub signature_repository: Option<ImageRef>,
    /// Keep this key's earlier signatures of the digest (default: the new one replaces them)
    #[arg(long)]
    pub keep_existing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignatureFormat {
    /// cosign's `sha256-<hex>.sig` tag scheme (read by cosign 1.x-3.x)
    Legacy,
    /// Sigstore bundle as an OCI 1.1 referrer (cosign 3's default)
    Bundle,
}

impl SignatureFormat {
    /// The library's name for it.
    pub fn lib(self) -> hallmark::sign::SignatureFormat {
        match self {
            SignatureFormat::Legacy => hallmark::sign::SignatureFormat::Legacy,
            SignatureFormat::Bundle => hallmark::sign::SignatureFormat::Bundle,
        }
    }
}

#[derive(Args, Debug)]
pub struct PublishArgs {
    /// oci:DIR[:TAG|@DIGEST], oci-archive:FILE.tar[:TAG|@DIGEST], dir:DIR (skopeo's),
    /// docker-archive:FILE.tar or file:FILE
    #[arg(value_parser = parse_source)]
    pub source: Source,
    /// REG/REPO[:TAG[,TAG…]] or oci:DIR[:TAG[,TAG…]]
    #[arg(value_parser = parse_destination)]
    pub destination: DestinationRef,
    /// Encrypted private key (cosign format) or pkcs11:URI (a key in a PKCS#11 token); without it, signs keyless (--identity-token)
    #[arg(long, conflicts_with = "identity_token")]
    pub key: Option<PathBuf>,
    /// With --key: also timestamp the signature and log it in Rekor (bundle format;
    /// services and root as for keyless); =false, cosign's spelling, is the default
    #[arg(long, requires = "key", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set,
          hide_default_value = true, hide_possible_values = true)]
    pub tlog_upload: bool,
    #[command(flatten)]
    pub keyless: KeylessSignArgs,
    #[command(flatten)]
    pub sigstore: SigstoreArgs,
    /// Signed annotation (repeatable)
    #[arg(short = 'a', long = "annotation", alias = "annotations", value_name = "KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<(String, String)>,
    /// Record TAG in the signed payload, so a rollback of TAG is detectable (repeatable;
    /// without a value, every destination tag)
    #[arg(long, value_name = "TAG", num_args = 0..=1, require_equals = true, default_missing_value = "")]
    pub bind_tag: Vec<String>,
    /// Keep this key's earlier signatures of the digest (default: the new one replaces them)
    #[arg(long)]
    pub keep_existing: bool,
    /// Signature format [default: legacy with --key alone; bundle, cosign 3's, when keyless
    /// or with --tlog-upload; legacy then needs a Rekor v1 log]
    #[arg(long, value_enum)]
    pub format: Option<SignatureFormat>,
    /// Blobs uploaded at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Mount blobs from this repository of the same registry instead of uploading them (repeatable)
    #[arg(long, value_name = "REPO")]
    pub mount_from: Vec<String>,
    /// For an image index, sign every manifest it lists too, each by its own digest (the
    /// default, as cosign's --recursive); =false signs the index alone
    #[arg(short = 'r', long, value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = true, default_missing_value = "true", action = clap::ArgAction::Set,
          hide_default_value = true, hide_possible_values = true)]
    pub recursive: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What makes an artifact trusted: keys on the command line, or a policy file.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Trust")]
pub struct TrustArgs {
    /// Public key (PEM); repeatable, any one suffices
    #[arg(long, conflicts_with = "policy")]
    pub key: Vec<PathBuf>,
    /// Policy file (TOML): per-repository keys, thresholds and requirements
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// The tag must be named in a valid signature (defends against rollback)
    #[arg(long)]
    pub require_tag_binding: bool,
    /// Also accept signatures made for this repository (mirrors); `*` and `**` globs
    #[arg(long, value_name = "REG/REPO", conflicts_with = "policy", value_parser = parse_identity)]
    pub identity: Vec<String>,
    /// Signatures live in this repository (like COSIGN_REPOSITORY)
    #[arg(long, value_name = "REG/REPO", value_parser = parse_signature_repository)]
    pub signature_repository: Option<ImageRef>,
    #[command(flatten)]
    pub keyless: IdentityArgs,
    #[command(flatten)]
    pub root: RootArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// REG/REPO:TAG, REG/REPO@sha256:…, or oci:DIR[:TAG|@sha256:…]
    #[arg(value_parser = parse_source)]
    pub reference: Source,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Verify one platform of a multi-platform index (os/arch[/variant]) and print its
    /// manifest's pinned reference: the index's signature counts, else the platform's own
    /// (when its image config names that platform)
    #[arg(long, value_name = "OS/ARCH", value_parser = parse_platform)]
    pub platform: Option<String>,
    /// A signature counts only if it has this signed annotation, with this exact value
    /// (repeatable; cosign's -a)
    #[arg(short = 'a', long = "annotations", alias = "annotation", value_name = "KEY=VALUE", value_parser = parse_annotation, help_heading = "Trust")]
    pub annotations: Vec<(String, String)>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct CopyArgs {
    /// REG/REPO:TAG, REG/REPO@sha256:…, or oci:DIR[:TAG|@sha256:…]
    #[arg(value_parser = parse_source)]
    pub source: Source,
    /// REG/REPO[:TAG[,TAG…]] or oci:DIR[:TAG[,TAG…]]
    #[arg(value_parser = parse_destination)]
    pub destination: DestinationRef,
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Copy only this platform out of a multi-platform index (os/arch[/variant])
    #[arg(long, value_name = "OS/ARCH", value_parser = parse_platform)]
    pub platform: Option<String>,
    /// Blobs copied at once
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct AttestArgs {
    #[command(flatten)]
    pub signing: SigningArgs,
    /// The predicate (JSON)
    #[arg(long, value_name = "FILE")]
    pub predicate: PathBuf,
    /// Predicate type: a URI, or slsaprovenance1, cyclonedx, spdxjson, … (cosign's names)
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_predicate_type)]
    pub predicate_type: String,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct VerifyAttestationArgs {
    /// REG/REPO:TAG, REG/REPO@sha256:…, or oci:DIR[:TAG|@sha256:…]
    #[arg(value_parser = parse_source)]
    pub reference: Source,
    /// Predicate type: a URI, or slsaprovenance1, cyclonedx, spdxjson, … (cosign's names)
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_predicate_type)]
    pub predicate_type: String,
    /// Public key (PEM); repeatable, any one suffices
    #[arg(long)]
    pub key: Vec<PathBuf>,
    /// Also accept attestations made for this repository (mirrors); `*` and `**` globs
    #[arg(long, value_name = "REG/REPO", value_parser = parse_identity)]
    pub identity: Vec<String>,
    /// Attestations live in this repository
    #[arg(long, value_name = "REG/REPO", value_parser = parse_signature_repository)]
    pub signature_repository: Option<ImageRef>,
    /// Rego policy on the statement (cosign's .rego files: package signature, allow);
    /// every verified attestation must be allowed
    #[arg(long, value_name = "FILE.rego")]
    pub policy: Option<PathBuf>,
    #[command(flatten)]
    pub keyless: IdentityArgs,
    #[command(flatten)]
    pub root: RootArgs,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Args, Debug)]
pub struct SignBlobArgs {
    /// The file, or - for standard input
    pub file: PathBuf,
    /// Encrypted private key (cosign format, ECDSA P-256) or pkcs11:URI; without it, signs keyless (--identity-token)
    #[arg(long, conflicts_with = "identity_token")]
    pub key: Option<PathBuf>,
    /// With --key: also timestamp the signature and log it in Rekor (services and root as for
    /// keyless); =false, cosign's spelling, is the default
    #[arg(long, requires = "key", value_name = "BOOL", num_args = 0..=1, require_equals = true,
          default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set,
          hide_default_value = true, hide_possible_values = true)]
    pub tlog_upload: bool,
    #[command(flatten)]
    pub keyless: KeylessSignArgs,
    #[command(flatten)]
    pub service: ServiceArgs,
    /// Write the Sigstore bundle here (- for standard output)
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    /// Also write the bare base64 signature here (- for standard output)
    #[arg(long, value_name = "FILE")]
    pub output_signature: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("proof").required(true).args(["bundle", "signature"])))]
pub struct VerifyBlobArgs {
    /// The file, - for standard input, or sha256:<hex> for a file known only by its digest
    /// (for a DSSE bundle: a subject of its statement)
    pub file: PathBuf,
    /// Public key (PEM); repeatable, any one suffices
    #[arg(long)]
    pub key: Vec<PathBuf>,
    #[command(flatten)]
    pub identity: IdentityArgs,
    #[command(flatten)]
    pub root: RootArgs,
    /// The Sigstore bundle (cosign sign-blob's, or hallmark sign-blob's)
    #[arg(long, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// A bare base64 signature instead of a bundle
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
}

/// What makes a repository's artifacts trusted, for commands over many repositories.
#[derive(Args, Debug)]
#[command(next_help_heading = "Trust")]
pub struct KeysOrPolicy {
    /// Public key (PEM); repeatable, any one suffices
    #[arg(long, conflicts_with = "policy")]
    pub key: Vec<PathBuf>,
    /// Policy file (TOML): per-repository keys, thresholds, max-age
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Also accept signatures made for this repository (mirrors); `*` and `**` globs
    #[arg(long, value_name = "REG/REPO", conflicts_with = "policy", value_parser = parse_identity)]
    pub identity: Vec<String>,
    #[command(flatten)]
    pub keyless: IdentityArgs,
    #[command(flatten)]
    pub root: RootArgs,
}

#[derive(Args, Debug)]
pub struct PinArgs {
    /// Files or directories: Kubernetes manifests, compose files, Dockerfiles, workflows
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub trust: KeysOrPolicy,
    /// Rewrite the files (default: print a unified diff)
    #[arg(long)]
    pub write: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// Exit 0 even when some references cannot be rewritten (YAML aliases, escaped strings)
    #[arg(long)]
    pub allow_unpinned: bool,
}

#[derive(Args, Debug)]
pub struct AdmitArgs {
    /// Answer this one AdmissionReview (JSON) and exit, or - for standard input: the
    /// webhook's decision, offline, for CI and for understanding a denial
    #[arg(long, value_name = "FILE|-", conflicts_with_all = ["tls_cert", "tls_key", "listen", "metrics_listen"])]
    pub review: Option<PathBuf>,
    #[command(flatten)]
    pub trust: KeysOrPolicy,
    /// Serve the webhook over HTTPS with this certificate (PEM chain; its names must match
    /// the Service's DNS name or the url in the webhook configuration). Re-read when it
    /// changes on disk
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        required_unless_present = "review"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Address the webhook listens on: POST /mutate, POST /validate, GET /healthz, GET /metrics
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    pub listen: std::net::SocketAddr,
    /// Also serve GET /metrics and /healthz over plain HTTP here, for a scraper without the CA
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Serving: keep a verification that said yes this long (never past a policy's max-age)
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_cache_ttl, conflicts_with = "review")]
    pub cache_ttl: std::time::Duration,
    /// Serving: keep a verification that said no this long, so a crash-looping Pod does not
    /// hammer the registry
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_cache_ttl, conflicts_with = "review")]
    pub deny_ttl: std::time::Duration,
    /// Serving: answer a tag with the digest verified for it this recently, without asking
    /// the registry again. 0 (the default) resolves every tag on every review, so a moved
    /// tag is seen at once; more saves a registry round trip per review, and a tag moved
    /// meanwhile is answered with the digest verified for it before (verified, not current)
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_cache_ttl, conflicts_with = "review")]
    pub tag_ttl: std::time::Duration,
    /// Serving: most verifications kept
    #[arg(long, value_name = "N", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=1_000_000), conflicts_with = "review")]
    pub cache_entries: u32,
    /// With --review: which webhook answers; mutate pins images, validate only checks them
    #[arg(long, value_enum, default_value_t = AdmitEndpoint::Mutate)]
    pub endpoint: AdmitEndpoint,
    /// Pin only Pods: controllers (Deployments, Jobs, …) are checked but left as written,
    /// so GitOps tools (Argo CD, Flux) see no drift; their Pods are pinned when created
    #[arg(long)]
    pub pods_only: bool,
    /// Time for the whole review (e.g. 9s, 500ms); what is not decided by then is denied.
    /// Keep it under the webhook's timeoutSeconds
    #[arg(long = "deadline", id = "review_deadline", value_name = "DURATION", default_value = "9s", value_parser = parse_review_deadline)]
    pub deadline: std::time::Duration,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// Which webhook `admit` answers as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AdmitEndpoint {
    Mutate,
    Validate,
}

fn parse_cache_ttl(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 5m, 30s or 0s"))?;
    if d > std::time::Duration::from_secs(24 * 3600) {
        return Err(format!("{s:?}: at most 24h"));
    }
    Ok(d)
}

fn parse_review_deadline(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s)
        .map_err(|e| format!("{s:?} is not a duration ({e}); write e.g. 9s or 500ms"))?;
    if d.is_zero() || d > std::time::Duration::from_secs(300) {
        return Err(format!(
            "{s:?}: a review deadline is more than 0 and at most 5m"
        ));
    }
    Ok(d)
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Files or directories (repeatable)
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Lowest severity that makes the exit code 1
    #[arg(long, value_name = "LEVEL", default_value = "low", value_parser = parse_severity)]
    pub severity: hallmark::audit::Severity,
    /// Count warnings (bytes that are not UTF-8, links not followed) as not audited: exit 3
    #[arg(long)]
    pub strict: bool,
}

fn parse_severity(s: &str) -> Result<hallmark::audit::Severity, String> {
    hallmark::audit::Severity::parse(s)
        .ok_or_else(|| format!("{s:?} is not a severity; use low, medium, high or critical"))
}

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// REG, REG/REPO or REG/PREFIX/** (repeatable)
    #[arg(required = true, value_parser = parse_scan_target)]
    pub targets: Vec<(String, hallmark::scan::ScanTarget)>,
    #[command(flatten)]
    pub trust: KeysOrPolicy,
    /// Statuses that make the exit code 1 (comma-separated)
    #[arg(long, value_name = "STATUS,…", default_value = "unsigned,drifted,invalid", value_parser = parse_statuses)]
    pub fail_on: StatusList,
    /// Requests under way at once
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Names per page of the catalog and of tag lists
    #[arg(long, default_value_t = 1000, hide = true, value_parser = clap::value_parser!(u16).range(1..=10000))]
    pub page_size: u16,
    /// Also report which repositories the credentials in use can push to (writes nothing)
    #[arg(long)]
    pub access: bool,
    /// Most tags read of one repository; a longer list is scanned in part (exit 3)
    #[arg(long, value_name = "N", default_value_t = hallmark::registry::ListLimits::REPOSITORY.names, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    pub max_tags: usize,
    /// Most MiB of tag-list pages read of one repository
    #[arg(long, value_name = "MIB", default_value_t = hallmark::registry::ListLimits::REPOSITORY.bytes >> 20, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_list_mib: u64,
    /// Most tags read in the whole scan (and names of each catalog)
    #[arg(long, value_name = "N", default_value_t = hallmark::registry::ListLimits::SCAN.names, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000_000))]
    pub max_scan_tags: usize,
    /// Most MiB of tag-list pages read in the whole scan (and of each catalog)
    #[arg(long, value_name = "MIB", default_value_t = hallmark::registry::ListLimits::SCAN.bytes >> 20, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub max_scan_list_mib: u64,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

fn parse_scan_target(s: &str) -> Result<(String, hallmark::scan::ScanTarget), String> {
    hallmark::scan::ScanTarget::parse(s)
        .map(|t| (s.to_string(), t))
        .map_err(|e| e.to_string())
}

/// Scan statuses, as `--fail-on` lists them.
#[derive(Debug, Clone)]
pub struct StatusList(pub Vec<hallmark::scan::Status>);

fn parse_statuses(s: &str) -> Result<StatusList, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            hallmark::scan::Status::parse(p).ok_or_else(|| {
                format!(
                    "{p:?} is not a status; use {}",
                    hallmark::scan::Status::ALL.map(|s| s.name()).join(", ")
                )
            })
        })
        .collect::<Result<_, _>>()
        .map(StatusList)
}

#[derive(Args, Debug)]
pub struct SignaturesArgs {
    /// REG/REPO:TAG, REG/REPO@sha256:…, or oci:DIR[:TAG|@sha256:…]
    #[arg(value_parser = parse_source)]
    pub reference: Source,
    /// Public key (PEM) to check each signature against; repeatable
    #[arg(long)]
    pub key: Vec<PathBuf>,
    /// Remove the signatures and attestations that verify with the key of this id (give
    /// its public key with --key; a key id an entry merely claims is not enough)
    #[arg(long, value_name = "KEY_ID", conflicts_with = "all")]
    pub remove: Option<String>,
    /// Remove every signature and attestation of the digest
    #[arg(long)]
    pub all: bool,
    /// With --remove or --all: print what would be removed, and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// With --remove or --all: remove without asking (needed when not on a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Signatures live in this repository
    #[arg(long, value_name = "REG/REPO", value_parser = parse_signature_repository)]
    pub signature_repository: Option<ImageRef>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Validate a policy file; errors name the line
    Check(PolicyCheckArgs),
}

#[derive(Args, Debug)]
pub struct PolicyCheckArgs {
    pub file: PathBuf,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Run against a live registry (HOST:PORT) instead of a temporary OCI layout
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    pub registry: Option<String>,
    /// Keep the repositories the demo creates in the registry (default: delete them after)
    #[arg(long, requires = "registry")]
    pub keep: bool,
    /// Sign keyless (--identity-token; the Sigstore services of --signing-config or the
    /// URLs, verified against --trusted-root) instead of with a generated key
    #[arg(long)]
    pub keyless: bool,
    #[command(flatten)]
    pub keyless_args: KeylessSignArgs,
    #[command(flatten)]
    pub sigstore: SigstoreArgs,
    #[command(flatten)]
    pub registry_args: RegistryArgs,
}

/// The process's arguments with `--bind-tag TAG`, the space form, written `--bind-tag=TAG`.
/// The flag's value is optional, so it is taken only after `=`: otherwise `--bind-tag REF`
/// would take the reference as the tag. A next word that could be a tag (no `/`, `:` or
/// `@`, which every reference has, and not a flag) is still read as the value, as it was
/// before the value became optional; a reference after the flag stays the positional.
pub fn bind_tag_values(args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let mut out = Vec::with_capacity(args.len());
    let mut args = args.into_iter().peekable();
    let mut after_dashes = false;
    while let Some(a) = args.next() {
        after_dashes |= a == "--";
        let value = (!after_dashes && a == "--bind-tag")
            .then(|| args.peek().and_then(|n| n.to_str()))
            .flatten()
            .filter(|n| !n.starts_with('-') && !n.contains(['/', ':', '@']))
            .map(|n| format!("--bind-tag={n}"));
        match value {
            Some(joined) => {
                args.next();
                out.push(joined.into());
            }
            None => out.push(a),
        }
    }
    out
}

/// `--tlog-upload[=BOOL]` without `--key`, which clap refuses with only "required
/// arguments were not provided: --key": the line that says what to do instead. Keyless
/// signing always logs, so `=false` cannot be had without a key, and `=true` adds nothing.
pub fn tlog_upload_without_key(args: &[std::ffi::OsString]) -> Option<(String, &'static str)> {
    let words: Vec<&str> = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .filter_map(|a| a.to_str())
        .collect();
    let flag = words
        .iter()
        .find(|w| **w == "--tlog-upload" || w.starts_with("--tlog-upload="))?;
    if words
        .iter()
        .any(|w| *w == "--key" || w.starts_with("--key="))
    {
        return None;
    }
    Some(if *flag == "--tlog-upload=false" {
        (
            format!("{flag} needs --key: keyless signing always logs the signature in Rekor"),
            "pass --key FILE to sign without logging, or leave --tlog-upload=false out to sign keyless",
        )
    } else {
        (
            format!("{flag} is for --key: keyless signing always logs the signature in Rekor"),
            "leave --tlog-upload out to sign keyless, or pass --key FILE to sign with a key and log it",
        )
    })
}

fn parse_source(s: &str) -> Result<Source, String> {
    let source = Source::parse(s).map_err(|e| e.to_string())?;
    if matches!(source, Source::Registry(_)) {
        local_path_hint(s)?;
    }
    Ok(source)
}

fn parse_destination(s: &str) -> Result<DestinationRef, String> {
    let dest = DestinationRef::parse(s).map_err(|e| e.to_string())?;
    if matches!(dest.location, hallmark::reference::Location::Registry(_)) {
        local_path_hint(s)?;
    }
    Ok(dest)
}

/// A registry name without a transport that is also a local path (`publish build …`)
/// was almost certainly meant as that path: say which prefix to write, before any
/// request goes to a registry (or to Docker Hub) in its name.
fn local_path_hint(s: &str) -> Result<(), String> {
    if s.starts_with("docker://") {
        return Ok(());
    }
    let path_part = match s.rsplit_once(':') {
        Some((p, tag)) if !tag.contains('/') && !p.is_empty() => p,
        _ => s,
    };
    for candidate in [s, path_part] {
        let p = std::path::Path::new(candidate);
        let registry = format!("docker://{s}");
        if p.is_dir() {
            return Err(format!(
                "{candidate:?} is a local directory; did you mean oci:{s}? (for a registry, write {registry})"
            ));
        }
        if p.is_file() {
            return Err(format!(
                "{candidate:?} is a local file; did you mean docker-archive:{s} (a `docker save` tarball) or file:{s}? (for a registry, write {registry})"
            ));
        }
    }
    Ok(())
}

/// `os/arch[/variant]`, as in an image index.
fn parse_platform(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let ok = matches!(parts.len(), 2 | 3)
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?} is not a platform; write OS/ARCH[/VARIANT], e.g. linux/amd64 or linux/arm64/v8"
        ))
    }
}

/// A repository (or glob of repositories) whose signatures are also accepted: checked
/// now, so that a typo fails before the registry is asked anything.
fn parse_identity(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("an identity is REG/REPO (globs * and ** allowed)".into());
    }
    if s.contains('@') || s.rsplit('/').next().is_some_and(|last| last.contains(':')) {
        return Err(format!(
            "{s:?}: an identity is a repository (REG/REPO), without a tag or digest"
        ));
    }
    if s.starts_with("oci:") {
        return Ok(s.to_string());
    }
    if !s.contains('/') {
        return Err(format!(
            "{s:?}: an identity is REG/REPO (e.g. mirror.example.com/team/app or mirror.example.com/team/**)"
        ));
    }
    if let Some(why) = hallmark::reference::unmatchable_glob(s) {
        return Err(format!("{s:?} {why}"));
    }
    Ok(s.to_string())
}

/// `HOST:PORT` of a registry, without a scheme.
fn parse_host_port(s: &str) -> Result<String, String> {
    if let Some((_, rest)) = s.split_once("://") {
        return Err(format!(
            "{s:?}: drop the scheme and write {} (loopback registries are reached over HTTP, others need --allow-http for it)",
            rest.trim_end_matches('/'),
        ));
    }
    if s.is_empty() || s.contains('/') {
        return Err(format!("{s:?}: write the registry as HOST:PORT"));
    }
    Ok(s.to_string())
}

/// A repository to keep signatures in (`--signature-repository`, `COSIGN_REPOSITORY`):
/// a registry repository named with its host. A tag or digest would be dropped and a name
/// without a host would send signatures to Docker Hub, so both are refused.
pub fn parse_signature_repository(s: &str) -> Result<ImageRef, String> {
    let s = s.trim();
    if ["oci:", "oci-archive:", "dir:", "docker-archive:", "file:"]
        .iter()
        .any(|t| s.starts_with(t))
    {
        return Err(format!(
            "{s:?}: signatures are kept in a registry repository (REG/REPO), not a local path"
        ));
    }
    let first = s.split('/').next().unwrap_or_default();
    let has_host =
        s.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    if !has_host {
        return Err(format!(
            "{s:?} names no registry host; write REG/REPO (docker.io/{s} for Docker Hub)"
        ));
    }
    let r = ImageRef::parse(s).map_err(|e| e.to_string())?;
    if r.tag().is_some() || r.digest().is_some() {
        return Err(format!(
            "{s:?}: a signature repository is REG/REPO, without a tag or digest"
        ));
    }
    Ok(r)
}

/// A settle window: 0 (off) or at least the 2 s every signer counts on the others to
/// watch, since a writer cannot know how long the one it overwrote watched.
fn parse_settle(s: &str) -> Result<u64, String> {
    let min = hallmark::store::SETTLE_MIN.as_millis() as u64;
    match s.trim().parse::<u64>() {
        Ok(0) => Ok(0),
        Ok(ms) if (min..=600_000).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "{s:?}: write 0 (no check: only where nobody else writes) or milliseconds from {min} to 600000"
        )),
    }
}

/// A predicate type's URI, from a URI or one of cosign's short names; a typo is refused
/// here, before a predicate is read or anything is signed.
fn parse_predicate_type(s: &str) -> Result<String, String> {
    hallmark::bundle::intoto::parse_predicate_type(s)
        .map(str::to_string)
        .map_err(|e| e.to_string())
}

fn parse_digest(s: &str) -> Result<Digest, String> {
    s.parse::<Digest>().map_err(|e| e.to_string())
}

fn parse_annotation(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

/// Who must have signed, keyless: the Fulcio certificate's identity and issuer (cosign's flags).
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Keyless (Fulcio certificate identity)")]
pub struct IdentityArgs {
    /// The certificate's identity (its email or URI SAN) must be exactly this
    #[arg(
        long,
        value_name = "IDENTITY",
        conflicts_with = "certificate_identity_regexp"
    )]
    pub certificate_identity: Option<String>,
    /// The certificate's identity must match this regular expression (unanchored, as cosign)
    #[arg(long, value_name = "REGEX")]
    pub certificate_identity_regexp: Option<String>,
    /// The certificate's OIDC issuer must be exactly this (e.g. https://token.actions.githubusercontent.com)
    #[arg(
        long,
        value_name = "URL",
        conflicts_with = "certificate_oidc_issuer_regexp"
    )]
    pub certificate_oidc_issuer: Option<String>,
    /// The certificate's OIDC issuer must match this regular expression
    #[arg(long, value_name = "REGEX")]
    pub certificate_oidc_issuer_regexp: Option<String>,
    /// GitHub Actions: the workflow's repository (owner/name)
    #[arg(long, value_name = "REPO")]
    pub certificate_github_workflow_repository: Option<String>,
    /// GitHub Actions: the git ref the workflow ran on (refs/heads/main)
    #[arg(long, value_name = "REF")]
    pub certificate_github_workflow_ref: Option<String>,
    /// GitHub Actions: the commit the workflow ran on
    #[arg(long, value_name = "SHA")]
    pub certificate_github_workflow_sha: Option<String>,
    /// GitHub Actions: the event that triggered the workflow (push, release, …)
    #[arg(long, value_name = "EVENT")]
    pub certificate_github_workflow_trigger: Option<String>,
    /// GitHub Actions: the workflow's name
    #[arg(long, value_name = "NAME")]
    pub certificate_github_workflow_name: Option<String>,
}

impl IdentityArgs {
    /// True when any keyless flag is given.
    pub fn given(&self) -> bool {
        self.certificate_identity.is_some()
            || self.certificate_identity_regexp.is_some()
            || self.certificate_oidc_issuer.is_some()
            || self.certificate_oidc_issuer_regexp.is_some()
            || self.certificate_github_workflow_repository.is_some()
            || self.certificate_github_workflow_ref.is_some()
            || self.certificate_github_workflow_sha.is_some()
            || self.certificate_github_workflow_trigger.is_some()
            || self.certificate_github_workflow_name.is_some()
    }
}

/// The Sigstore trust material: certificate authorities, logs, timestamp authorities.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Sigstore trust")]
pub struct RootArgs {
    /// Sigstore trusted root (trusted_root.json); default: the public-good root built in
    #[arg(long, value_name = "FILE", env = "HALLMARK_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// Do not check transparency-log entries (said in the result)
    #[arg(long)]
    pub insecure_ignore_tlog: bool,
}

#[derive(Subcommand, Debug)]
pub enum TrustRootCommand {
    /// Print the certificate authorities, logs and timestamp authorities trusted, and until when
    #[command(after_help = "Example:\n  hallmark trust-root show\n  \
hallmark trust-root show --trusted-root trusted_root.json --output json\n\n\
The built-in root is Sigstore's public-good production root; see the README to refresh it.")]
    Show(TrustRootShowArgs),
}

#[derive(Args, Debug)]
pub struct TrustRootShowArgs {
    /// Sigstore trusted root (trusted_root.json); default: the public-good root built in
    #[arg(long, value_name = "FILE", env = "HALLMARK_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
}

/// `verify-bundle`, as the sigstore-conformance suite calls a client.
#[derive(Args, Debug)]
pub struct VerifyBundleArgs {
    /// Staging infrastructure (not built in: pass its --trusted-root instead)
    #[arg(long)]
    pub staging: bool,
    #[arg(long, value_name = "FILE")]
    pub bundle: PathBuf,
    #[arg(
        long,
        value_name = "IDENTITY",
        requires = "certificate_oidc_issuer",
        conflicts_with = "key"
    )]
    pub certificate_identity: Option<String>,
    #[arg(long, value_name = "URL", requires = "certificate_identity")]
    pub certificate_oidc_issuer: Option<String>,
    #[arg(
        long,
        value_name = "KEY",
        required_unless_present = "certificate_identity"
    )]
    pub key: Option<PathBuf>,
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
    /// FILE, or sha256:<hex>
    pub input: PathBuf,
}

/// Keyless signing: an OIDC identity token, and the Sigstore services that certify, log and
/// timestamp the signature.
#[derive(Args, Debug)]
pub struct KeylessSignArgs {
    /// OIDC identity token: @FILE, env://VAR, a file, or (visible in ps; warns) the token itself;
    /// never printed. Default: SIGSTORE_ID_TOKEN, or GitHub Actions' (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN)
    #[arg(long, value_name = "@FILE|env://VAR", value_parser = parse_secret)]
    pub identity_token: Option<Secret>,
    /// The audience the identity token must be for (Fulcio's OIDC client id)
    #[arg(long, value_name = "ID", default_value = "sigstore")]
    pub oidc_client_id: String,
    /// Sigstore signing_config.json (v0.2) naming Fulcio, Rekor (v2, else v1) and the timestamp authority
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fulcio_url", "rekor_url", "timestamp_server_url"])]
    pub signing_config: Option<PathBuf>,
    /// Fulcio's URL (instead of --signing-config; not needed with --key --tlog-upload)
    #[arg(long, value_name = "URL", requires = "rekor_url")]
    pub fulcio_url: Option<String>,
    /// Rekor's URL (instead of --signing-config): Rekor v2 unless --rekor-version 1
    #[arg(long, value_name = "URL")]
    pub rekor_url: Option<String>,
    /// The timestamp authority's endpoint, e.g. https://tsa.example/api/v1/timestamp
    #[arg(long, value_name = "URL", requires = "rekor_url")]
    pub timestamp_server_url: Option<String>,
    /// Sigstore trusted root every service's answer is verified against; default: the public-good root built in
    #[arg(long, value_name = "FILE", env = "HALLMARK_TRUSTED_ROOT")]
    pub trusted_root: Option<PathBuf>,
    /// The API --rekor-url speaks: 2 (tiles; needs --timestamp-server-url) or 1 (REST; its signed time dates the signature)
    #[arg(long, value_name = "1|2", value_parser = clap::value_parser!(u32).range(1..=2), requires = "rekor_url", conflicts_with = "signing_config")]
    pub rekor_version: Option<u32>,
}

/// A flag value that is, or may be, a secret: its `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret(s.to_string()))
}

/// How `sign-blob` reaches the signing services (it has no registry, so these are its
/// `--allow-http`, `--ca-file` and `--timeout`; the image commands spell them `--sigstore-*`).
#[derive(Args, Debug, Clone)]
pub struct ServiceArgs {
    /// Allow plain HTTP to signing services other than on loopback
    #[arg(long)]
    pub allow_http: bool,
    /// Extra CA certificates (PEM) to trust, for a private Sigstore over HTTPS
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Seconds one request to a signing service may take, its answer included
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
    /// Seconds the whole command may take, whatever the services do (exit 3 after)
    #[arg(long, default_value_t = 600, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub deadline: u64,
}

/// How the image commands reach the signing services (Fulcio, Rekor, the timestamp
/// authority, GitHub's token endpoint), apart from the registry flags: a registry that
/// needs plain HTTP must not take the identity token's protection with it.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Signing services")]
pub struct SigstoreArgs {
    /// Allow plain HTTP to signing services other than on loopback (the registry's
    /// --allow-http does not apply to them)
    #[arg(long)]
    pub sigstore_allow_http: bool,
    /// Extra CA certificates (PEM) to trust for the signing services, for a private Sigstore
    /// over HTTPS (the registry's --ca-file does not apply to them)
    #[arg(long, value_name = "PEM")]
    pub sigstore_ca_file: Option<PathBuf>,
    /// Seconds one request to a signing service may take, its answer included
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub sigstore_timeout: u64,
}

#[cfg(test)]
mod bind_tag_tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(bind_tag_values(
            args.iter().map(std::ffi::OsString::from).collect(),
        ))
    }

    const REF: &str = "reg.example.com/app:v1";

    /// Before or after the reference, alone, with `=` or (for a word that can only be a
    /// tag) with a space: the reference is never taken as the tag.
    #[test]
    fn bind_tag_takes_no_reference_as_its_value() {
        for (args, tags) in [
            (&["hallmark", "sign", "--bind-tag", REF][..], &[""][..]),
            (&["hallmark", "sign", REF, "--bind-tag"][..], &[""][..]),
            (&["hallmark", "sign", "--bind-tag=v2", REF][..], &["v2"][..]),
            (&["hallmark", "sign", REF, "--bind-tag=v2"][..], &["v2"][..]),
            (
                &["hallmark", "sign", "--bind-tag", "v2", REF][..],
                &["v2"][..],
            ),
            (
                &["hallmark", "sign", REF, "--bind-tag", "v2"][..],
                &["v2"][..],
            ),
            (
                &[
                    "hallmark",
                    "sign",
                    "--bind-tag",
                    "--bind-tag=v2",
                    REF,
                    "--key",
                    "k",
                ][..],
                &["", "v2"][..],
            ),
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let Command::Sign(s) = cli.command else {
                panic!("{args:?}")
            };
            assert_eq!(s.signing.reference.to_string(), REF, "{args:?}");
            assert_eq!(s.bind_tag, tags, "{args:?}");
        }
        for (args, tags) in [
            (
                &[
                    "hallmark",
                    "publish",
                    "--bind-tag",
                    "oci:./b",
                    "reg.example.com/app:v1",
                ][..],
                &[""][..],
            ),
            (
                &[
                    "hallmark",
                    "publish",
                    "oci:./b",
                    "reg.example.com/app:v1",
                    "--bind-tag",
                ][..],
                &[""][..],
            ),
            (
                &[
                    "hallmark",
                    "publish",
                    "oci:./b",
                    "--bind-tag=v1",
                    "reg.example.com/app:v1",
                ][..],
                &["v1"][..],
            ),
        ] {
            let cli = parse(args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
            let Command::Publish(p) = cli.command else {
                panic!("{args:?}")
            };
            assert_eq!(p.destination.tags, ["v1"], "{args:?}");
            assert_eq!(p.bind_tag, tags, "{args:?}");
        }
        // After `--`, words are positionals, left as they are.
        assert_eq!(
            bind_tag_values(
                ["x", "--", "--bind-tag", "v1"]
                    .iter()
                    .map(std::ffi::OsString::from)
                    .collect()
            ),
            ["x", "--", "--bind-tag", "v1"]
        );
    }
}

#[cfg(test)]
mod secret_tests {
    use super::*;

    /// One `{args:?}` in a future trace line must not print the token.
    #[test]
    fn the_identity_token_is_not_in_debug_output() {
        let cli = Cli::try_parse_from([
            "hallmark",
            "sign-blob",
            "f",
            "--bundle",
            "b",
            "--identity-token",
            "header.claims-of-the-token.signature",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("claims-of-the-token"), "{shown}");
        assert!(shown.contains("Secret(<redacted>)"), "{shown}");
    }
}
