//! What a user can do about a reason a signature did not count. The library states the
//! fact; the flags that change it are this command line's, so the advice is said here.

use hallmark::report::{Finding, Rejection, Report};

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

/// Every finding of `report` as a line, with advice.
pub fn lines(report: &Report) -> Vec<String> {
    report.findings().iter().map(line).collect()
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
    }
}
