//! `hallmark signatures`: what signs an artifact, and removing some of it.

use hallmark::inventory::{self, Selection};
use hallmark::report::SignatureFormat;

use crate::cli::SignaturesArgs;
use crate::commands::{Clients, client, open_target};
use crate::exit::CliError;
use crate::output::Ui;
use crate::output::signatures::{RemovalOut, SignaturesResult};
use crate::{Outcome, keyfile};

/// `hallmark signatures`.
pub async fn run(args: &SignaturesArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let selection = match (&args.remove, args.all) {
        (Some(id), _) => {
            let id = id.trim().to_ascii_lowercase();
            if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(CliError::usage(
                    format!("{id:?} is not a key id (16 hex digits)"),
                    Some(
                        "run `hallmark signatures REF --key PUB.pem` to see each signature's key id",
                    ),
                ));
            }
            Some(Selection::Key(id))
        }
        (None, true) => Some(Selection::All),
        (None, false) => None,
    };
    crate::commands::stdin_once(&args.key, &args.registry)?;
    let keys = keyfile::load_public_keys(&args.key)?;
    let client = client(&args.registry, ui, clients)?;
    let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
    let listing = inventory::list(&target, &keys).await?;
    let removal = match &selection {
        None => None,
        Some(sel) => {
            let chosen = listing.select(sel);
            let unknown_key = match sel {
                Selection::Key(_) => listing
                    .entries
                    .iter()
                    .filter(|e| {
                        e.format == SignatureFormat::Legacy && e.description.key_id.is_none()
                    })
                    .count(),
                Selection::All => 0,
            };
            let removed = inventory::remove(&target, &listing.digest, &chosen).await?;
            Some(RemovalOut::new(
                match sel {
                    Selection::All => "all".into(),
                    Selection::Key(id) => format!("key {id}"),
                },
                &removed,
                unknown_key,
            ))
        }
    };
    ui.emit(&SignaturesResult::new(&listing, removal))?;
    Ok(Outcome::Ok)
}
