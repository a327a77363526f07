//! What a user can do about a reason a signature did not count. The library states the
//! fact; the flags that change it are this command line's, so the advice is said here.

use hallmark::report::{Finding, Rejection};
use hallmark::sigstore::verify::Refusal;

/// The flag or file that would make `why` count, if the user trusts what it names.
pub fn advice(why: &Rejection) -> Option<String> {
    match why {
        Rejection::Keyless(_) => Some(
            "trust it with --certificate-identity and --certificate-oidc-issuer, or a policy rule's identities"
                .into(),
        ),
        Rejection::WrongRepository { signed, identity }
            if signed.starts_with("oci:") && identity.starts_with("oci:") =>
        {
            Some(format!(
                "if you moved it, accept its old place with --identity {signed}"
            ))
        }
        Rejection::WrongRepository { signed, .. } => Some(format!(
            "if {signed} is a mirror you trust, accept it with --identity {signed}"
        )),
        Rejection::Sigstore(refusal) => match refusal.as_ref() {
            Refusal::KeylessBundle => {
                Some("name them with --certificate-identity and --certificate-oidc-issuer".into())
            }
            Refusal::KeyBundle => Some("name it with --key".into()),
            Refusal::NoTlogEntry => Some("--insecure-ignore-tlog skips this check".into()),
            _ => None,
        },
        Rejection::TagMovedAfterSigning(_) => moved_hint(why),
        // A policy's required attestation: what would make its attestations count.
        Rejection::AttestationRequired { findings, .. } => {
            let all = hints(findings);
            (!all.is_empty()).then(|| all.join("; "))
        }
        _ => None,
    }
}

/// What to do about a tag moved after signing: use what was signed, or sign what the tag
/// names now if it was moved on purpose.
pub fn moved_hint(why: &Rejection) -> Option<String> {
    match why {
        Rejection::TagMovedAfterSigning(m) => Some(format!(
            "use {}, which was signed; if {} was moved on purpose, sign what it names now with --bind-tag",
            m.from_reference, m.tag
        )),
        _ => None,
    }
}

/// One finding as a line, with the advice when there is any.
pub fn line(finding: &Finding) -> String {
    match advice(finding.reason()) {
        Some(advice) => format!("{finding}; {advice}"),
        None => finding.to_string(),
    }
}

/// The advice for many findings (a scan's tags, pin's references), each said once.
pub fn hints<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for a in findings.into_iter().filter_map(|f| advice(f.reason())) {
        if !all.contains(&a) {
            all.push(a);
        }
    }
    all
}

/// Every finding of a blob verification as a line, with advice, then its notes.
pub fn blob_lines(report: &hallmark::blob::BlobReport) -> Vec<String> {
    let findings = report.findings();
    findings
        .iter()
        .map(line)
        .chain(report.error_lines().into_iter().skip(findings.len()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flag_is_advised_where_one_helps_and_only_there() {
        let keyless = advice(&Rejection::Keyless("ci@example.com".into())).unwrap();
        assert!(keyless.contains("--certificate-identity"), "{keyless}");
        let mirror = advice(&Rejection::WrongRepository {
            signed: "mirror.example.com/app".into(),
            identity: "reg.example.com/app".into(),
        })
        .unwrap();
        assert!(
            mirror.contains("mirror you trust, accept it with --identity mirror.example.com/app"),
            "{mirror}"
        );
        let moved = advice(&Rejection::WrongRepository {
            signed: "oci:/old".into(),
            identity: "oci:/new".into(),
        })
        .unwrap();
        assert!(
            moved.contains("accept its old place with --identity oci:/old"),
            "{moved}"
        );
        assert_eq!(advice(&Rejection::NoTrustedKey), None);
        let sigstore = |r| advice(&Rejection::Sigstore(std::sync::Arc::new(r)));
        assert!(sigstore(Refusal::KeyBundle).unwrap().contains("--key"));
        assert!(
            sigstore(Refusal::KeylessBundle)
                .unwrap()
                .contains("--certificate-oidc-issuer")
        );
        assert!(
            sigstore(Refusal::NoTlogEntry)
                .unwrap()
                .contains("--insecure-ignore-tlog")
        );
        assert_eq!(sigstore(Refusal::NotSignedByKeys), None);
    }
}
