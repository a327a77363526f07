// Verifies a Sigstore bundle with the npm package @sigstore/verify (an independent
// implementation): key-based, no transparency log, no timestamps required.
//
//   node sigstore_verify.js BUNDLE PUBLIC_KEY_PEM [ARTIFACT]
//
// Prints "verified" and exits 0, or prints the verifier's error and exits 1.
const fs = require('fs');
const crypto = require('crypto');
const { Verifier, toSignedEntity } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');

const [bundlePath, keyPath, artifactPath] = process.argv.slice(2);
try {
  const bundle = bundleFromJSON(JSON.parse(fs.readFileSync(bundlePath, 'utf8')));
  const key = crypto.createPublicKey(fs.readFileSync(keyPath));
  const trust = {
    certificateAuthorities: [],
    timestampAuthorities: [],
    tlogs: [],
    ctlogs: [],
    publicKey: () => ({ publicKey: key, validFor: () => true }),
  };
  const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 });
  const artifact = artifactPath ? fs.readFileSync(artifactPath) : undefined;
  verifier.verify(toSignedEntity(bundle, artifact));
  console.log('verified');
} catch (e) {
  console.log(`not verified: ${e.message || e}`);
  process.exit(1);
}
