//! Judging gathered signatures: a pure function of the evidence, the context (digest,
//! repository, tag, clock) and the requirements.

use std::time::Duration;

use super::Context;
use super::check::{check, check_as, check_statement};
use super::gather::{Candidate, Evidence, Material};
use crate::bundle::{Bundle, Content, intoto, intoto::Statement};
use crate::payload::{self, SimpleSigning};
use crate::predicate_policy::{PredicatePolicy, Verdict};
use crate::report::{About, Finding, Rejection, Report, ValidSignature};
use crate::trust::{NamedKey, VerifyOptions, format_age};

/// Clock skew tolerated for signed timestamps from the future.
const MAX_FUTURE_SKEW: Duration = Duration::from_secs(300);

/// Decides which signatures count and whether that is enough.
pub(crate) fn decide(evidence: &Evidence, ctx: &Context, opts: &VerifyOptions) -> Report {
    let mut report = Report::new(
        ctx.reference.clone(),
        evidence.digest.clone(),
        ctx.tag.clone(),
    );
    if let Some(why) = evidence.absent() {
        report.find(Finding::artifact(why.clone()));
    }
    let mut valid = Vec::new();
    for c in &evidence.candidates {
        match check(c, evidence, ctx, opts) {
            Ok(v) => valid.push(v),
            Err(why) => report.find(Finding::new(About::Signature(c.index), why)),
        }
    }
    for sig in valid {
        match disqualify(&sig, ctx, opts) {
            None => report.count(sig),
            Some(why) => report.find(Finding::new(About::SignedBy(sig.key.clone()), why)),
        }
    }
    if let Some(short) = report.decide_by_threshold(opts.threshold) {
        report.find(Finding::artifact(short));
    }
    report
}

/// What one candidate claims about itself (read without trusting it), and what the
/// given keys make of it: `hallmark signatures`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Description {
    /// The statement's predicate type; cosign's signature type for legacy signatures.
    pub predicate_type: String,
    /// The key id of a given key that made it, else the one the bundle names (unchecked).
    pub key_id: Option<String>,
    /// True when `key_id` is a given key whose signature checks.
    pub key_id_verified: bool,
    /// The signed timestamp, as claimed.
    pub timestamp: Option<String>,
    /// The tags it binds, as claimed.
    pub bound_tags: Vec<String>,
    /// The repository it was made for, as claimed.
    pub signed_repository: Option<String>,
    /// The given keys (by name) it is a valid signature for, in this repository.
    pub valid_for: Vec<String>,
    /// Why it is valid for none of them (or unreadable), when it is not.
    pub problem: Option<String>,
}

/// Describes candidate `c` and judges it against each of `keys` in turn.
pub(crate) fn describe(
    c: &Candidate,
    evidence: &Evidence,
    ctx: &Context,
    keys: &[NamedKey],
) -> Description {
    let mut d = Description {
        predicate_type: intoto::COSIGN_SIGN_V1.to_string(),
        ..Description::default()
    };
    match &c.material {
        Err(why) => {
            d.problem = Some(why.to_string());
            return d;
        }
        Ok(Material::Legacy { payload, .. }) => {
            if let Ok(p) = SimpleSigning::parse(payload) {
                d.timestamp = p.optional_str(payload::TIMESTAMP_FIELD).map(str::to_string);
                d.bound_tags = p.bound_tags();
                d.signed_repository = Some(p.signed_repository());
            }
        }
        Ok(Material::Bundle { bundle, .. }) => {
            if let Ok(b) = Bundle::parse(bundle) {
                d.key_id = b
                    .verification_material
                    .public_key
                    .as_ref()
                    .and_then(|h| crate::keys::PublicKey::key_id_of_hint(&h.hint));
                if let Ok(Content::Dsse(e)) = b.content()
                    && let Ok(p) = e.payload_bytes()
                    && let Ok(st) = Statement::parse(&p)
                {
                    d.predicate_type.clone_from(&st.predicate_type);
                    if let [subject] = st.subject.as_slice() {
                        let text = |k: &str| subject.annotations.get(k).and_then(|v| v.as_str());
                        d.timestamp = text(payload::TIMESTAMP_FIELD).map(str::to_string);
                        d.bound_tags = text(payload::TAG_FIELD)
                            .map(payload::split_tags)
                            .unwrap_or_default();
                        d.signed_repository =
                            (!subject.name.is_empty()).then(|| subject.name.clone());
                    }
                }
            }
        }
    }
    for k in keys {
        let opts = VerifyOptions {
            keys: vec![k.clone()],
            ..VerifyOptions::default()
        };
        match check_as(c, evidence, ctx, &opts, &d.predicate_type) {
            // Only a signature that checks under this key is about it at all.
            Err(Rejection::NoTrustedKey) => continue,
            Ok(_) => d.valid_for.push(k.name.clone()),
            Err(why) => {
                d.problem.get_or_insert_with(|| why.to_string());
            }
        }
        d.key_id = Some(k.key.key_id());
        d.key_id_verified = true;
    }
    if !keys.is_empty() && !d.key_id_verified {
        d.problem = Some(Rejection::NoTrustedKey.to_string());
    }
    if !d.valid_for.is_empty() {
        d.problem = None;
    }
    d
}

/// An attestation that counts: who signed it and what it says.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Attested {
    /// The signature over it.
    #[serde(flatten)]
    pub signature: ValidSignature,
    /// The statement's predicate type.
    pub predicate_type: String,
    /// The verified predicate.
    pub predicate: serde_json::Value,
    /// The whole verified statement, as a `--policy` file reads it.
    #[serde(skip)]
    pub statement: serde_json::Value,
}

/// Judges the bundle candidates as attestations of `predicate_type`: the same checks as
/// a bundle signature, with the predicate type asked for instead of cosign's signature
/// type, and the requirements applied to each. Returns the report and the attestations
/// that count (verified when at least `threshold` distinct keys attested).
pub(crate) fn decide_attestations(
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
    predicate_type: &str,
) -> (Report, Vec<Attested>) {
    decide_attestations_under(evidence, ctx, opts, predicate_type, None)
}

/// [`decide_attestations`], then each attestation that counts judged by `policy` (the
/// in-toto statement as its input). As cosign does, one attestation the policy does not
/// allow denies them all: an older attestation that fails is not outvoted by a newer one.
pub(crate) fn decide_attestations_under(
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
    predicate_type: &str,
    policy: Option<&PredicatePolicy>,
) -> (Report, Vec<Attested>) {
    let (mut report, attested) = decide_attestations_unjudged(evidence, ctx, opts, predicate_type);
    let Some(policy) = policy else {
        return (report, attested);
    };
    let mut denied = false;
    for a in &attested {
        if let Verdict::Denied(why) = policy.evaluate(&a.statement) {
            denied = true;
            report.find(Finding::new(
                About::AttestedBy(a.signature.key.clone()),
                Rejection::PredicateDenied {
                    policy: policy.path().display().to_string(),
                    why,
                },
            ));
        }
    }
    if !denied {
        return (report, attested);
    }
    let mut judged = Report::new(
        ctx.reference.clone(),
        evidence.digest.clone(),
        ctx.tag.clone(),
    );
    for f in report.findings() {
        judged.find(f.clone());
    }
    let _rejected = judged.decide_by_threshold(opts.threshold);
    (judged, Vec::new())
}

fn decide_attestations_unjudged(
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
    predicate_type: &str,
) -> (Report, Vec<Attested>) {
    let mut report = Report::new(
        ctx.reference.clone(),
        evidence.digest.clone(),
        ctx.tag.clone(),
    );
    let mut attested = Vec::new();
    for c in &evidence.candidates {
        let Ok(Material::Bundle { bundle, .. }) = &c.material else {
            continue;
        };
        match check_statement(c, bundle, evidence, ctx, opts, predicate_type) {
            Ok((sig, statement)) => match disqualify(&sig, ctx, opts) {
                None => attested.push(Attested {
                    statement: serde_json::to_value(&statement).unwrap_or_default(),
                    signature: sig,
                    predicate_type: statement.predicate_type,
                    predicate: statement.predicate,
                }),
                Some(why) => report.find(Finding::new(About::AttestedBy(sig.key.clone()), why)),
            },
            Err(why) => report.find(Finding::new(About::Referrer(c.index), why)),
        }
    }
    if attested.is_empty() && report.findings().is_empty() {
        report.find(Finding::artifact(Rejection::NoAttestation(
            predicate_type.to_string(),
        )));
    }
    for a in &attested {
        report.count(a.signature.clone());
    }
    // Too few attesting keys goes unsaid, as it always has: the attestations are listed.
    let _too_few = report.decide_by_threshold(opts.threshold);
    (report, attested)
}

/// Why a valid signature does not count under `opts`, if it does not.
fn disqualify(sig: &ValidSignature, ctx: &Context, opts: &VerifyOptions) -> Option<Rejection> {
    if opts.require_tag_binding
        && let Some(tag) = &ctx.tag
        && !sig.bound_tags.iter().any(|t| t == tag)
    {
        return Some(Rejection::TagNotBound {
            tag: tag.clone(),
            bound: if sig.bound_tags.is_empty() {
                "none".into()
            } else {
                sig.bound_tags.join(", ")
            },
        });
    }
    for (k, want) in &opts.annotations {
        match sig.annotations.get(k) {
            Some(serde_json::Value::String(v)) if v == want => {}
            Some(v) => {
                return Some(Rejection::AnnotationDiffers {
                    key: k.clone(),
                    found: v.to_string(),
                    want: want.clone(),
                });
            }
            None => {
                return Some(Rejection::AnnotationMissing {
                    key: k.clone(),
                    want: want.clone(),
                });
            }
        }
    }
    if let Some(max_age) = opts.max_age {
        let Some(ts) = &sig.timestamp else {
            return Some(Rejection::NoTimestamp);
        };
        let Ok(signed) = humantime::parse_rfc3339_weak(ts) else {
            return Some(Rejection::BadTimestamp(ts.clone()));
        };
        if signed > ctx.now + MAX_FUTURE_SKEW {
            return Some(Rejection::FutureTimestamp(ts.clone()));
        }
        if ctx
            .now
            .duration_since(signed)
            .is_ok_and(|age| age > max_age)
        {
            return Some(Rejection::TooOld {
                signed: ts.clone(),
                max_age: format_age(max_age),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::*;
    use crate::digest::Digest;
    use crate::keys::{Algorithm, SigningKey};
    use crate::report::{Decision, SignatureFormat};
    use crate::trust::NamedKey;
    use std::time::SystemTime;

    const REPO: &str = "reg.example.com/team/app";

    /// (name, candidates, tag, options, verified, a fragment some error must contain)
    type Case<'a> = (
        &'a str,
        Vec<Candidate>,
        Option<&'a str>,
        VerifyOptions,
        bool,
        &'a str,
    );
    const DAY: Duration = Duration::from_secs(86400);

    struct World {
        a: SigningKey,
        b: SigningKey,
        digest: Digest,
        now: SystemTime,
    }

    fn world() -> World {
        World {
            a: SigningKey::generate(Algorithm::EcdsaP256).unwrap(),
            b: SigningKey::generate(Algorithm::Ed25519).unwrap(),
            digest: Digest::sha256(b"the image that was built"),
            now: humantime::parse_rfc3339("2026-06-01T12:00:00Z").unwrap(),
        }
    }

    /// A payload for `repo`/`digest` with optional fields, signed by `key`.
    fn signed(key: &SigningKey, repo: &str, digest: &str, optional: &[(&str, &str)]) -> Candidate {
        let optional: BTreeMap<String, serde_json::Value> = optional
            .iter()
            .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string())))
            .collect();
        let mut p = SimpleSigning::new(repo, &Digest::sha256(b"placeholder"), optional);
        p.critical.image.docker_manifest_digest = digest.to_string();
        let payload = p.to_bytes();
        Candidate {
            format: SignatureFormat::Legacy,
            index: 0,
            material: Ok(Material::Legacy {
                signature: key.sign(&payload).unwrap(),
                payload_digest: Digest::sha256(&payload),
                payload: Bytes::from(payload),
                sigstore: Default::default(),
            }),
        }
    }

    fn keys(w: &World, both: bool) -> Vec<NamedKey> {
        let mut k = vec![NamedKey {
            name: "a.pub".into(),
            key: w.a.public_key(),
        }];
        if both {
            k.push(NamedKey {
                name: "b.pub".into(),
                key: w.b.public_key(),
            });
        }
        k
    }

    fn judge(
        w: &World,
        candidates: Vec<Candidate>,
        tag: Option<&str>,
        opts: VerifyOptions,
    ) -> Report {
        let ev = Evidence::new(w.digest.clone(), candidates);
        let ctx = Context {
            reference: format!("{REPO}@{}", w.digest),
            identity: REPO.into(),
            tag: tag.map(str::to_string),
            now: w.now,
        };
        decide(&ev, &ctx, &opts)
    }

    fn ts(w: &World, offset_secs: i64) -> String {
        let t = if offset_secs >= 0 {
            w.now + Duration::from_secs(offset_secs as u64)
        } else {
            w.now - Duration::from_secs((-offset_secs) as u64)
        };
        humantime::format_rfc3339_seconds(t).to_string()
    }

    #[test]
    fn decisions() {
        let w = world();
        let d = w.digest.to_string();
        let one = || VerifyOptions {
            keys: keys(&w, false),
            ..VerifyOptions::default()
        };
        let two = || VerifyOptions {
            keys: keys(&w, true),
            threshold: 2,
            ..VerifyOptions::default()
        };
        let aged = |days: u64| VerifyOptions {
            max_age: Some(DAY * days as u32),
            ..one()
        };
        let bound = || VerifyOptions {
            require_tag_binding: true,
            ..one()
        };
        let annotated = || VerifyOptions {
            annotations: BTreeMap::from([("env".to_string(), "prod".to_string())]),
            ..one()
        };
        let mirrored = || VerifyOptions {
            identities: vec!["mirror.example.com/**".into()],
            ..one()
        };
        let mut tampered = signed(&w.a, REPO, &d, &[]);
        if let Ok(Material::Legacy { payload, .. }) = &mut tampered.material {
            let mut p = payload.to_vec();
            p[20] ^= 1;
            *payload = Bytes::from(p);
        }
        let not_json = {
            let payload = b"not a payload".to_vec();
            Candidate {
                format: SignatureFormat::Legacy,
                index: 0,
                material: Ok(Material::Legacy {
                    signature: w.a.sign(&payload).unwrap(),
                    payload_digest: Digest::sha256(&payload),
                    payload: Bytes::from(payload),
                    sigstore: Default::default(),
                }),
            }
        };
        // (name, candidates, tag, options, verified, expected error fragment)
        let cases: Vec<Case<'_>> = vec![
            (
                "valid",
                vec![signed(&w.a, REPO, &d, &[])],
                None,
                one(),
                true,
                "",
            ),
            ("nothing", vec![], None, one(), false, ""),
            (
                "wrong key",
                vec![signed(&w.b, REPO, &d, &[])],
                None,
                one(),
                false,
                "not signed by any of the given keys",
            ),
            (
                "tampered payload",
                vec![tampered],
                None,
                one(),
                false,
                "not signed by any",
            ),
            (
                "not a payload",
                vec![not_json],
                None,
                one(),
                false,
                "invalid simple-signing payload",
            ),
            (
                "other digest",
                vec![signed(
                    &w.a,
                    REPO,
                    &Digest::sha256(b"evil").to_string(),
                    &[],
                )],
                None,
                one(),
                false,
                "copied from another image",
            ),
            (
                "other repository",
                vec![signed(&w.a, "reg.example.com/other", &d, &[])],
                None,
                one(),
                false,
                "copied from another repository",
            ),
            (
                "mirror allowed",
                vec![signed(&w.a, "mirror.example.com/x/app", &d, &[])],
                None,
                mirrored(),
                true,
                "",
            ),
            (
                "mirror not allowed",
                vec![signed(&w.a, "evil.example.com/app", &d, &[])],
                None,
                mirrored(),
                false,
                "another repository",
            ),
            (
                "fresh",
                vec![signed(&w.a, REPO, &d, &[("timestamp", &ts(&w, -3600))])],
                None,
                aged(90),
                true,
                "",
            ),
            (
                "expired",
                vec![signed(
                    &w.a,
                    REPO,
                    &d,
                    &[("timestamp", &ts(&w, -91 * 86400))],
                )],
                None,
                aged(90),
                false,
                "older than the maximum age of 90d",
            ),
            (
                "slightly ahead",
                vec![signed(&w.a, REPO, &d, &[("timestamp", &ts(&w, 60))])],
                None,
                aged(1),
                true,
                "",
            ),
            (
                "future",
                vec![signed(&w.a, REPO, &d, &[("timestamp", &ts(&w, 3600))])],
                None,
                aged(1),
                false,
                "in the future",
            ),
            (
                "no timestamp",
                vec![signed(&w.a, REPO, &d, &[])],
                None,
                aged(1),
                false,
                "no signed timestamp",
            ),
            (
                "bad timestamp",
                vec![signed(&w.a, REPO, &d, &[("timestamp", "yesterday")])],
                None,
                aged(1),
                false,
                "not RFC 3339",
            ),
            (
                "tag bound",
                vec![signed(&w.a, REPO, &d, &[("tag", "v1, latest")])],
                Some("latest"),
                bound(),
                true,
                "",
            ),
            (
                "tag bound by skopeo identity",
                vec![signed(&w.a, &format!("{REPO}:v1"), &d, &[])],
                Some("v1"),
                bound(),
                true,
                "",
            ),
            (
                "tag not bound",
                vec![signed(&w.a, REPO, &d, &[("tag", "v1")])],
                Some("v2"),
                bound(),
                false,
                "rolled back",
            ),
            (
                "tag ignored unless required",
                vec![signed(&w.a, REPO, &d, &[("tag", "v1")])],
                Some("v2"),
                one(),
                true,
                "",
            ),
            (
                "annotation",
                vec![signed(&w.a, REPO, &d, &[("env", "prod")])],
                None,
                annotated(),
                true,
                "",
            ),
            (
                "annotation differs",
                vec![signed(&w.a, REPO, &d, &[("env", "dev")])],
                None,
                annotated(),
                false,
                "annotation env is \"dev\"",
            ),
            (
                "annotation missing",
                vec![signed(&w.a, REPO, &d, &[])],
                None,
                annotated(),
                false,
                "annotation env is missing",
            ),
            (
                "threshold met",
                vec![signed(&w.a, REPO, &d, &[]), signed(&w.b, REPO, &d, &[])],
                None,
                two(),
                true,
                "",
            ),
            (
                "duplicate key",
                vec![
                    signed(&w.a, REPO, &d, &[]),
                    signed(&w.a, REPO, &d, &[("x", "y")]),
                ],
                None,
                two(),
                false,
                "1 distinct key(s) signed, 2 required",
            ),
            (
                "one good among bad",
                vec![signed(&w.b, REPO, &d, &[]), signed(&w.a, REPO, &d, &[])],
                None,
                one(),
                true,
                "not signed by any",
            ),
        ];
        for (name, candidates, tag, opts, verified, fragment) in cases {
            let r = judge(&w, candidates, tag, opts);
            let errors = r.error_lines();
            assert_eq!(r.verified(), verified, "{name}: {errors:?}");
            assert_eq!(r.allowed(), verified, "{name}: {errors:?}");
            assert!(
                fragment.is_empty() || errors.iter().any(|e| e.contains(fragment)),
                "{name}: no error contains {fragment:?}: {errors:?}"
            );
            if verified {
                assert_eq!(r.decision(), &Decision::Verified, "{name}");
                assert!(!r.signatures().is_empty(), "{name}");
            } else {
                assert_eq!(r.decision(), &Decision::Rejected, "{name}");
            }
            assert_eq!(r.digest(), &w.digest, "{name}");
        }
    }

    /// A signed payload whose `optional` object repeats `tag`: a last-wins reader sees the
    /// tag the verifier asks for, though the signer may have meant the first.
    #[test]
    fn a_signed_payload_with_a_repeated_key_counts_for_nothing() {
        let w = world();
        let payload = format!(
            r#"{{"critical":{{"identity":{{"docker-reference":"{REPO}"}},"image":{{"docker-manifest-digest":"{}"}},"type":"{}"}},"optional":{{"tag":"v1","tag":"v2"}}}}"#,
            w.digest,
            payload::SIGNATURE_TYPE
        );
        let candidate = Candidate {
            format: SignatureFormat::Legacy,
            index: 0,
            material: Ok(Material::Legacy {
                signature: w.a.sign(payload.as_bytes()).unwrap(),
                payload_digest: Digest::sha256(payload.as_bytes()),
                payload: Bytes::from(payload.clone()),
                sigstore: Default::default(),
            }),
        };
        let opts = VerifyOptions {
            keys: keys(&w, false),
            require_tag_binding: true,
            ..VerifyOptions::default()
        };
        for tag in ["v1", "v2"] {
            let r = judge(&w, vec![candidate.clone()], Some(tag), opts.clone());
            assert!(!r.verified(), "{tag}");
            assert!(
                r.error_lines()
                    .iter()
                    .any(|e| e.contains("invalid simple-signing payload: duplicate key \"tag\"")),
                "{:?}",
                r.error_lines()
            );
        }
        // The same claims, each key once, verify: only the repetition is refused.
        let once = payload.replace(r#""tag":"v1","tag":"v2""#, r#""tag":"v1, v2""#);
        let candidate = Candidate {
            format: SignatureFormat::Legacy,
            index: 0,
            material: Ok(Material::Legacy {
                signature: w.a.sign(once.as_bytes()).unwrap(),
                payload_digest: Digest::sha256(once.as_bytes()),
                payload: Bytes::from(once),
                sigstore: Default::default(),
            }),
        };
        assert!(judge(&w, vec![candidate], Some("v2"), opts).verified());
    }

    #[test]
    fn unreadable_candidates_and_absence_are_reported() {
        let w = world();
        let mut ev = Evidence::new(
            w.digest.clone(),
            vec![Candidate {
                format: SignatureFormat::Legacy,
                index: 3,
                material: Err(Rejection::PayloadMissing(Digest::sha256(b"p"))),
            }],
        );
        ev.absent = Some(Rejection::NoSignatureLayer);
        let ctx = Context {
            reference: "r".into(),
            identity: REPO.into(),
            tag: None,
            now: w.now,
        };
        let opts = VerifyOptions {
            keys: keys(&w, false),
            ..VerifyOptions::default()
        };
        let r = decide(&ev, &ctx, &opts);
        assert!(!r.verified());
        let errors = r.error_lines();
        assert!(errors[0].contains("no simple-signing layer"), "{errors:?}");
        assert!(
            errors[1].starts_with("signature 3: payload blob"),
            "{errors:?}"
        );
        assert_eq!(r.findings()[1].about(), &About::Signature(3));
    }
}
