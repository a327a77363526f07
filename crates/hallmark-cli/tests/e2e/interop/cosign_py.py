#!/usr/bin/env python3
"""An independent implementation of the cosign formats hallmark uses, written from
docs (FORMATS.md and the OCI distribution spec) with Python's `cryptography` and `pynacl`.

hallmark's tests use it as the other party: it makes keys hallmark must read, reads keys
hallmark writes, verifies signatures hallmark stores in a registry, and stores signatures
hallmark must verify.

    genkey PREFIX PASSWORD [ecdsa-p256|ed25519] [LOG_N]
    pubkey KEYFILE PASSWORD
    verify REGISTRY REPO DIGEST PUBFILE
    sign REGISTRY REPO DIGEST KEYFILE PASSWORD
"""

import base64
import hashlib
import json
import os
import sys
import urllib.error
import urllib.request

import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
SIMPLESIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIG_ANNOTATION = "dev.cosignproject.cosign/signature"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SIG_TYPE = "cosign container image signature"


def pem(label, data):
    b = base64.b64encode(data).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)


def unpem(text):
    lines = [l.strip() for l in text.strip().splitlines()]
    assert lines[0].startswith("-----BEGIN ") and lines[-1].startswith("-----END ")
    return lines[0][11:-5], base64.b64decode("".join(lines[1:-1]))


def kdf(password, salt, n):
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(password.encode())


def genkey(prefix, password, algorithm="ecdsa-p256", log_n="16"):
    key = ec.generate_private_key(ec.SECP256R1()) if algorithm == "ecdsa-p256" else ed25519.Ed25519PrivateKey.generate()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    n = 1 << int(log_n)
    salt, nonce = os.urandom(32), os.urandom(24)
    box = nacl.secret.SecretBox(kdf(password, salt, n))
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": 8, "p": 1}, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(box.encrypt(der, nonce).ciphertext).decode(),
    }
    with open(prefix + ".key", "w") as f:
        f.write(pem(LABEL, json.dumps(doc).encode()))
    with open(prefix + ".pub", "wb") as f:
        f.write(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def load_private(path, password):
    label, body = unpem(open(path).read())
    assert label in (LABEL, "ENCRYPTED COSIGN PRIVATE KEY"), label
    doc = json.loads(body)
    key = kdf(password, base64.b64decode(doc["kdf"]["salt"]), doc["kdf"]["params"]["N"])
    der = nacl.secret.SecretBox(key).decrypt(base64.b64decode(doc["ciphertext"]), base64.b64decode(doc["cipher"]["nonce"]))
    return serialization.load_der_private_key(der, password=None)


def pubkey(path, password):
    k = load_private(path, password)
    sys.stdout.write(k.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode())


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def get_manifest(registry, repo, ref):
    status, _, body = http("GET", "http://%s/v2/%s/manifests/%s" % (registry, repo, ref), headers={"Accept": OCI_MANIFEST})
    return json.loads(body) if status == 200 else None


def get_blob(registry, repo, digest):
    status, _, body = http("GET", "http://%s/v2/%s/blobs/%s" % (registry, repo, digest))
    assert status == 200, status
    assert "sha256:" + hashlib.sha256(body).hexdigest() == digest, "blob digest mismatch"
    return body


def put_blob(registry, repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    status, headers, _ = http("POST", "http://%s/v2/%s/blobs/uploads/" % (registry, repo), body=b"")
    assert status == 202, status
    loc = headers["Location"]
    if loc.startswith("/"):
        loc = "http://%s%s" % (registry, loc)
    loc += ("&" if "?" in loc else "?") + "digest=" + digest
    status, _, _ = http("PUT", loc, body=data, headers={"Content-Type": "application/octet-stream"})
    assert status == 201, status
    return digest


def verify(registry, repo, digest, pubfile):
    pub = serialization.load_pem_public_key(open(pubfile, "rb").read())
    tag = digest.replace(":", "-") + ".sig"
    m = get_manifest(registry, repo, tag)
    if m is None:
        print("no signature manifest " + tag)
        return 1
    good = 0
    for layer in m.get("layers", []):
        if layer.get("mediaType") != SIMPLESIGNING:
            continue
        payload = get_blob(registry, repo, layer["digest"])
        sig = base64.b64decode(layer.get("annotations", {}).get(SIG_ANNOTATION, ""))
        try:
            if isinstance(pub, ec.EllipticCurvePublicKey):
                pub.verify(sig, payload, ec.ECDSA(hashes.SHA256()))
            else:
                pub.verify(sig, payload)
        except InvalidSignature:
            print("bad signature")
            continue
        p = json.loads(payload)
        c = p["critical"]
        if c["type"] != SIG_TYPE:
            print("wrong type")
        elif c["image"]["docker-manifest-digest"] != digest:
            print("wrong digest")
        elif c["identity"]["docker-reference"] != "%s/%s" % (registry, repo):
            print("wrong identity " + c["identity"]["docker-reference"])
        else:
            good += 1
    print("valid signatures: %d" % good)
    return 0 if good else 1


def sign(registry, repo, digest, keyfile, password):
    key = load_private(keyfile, password)
    payload = json.dumps({
        "critical": {"identity": {"docker-reference": "%s/%s" % (registry, repo)},
                     "image": {"docker-manifest-digest": digest}, "type": SIG_TYPE},
        "optional": None}).encode()
    if isinstance(key, ec.EllipticCurvePrivateKey):
        sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    else:
        sig = key.sign(payload)
    payload_digest = put_blob(registry, repo, payload)
    tag = digest.replace(":", "-") + ".sig"
    m = get_manifest(registry, repo, tag) or {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": []}
    m["layers"].append({"mediaType": SIMPLESIGNING, "size": len(payload), "digest": payload_digest,
                        "annotations": {SIG_ANNOTATION: base64.b64encode(sig).decode()}})
    config = json.dumps({"architecture": "", "os": "", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in m["layers"]]}}).encode()
    m["config"] = {"mediaType": "application/vnd.oci.image.config.v1+json", "size": len(config),
                   "digest": put_blob(registry, repo, config)}
    status, _, body = http("PUT", "http://%s/v2/%s/manifests/%s" % (registry, repo, tag),
                           body=json.dumps(m).encode(), headers={"Content-Type": OCI_MANIFEST})
    assert status == 201, (status, body)
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({"genkey": genkey, "pubkey": pubkey, "verify": verify, "sign": sign}[cmd](*args) or 0)
