//! Keyless DSSE signing: a statement about an image (a cosign 3 signature or an attestation)
//! in a DSSE envelope signed by the Fulcio-certified ephemeral key, timestamped and logged as
//! cosign 3 logs it in Rekor v2, in a v0.3 bundle checked whole before it is returned.

use super::{IdentityToken, KeylessError, KeylessSignature, Services, certify};
use crate::bundle::dsse::Envelope;
use crate::net::ServiceClient;
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::tlog;

/// Signs `payload` (of `payload_type`, a statement one of whose subjects has the SHA-256
/// `subject`) keyless into a DSSE bundle; every answer verified against `root`, and the
/// bundle verified whole, for the identity the token names.
pub async fn sign_envelope(
    payload_type: &str,
    payload: &[u8],
    subject: &[u8; 32],
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<KeylessSignature, KeylessError> {
    let (key, leaf) = certify(token, services, root, client).await?;
    let signature = key.sign(&crate::bundle::dsse::pae(payload_type, payload))?;
    let envelope = Envelope::sign(payload_type, payload, |_| signature.clone());
    let (stamp, entry, log_index) = super::stamp_and_log(
        tlog::Signed::Dsse {
            envelope: &envelope,
        },
        &signature,
        tlog::Verifier::Certificate(leaf.der()),
        Some(&leaf),
        services,
        root,
        client,
        Some(token.raw()),
    )
    .await?;
    let content = super::Content {
        message_signature: None,
        dsse_envelope: Some(envelope),
    };
    let logged = super::Logged {
        leaf,
        entry,
        stamp,
        log_index,
    };
    super::keyless_bundle(content, signature, logged, subject, token, root)
}
