//! `key generate` and `key public` (docs/schema/key-generate.schema.json,
//! key-public.schema.json).

use std::path::PathBuf;

use serde::Serialize;

use super::{Render, Text, V1};

/// `key generate`'s document.
#[derive(Serialize)]
pub struct Generated {
    version: V1,
    private_key: PathBuf,
    public_key: PathBuf,
    algorithm: String,
    key_id: String,
}

impl Generated {
    pub fn new(
        private_key: PathBuf,
        public_key: PathBuf,
        key: &hallmark::keys::PublicKey,
    ) -> Generated {
        Generated {
            version: V1,
            private_key,
            public_key,
            algorithm: key.algorithm().to_string(),
            key_id: key.key_id(),
        }
    }
}

impl Render for Generated {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        t.say(format!(
            "Private key written to {}",
            self.private_key.display()
        ));
        t.say(format!(
            "Public key written to {}",
            self.public_key.display()
        ));
        Ok(())
    }
}

/// `key public`'s document.
#[derive(Serialize)]
pub struct Public {
    version: V1,
    public_key: String,
    algorithm: String,
    key_id: String,
}

impl Public {
    pub fn new(key: &hallmark::keys::PublicKey) -> Public {
        Public {
            version: V1,
            public_key: key.to_pem(),
            algorithm: key.algorithm().to_string(),
            key_id: key.key_id(),
        }
    }
}

impl Render for Public {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        t.result(self.public_key.trim_end())
    }
}
