//! `hallmark signatures`: what signs an artifact, and removing some of it.

use hallmark::inventory::{self, Listing, Removed, Selection};
use hallmark::report::SignatureFormat;
use serde::Serialize;

use crate::cli::SignaturesArgs;
use crate::commands::{client, open_target};
use crate::exit::CliError;
use crate::output::{Render, Ui};
use crate::{Outcome, keyfile};

#[derive(Serialize)]
struct Result<'a> {
    #[serde(flatten)]
    listing: &'a Listing,
    #[serde(skip_serializing_if = "Option::is_none")]
    removal: Option<Removal>,
}

#[derive(Serialize)]
struct Removal {
    selection: String,
    #[serde(flatten)]
    removed: Removed,
    unknown_key: usize,
}

/// One line per entry: format, kind, key, time, tags, verdict.
fn line(e: &inventory::Entry) -> String {
    let d = &e.description;
    let key = match (&d.key_id, d.key_id_verified) {
        (Some(id), true) => id.clone(),
        (Some(id), false) => format!("{id} (claimed)"),
        (None, _) => "?".into(),
    };
    let kind = if e.kind == "signature" {
        "signature".to_string()
    } else {
        format!("attestation {}", d.predicate_type)
    };
    let verdict = if !d.valid_for.is_empty() {
        format!("valid for {}", d.valid_for.join(", "))
    } else if let Some(p) = &d.problem {
        format!("not valid: {p}")
    } else {
        "not checked (no --key)".into()
    };
    format!(
        "{:<7} {kind}  key {key}  {}  tags {}  {verdict}",
        match e.format {
            SignatureFormat::Legacy => "legacy",
            SignatureFormat::Bundle => "bundle",
        },
        d.timestamp.as_deref().unwrap_or("(no time)"),
        if d.bound_tags.is_empty() {
            "-".into()
        } else {
            d.bound_tags.join(",")
        },
    )
}

impl Render for Result<'_> {
    fn text(&self, ui: &Ui) -> Option<String> {
        let l = self.listing;
        if let Some(r) = &self.removal {
            ui.say(format!(
                "removed {} of the signatures of {} ({})",
                r.removed.removed, l.reference, r.selection
            ));
            if r.unknown_key > 0 {
                ui.say(format!(
                    "note: {} legacy signature(s) of unknown key were kept; pass --key PUB.pem to identify them",
                    r.unknown_key
                ));
            }
            if r.removed.left_unreadable > 0 {
                ui.say(format!(
                    "note: {} unreadable entr(ies) were left in place",
                    r.removed.left_unreadable
                ));
            }
            return Some(l.reference.clone());
        }
        ui.say(format!(
            "{}: {} signature(s) and attestation(s)",
            l.reference,
            l.entries.len()
        ));
        // The listing is the result: on stdout, one entry per line, sanitised (it
        // carries text from the registry).
        Some(
            l.entries
                .iter()
                .map(|e| crate::sanitize::line(&line(e)))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .filter(|s| !s.is_empty())
    }
}

/// `hallmark signatures`.
pub async fn run(args: &SignaturesArgs, ui: Ui) -> anyhow::Result<Outcome> {
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
    let client = client(&args.registry, ui)?;
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
            Some(Removal {
                selection: match sel {
                    Selection::All => "all".into(),
                    Selection::Key(id) => format!("key {id}"),
                },
                removed,
                unknown_key,
            })
        }
    };
    ui.emit(&Result {
        listing: &listing,
        removal,
    })?;
    Ok(Outcome::Ok)
}
