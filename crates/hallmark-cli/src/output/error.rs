//! The document printed on stdout instead of a result when a command fails under
//! `--output json` (docs/schema/error.schema.json).

use serde::Serialize;

use super::V1;
use crate::exit;

/// A failure, for scripts.
#[derive(Serialize)]
pub struct ErrorDocument<'a> {
    version: V1,
    error: &'a str,
    class: &'static str,
    exit: u8,
    hint: Option<&'a str>,
}

impl<'a> ErrorDocument<'a> {
    /// The document of a failure of `class`.
    pub fn new(message: &'a str, class: hallmark::ErrorClass, hint: Option<&'a str>) -> Self {
        ErrorDocument {
            version: V1,
            error: message,
            class: class_name(class),
            exit: exit::code(class),
            hint,
        }
    }
}

/// The class as scripts see it; the library's class is exhaustive, so a new one must be
/// named here.
pub fn class_name(class: hallmark::ErrorClass) -> &'static str {
    match class {
        hallmark::ErrorClass::Denied => "denied",
        hallmark::ErrorClass::Usage => "usage",
        hallmark::ErrorClass::Unavailable => "unavailable",
        hallmark::ErrorClass::Drift => "drift",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_version_comes_first() {
        let doc = ErrorDocument::new("boom", hallmark::ErrorClass::Drift, None);
        assert_eq!(
            serde_json::to_string(&doc).unwrap(),
            r#"{"version":1,"error":"boom","class":"drift","exit":4,"hint":null}"#
        );
    }
}
