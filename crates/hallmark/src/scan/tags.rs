//! What a tag names: an artifact, or a signature, attestation, SBOM or referrers store of
//! the digest its name carries, told apart by what the manifest holds.

use crate::Error;
use crate::digest::Digest;
use crate::oci::{Manifest, OCI_INDEX};
use crate::reference::{SignatureKind, signature_tag_kind};
use crate::store::Store;
use crate::verify::MAX_REFERRERS;

/// The layer media types of an image's file system: what makes a manifest runnable.
fn is_filesystem_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// The layer media types `cosign attach sbom` stores SBOMs under (SPDX, CycloneDX, syft),
/// with the XML forms of each.
const SBOM_MEDIA_TYPES: [&str; 8] = [
    "text/spdx",
    "text/spdx+json",
    "text/spdx+xml",
    "application/vnd.cyclonedx",
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.syft+json",
    "application/vnd.syft+xml",
];

/// True when `m` is, by its own bytes, what a tag of `kind` holds: a `.sig` manifest of
/// simple-signing layers, an `.att` manifest of DSSE envelopes, an `.sbom` manifest of SBOM
/// documents, a fallback index listing artifacts only (each entry with an `artifactType`
/// and no platform, as the OCI referrers index has them). A fallback index must further
/// list only referrers of its digest ([`lists_only_referrers_of`]). Anything else under
/// such a name is an artifact hidden behind a signature-shaped tag, and is scanned as one.
fn holds_what_its_tag_says(kind: SignatureKind, m: &Manifest) -> bool {
    const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
    if kind == SignatureKind::Referrers {
        return referrer_entries(m).is_some();
    }
    if m.is_index() {
        return false;
    }
    let Ok(info) = m.artifact() else {
        return false;
    };
    let mut types = info.layers.iter().map(|l| l.media_type.as_str());
    match kind {
        SignatureKind::Sig => types.all(|t| t == crate::signature::SIMPLESIGNING_MEDIA_TYPE),
        SignatureKind::Att => types.all(|t| t == DSSE),
        // A file layer under an SBOM's name is what a puller would fetch: only documents
        // of a known SBOM format may hide there.
        SignatureKind::Sbom => types.all(|t| SBOM_MEDIA_TYPES.contains(&t)),
        SignatureKind::Referrers => false,
    }
}

/// The digests a referrers index lists, when it is one: an OCI index whose every entry
/// carries an `artifactType` and no `platform`, at most [`MAX_REFERRERS`] of them.
fn referrer_entries(m: &Manifest) -> Option<Vec<Digest>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: Digest,
        platform: Option<serde_json::Value>,
        #[serde(rename = "artifactType")]
        artifact_type: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    if m.media_type != OCI_INDEX {
        return None;
    }
    let doc = serde_json::from_slice::<Doc>(&m.bytes).ok()?;
    let artifacts = doc
        .manifests
        .iter()
        .all(|e| e.platform.is_none() && e.artifact_type.as_deref().is_some_and(|t| !t.is_empty()));
    (artifacts && doc.manifests.len() <= MAX_REFERRERS)
        .then(|| doc.manifests.into_iter().map(|e| e.digest).collect())
}

/// True when `m` is a manifest that may stand in a referrers index of `subject`: it names
/// `subject` as its subject, and is no index and no image (no file-system layer).
fn is_referrer_of(m: &Manifest, subject: &Digest) -> bool {
    if m.is_index() {
        return false;
    }
    m.artifact().is_ok_and(|info| {
        info.subject.as_ref().map(|s| &s.digest) == Some(subject)
            && !info
                .layers
                .iter()
                .any(|l| is_filesystem_layer(&l.media_type))
    })
}

/// True when every manifest the fallback index `m` of `subject` lists is a referrer of
/// `subject`: an entry's `artifactType` is only a claim, and an image listed with one is
/// still what a client resolving the tag would run. An entry whose manifest is not in the
/// repository lists nothing that can be pulled.
async fn lists_only_referrers_of(
    store: &Store,
    subject: &Digest,
    m: &Manifest,
) -> Result<bool, Error> {
    let Some(entries) = referrer_entries(m) else {
        return Ok(false);
    };
    for d in entries {
        if let Some(listed) = store.get_manifest(&d.to_string()).await?
            && !is_referrer_of(&listed, subject)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a tag names, as far as the scan cares.
pub(super) enum Resolved {
    /// A signature, attestation, SBOM or referrers store of the digest its name carries.
    Store(Digest, SignatureKind),
    /// Anything else: an artifact, to be scanned, with the digest of its content.
    Artifact(Digest),
}

/// Reads what `tag` names and tells a store from an artifact; `None` when the tag is gone.
pub(super) async fn resolve(store: &Store, tag: &str) -> Result<Option<Resolved>, Error> {
    let Some(m) = store.get_manifest(tag).await? else {
        return Ok(None);
    };
    if let Some((d, kind)) = signature_tag_kind(tag)
        && holds_what_its_tag_says(kind, &m)
        && (kind != SignatureKind::Referrers || lists_only_referrers_of(store, &d, &m).await?)
    {
        return Ok(Some(Resolved::Store(d, kind)));
    }
    Ok(Some(Resolved::Artifact(m.digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image_with_layers(layers: &[&str]) -> Manifest {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|t| serde_json::json!({"mediaType": t, "digest": d, "size": 0}))
            .collect();
        Manifest::from_json(
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": crate::oci::OCI_MANIFEST,
                "config": {"mediaType": crate::oci::OCI_CONFIG, "digest": d, "size": 0},
                "layers": layers,
            }),
            crate::oci::OCI_MANIFEST,
        )
    }

    #[test]
    fn a_signature_tag_is_judged_by_what_it_holds() {
        use SignatureKind::*;
        let sig = image_with_layers(&[crate::signature::SIMPLESIGNING_MEDIA_TYPE]);
        let att = image_with_layers(&["application/vnd.dsse.envelope.v1+json"]);
        let sbom = image_with_layers(&["text/spdx+json"]);
        let image = image_with_layers(&[crate::oci::OCI_LAYER_TAR_GZIP]);
        let docker = image_with_layers(&["application/vnd.docker.image.rootfs.diff.tar.gzip"]);
        assert!(holds_what_its_tag_says(Sig, &sig));
        assert!(holds_what_its_tag_says(Att, &att));
        assert!(holds_what_its_tag_says(Sbom, &sbom));
        for kind in [Sig, Att, Sbom, Referrers] {
            assert!(!holds_what_its_tag_says(kind, &image), "{kind:?}");
            assert!(!holds_what_its_tag_says(kind, &docker), "{kind:?}");
        }
        // An image's layers mixed into a signature manifest make it an image.
        let mixed = image_with_layers(&[
            crate::signature::SIMPLESIGNING_MEDIA_TYPE,
            crate::oci::OCI_LAYER_TAR,
        ]);
        assert!(!holds_what_its_tag_says(Sig, &mixed));
        assert!(!holds_what_its_tag_says(Att, &sig));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let referrers = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1,
                 "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]}),
            OCI_INDEX,
        );
        assert!(holds_what_its_tag_says(Referrers, &referrers));
        assert!(!holds_what_its_tag_says(Sig, &referrers));
        let platforms = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1,
                 "platform": {"os": "linux", "architecture": "amd64"}}]}),
            OCI_INDEX,
        );
        assert!(!holds_what_its_tag_says(Referrers, &platforms));
        // An index entry without an artifactType is not a referrer: containerd and skopeo
        // pick an entry without a platform as the image to run.
        let bare = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1}]}),
            OCI_INDEX,
        );
        assert!(!holds_what_its_tag_says(Referrers, &bare));
        assert_eq!(
            referrer_entries(&referrers),
            Some(vec![d.parse::<Digest>().unwrap()])
        );
        // Under .sbom, only SBOM documents: a plain file is what a puller would fetch.
        for t in SBOM_MEDIA_TYPES {
            assert!(
                holds_what_its_tag_says(Sbom, &image_with_layers(&[t])),
                "{t}"
            );
        }
        let file = image_with_layers(&["application/octet-stream"]);
        assert!(!holds_what_its_tag_says(Sbom, &file));
    }

    #[test]
    fn a_referrer_names_its_subject_and_holds_no_file_system() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let other: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let manifest = |subject: &Digest, layer: &str| {
            Manifest::from_json(
                &serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": crate::oci::OCI_MANIFEST,
                    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "config": {"mediaType": crate::oci::OCI_CONFIG, "digest": d, "size": 0},
                    "layers": [{"mediaType": layer, "digest": d, "size": 0}],
                    "subject": {"mediaType": crate::oci::OCI_MANIFEST, "digest": subject, "size": 1},
                }),
                crate::oci::OCI_MANIFEST,
            )
        };
        let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json";
        assert!(is_referrer_of(&manifest(&d, bundle), &d));
        assert!(!is_referrer_of(&manifest(&other, bundle), &d));
        assert!(!is_referrer_of(
            &manifest(&d, crate::oci::OCI_LAYER_TAR_GZIP),
            &d
        ));
        assert!(!is_referrer_of(&image_with_layers(&[bundle]), &d));
    }
}
