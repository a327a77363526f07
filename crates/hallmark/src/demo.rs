//! The attack and the defence, end to end, as a sequence of checked steps.
//!
//! Act 1 is the naive pipeline: push `app:v1.1`, sign by tag. An attacker with registry
//! write access swaps the tag in between, and the signer signs the poisoned image.
//! Act 2 runs the same race against hallmark. Each step records what happened and
//! whether that is what should happen; the demo passes only if every step does.

use crate::Error;
use crate::image::Image;
use crate::keys::{Algorithm, SigningKey};
use crate::sign::{self, SignOptions};
use crate::store::{Store, Target};
use crate::verify::{self, NamedKey, VerifyOptions};

const TAG: &str = "v1.1";

/// One step of the demo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub act: u8,
    /// Who acts: "ci", "attacker", "consumer".
    pub actor: &'static str,
    pub action: String,
    pub outcome: String,
    /// Whether the outcome is the one the story needs (for act 1: the attack works).
    pub as_expected: bool,
}

/// Runs both acts. `naive` and `guarded` are two empty repositories.
pub async fn run(
    naive: Store,
    guarded: Store,
    mut on_step: impl FnMut(&Step),
) -> Result<Vec<Step>, Error> {
    let key = SigningKey::generate(Algorithm::EcdsaP256)?;
    let keys = vec![NamedKey {
        name: "ci-release.pub".into(),
        key: key.public_key(),
    }];
    let mut steps = Vec::new();
    let mut record = |s: Step| {
        on_step(&s);
        steps.push(s);
    };
    let short = |d: &crate::digest::Digest| format!("sha256:{}…", &d.hex()[..12]);

    // Act 1: sign by tag.
    let good = Image::random("good build", 4096)?;
    let evil = Image::random("POISONED build", 4096)?;
    good.push(&naive, Some(TAG)).await?;
    record(Step {
        act: 1,
        actor: "ci",
        action: format!("build and push {}", naive.tagged(TAG)),
        outcome: format!("{} (good)", short(good.digest())),
        as_expected: true,
    });
    evil.push(&naive, Some(TAG)).await?;
    record(Step {
        act: 1,
        actor: "attacker",
        action: format!("push a poisoned image and move {TAG} to it"),
        outcome: format!("{} (poisoned)", short(evil.digest())),
        as_expected: true,
    });
    // What a tag-based signer does: ask the registry what the tag means today.
    let resolved = naive.get_manifest(TAG).await?.map(|m| m.digest);
    let naive_target = Target {
        store: naive.clone(),
        signatures: naive.clone(),
        tag: None,
        digest: resolved.clone(),
    };
    let signed = sign::sign(&naive_target, &key, &SignOptions::default()).await?;
    record(Step {
        act: 1,
        actor: "ci",
        action: format!("sign {} by tag (the naive way)", naive.tagged(TAG)),
        outcome: format!(
            "signed {}: the {} image",
            short(&signed.digest),
            if &signed.digest == evil.digest() {
                "POISONED"
            } else {
                "good"
            }
        ),
        as_expected: &signed.digest == evil.digest(),
    });
    let tag_target = Target {
        store: naive.clone(),
        signatures: naive.clone(),
        tag: Some(TAG.into()),
        digest: None,
    };
    let report = verify::verify(
        &tag_target,
        &VerifyOptions {
            keys: keys.clone(),
            ..Default::default()
        },
    )
    .await?;
    record(Step {
        act: 1,
        actor: "consumer",
        action: format!("verify {}", naive.tagged(TAG)),
        outcome: if report.verified {
            format!(
                "verified {}: the poisoned image is trusted",
                short(&report.digest)
            )
        } else {
            "not verified".into()
        },
        as_expected: report.verified && &report.digest == evil.digest(),
    });

    // Act 2: the same race against hallmark.
    let good = Image::random("good build", 4096)?;
    let evil = Image::random("POISONED build", 4096)?;
    good.push(&guarded, Some(TAG)).await?;
    record(Step {
        act: 2,
        actor: "ci",
        action: format!(
            "build and push {}, keeping the digest it built",
            guarded.tagged(TAG)
        ),
        outcome: format!("{} (good)", short(good.digest())),
        as_expected: true,
    });
    evil.push(&guarded, Some(TAG)).await?;
    record(Step {
        act: 2,
        actor: "attacker",
        action: format!("push a poisoned image and move {TAG} to it"),
        outcome: format!("{} (poisoned)", short(evil.digest())),
        as_expected: true,
    });
    let by_tag = Target {
        store: guarded.clone(),
        signatures: guarded.clone(),
        tag: Some(TAG.into()),
        digest: None,
    };
    let refused = sign::sign(&by_tag, &key, &SignOptions::default()).await;
    record(Step {
        act: 2,
        actor: "ci",
        action: format!("hallmark sign {}", guarded.tagged(TAG)),
        outcome: outcome_of(&refused),
        as_expected: matches!(&refused, Err(e) if e.class() == crate::ErrorClass::Usage),
    });
    let expecting = SignOptions {
        expect_digest: Some(good.digest().clone()),
        ..SignOptions::default()
    };
    let drift = sign::sign(&by_tag, &key, &expecting).await;
    record(Step {
        act: 2,
        actor: "ci",
        action: format!(
            "hallmark sign {} --expect-digest {}",
            guarded.tagged(TAG),
            short(good.digest())
        ),
        outcome: outcome_of(&drift),
        as_expected: matches!(&drift, Err(e) if e.class() == crate::ErrorClass::Drift),
    });
    let by_digest = Target {
        digest: Some(good.digest().clone()),
        tag: None,
        ..by_tag.clone()
    };
    let signed = sign::sign(&by_digest, &key, &SignOptions::default()).await;
    record(Step {
        act: 2,
        actor: "ci",
        action: format!("hallmark sign {}", guarded.pinned(good.digest())),
        outcome: outcome_of(&signed),
        as_expected: matches!(&signed, Ok(s) if &s.digest == good.digest()),
    });
    let opts = VerifyOptions {
        keys,
        ..Default::default()
    };
    let swapped = verify::verify(&by_tag, &opts).await?;
    record(Step {
        act: 2,
        actor: "consumer",
        action: format!("hallmark verify {}", guarded.tagged(TAG)),
        outcome: if swapped.verified {
            "verified".into()
        } else {
            format!(
                "NOT verified (exit 1): {} is unsigned",
                short(&swapped.digest)
            )
        },
        as_expected: !swapped.verified,
    });
    let pinned = verify::verify(&by_digest, &opts).await?;
    record(Step {
        act: 2,
        actor: "consumer",
        action: format!("hallmark verify {}", guarded.pinned(good.digest())),
        outcome: if pinned.verified {
            format!("verified; pull exactly {}", pinned.reference)
        } else {
            format!("NOT verified: {}", pinned.errors.join("; "))
        },
        as_expected: pinned.verified && &pinned.digest == good.digest(),
    });
    Ok(steps)
}

fn outcome_of(r: &Result<sign::Signed, Error>) -> String {
    match r {
        Ok(s) => format!(
            "signed sha256:{}… → signature {}",
            &s.digest.hex()[..12],
            s.signature
        ),
        Err(e) => format!("refused (exit {}): {e}", e.class().exit_code()),
    }
}
