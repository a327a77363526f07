//! `demo`: the steps of the scenario and how each turned out
//! (docs/schema/demo.schema.json).

use hallmark::demo::{Actor, Outcome as Happened, Step};
use hallmark::digest::Digest;
use serde::Serialize;

use super::error::class_name;
use super::{Render, Text, V1};
use crate::exit;

/// `demo`'s document.
#[derive(Serialize)]
pub struct DemoResult {
    version: V1,
    passed: bool,
    steps: Vec<StepOut>,
    /// The registry repositories the demo created (none without --registry).
    repositories: Vec<String>,
    /// Whether they were removed afterwards.
    removed: bool,
}

#[derive(Serialize)]
struct StepOut {
    act: u8,
    actor: &'static str,
    action: String,
    outcome: OutcomeOut,
    as_expected: bool,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum OutcomeOut {
    Tagged {
        digest: String,
        poisoned: bool,
    },
    Signed {
        digest: String,
        poisoned: bool,
        signature: String,
    },
    Refused {
        class: &'static str,
        message: String,
    },
    Verified {
        digest: String,
        reference: String,
        poisoned: bool,
    },
    NotVerified {
        digest: String,
        reasons: Vec<String>,
    },
}

fn actor(a: Actor) -> &'static str {
    match a {
        Actor::Ci => "ci",
        Actor::Attacker => "attacker",
        Actor::Consumer => "consumer",
    }
}

fn outcome(o: &Happened) -> OutcomeOut {
    match o {
        Happened::Tagged { digest, poisoned } => OutcomeOut::Tagged {
            digest: digest.to_string(),
            poisoned: *poisoned,
        },
        Happened::Signed {
            digest,
            poisoned,
            signature,
        } => OutcomeOut::Signed {
            digest: digest.to_string(),
            poisoned: *poisoned,
            signature: signature.clone(),
        },
        Happened::Refused { class, message } => OutcomeOut::Refused {
            class: class_name(*class),
            message: message.clone(),
        },
        Happened::Verified {
            digest,
            reference,
            poisoned,
        } => OutcomeOut::Verified {
            digest: digest.to_string(),
            reference: reference.clone(),
            poisoned: *poisoned,
        },
        Happened::NotVerified { digest, reasons } => OutcomeOut::NotVerified {
            digest: digest.to_string(),
            reasons: reasons.clone(),
        },
    }
}

impl DemoResult {
    pub fn new(steps: &[Step], repositories: Vec<String>, removed: bool) -> DemoResult {
        DemoResult {
            version: V1,
            passed: steps.iter().all(|s| s.as_expected),
            steps: steps
                .iter()
                .map(|s| StepOut {
                    act: s.act,
                    actor: actor(s.actor),
                    action: s.action.clone(),
                    outcome: outcome(&s.outcome),
                    as_expected: s.as_expected,
                })
                .collect(),
            repositories,
            removed,
        }
    }

    pub fn passed(&self) -> bool {
        self.passed
    }
}

impl Render for DemoResult {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        if self.passed {
            t.say("\nResult: signing by tag signed the poisoned image; hallmark refused the tag, signed the");
            t.say("digest that was built, and only the pinned digest verifies. Every step behaved as expected.");
        }
        Ok(())
    }
}

fn short(d: &Digest) -> String {
    format!("sha256:{}…", &d.hex()[..12])
}

fn describe(o: &Happened) -> String {
    let which = |poisoned: bool| if poisoned { "POISONED" } else { "good" };
    match o {
        Happened::Tagged { digest, poisoned } => {
            format!("tag now names {} ({})", short(digest), which(*poisoned))
        }
        Happened::Signed {
            digest,
            poisoned,
            signature,
        } => format!(
            "signed {}: the {} image → signature {signature}",
            short(digest),
            which(*poisoned)
        ),
        Happened::Refused { class, message } => {
            format!("refused (exit {}): {message}", exit::code(*class))
        }
        Happened::Verified {
            reference,
            poisoned: true,
            ..
        } => format!("verified {reference}: the poisoned image is trusted"),
        Happened::Verified { reference, .. } => format!("verified; pull exactly {reference}"),
        Happened::NotVerified { digest, .. } => {
            format!("NOT verified (exit 1): {} is unsigned", short(digest))
        }
    }
}

/// One step as it happens, on stderr; `act` is the act of the step before it.
pub fn step(t: &mut Text<'_>, s: &Step, act: u8) {
    if s.act != act {
        t.say(match s.act {
            1 => "\nAct 1: the naive pipeline pushes app:v1.1, then signs it by tag",
            _ => "\nAct 2: the same race, with hallmark",
        });
    }
    let mark = if s.as_expected { "ok " } else { "!! " };
    t.say(format!(
        "  {mark}[{:<8}] {}\n               → {}",
        actor(s.actor),
        s.action,
        describe(&s.outcome)
    ));
}
