//! `index.json` of an OCI image layout: the one reader (and writer) of it.
//!
//! Entries are kept as written, so rewriting the index to move a tag keeps every field
//! hallmark does not interpret (platforms, annotations, artifact types).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{OCI_INDEX, OciError, REF_NAME};
use crate::digest::Digest;
use crate::reference::is_signature_tag;

/// One manifest listed in `index.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEntry {
    /// The manifest's digest.
    pub digest: Digest,
    /// Its media type, when the entry names one.
    pub media_type: Option<String>,
    /// Its size, as the entry claims.
    pub size: u64,
    /// The tag (`org.opencontainers.image.ref.name`), if any.
    pub tag: Option<String>,
    /// The listed artifact's type (referrers indexes), if given.
    pub artifact_type: Option<String>,
    raw: Map<String, Value>,
}

impl IndexEntry {
    /// One of the entry's annotations.
    pub(crate) fn annotation(&self, key: &str) -> Option<&str> {
        self.raw.get("annotations")?.get(key)?.as_str()
    }

    /// Sets (or, with `None`, removes) one of the entry's annotations, keeping the others.
    pub(crate) fn set_annotation(&mut self, key: &str, value: Option<&str>) {
        let annotations = match (self.raw.get_mut("annotations"), value) {
            (Some(Value::Object(a)), _) => a,
            (_, None) => return,
            (_, Some(_)) => {
                self.raw
                    .insert("annotations".into(), Value::Object(Map::new()));
                match self.raw.get_mut("annotations") {
                    Some(Value::Object(a)) => a,
                    _ => return,
                }
            }
        };
        match value {
            Some(v) => {
                annotations.insert(key.into(), v.into());
            }
            None => {
                annotations.remove(key);
                if annotations.is_empty() {
                    self.raw.remove("annotations");
                }
            }
        }
    }

    /// The entry listing a referrer in a referrers index: its digest, media type, size
    /// and artifact type.
    pub fn referrer(m: &super::Manifest, artifact_type: &str) -> Self {
        let mut raw = Map::new();
        raw.insert("mediaType".into(), m.media_type.clone().into());
        raw.insert("size".into(), (m.bytes.len() as u64).into());
        raw.insert("digest".into(), m.digest.to_string().into());
        raw.insert("artifactType".into(), artifact_type.into());
        Self {
            digest: m.digest.clone(),
            media_type: Some(m.media_type.clone()),
            size: m.bytes.len() as u64,
            tag: None,
            artifact_type: Some(artifact_type.to_string()),
            raw,
        }
    }
}

/// A parsed `index.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Index {
    doc: Map<String, Value>,
    entries: Vec<IndexEntry>,
}

impl Index {
    /// An index listing nothing.
    pub fn empty() -> Self {
        let mut doc = Map::new();
        doc.insert("schemaVersion".into(), 2.into());
        doc.insert("mediaType".into(), OCI_INDEX.into());
        Self {
            doc,
            entries: Vec::new(),
        }
    }

    /// Parses `index.json` bytes; every entry must name a valid digest.
    pub fn parse(bytes: &[u8]) -> Result<Self, OciError> {
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            digest: String,
            #[serde(default)]
            size: u64,
            #[serde(default)]
            annotations: BTreeMap<String, String>,
            #[serde(rename = "artifactType")]
            artifact_type: Option<String>,
        }
        let json = |source| OciError::Json {
            what: "index.json".into(),
            source,
        };
        let mut doc: Map<String, Value> = serde_json::from_slice(bytes).map_err(json)?;
        let raw_entries = match doc.remove("manifests") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => serde_json::from_value::<Vec<Map<String, Value>>>(v).map_err(json)?,
        };
        if raw_entries.len() > super::MAX_REFERENCES {
            return Err(OciError::TooManyReferences {
                what: "index.json".into(),
            });
        }
        let mut entries = Vec::with_capacity(raw_entries.len());
        for raw in raw_entries {
            let e: Entry = serde_json::from_value(Value::Object(raw.clone())).map_err(json)?;
            entries.push(IndexEntry {
                digest: e.digest.parse().map_err(OciError::Descriptor)?,
                media_type: e.media_type,
                size: e.size,
                tag: e.annotations.get(REF_NAME).cloned(),
                artifact_type: e.artifact_type,
                raw,
            });
        }
        Ok(Self { doc, entries })
    }

    /// Every entry, in order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }

    /// The entry tagged `tag`.
    pub(crate) fn find_tag(&self, tag: &str) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| e.tag.as_deref() == Some(tag))
    }

    /// The first entry for `digest`.
    pub fn find_digest(&self, digest: &Digest) -> Option<&IndexEntry> {
        self.entries.iter().find(|e| &e.digest == digest)
    }

    /// Every tag, in order.
    pub fn tags(&self) -> Vec<String> {
        self.entries.iter().filter_map(|e| e.tag.clone()).collect()
    }

    /// The manifest a reference names: by digest, by tag, or the only one that is not a
    /// signature. Returns its digest and the media type the index gives it.
    pub fn pick(
        &self,
        tag: Option<&str>,
        digest: Option<&Digest>,
    ) -> Result<(Digest, Option<String>), OciError> {
        if let Some(d) = digest {
            let media_type = self.find_digest(d).and_then(|e| e.media_type.clone());
            return Ok((d.clone(), media_type));
        }
        let candidates: Vec<&IndexEntry> = match tag {
            Some(t) => self
                .entries
                .iter()
                .filter(|e| e.tag.as_deref() == Some(t))
                .collect(),
            // Signatures, attestations and referrers stored next to the image are not
            // candidates.
            None => self
                .entries
                .iter()
                .filter(|e| {
                    !e.tag
                        .as_deref()
                        .is_some_and(|r| r.ends_with(".sig") || is_signature_tag(r))
                })
                .collect(),
        };
        match candidates.as_slice() {
            [one] => Ok((one.digest.clone(), one.media_type.clone())),
            [] => Err(match tag {
                Some(t) => OciError::NoSuchTag(t.to_string()),
                None => OciError::EmptyIndex,
            }),
            many => {
                let tags: Vec<&str> = many.iter().filter_map(|e| e.tag.as_deref()).collect();
                Err(OciError::Ambiguous {
                    count: many.len(),
                    tags: if tags.is_empty() {
                        "none".into()
                    } else {
                        tags.join(", ")
                    },
                })
            }
        }
    }

    /// A top-level annotation of the index.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.doc.get("annotations")?.get(key)?.as_str()
    }

    /// Sets a top-level annotation, keeping the others.
    pub(crate) fn set_annotation(&mut self, key: &str, value: &str) {
        let annotations = self
            .doc
            .entry("annotations")
            .or_insert_with(|| Value::Object(Map::new()));
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        if let Value::Object(a) = annotations {
            a.insert(key.into(), value.into());
        }
    }

    /// Replaces the entries, keeping the rest of the document.
    pub(crate) fn set_entries(&mut self, entries: Vec<IndexEntry>) {
        self.entries = entries;
    }

    /// Appends an entry as it is (from another index).
    pub fn push(&mut self, entry: IndexEntry) {
        self.entries.push(entry);
    }

    /// Drops every entry naming one of `digests`; true when one was dropped.
    pub fn remove(&mut self, digests: &[Digest]) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| !digests.contains(&e.digest));
        self.entries.len() != before
    }

    /// Lists a manifest: with `tag`, the tag moves to it (whatever it named before) and
    /// an untagged entry of the same manifest goes, so that each image is named once (as
    /// tools reading `oci:DIR` without a tag expect); without, the manifest is listed
    /// untagged unless it is listed already.
    pub fn set(&mut self, digest: &Digest, media_type: &str, size: u64, tag: Option<&str>) {
        match tag {
            Some(t) => self.entries.retain(|e| match &e.tag {
                Some(et) => et != t,
                None => &e.digest != digest,
            }),
            None if self.find_digest(digest).is_some() => return,
            None => {}
        }
        let mut raw = Map::new();
        raw.insert("mediaType".into(), media_type.into());
        raw.insert("digest".into(), digest.to_string().into());
        raw.insert("size".into(), size.into());
        if let Some(t) = tag {
            raw.insert("annotations".into(), serde_json::json!({ REF_NAME: t }));
        }
        self.entries.push(IndexEntry {
            digest: digest.clone(),
            media_type: Some(media_type.to_string()),
            size,
            tag: tag.map(str::to_string),
            artifact_type: None,
            raw,
        });
    }

    /// The document, with every entry as it was read or set.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut doc = self.doc.clone();
        doc.insert(
            "manifests".into(),
            Value::Array(
                self.entries
                    .iter()
                    .map(|e| Value::Object(e.raw.clone()))
                    .collect(),
            ),
        );
        serde_json::to_vec(&Value::Object(doc)).expect("serialising JSON values cannot fail")
    }
}

/// The platform manifests an image index lists: `os/arch[/variant]` and digest, in the
/// index's order. Entries without a platform (attestations, nested artifacts) are left out.
pub fn platforms(index: &super::Manifest) -> Result<Vec<(String, Digest)>, OciError> {
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: String,
        platform: Option<Platform>,
    }
    #[derive(serde::Deserialize)]
    struct Platform {
        os: String,
        architecture: String,
        variant: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    let doc: Doc = serde_json::from_slice(&index.bytes).map_err(|source| OciError::Json {
        what: format!("index {}", index.digest),
        source,
    })?;
    if doc.manifests.len() > super::MAX_REFERENCES {
        return Err(OciError::TooManyReferences {
            what: format!("index {}", index.digest),
        });
    }
    let mut out = Vec::new();
    for e in doc.manifests {
        let Some(p) = e.platform else { continue };
        let digest = e.digest.parse().map_err(OciError::Descriptor)?;
        let name = match p.variant.filter(|v| !v.is_empty()) {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        };
        out.push((name, digest));
    }
    Ok(out)
}

/// The digest `platform` (`os/arch[/variant]`) names among `listed` (see [`platforms`]):
/// the exact name first, else the first that [`platform_matches`] (as `docker pull
/// --platform linux/arm64` takes `linux/arm64/v8`).
pub fn pick_platform<'a>(listed: &'a [(String, Digest)], platform: &str) -> Option<&'a Digest> {
    let exact = listed.iter().find(|(name, _)| name == platform);
    exact
        .or_else(|| {
            listed
                .iter()
                .find(|(name, _)| platform_matches(platform, name))
        })
        .map(|(_, d)| d)
}

/// Whether a manifest for `found` (`os/arch[/variant]`) serves a request for `requested`:
/// the same name; a request without a variant takes any variant of its `os/arch`; and an
/// architecture named without a variant is its default one (`arm64` is `arm64/v8`, `arm`
/// is `arm/v7`, `amd64` is `amd64/v1`), as containerd and docker read platforms.
pub fn platform_matches(requested: &str, found: &str) -> bool {
    fn named(requested: &str, found: &str) -> bool {
        found == requested
            || requested.split('/').count() == 2
                && found
                    .strip_prefix(requested)
                    .is_some_and(|rest| rest.starts_with('/'))
    }
    fn with_default_variant(name: &str) -> String {
        let mut parts = name.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(os), Some(arch), None) => match arch {
                "arm64" => format!("{os}/{arch}/v8"),
                "arm" => format!("{os}/{arch}/v7"),
                "amd64" => format!("{os}/{arch}/v1"),
                _ => name.to_string(),
            },
            _ => name.to_string(),
        }
    }
    named(requested, found) || with_default_variant(requested) == with_default_variant(found)
}

/// Largest image config read to learn a platform manifest's platform.
pub(crate) const MAX_CONFIG_BYTES: u64 = super::MAX_MANIFEST_BYTES;

/// Docker's image config media type (OCI's is [`super::OCI_CONFIG`]).
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Where a manifest says which platform it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlatformSource {
    /// Its image config: read it by this descriptor and ask [`config_platform`].
    Config(super::Descriptor),
    /// Nowhere: not an image (an index, an artifact); says what it is instead.
    None(String),
}

/// Where `manifest` names its platform: an image manifest names it in its config (the
/// `os`, `architecture` and `variant` an image runs on); an index or an artifact (a
/// config that is not an image config) names none.
pub(crate) fn platform_source(manifest: &super::Manifest) -> Result<PlatformSource, OciError> {
    if manifest.is_index() {
        return Ok(PlatformSource::None("is an index, not an image".into()));
    }
    let artifact_type = manifest.artifact()?.artifact_type;
    let Some(config) = manifest.references()?.blobs.into_iter().next() else {
        return Err(OciError::NoConfig(manifest.digest.clone()));
    };
    if config.media_type == super::OCI_CONFIG || config.media_type == DOCKER_CONFIG {
        return Ok(PlatformSource::Config(config));
    }
    Ok(PlatformSource::None(match artifact_type {
        Some(t) => format!("is an artifact of type {t:?}, with no image config"),
        None => format!(
            "has a config of type {:?}, not an image config",
            config.media_type
        ),
    }))
}

/// The platform (`os/arch[/variant]`) an image config names; `None` when it names no
/// `os` or `architecture`.
pub(crate) fn config_platform(config: &[u8], what: &str) -> Result<Option<String>, OciError> {
    #[derive(serde::Deserialize)]
    struct Config {
        os: Option<String>,
        architecture: Option<String>,
        variant: Option<String>,
    }
    let c: Config = serde_json::from_slice(config).map_err(|source| OciError::Json {
        what: what.to_string(),
        source,
    })?;
    let (Some(os), Some(arch)) = (
        c.os.filter(|s| !s.is_empty()),
        c.architecture.filter(|s| !s.is_empty()),
    ) else {
        return Ok(None);
    };
    Ok(Some(match c.variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{os}/{arch}/{v}"),
        None => format!("{os}/{arch}"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Digest {
        Digest::sha256(s.as_bytes())
    }

    #[test]
    fn tags_move_and_unknown_fields_survive() {
        let text = format!(
            r#"{{"schemaVersion":2,"x-extra":1,"manifests":[{{"mediaType":"m","digest":"{}","size":3,"platform":{{"os":"linux"}},"annotations":{{"{REF_NAME}":"v1"}}}}]}}"#,
            d("a")
        );
        let mut i = Index::parse(text.as_bytes()).unwrap();
        assert_eq!(i.find_tag("v1").unwrap().digest, d("a"));
        i.set(&d("b"), "m", 4, Some("v2"));
        i.set(&d("b"), "m", 4, None);
        assert_eq!(i.entries().len(), 2);
        i.set(&d("c"), "m", 5, Some("v1"));
        assert_eq!(i.tags(), vec!["v2", "v1"]);
        let back = Index::parse(&i.to_bytes()).unwrap();
        assert_eq!(back.find_tag("v1").unwrap().digest, d("c"));
        assert!(String::from_utf8(i.to_bytes()).unwrap().contains("x-extra"));
    }

    #[test]
    fn picking_an_entry() {
        let mut i = Index::empty();
        assert!(matches!(i.pick(None, None), Err(OciError::EmptyIndex)));
        i.set(&d("a"), "m", 1, Some("v1"));
        i.set(&d("s"), "m", 1, Some("sha256-00.sig"));
        assert_eq!(i.pick(None, None).unwrap().0, d("a"));
        i.set(&d("b"), "m", 1, Some("v2"));
        assert!(matches!(
            i.pick(None, None),
            Err(OciError::Ambiguous { count: 2, ref tags }) if tags == "v1, v2"
        ));
        assert_eq!(i.pick(Some("v2"), None).unwrap().0, d("b"));
        assert!(matches!(
            i.pick(Some("v9"), None),
            Err(OciError::NoSuchTag(_))
        ));
        assert_eq!(i.pick(None, Some(&d("z"))).unwrap(), (d("z"), None));
    }

    #[test]
    fn malformed_indexes_are_errors() {
        for bad in [
            &b"[]"[..],
            b"{\"manifests\":{}}",
            b"{\"manifests\":[{\"digest\":\"md5:00\"}]}",
            b"not json",
        ] {
            assert!(
                Index::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn platforms_are_listed_and_picked() {
        let doc = format!(
            r#"{{"schemaVersion":2,"manifests":[
              {{"digest":"{a}","platform":{{"os":"linux","architecture":"arm","variant":"v6"}}}},
              {{"digest":"{b}","platform":{{"os":"linux","architecture":"arm","variant":"v7"}}}},
              {{"digest":"{c}","platform":{{"os":"linux","architecture":"amd64"}}}},
              {{"digest":"{e}","annotations":{{"vnd.docker.reference.type":"attestation-manifest"}}}}]}}"#,
            a = d("a"),
            b = d("b"),
            c = d("c"),
            e = d("e"),
        );
        let index = super::super::Manifest::new(doc.into_bytes(), OCI_INDEX);
        let listed = platforms(&index).unwrap();
        let names: Vec<&str> = listed.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["linux/arm/v6", "linux/arm/v7", "linux/amd64"]);
        assert_eq!(pick_platform(&listed, "linux/arm/v7"), Some(&d("b")));
        assert_eq!(pick_platform(&listed, "linux/arm"), Some(&d("a")));
        assert_eq!(pick_platform(&listed, "linux/amd64"), Some(&d("c")));
        // A prefix of a name is no platform.
        assert_eq!(pick_platform(&listed, "linux/amd"), None);
        assert_eq!(pick_platform(&listed, "windows/amd64"), None);
        let bad = super::super::Manifest::new(
            br#"{"manifests":[{"digest":"md5:1","platform":{"os":"l","architecture":"a"}}]}"#
                .to_vec(),
            OCI_INDEX,
        );
        assert!(platforms(&bad).is_err());
    }

    #[test]
    fn a_variant_left_out_is_the_default_one() {
        for (requested, found) in [
            ("linux/arm64", "linux/arm64"),
            ("linux/arm64", "linux/arm64/v8"),
            ("linux/arm64/v8", "linux/arm64"),
            ("linux/arm/v7", "linux/arm"),
            ("linux/amd64", "linux/amd64/v2"),
            ("linux/amd64/v1", "linux/amd64"),
        ] {
            assert!(platform_matches(requested, found), "{requested} {found}");
        }
        for (requested, found) in [
            ("linux/amd64", "linux/arm64/v8"),
            ("linux/arm64", "linux/amd64"),
            ("linux/arm/v6", "linux/arm"),
            ("linux/arm64/v8", "linux/arm64/v9"),
            ("linux/amd64/v2", "linux/amd64"),
            ("linux/amd", "linux/amd64"),
            ("windows/amd64", "linux/amd64"),
            ("linux", "linux/amd64"),
        ] {
            assert!(!platform_matches(requested, found), "{requested} {found}");
        }
        let listed = vec![("linux/arm64".to_string(), d("a"))];
        assert_eq!(pick_platform(&listed, "linux/arm64/v8"), Some(&d("a")));
    }

    #[test]
    fn an_image_config_names_the_platform() {
        let named = |json: &str| config_platform(json.as_bytes(), "config").unwrap();
        assert_eq!(
            named(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#).as_deref(),
            Some("linux/arm64/v8")
        );
        assert_eq!(
            named(r#"{"os":"linux","architecture":"amd64","variant":""}"#).as_deref(),
            Some("linux/amd64")
        );
        assert_eq!(named(r#"{"architecture":"amd64"}"#), None);
        assert_eq!(named(r#"{"os":"linux","architecture":""}"#), None);
        assert_eq!(named("{}"), None);
        assert!(config_platform(b"[1]", "config").is_err());
        assert!(config_platform(br#"{"os":1}"#, "config").is_err());
    }

    #[test]
    fn only_an_image_manifest_names_a_platform() {
        use super::super::{Manifest, OCI_CONFIG, OCI_MANIFEST};
        let manifest = |config_type: &str, artifact_type: Option<&str>| {
            let mut doc = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": config_type, "digest": d("c").to_string(), "size": 2},
                "layers": []});
            if let Some(t) = artifact_type {
                doc["artifactType"] = t.into();
            }
            Manifest::from_json(&doc, OCI_MANIFEST)
        };
        assert!(matches!(
            platform_source(&manifest(OCI_CONFIG, None)).unwrap(),
            PlatformSource::Config(c) if c.digest == d("c")
        ));
        assert!(matches!(
            platform_source(&manifest(DOCKER_CONFIG, None)).unwrap(),
            PlatformSource::Config(_)
        ));
        assert!(matches!(
            platform_source(&manifest("application/vnd.oci.empty.v1+json", Some("application/x-sbom"))).unwrap(),
            PlatformSource::None(why) if why.contains("artifact of type \"application/x-sbom\"")
        ));
        assert!(matches!(
            platform_source(&manifest("application/x-conf", None)).unwrap(),
            PlatformSource::None(why) if why.contains("\"application/x-conf\", not an image config")
        ));
        let index = Manifest::new(br#"{"schemaVersion":2,"manifests":[]}"#.to_vec(), OCI_INDEX);
        assert!(matches!(
            platform_source(&index).unwrap(),
            PlatformSource::None(why) if why.contains("index")
        ));
    }
}
