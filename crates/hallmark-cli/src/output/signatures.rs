//! `signatures`: every signature and attestation of an artifact, and what a removal did
//! (docs/schema/signatures.schema.json).

use hallmark::inventory::{Entry, Listing, Removed};
use serde::Serialize;

use super::verify::format_name;
use super::{Render, Text, V1};

/// `signatures`' document.
#[derive(Serialize)]
pub struct SignaturesResult<'a> {
    version: V1,
    reference: &'a str,
    digest: String,
    entries: Vec<EntryOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    removal: Option<RemovalOut>,
}

#[derive(Serialize)]
struct EntryOut<'a> {
    format: &'static str,
    kind: &'a str,
    location: &'a str,
    predicate_type: &'a str,
    key_id: Option<&'a str>,
    key_id_verified: bool,
    timestamp: Option<&'a str>,
    bound_tags: &'a [String],
    signed_repository: Option<&'a str>,
    valid_for: &'a [String],
    problem: Option<&'a str>,
}

/// What a removal did, or with `--dry-run` would do.
#[derive(Serialize)]
pub struct RemovalOut {
    selection: String,
    dry_run: bool,
    /// The chosen entries' locations: what went, or would go.
    locations: Vec<Chosen>,
    removed: usize,
    left_unreadable: usize,
    unknown_key: usize,
    deleted_manifests: Vec<String>,
    left_empty: Vec<LeftEmpty>,
}

#[derive(Serialize)]
struct Chosen {
    format: &'static str,
    kind: &'static str,
    location: String,
}

#[derive(Serialize)]
struct LeftEmpty {
    manifest: String,
    why: String,
}

impl RemovalOut {
    /// `selection` in words (`all`, `key <id>`); `chosen` the entries selected; `removed`
    /// what the removal did (`None`: nothing was changed); `unknown_key` entries no given
    /// key verifies, kept.
    pub fn new(
        selection: String,
        chosen: &[&Entry],
        removed: Option<&Removed>,
        unknown_key: usize,
    ) -> RemovalOut {
        RemovalOut {
            selection,
            dry_run: removed.is_none(),
            locations: chosen
                .iter()
                .map(|e| Chosen {
                    format: format_name(e.format),
                    kind: e.kind,
                    location: e.location.clone(),
                })
                .collect(),
            removed: removed.map_or(0, |r| r.removed),
            left_unreadable: removed.map_or(0, |r| r.left_unreadable),
            unknown_key,
            deleted_manifests: removed.map_or_else(Vec::new, |r| r.deleted.clone()),
            left_empty: removed.map_or_else(Vec::new, |r| {
                r.left_empty
                    .iter()
                    .map(|(manifest, why)| LeftEmpty {
                        manifest: manifest.clone(),
                        why: why.clone(),
                    })
                    .collect()
            }),
        }
    }
}

fn entry(e: &Entry) -> EntryOut<'_> {
    let d = &e.description;
    EntryOut {
        format: format_name(e.format),
        kind: e.kind,
        location: &e.location,
        predicate_type: &d.predicate_type,
        key_id: d.key_id.as_deref(),
        key_id_verified: d.key_id_verified,
        timestamp: d.timestamp.as_deref(),
        bound_tags: &d.bound_tags,
        signed_repository: d.signed_repository.as_deref(),
        valid_for: &d.valid_for,
        problem: d.problem.as_deref(),
    }
}

impl<'a> SignaturesResult<'a> {
    pub fn new(listing: &'a Listing, removal: Option<RemovalOut>) -> Self {
        SignaturesResult {
            version: V1,
            reference: &listing.reference,
            digest: listing.digest.to_string(),
            entries: listing.entries.iter().map(entry).collect(),
            removal,
        }
    }
}

/// One line per entry: format, kind, key, time, tags, verdict.
fn line(e: &EntryOut<'_>) -> String {
    let key = match (e.key_id, e.key_id_verified) {
        (Some(id), true) => id.to_string(),
        (Some(id), false) => format!("{id} (claimed)"),
        (None, _) => "?".into(),
    };
    let kind = if e.kind == "signature" {
        "signature".to_string()
    } else {
        format!("attestation {}", e.predicate_type)
    };
    let verdict = if !e.valid_for.is_empty() {
        format!("valid for {}", e.valid_for.join(", "))
    } else if let Some(p) = e.problem {
        format!("not valid: {p}")
    } else {
        "not checked (no --key)".into()
    };
    format!(
        "{:<7} {kind}  key {key}  {}  tags {}  {verdict}",
        e.format,
        e.timestamp.unwrap_or("(no time)"),
        if e.bound_tags.is_empty() {
            "-".into()
        } else {
            e.bound_tags.join(",")
        },
    )
}

impl Render for SignaturesResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        if let Some(r) = &self.removal {
            let what = r
                .locations
                .iter()
                .map(|c| crate::sanitize::line(&format!("{} {} {}", c.format, c.kind, c.location)))
                .collect::<Vec<_>>();
            if r.dry_run {
                t.say(format!(
                    "would remove {} of the signatures of {} ({}); nothing was changed",
                    what.len(),
                    self.reference,
                    r.selection
                ));
                if r.unknown_key > 0 {
                    t.say(format!(
                        "note: {} entr(ies) that no given key verifies would be kept",
                        r.unknown_key
                    ));
                }
                if what.is_empty() {
                    return Ok(());
                }
                return t.result(&what.join("\n"));
            }
            t.say(format!(
                "removed {} of the signatures of {} ({})",
                r.removed, self.reference, r.selection
            ));
            for w in &what {
                t.say(format!("  removed {w}"));
            }
            if r.unknown_key > 0 {
                t.say(format!(
                    "note: {} entr(ies) that no given key verifies were kept (a claimed key id is not enough); pass --key PUB.pem to identify them",
                    r.unknown_key
                ));
            }
            for m in &r.deleted_manifests {
                t.say(format!(
                    "deleted {}: nothing was left in it",
                    crate::sanitize::line(m)
                ));
            }
            for l in &r.left_empty {
                t.loud(format!(
                    "warning: {} is left empty: {}",
                    crate::sanitize::line(&l.manifest),
                    crate::sanitize::line(&l.why)
                ));
            }
            if r.left_unreadable > 0 {
                t.say(format!(
                    "note: {} unreadable entr(ies) were left in place",
                    r.left_unreadable
                ));
            }
            return t.result(self.reference);
        }
        t.say(format!(
            "{}: {} signature(s) and attestation(s)",
            self.reference,
            self.entries.len()
        ));
        // The listing is the result: on stdout, one entry per line, sanitised (it
        // carries text from the registry).
        let listing = self
            .entries
            .iter()
            .map(|e| crate::sanitize::line(&line(e)))
            .collect::<Vec<_>>()
            .join("\n");
        if listing.is_empty() {
            return Ok(());
        }
        t.result(&listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(key_id: Option<&'a str>, verified: bool, valid_for: &'a [String]) -> EntryOut<'a> {
        EntryOut {
            format: "bundle",
            kind: "attestation",
            location: "reg.example/app@sha256:12",
            predicate_type: "https://slsa.dev/provenance/v1",
            key_id,
            key_id_verified: verified,
            timestamp: None,
            bound_tags: &[],
            signed_repository: None,
            valid_for,
            problem: None,
        }
    }

    #[test]
    fn a_line_says_whether_the_key_is_checked_or_only_claimed() {
        let valid = ["release.pub".to_string()];
        assert_eq!(
            line(&entry(Some("0123456789abcdef"), true, &valid)),
            "bundle  attestation https://slsa.dev/provenance/v1  key 0123456789abcdef  (no time)  tags -  valid for release.pub"
        );
        assert_eq!(
            line(&entry(Some("0123456789abcdef"), false, &[])),
            "bundle  attestation https://slsa.dev/provenance/v1  key 0123456789abcdef (claimed)  (no time)  tags -  not checked (no --key)"
        );
        assert!(line(&entry(None, false, &[])).contains("  key ?  "));
    }
}
