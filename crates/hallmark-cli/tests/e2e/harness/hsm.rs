//! A SoftHSM2 token of its own for each test: its token directory and configuration in a
//! temporary directory (SOFTHSM2_CONF), a P-256 key pair made in it by OpenSC's
//! pkcs11-tool.

use std::process::{Command, Output};

use super::registry::ensure_installed;

/// Debian's SoftHSM2 module.
pub const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The token's user PIN.
pub const HSM_PIN: &str = "1234";

/// An initialised token labelled `hallmark` holding the key pair `signing` (id 01).
pub struct Token {
    dir: tempfile::TempDir,
    conf: String,
}

fn ok(o: Output, what: &str) {
    assert!(
        o.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Token {
    pub fn new() -> Token {
        ensure_installed(
            "/usr/bin/softhsm2-util",
            "test -x /usr/bin/softhsm2-util || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq softhsm2)",
        );
        ensure_installed(
            "/usr/bin/pkcs11-tool",
            "test -x /usr/bin/pkcs11-tool || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq opensc)",
        );
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).unwrap();
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let token = Token {
            conf: conf.display().to_string(),
            dir,
        };
        ok(
            token
                .command("softhsm2-util")
                .args(["--init-token", "--free", "--label", "hallmark"])
                .args(["--pin", HSM_PIN, "--so-pin", "5678"])
                .output()
                .unwrap(),
            "softhsm2-util --init-token",
        );
        token.keypair("signing", "01", "EC:prime256v1");
        token
    }

    /// Makes a key pair in the token.
    pub fn keypair(&self, label: &str, id: &str, key_type: &str) {
        ok(
            self.command("pkcs11-tool")
                .args(["--module", SOFTHSM_MODULE, "--token-label", "hallmark"])
                .args(["--login", "--pin", HSM_PIN, "--keypairgen"])
                .args(["--key-type", key_type, "--label", label, "--id", id])
                .output()
                .unwrap(),
            "pkcs11-tool --keypairgen",
        );
    }

    /// A command that finds this token.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SOFTHSM2_CONF", &self.conf);
        c
    }

    /// The URI of the key `object`, with the module but no PIN.
    pub fn uri(&self, object: &str) -> String {
        format!("pkcs11:token=hallmark;object={object}?module-path={SOFTHSM_MODULE}")
    }

    /// The environment that reaches the token, with the PIN if given.
    pub fn env<'a>(&'a self, pin: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
        let mut env = vec![("SOFTHSM2_CONF", self.conf.as_str())];
        if let Some(pin) = pin {
            env.push(("COSIGN_PKCS11_PIN", pin));
        }
        env
    }

    /// A scratch directory beside the token.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}
