//! `trust-root show`: the authorities and logs a trusted root names, with their windows
//! (docs/schema/trust-root-show.schema.json).

use std::time::SystemTime;

use hallmark::sigstore::root::{Authority, Log, TrustedRoot, Validity};
use serde::Serialize;

use super::{Render, Text, V1};

#[derive(Serialize)]
struct Window {
    start: String,
    end: Option<String>,
    /// Whether the window holds the present instant.
    current: bool,
}

fn window(v: &Validity, now: SystemTime) -> Window {
    // Whole seconds unless the root says otherwise (`…59.999Z` ends are common).
    let fmt = |t: SystemTime| {
        let whole = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|d| d.subsec_nanos() == 0);
        if whole {
            humantime::format_rfc3339_seconds(t).to_string()
        } else {
            humantime::format_rfc3339_millis(t).to_string()
        }
    };
    Window {
        start: fmt(v.start),
        end: v.end.map(fmt),
        current: v.contains(now),
    }
}

#[derive(Serialize)]
struct LogOut {
    url: String,
    key: String,
    log_id: String,
    valid: Window,
}

#[derive(Serialize)]
struct AuthorityOut {
    uri: String,
    name: String,
    certificates: usize,
    valid: Window,
}

/// `trust-root show`'s document.
#[derive(Serialize)]
pub struct RootShown {
    version: V1,
    source: String,
    certificate_authorities: Vec<AuthorityOut>,
    tlogs: Vec<LogOut>,
    ctlogs: Vec<LogOut>,
    timestamp_authorities: Vec<AuthorityOut>,
}

impl RootShown {
    /// The root as it stands at `now`.
    pub fn new(root: &TrustedRoot, source: String, now: SystemTime) -> RootShown {
        let logs = |logs: &[Log]| {
            logs.iter()
                .map(|l| LogOut {
                    url: l.base_url.clone(),
                    key: l.key.details.clone(),
                    log_id: l.log_id.iter().map(|b| format!("{b:02x}")).collect(),
                    valid: window(&l.key.valid, now),
                })
                .collect()
        };
        let authorities = |a: &[Authority]| {
            a.iter()
                .map(|a| AuthorityOut {
                    uri: a.uri.clone(),
                    name: a.name.clone(),
                    certificates: a.chain.len(),
                    valid: window(&a.valid, now),
                })
                .collect()
        };
        RootShown {
            version: V1,
            source,
            certificate_authorities: authorities(&root.certificate_authorities),
            tlogs: logs(&root.tlogs),
            ctlogs: logs(&root.ctlogs),
            timestamp_authorities: authorities(&root.timestamp_authorities),
        }
    }
}

impl Render for RootShown {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let until = |w: &Window| {
            let end = w.end.as_deref().unwrap_or("no end");
            let state = if w.current { "" } else { " (not current)" };
            format!("{} until {end}{state}", w.start)
        };
        let mut out = format!("trusted root: {}\n", self.source);
        for (title, items) in [
            (
                "certificate authorities (Fulcio)",
                &self.certificate_authorities,
            ),
            ("timestamp authorities", &self.timestamp_authorities),
        ] {
            out.push_str(&format!("{title}:\n"));
            for a in items {
                out.push_str(&format!("  {} ({}): {}\n", a.uri, a.name, until(&a.valid)));
            }
        }
        for (title, items) in [
            ("transparency logs (Rekor)", &self.tlogs),
            ("certificate transparency logs", &self.ctlogs),
        ] {
            out.push_str(&format!("{title}:\n"));
            for l in items {
                out.push_str(&format!("  {} ({}): {}\n", l.url, l.key, until(&l.valid)));
            }
        }
        t.result(out.trim_end())
    }
}
