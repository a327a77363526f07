//! Which services sign: a Sigstore `signing_config.json` (v0.2, cosign 3's way) or URLs
//! given one by one. Pure: the file's bytes and an instant in, the services out.

use std::time::SystemTime;

use serde::Deserialize;

use super::KeylessError;

/// Largest signing config read.
pub const MAX_SIGNING_CONFIG_BYTES: u64 = 1024 * 1024;
const MEDIA_TYPE: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// The services one signature is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Services {
    /// Fulcio's base URL (API v2 under it); none when only a key's signature is logged,
    /// which needs no certificate.
    pub fulcio: Option<String>,
    /// Rekor's base URL.
    pub rekor: String,
    /// The API Rekor speaks: 2 (rekor-tiles) or 1 (the REST API).
    pub rekor_version: u32,
    /// The timestamp authority's endpoint (`…/api/v1/timestamp`), as signing configs name it.
    /// Always there with Rekor v2; with Rekor v1, whose SET dates the signature, optional.
    pub tsa: Option<String>,
}

impl Services {
    /// Services named one by one. Rekor v2 gives no time, so a timestamp authority is
    /// required: without one, no verifier could date the certificate.
    pub fn new(fulcio: &str, rekor: &str, tsa: &str) -> Self {
        Self {
            fulcio: Some(fulcio.trim_end_matches('/').to_string()),
            rekor: rekor.trim_end_matches('/').to_string(),
            rekor_version: 2,
            tsa: Some(tsa.to_string()),
        }
    }

    /// Services with a Rekor v1 (REST API) log, whose signed entry timestamp dates the
    /// signature: a timestamp authority is optional, and used when given (as cosign does).
    pub fn with_rekor_v1(fulcio: &str, rekor: &str, tsa: Option<&str>) -> Self {
        Self {
            fulcio: Some(fulcio.trim_end_matches('/').to_string()),
            rekor: rekor.trim_end_matches('/').to_string(),
            rekor_version: 1,
            tsa: tsa.map(str::to_string),
        }
    }

    /// The same services without Fulcio: enough to timestamp and log a key's signature
    /// (`--key --tlog-upload`), as cosign needs no Fulcio for that either.
    pub fn without_fulcio(self) -> Self {
        Self {
            fulcio: None,
            ..self
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SigningConfig {
    media_type: String,
    #[serde(default)]
    ca_urls: Vec<Service>,
    #[serde(default)]
    rekor_tlog_urls: Vec<Service>,
    #[serde(default)]
    tsa_urls: Vec<Service>,
    #[serde(default)]
    rekor_tlog_config: Option<Selector>,
    #[serde(default)]
    tsa_config: Option<Selector>,
}

/// How many services of a kind a client must use (`ServiceConfiguration`).
#[derive(Deserialize)]
struct Selector {
    #[serde(default)]
    selector: Option<String>,
    #[serde(default)]
    count: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Service {
    url: String,
    major_api_version: u32,
    #[serde(default)]
    valid_for: Option<ValidFor>,
    #[serde(default)]
    operator: Option<String>,
}

#[derive(Deserialize)]
struct ValidFor {
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    end: Option<String>,
}

impl Service {
    fn start(&self) -> Option<SystemTime> {
        let start = self.valid_for.as_ref()?.start.as_deref()?;
        crate::sigstore::root::parse_time(start)
    }

    fn valid_at(&self, now: SystemTime) -> bool {
        let Some(v) = &self.valid_for else {
            return false;
        };
        let parse = |t: &Option<String>| t.as_deref().map(crate::sigstore::root::parse_time);
        let start_ok = matches!(parse(&v.start), Some(Some(s)) if s <= now);
        let end_ok = match parse(&v.end) {
            None => true,
            Some(Some(e)) => now <= e,
            Some(None) => false,
        };
        start_ok && end_ok
    }
}

/// The service of `list` a signer uses, as sigstore-go's `SelectService` chooses: among
/// those valid at `now` with a major API version in `versions`, the highest version, then
/// the newest `validFor.start` (a signing config lists a new service beside the old one).
fn select<'a>(list: &'a [Service], versions: &[u32], now: SystemTime) -> Option<&'a Service> {
    list.iter()
        .filter(|s| versions.contains(&s.major_api_version) && s.valid_at(now))
        .max_by_key(|s| (s.major_api_version, s.start()))
}

/// Refuses a selector hallmark cannot honour: it uses one service of each kind, so `ANY`,
/// `EXACT` with a count of 1, and `ALL` when the usable services have one operator.
fn check_selector(
    config: Option<&Selector>,
    list: &[Service],
    versions: &[u32],
    now: SystemTime,
    what: &str,
) -> Result<(), KeylessError> {
    let Some(selector) = config.and_then(|c| c.selector.as_deref()) else {
        return Ok(());
    };
    let usable = || {
        list.iter()
            .filter(|s| versions.contains(&s.major_api_version) && s.valid_at(now))
    };
    let refuse = |why: String| {
        Err(KeylessError::SigningConfig(format!(
            "{what}: {why}; hallmark uses one"
        )))
    };
    match selector {
        "ANY" => Ok(()),
        "EXACT" => match config.and_then(|c| c.count) {
            None | Some(1) => Ok(()),
            Some(n) => refuse(format!("the selector EXACT asks for {n} of them")),
        },
        "ALL" => {
            let mut operators: Vec<&str> = usable()
                .map(|s| s.operator.as_deref().unwrap_or(s.url.as_str()))
                .collect();
            operators.sort_unstable();
            operators.dedup();
            if operators.len() > 1 {
                refuse(format!(
                    "the selector ALL asks for every operator's ({})",
                    operators.join(", ")
                ))
            } else {
                Ok(())
            }
        }
        other => refuse(format!("the selector {other:?} is not one hallmark knows")),
    }
}

/// The service of each kind a signer uses at `now` with an API version hallmark speaks
/// (Fulcio v1, Rekor v2 or else v1, TSA v1; the TSA optional with Rekor v1): the newest `validFor.start` among the valid ones, as
/// sigstore-go chooses. A `rekorTlogConfig` or `tsaConfig` asking for more than one
/// service is refused: hallmark logs to one log and asks one authority.
pub fn parse(bytes: &[u8], now: SystemTime) -> Result<Services, KeylessError> {
    let bad = |why: String| KeylessError::SigningConfig(why);
    let config: SigningConfig =
        crate::json::from_slice_unique(bytes).map_err(|e| bad(e.to_string()))?;
    if config.media_type != MEDIA_TYPE {
        return Err(bad(format!(
            "media type {:?}, not {MEDIA_TYPE}",
            config.media_type
        )));
    }
    check_selector(
        config.rekor_tlog_config.as_ref(),
        &config.rekor_tlog_urls,
        &[1, 2],
        now,
        "rekorTlogConfig",
    )?;
    check_selector(
        config.tsa_config.as_ref(),
        &config.tsa_urls,
        &[1],
        now,
        "tsaConfig",
    )?;
    let pick = |list: &[Service], version: u32, what: &str| {
        select(list, &[version], now)
            .map(|s| s.url.clone())
            .ok_or_else(|| bad(format!("no {what} (API v{version}) valid now")))
    };
    let fulcio = pick(&config.ca_urls, 1, "certificate authority")?;
    // The newest API spoken first, as sigstore-go chooses.
    if let Ok(rekor) = pick(&config.rekor_tlog_urls, 2, "Rekor v2 log") {
        return Ok(Services::new(
            &fulcio,
            &rekor,
            &pick(&config.tsa_urls, 1, "timestamp authority")?,
        ));
    }
    let rekor = pick(&config.rekor_tlog_urls, 1, "Rekor log")
        .map_err(|_| bad("no Rekor log (API v2 or v1) valid now".into()))?;
    let tsa = pick(&config.tsa_urls, 1, "timestamp authority").ok();
    Ok(Services::with_rekor_v1(&fulcio, &rekor, tsa.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
 "caUrls":[{"url":"http://127.0.0.1:18081","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"},"operator":"local"}],
 "oidcUrls":[],
 "rekorTlogUrls":[{"url":"http://old","majorApiVersion":2,"validFor":{"start":"2020-01-01T00:00:00Z","end":"2021-01-01T00:00:00Z"}},
   {"url":"http://v1","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}},
   {"url":"http://127.0.0.1:18082/","majorApiVersion":2,"validFor":{"start":"2020-01-01T00:00:00Z"}}],
 "rekorTlogConfig":{"selector":"ANY"},
 "tsaUrls":[{"url":"http://127.0.0.1:18083/api/v1/timestamp","majorApiVersion":1,"validFor":{"start":"2020-01-01T00:00:00Z"}}],
 "tsaConfig":{"selector":"ANY"}}"#;

    #[test]
    fn the_first_valid_service_of_a_spoken_version() {
        let now = crate::sigstore::root::parse_time("2026-01-01T00:00:00Z").unwrap();
        let s = parse(CONFIG.as_bytes(), now).unwrap();
        assert_eq!(s.fulcio.as_deref(), Some("http://127.0.0.1:18081"));
        assert_eq!(s.rekor, "http://127.0.0.1:18082");
        assert_eq!(s.rekor_version, 2);
        assert_eq!(
            s.tsa.as_deref(),
            Some("http://127.0.0.1:18083/api/v1/timestamp")
        );
        let before = crate::sigstore::root::parse_time("2019-01-01T00:00:00Z").unwrap();
        assert!(matches!(
            parse(CONFIG.as_bytes(), before),
            Err(KeylessError::SigningConfig(_))
        ));
        let other = CONFIG.replace("v0.2", "v0.1");
        assert!(parse(other.as_bytes(), now).is_err());
    }

    /// Rekor v2 is preferred; without one valid, Rekor v1 is taken, with or without a
    /// timestamp authority (its SET dates the signature). Rekor v2 alone needs one.
    #[test]
    fn rekor_v1_when_no_v2_and_then_the_timestamp_authority_optional() {
        let now = crate::sigstore::root::parse_time("2026-01-01T00:00:00Z").unwrap();
        let v1_only = CONFIG.replace(r#""majorApiVersion":2"#, r#""majorApiVersion":3"#);
        let s = parse(v1_only.as_bytes(), now).unwrap();
        assert_eq!((s.rekor.as_str(), s.rekor_version), ("http://v1", 1));
        assert!(s.tsa.is_some());
        let no_tsa = v1_only.replace(
            "http://127.0.0.1:18083/api/v1/timestamp\",\"majorApiVersion\":1",
            "x\",\"majorApiVersion\":9",
        );
        let s = parse(no_tsa.as_bytes(), now).unwrap();
        assert_eq!((s.rekor_version, s.tsa), (1, None));
        let v2_no_tsa = CONFIG.replace(
            "http://127.0.0.1:18083/api/v1/timestamp\",\"majorApiVersion\":1",
            "x\",\"majorApiVersion\":9",
        );
        assert!(parse(v2_no_tsa.as_bytes(), now).is_err());
        let none = v1_only.replace(
            r#""http://v1","majorApiVersion":1"#,
            r#""http://v1","majorApiVersion":7"#,
        );
        assert!(matches!(
            parse(none.as_bytes(), now),
            Err(KeylessError::SigningConfig(why)) if why.contains("no Rekor log")
        ));
    }

    fn config(rekor: &str, rekor_config: &str) -> String {
        format!(
            r#"{{"mediaType":"application/vnd.dev.sigstore.signingconfig.v0.2+json",
 "caUrls":[{{"url":"https://fulcio","majorApiVersion":1,"validFor":{{"start":"2020-01-01T00:00:00Z"}}}}],
 "rekorTlogUrls":[{rekor}],
 "rekorTlogConfig":{rekor_config},
 "tsaUrls":[{{"url":"https://tsa/api/v1/timestamp","majorApiVersion":1,"validFor":{{"start":"2020-01-01T00:00:00Z"}}}}],
 "tsaConfig":{{"selector":"ANY"}}}}"#
        )
    }

    const OLD_FIRST: &str = r#"{"url":"https://old","majorApiVersion":2,"validFor":{"start":"2021-01-01T00:00:00Z"},"operator":"a"},
   {"url":"https://new","majorApiVersion":2,"validFor":{"start":"2025-01-01T00:00:00Z"},"operator":"b"},
   {"url":"https://future","majorApiVersion":2,"validFor":{"start":"2030-01-01T00:00:00Z"},"operator":"c"},
   {"url":"https://v1","majorApiVersion":1,"validFor":{"start":"2026-01-01T00:00:00Z"},"operator":"d"}"#;

    #[test]
    fn the_newest_valid_service_is_chosen_whatever_the_order() {
        let now = crate::sigstore::root::parse_time("2026-06-01T00:00:00Z").unwrap();
        let s = parse(config(OLD_FIRST, r#"{"selector":"ANY"}"#).as_bytes(), now).unwrap();
        assert_eq!(s.rekor, "https://new");
        let exact_one = config(OLD_FIRST, r#"{"selector":"EXACT","count":1}"#);
        assert_eq!(
            parse(exact_one.as_bytes(), now).unwrap().rekor,
            "https://new"
        );
    }

    #[test]
    fn selectors_hallmark_cannot_honour_are_refused() {
        let now = crate::sigstore::root::parse_time("2026-06-01T00:00:00Z").unwrap();
        for selector in [
            r#"{"selector":"EXACT","count":2}"#,
            r#"{"selector":"ALL"}"#,
            r#"{"selector":"SOME"}"#,
        ] {
            assert!(
                matches!(
                    parse(config(OLD_FIRST, selector).as_bytes(), now),
                    Err(KeylessError::SigningConfig(w)) if w.contains("rekorTlogConfig")
                ),
                "{selector}"
            );
        }
        // ALL over services of a single operator is one service.
        let one = r#"{"url":"https://only","majorApiVersion":2,"validFor":{"start":"2021-01-01T00:00:00Z"},"operator":"a"}"#;
        assert_eq!(
            parse(config(one, r#"{"selector":"ALL"}"#).as_bytes(), now)
                .unwrap()
                .rekor,
            "https://only"
        );
    }
}
