//! `hallmark signatures`: what signs an artifact, and removing some of it.

use std::io::{BufRead, IsTerminal, Write};

use hallmark::inventory::{self, Entry, Selection};

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
    if selection.is_none() && (args.dry_run || args.yes) {
        return Err(CliError::usage(
            "--dry-run and --yes go with --remove KEY_ID or --all",
            None,
        ));
    }
    // Asking needs a terminal; without one, a removal nobody confirmed is refused before
    // anything is read or written.
    let ask = selection.is_some() && !args.dry_run && !args.yes;
    if ask && !std::io::stdin().is_terminal() {
        return Err(CliError::usage(
            "refusing to remove signatures without confirmation (not on a terminal)",
            Some("pass --dry-run to see what would be removed, then --yes to remove it"),
        ));
    }
    crate::commands::stdin_once(&args.key, &args.registry)?;
    let keys = keyfile::load_public_keys(&args.key)?;
    if let Some(Selection::Key(id)) = &selection
        && !keys.iter().any(|k| k.key.key_id() == *id)
    {
        return Err(CliError::usage(
            format!("--remove {id}: no --key with that key id was given"),
            Some(
                "pass the key's public key with --key PUB.pem: only signatures that verify with it are removed",
            ),
        ));
    }
    let client = client(&args.registry, ui, clients)?;
    let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
    let listing = inventory::list(&target, &keys).await?;
    let removal = match &selection {
        None => None,
        Some(sel) => {
            let chosen = listing.select(sel);
            let unverified = match sel {
                Selection::Key(_) => listing
                    .entries
                    .iter()
                    .filter(|e| !e.description.key_id_verified)
                    .count(),
                Selection::All => 0,
            };
            let words = match sel {
                Selection::All => "all".to_string(),
                Selection::Key(id) => format!("key {id}"),
            };
            if ask && !chosen.is_empty() && !confirm(&listing.reference, &chosen)? {
                return Err(CliError::usage("nothing was removed (not confirmed)", None));
            }
            let removed = if args.dry_run || chosen.is_empty() {
                None
            } else {
                Some(inventory::remove(&target, &listing.digest, &chosen).await?)
            };
            Some(RemovalOut::new(
                words,
                &chosen,
                removed.as_ref(),
                unverified,
            ))
        }
    };
    ui.emit(&SignaturesResult::new(&listing, removal))?;
    Ok(Outcome::Ok)
}

/// Shows what would go and asks on the terminal; true only for an explicit yes.
fn confirm(reference: &str, chosen: &[&Entry]) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    writeln!(
        err,
        "about to remove from {}:",
        crate::sanitize::line(reference)
    )?;
    for e in chosen {
        writeln!(
            err,
            "  {} {} {}",
            crate::output::verify::format_name(e.format),
            e.kind,
            crate::sanitize::line(&e.location)
        )?;
    }
    write!(err, "remove {} entr(ies)? [y/N] ", chosen.len())?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
