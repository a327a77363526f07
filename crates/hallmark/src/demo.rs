//! The attack and the defence, end to end, as a sequence of checked steps.
//!
//! Act 1 is the naive pipeline: push `app:v1.1`, sign by tag. An attacker with registry
//! write access swaps the tag in between, and the signer signs the poisoned image.
//! Act 2 runs the same race against hallmark. Each step records what happened, and
//! whether that is what the story needs is decided from what happened (what the tag
//! resolves to, which digest was signed, what was verified), never assumed.

use crate::class::ErrorClass;
use crate::digest::Digest;
use crate::image::Image;
use crate::keyless::IdentityToken;
use crate::keys::{Algorithm, SigningKey};
use crate::sign::{self, SignOptions};
use crate::signer::{Signer, Sigstore};
use crate::sigstore::identity::{IdentityPolicy, Matcher};
use crate::store::{Store, Target};
use crate::trust::{NamedKey, VerifyOptions};
use crate::verify;
use crate::{Error, report::Report};

const TAG: &str = "v1.1";

/// A signing attempt: target, options, what it says, and whether the result is the one
/// the story needs.
type SignAttempt<'a> = (
    Target,
    SignOptions,
    String,
    Box<dyn Fn(&Result<sign::Signed, Error>) -> bool + 'a>,
);
/// A verification attempt: target, what it says, and whether the report is the one the
/// story needs.
type VerifyAttempt<'a> = (Target, String, Box<dyn Fn(&Report) -> bool + 'a>);

/// Who acts in a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// The build pipeline.
    Ci,
    /// Someone with write access to the registry.
    Attacker,
    /// Whoever pulls and deploys.
    Consumer,
}

/// What a step did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The tag now names `digest`.
    Tagged {
        /// What the tag resolves to after the push.
        digest: Digest,
        /// Whether that is the poisoned image.
        poisoned: bool,
    },
    /// A signature was written for `digest`.
    Signed {
        /// The signed digest.
        digest: Digest,
        /// Whether that is the poisoned image.
        poisoned: bool,
        /// Where the signature is.
        signature: String,
    },
    /// The operation refused.
    Refused {
        /// The kind of refusal.
        class: ErrorClass,
        /// Its message.
        message: String,
    },
    /// Verification passed.
    Verified {
        /// The digest verified.
        digest: Digest,
        /// What to pull.
        reference: String,
        /// Whether that is the poisoned image.
        poisoned: bool,
    },
    /// Verification said no.
    NotVerified {
        /// The digest looked at.
        digest: Digest,
        /// Why.
        reasons: Vec<String>,
    },
}

/// One step of the demo.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// 1: the naive pipeline; 2: hallmark.
    pub act: u8,
    /// Who acts.
    pub actor: Actor,
    /// What they do.
    pub action: String,
    /// What happened.
    pub outcome: Outcome,
    /// Whether the outcome is the one the story needs (for act 1: the attack works).
    pub as_expected: bool,
}

/// Runs both acts. `naive` and `guarded` are two empty repositories.
pub async fn run(
    naive: Store,
    guarded: Store,
    on_step: impl FnMut(&Step),
) -> Result<Vec<Step>, Error> {
    let key = SigningKey::generate(Algorithm::EcdsaP256)?;
    let opts = VerifyOptions {
        keys: vec![NamedKey {
            name: "ci-release.pub".into(),
            key: key.public_key(),
        }],
        ..Default::default()
    };
    run_as(naive, guarded, Signer::Key(&key), opts, on_step).await
}

/// Both acts with the pipeline signing keyless (cosign 3's bundle: certificate, timestamp,
/// log entry) as the token's identity, and the consumer trusting that identity (as the
/// certificate names it, at the token's issuer) under `sigstore`'s root. The race is the
/// same, and so is the defence: the tag is resolved and compared before any service is
/// asked for anything.
pub async fn run_keyless(
    naive: Store,
    guarded: Store,
    token: &IdentityToken,
    sigstore: &Sigstore,
    on_step: impl FnMut(&Step),
) -> Result<Vec<Step>, Error> {
    let opts = VerifyOptions {
        keyless: vec![IdentityPolicy::new(
            Matcher::Exact(token.claims.subject.clone()),
            Matcher::Exact(token.claims.issuer.clone()),
        )],
        root: std::sync::Arc::new(sigstore.root.clone()),
        ..Default::default()
    };
    run_as(
        naive,
        guarded,
        Signer::Keyless(token, sigstore),
        opts,
        on_step,
    )
    .await
}

async fn run_as(
    naive: Store,
    guarded: Store,
    signer: Signer<'_>,
    mut opts: VerifyOptions,
    mut on_step: impl FnMut(&Step),
) -> Result<Vec<Step>, Error> {
    // A key signs cosign's legacy layers, as the demo always has; a keyless signature is a
    // bundle, the only form that carries its Rekor v2 entry.
    let format = match signer {
        Signer::Key(_) => sign::SignatureFormat::Legacy,
        _ => sign::SignatureFormat::Bundle,
    };
    let base = || SignOptions {
        format,
        ..SignOptions::default()
    };
    let mut steps = Vec::new();
    let mut record = |act: u8, actor: Actor, action: String, outcome: Outcome, ok: bool| {
        let s = Step {
            act,
            actor,
            action,
            outcome,
            as_expected: ok,
        };
        on_step(&s);
        steps.push(s);
    };

    for (act, store) in [(1u8, &naive), (2u8, &guarded)] {
        let good = Image::random("good build", 4096)?;
        let evil = Image::random("POISONED build", 4096)?;
        let poisoned = |d: &Digest| d == evil.digest();
        let by_tag = Target {
            store: store.clone(),
            signatures: store.clone(),
            tag: Some(TAG.into()),
            digest: None,
        };
        let pinned = |d: &Digest| Target {
            tag: None,
            digest: Some(d.clone()),
            ..by_tag.clone()
        };

        let pushes = [
            (
                &good,
                Actor::Ci,
                format!("build and push {}", store.tagged(TAG)),
            ),
            (
                &evil,
                Actor::Attacker,
                format!("push a poisoned image and move {TAG} to it"),
            ),
        ];
        for (image, actor, action) in pushes {
            image.push(store, Some(TAG)).await?;
            let now = verify::resolve(&by_tag).await?.digest;
            let ok = &now == image.digest();
            let outcome = Outcome::Tagged {
                poisoned: poisoned(&now),
                digest: now,
            };
            record(act, actor, action, outcome, ok);
        }

        let (signs, verifies): (Vec<SignAttempt<'_>>, Vec<VerifyAttempt<'_>>) = if act == 1 {
            // What a tag-based signer does: ask the registry what the tag means today.
            let resolved = verify::resolve(&by_tag).await?.digest;
            (
                vec![(
                    pinned(&resolved),
                    base(),
                    format!("sign {} by tag (the naive way)", store.tagged(TAG)),
                    Box::new(|r| matches!(r, Ok(s) if poisoned(&s.digest))),
                )],
                vec![(
                    by_tag.clone(),
                    format!("verify {}", store.tagged(TAG)),
                    Box::new(|v| v.verified() && poisoned(v.digest())),
                )],
            )
        } else {
            let expecting = SignOptions {
                expect_digest: Some(good.digest().clone()),
                ..base()
            };
            (
                vec![
                    (
                        by_tag.clone(),
                        base(),
                        format!("hallmark sign {}", store.tagged(TAG)),
                        Box::new(|r| matches!(r, Err(e) if e.class() == ErrorClass::Usage)),
                    ),
                    (
                        by_tag.clone(),
                        expecting,
                        format!(
                            "hallmark sign {} --expect-digest {}",
                            store.tagged(TAG),
                            good.digest()
                        ),
                        Box::new(|r| matches!(r, Err(e) if e.class() == ErrorClass::Drift)),
                    ),
                    (
                        pinned(good.digest()),
                        base(),
                        format!("hallmark sign {}", store.pinned(good.digest())),
                        Box::new(|r| matches!(r, Ok(s) if &s.digest == good.digest())),
                    ),
                ],
                vec![
                    (
                        by_tag.clone(),
                        format!("hallmark verify {}", store.tagged(TAG)),
                        Box::new(|v| !v.verified()),
                    ),
                    (
                        pinned(good.digest()),
                        format!("hallmark verify {}", store.pinned(good.digest())),
                        Box::new(|v| v.verified() && v.digest() == good.digest()),
                    ),
                ],
            )
        };
        for (target, sign_opts, action, check) in signs {
            let r = sign::sign_with(&target, signer, &sign_opts).await;
            // The consumer trusts the identity Fulcio certified, which for a workflow is
            // not the token's subject; the naive act signs first, so it is known before
            // anything is verified.
            if let Ok(sign::Signed {
                keyless: Some(identity),
                ..
            }) = &r
                && let Some(issuer) = &identity.issuer
            {
                opts.keyless = vec![IdentityPolicy::new(
                    Matcher::Exact(identity.subject.clone()),
                    Matcher::Exact(issuer.clone()),
                )];
            }
            let ok = check(&r);
            record(act, Actor::Ci, action, outcome_of_sign(r, &poisoned), ok);
        }
        for (target, action, check) in verifies {
            let v = verify::verify(&target, &opts).await?.report().clone();
            let ok = check(&v);
            record(
                act,
                Actor::Consumer,
                action,
                outcome_of_verify(v, &poisoned),
                ok,
            );
        }
    }
    Ok(steps)
}

fn outcome_of_sign(r: Result<sign::Signed, Error>, poisoned: &dyn Fn(&Digest) -> bool) -> Outcome {
    match r {
        Ok(s) => Outcome::Signed {
            poisoned: poisoned(&s.digest),
            digest: s.digest,
            signature: s.signature,
        },
        Err(e) => Outcome::Refused {
            class: e.class(),
            message: e.to_string(),
        },
    }
}

fn outcome_of_verify(r: Report, poisoned: &dyn Fn(&Digest) -> bool) -> Outcome {
    if r.verified() {
        Outcome::Verified {
            poisoned: poisoned(r.digest()),
            digest: r.digest().clone(),
            reference: r.reference().to_string(),
        }
    } else {
        Outcome::NotVerified {
            digest: r.digest().clone(),
            reasons: r.error_lines(),
        }
    }
}
