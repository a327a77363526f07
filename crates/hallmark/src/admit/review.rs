//! AdmissionReview v1 as it arrives: only the fields a decision reads, everything else
//! ignored. The object stays raw JSON, so that walking it and naming places in it (JSON
//! Pointers) needs no schema, and a field hallmark does not read cannot make the request
//! unreadable.

use serde::Deserialize;
use serde_json::Value;

/// The only version served: the apiserver is configured with `admissionReviewVersions: [v1]`.
pub(crate) const API_VERSION: &str = "admission.k8s.io/v1";
/// The kind of the envelope, both ways.
pub(crate) const KIND: &str = "AdmissionReview";

/// A group, version and kind.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Gvk {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub kind: String,
}

/// A group, version and resource.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct Gvr {
    #[serde(default)]
    pub resource: String,
}

/// `request` of an AdmissionReview.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Request {
    pub uid: String,
    pub kind: Gvk,
    #[serde(default)]
    pub resource: Gvr,
    #[serde(default)]
    pub sub_resource: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    pub operation: String,
    #[serde(default)]
    pub object: Option<Value>,
}

/// Why a body is not an AdmissionReview hallmark can answer, and the uid it carried (to
/// echo, whatever else is wrong).
#[derive(Debug, Clone)]
pub(crate) struct Malformed {
    pub uid: String,
    pub reason: String,
}

/// Reads a body: an `admission.k8s.io/v1` `AdmissionReview` whose request has a uid.
pub(crate) fn parse(body: &[u8]) -> Result<Request, Malformed> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Malformed {
        uid: String::new(),
        reason: format!("the body is not JSON: {e}"),
    })?;
    let uid = value
        .pointer("/request/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let bad = |reason: String| Malformed {
        uid: uid.clone(),
        reason,
    };
    let api_version = value.get("apiVersion").and_then(Value::as_str);
    if api_version != Some(API_VERSION) {
        return Err(bad(format!(
            "apiVersion is {}, not {API_VERSION}: register the webhook with admissionReviewVersions: [v1]",
            shown(value.get("apiVersion"))
        )));
    }
    if value.get("kind").and_then(Value::as_str) != Some(KIND) {
        return Err(bad(format!(
            "kind is {}, not {KIND}",
            shown(value.get("kind"))
        )));
    }
    let request = match value.get("request") {
        None | Some(Value::Null) => return Err(bad("the review has no request".into())),
        Some(r) => r,
    };
    let request: Request = Request::deserialize(request)
        .map_err(|e| bad(format!("the request cannot be read: {e}")))?;
    if request.uid.is_empty() {
        return Err(bad("request.uid is empty".into()));
    }
    Ok(request)
}

/// A JSON value as quoted in a reason: short, whatever it is.
fn shown(v: Option<&Value>) -> String {
    match v {
        None => "missing".into(),
        Some(v) => super::bounded(&v.to_string(), 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_is_kept_even_when_the_review_is_refused() {
        let e = parse(br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u-1"}}"#)
            .unwrap_err();
        assert_eq!(e.uid, "u-1");
        assert!(
            e.reason.contains("admission.k8s.io/v1beta1"),
            "{}",
            e.reason
        );
        let e = parse(
            br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}"#,
        )
        .unwrap_err();
        assert_eq!(e.reason, "the review has no request");
        let e = parse(b"{not json").unwrap_err();
        assert!(e.reason.starts_with("the body is not JSON"), "{}", e.reason);
        let e =
            parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"u"}}"#)
                .unwrap_err();
        assert!(e.reason.starts_with("kind is \"Pod\""), "{}", e.reason);
        let e = parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"","kind":{"kind":"Pod"},"operation":"CREATE"}}"#)
            .unwrap_err();
        assert_eq!(e.reason, "request.uid is empty");
        let e = parse(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE"}}"#)
            .unwrap_err();
        assert_eq!(e.uid, "u");
        assert!(e.reason.contains("kind"), "{}", e.reason);
    }
}
