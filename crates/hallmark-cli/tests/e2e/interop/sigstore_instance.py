#!/usr/bin/env python3
"""A private Sigstore instance for tests: Fulcio, a CT log, Rekor (v1) and a TSA chain, with
keys it generates, so that tests can make real keyless signatures offline.

    sigstore_instance.py init DIR
        DIR/trusted_root.json and the instance's private keys.
    sigstore_instance.py blob DIR FILE --identity I --issuer U --out BUNDLE
        a v0.3 bundle: message signature, hashedrekord 0.0.1 entry.
    sigstore_instance.py legacy DIR PAYLOAD --identity I --issuer U --out ANNOTATIONS.json
        cosign's `.sig` layer annotations for a simple-signing payload.
    sigstore_instance.py statement DIR STATEMENT.json --identity I --issuer U --out BUNDLE
        a v0.3 bundle: DSSE envelope (in-toto), dsse 0.0.1 entry.

Signing flags: --not-before T / --not-after T (the leaf's window, Unix seconds),
--integrated-time T (Unix seconds), --no-sct, --timestamp (an RFC 3161 timestamp of the
signature by the instance's TSA, dated the integrated time). An identity with "://" is a
URI SAN, else an email SAN. Each entry sits at a random index of a tree of random other leaves, with the
inclusion proof, a signed checkpoint and a signed entry timestamp, as Rekor v1 returns them.
"""

import argparse
import base64
import datetime
import hashlib
import json
import os
import secrets
import struct
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

REKOR_URL = "https://rekor.hallmark.test"
CTLOG_URL = "https://ctfe.hallmark.test"
FULCIO_URL = "https://fulcio.hallmark.test"
TSA_URL = "https://tsa.hallmark.test/api/v1/timestamp"
OID_ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
OID_ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
OID_SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
# The instance's keys and certificates were made a day before "now", so that any time a
# test asks for within the last day lies inside every validity window.
EPOCH_SLACK = datetime.timedelta(days=1)

b64 = lambda b: base64.b64encode(b).decode()
sha256 = lambda b: hashlib.sha256(b).digest()
utc = lambda secs: datetime.datetime.fromtimestamp(secs, datetime.timezone.utc)


def der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_int(n):
    return der(0x02, n.to_bytes(n.bit_length() // 8 + 1, "big"))


def der_oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for arc in arcs[2:]:
        chunk = [arc & 0x7F]
        while arc > 0x7F:
            arc >>= 7
            chunk.append(0x80 | (arc & 0x7F))
        out += bytes(reversed(chunk))
    return der(0x06, out)


seq = lambda *parts: der(0x30, b"".join(parts))
SHA256_ALG = seq(der_oid("2.16.840.1.101.3.4.2.1"))
ID_CT_TST_INFO = der_oid("1.2.840.113549.1.9.16.1.4")


def rfc3161(d, signature, at):
    """An RFC 3161 timestamp (CMS SignedData over TSTInfo) by the instance's TSA over
    `signature`, dated `at`."""
    key, cert = load_key(os.path.join(d, "tsa.key")), load_cert(os.path.join(d, "tsa.pem"))
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    tst_info = seq(der_int(1), der_oid("1.3.6.1.4.1.57264.2"), seq(SHA256_ALG, der(0x04, sha256(signature))),
                   der_int(secrets.randbits(64)), der(0x18, utc(at).strftime("%Y%m%d%H%M%SZ").encode()))
    attribute = lambda oid, value: seq(der_oid(oid), der(0x31, value))
    attrs = sorted([attribute("1.2.840.113549.1.9.3", ID_CT_TST_INFO),
                    attribute("1.2.840.113549.1.9.4", der(0x04, sha256(tst_info))),
                    # ESS signingCertificateV2: which certificate signed (SHA-256 by default).
                    attribute("1.2.840.113549.1.9.16.2.47", seq(seq(seq(der(0x04, sha256(cert_der))))))])
    signature = key.sign(der(0x31, b"".join(attrs)), ec.ECDSA(hashes.SHA256()))
    issuer_serial = seq(cert.issuer.public_bytes(), der_int(cert.serial_number))
    signer = seq(der_int(1), issuer_serial, SHA256_ALG, der(0xA0, b"".join(attrs)),
                 seq(der_oid("1.2.840.10045.4.3.2")), der(0x04, signature))
    signed_data = seq(der_int(3), der(0x31, SHA256_ALG), seq(ID_CT_TST_INFO, der(0xA0, der(0x04, tst_info))),
                      der(0xA0, cert_der), der(0x31, signer))
    token = seq(der_oid("1.2.840.113549.1.7.2"), der(0xA0, signed_data))
    # A TimeStampResp (status granted), as a TSA answers and as Sigstore clients store it.
    return seq(seq(der_int(0)), token)


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def name(cn, org="hallmark.test"):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def key_usage(**on):
    flags = dict(digital_signature=False, content_commitment=False, key_encipherment=False,
                 data_encipherment=False, key_agreement=False, key_cert_sign=False,
                 crl_sign=False, encipher_only=False, decipher_only=False)
    flags.update(on)
    return x509.KeyUsage(**flags)


def ca_cert(subject, key, issuer, issuer_key, start, path_length, eku=None):
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
         .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    hash_alg = hashes.SHA384() if isinstance(issuer_key.curve, ec.SECP384R1) else hashes.SHA256()
    return b.sign(issuer_key, hash_alg)


def save_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def rfc3339(when):
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def log_entry(url, key, start):
    return {"baseUrl": url, "hashAlgorithm": "SHA2_256",
            "publicKey": {"rawBytes": b64(spki(key)), "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                          "validFor": {"start": rfc3339(start)}},
            "logId": {"keyId": b64(sha256(spki(key)))}}


def authority(cn, uri, chain, start):
    return {"subject": {"organization": "hallmark.test", "commonName": cn}, "uri": uri,
            "certChain": {"certificates": [{"rawBytes": b64(c.public_bytes(serialization.Encoding.DER))}
                                           for c in chain]},
            "validFor": {"start": rfc3339(start)}}


def init(d):
    os.makedirs(d, exist_ok=True)
    start = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) - EPOCH_SLACK
    root_key, inter_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP384R1())
    root = ca_cert(name("sigstore"), root_key, name("sigstore"), root_key, start, 1)
    inter = ca_cert(name("sigstore-intermediate"), inter_key, root.subject, root_key, start, 0,
                    [ExtendedKeyUsageOID.CODE_SIGNING])
    tsa_root_key, tsa_key = ec.generate_private_key(ec.SECP384R1()), ec.generate_private_key(ec.SECP256R1())
    tsa_root = ca_cert(name("sigstore-tsa-root"), tsa_root_key, name("sigstore-tsa-root"), tsa_root_key, start, 0)
    tsa = (x509.CertificateBuilder().subject_name(name("sigstore-tsa")).issuer_name(tsa_root.subject)
           .public_key(tsa_key.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(start).not_valid_after(start + datetime.timedelta(days=3650))
           .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
           .add_extension(key_usage(digital_signature=True), critical=True)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
           .sign(tsa_root_key, hashes.SHA384()))
    ct_key, rekor_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    for file, key in [("root.key", root_key), ("intermediate.key", inter_key), ("ctlog.key", ct_key),
                      ("rekor.key", rekor_key), ("tsa.key", tsa_key)]:
        save_key(os.path.join(d, file), key)
    for file, cert in [("root.pem", root), ("intermediate.pem", inter), ("tsa.pem", tsa), ("tsa-root.pem", tsa_root)]:
        with open(os.path.join(d, file), "wb") as f:
            f.write(pem(cert))
    trusted = {"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
               "tlogs": [log_entry(REKOR_URL, rekor_key, start)],
               "certificateAuthorities": [authority("sigstore", FULCIO_URL, [inter, root], start)],
               "ctlogs": [log_entry(CTLOG_URL, ct_key, start)],
               "timestampAuthorities": [authority("sigstore-tsa", TSA_URL, [tsa, tsa_root], start)]}
    with open(os.path.join(d, "trusted_root.json"), "w") as f:
        json.dump(trusted, f, indent=2)


def sct_list(d, tbs, issuer_spki, at_ms):
    """An RFC 6962 SCT list holding one SCT over the precertificate `tbs`."""
    ct_key = load_key(os.path.join(d, "ctlog.key"))
    signed = (b"\x00\x00" + struct.pack(">QH", at_ms, 1) + sha256(issuer_spki)
              + len(tbs).to_bytes(3, "big") + tbs + b"\x00\x00")
    sig = ct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    sct = (b"\x00" + sha256(spki(ct_key)) + struct.pack(">QH", at_ms, 0)
           + b"\x04\x03" + struct.pack(">H", len(sig)) + sig)
    item = struct.pack(">H", len(sct)) + sct
    return struct.pack(">H", len(item)) + item


def leaf(d, args, now):
    """A fresh key and its Fulcio-shaped certificate."""
    inter_key, inter = load_key(os.path.join(d, "intermediate.key")), load_cert(os.path.join(d, "intermediate.pem"))
    key = ec.generate_private_key(ec.SECP256R1())
    not_before = utc(args.not_before if args.not_before is not None else now - 60)
    not_after = utc(args.not_after if args.not_after is not None else now + 540)
    san = (x509.UniformResourceIdentifier(args.identity) if "://" in args.identity
           else x509.RFC822Name(args.identity))
    builder = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(inter.subject)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(not_before).not_valid_after(not_after)
               .add_extension(key_usage(digital_signature=True), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter_key.public_key()),
                              critical=False)
               .add_extension(x509.SubjectAlternativeName([san]), critical=True)
               .add_extension(x509.UnrecognizedExtension(OID_ISSUER_V1, args.issuer.encode()), critical=False)
               .add_extension(x509.UnrecognizedExtension(OID_ISSUER_V2, der(0x0C, args.issuer.encode())),
                              critical=False))
    if not args.no_sct:
        # The precertificate is this certificate without the SCT list, which goes last, so
        # that removing it gives back exactly the TBS the CT log signed.
        precert = builder.sign(inter_key, hashes.SHA384())
        scts = sct_list(d, precert.tbs_certificate_bytes, spki(inter_key), int(not_before.timestamp() * 1000))
        builder = builder.add_extension(x509.UnrecognizedExtension(OID_SCT_LIST, der(0x04, scts)), critical=False)
    return key, builder.sign(inter_key, hashes.SHA384()), inter


def tree_hash(leaves):
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return sha256(b"\x01" + tree_hash(leaves[:k]) + tree_hash(leaves[k:]))


def audit_path(m, leaves):
    """RFC 6962 PATH(m, D[n]), leaf first."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if m < k:
        return audit_path(m, leaves[:k]) + [tree_hash(leaves[k:])]
    return audit_path(m - k, leaves[k:]) + [tree_hash(leaves[:k])]


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def rekor(d, body, integrated_time):
    """A Rekor v1 entry for `body`: promise, inclusion proof and checkpoint."""
    key = load_key(os.path.join(d, "rekor.key"))
    log_id = sha256(spki(key))
    size = secrets.randbelow(40) + 1
    index = secrets.randbelow(size)
    leaves = [sha256(b"\x00" + os.urandom(32)) for _ in range(size)]
    leaves[index] = sha256(b"\x00" + body)
    root = tree_hash(leaves)
    origin = "rekor.hallmark.test - 1193050959916656506"
    note = f"{origin}\n{size}\n{b64(root)}\n"
    note_sig = key.sign(note.encode(), ec.ECDSA(hashes.SHA256()))
    checkpoint = f"{note}\n\u2014 rekor.hallmark.test {b64(log_id[:4] + note_sig)}\n"
    promise = {"body": b64(body), "integratedTime": integrated_time, "logID": log_id.hex(), "logIndex": index}
    set_ = key.sign(canonical(promise), ec.ECDSA(hashes.SHA256()))
    kind = json.loads(body)
    entry = {"logIndex": str(index), "logId": {"keyId": b64(log_id)},
             "kindVersion": {"kind": kind["kind"], "version": kind["apiVersion"]},
             "integratedTime": str(integrated_time),
             "inclusionPromise": {"signedEntryTimestamp": b64(set_)},
             "inclusionProof": {"logIndex": str(index), "rootHash": b64(root), "treeSize": str(size),
                                "hashes": [b64(h) for h in audit_path(index, leaves)],
                                "checkpoint": {"envelope": checkpoint}},
             "canonicalizedBody": b64(body)}
    return entry, promise, set_


def hashedrekord(digest, sig, cert):
    return canonical({"apiVersion": "0.0.1", "kind": "hashedrekord",
                      "spec": {"data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
                               "signature": {"content": b64(sig), "publicKey": {"content": b64(pem(cert))}}}})


def bundle(cert, entry, content, timestamp):
    material = {"certificate": {"rawBytes": b64(cert.public_bytes(serialization.Encoding.DER))},
                "tlogEntries": [entry]}
    if timestamp:
        material["timestampVerificationData"] = {"rfc3161Timestamps": [{"signedTimestamp": b64(timestamp)}]}
    return {"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "verificationMaterial": material,
            **content}


def stamp(d, args, signature, integrated):
    return rfc3161(d, signature, integrated) if args.timestamp else None


def sign_blob(d, args, now, integrated):
    with open(args.input, "rb") as f:
        h = hashlib.sha256()
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.digest()
    key, cert, _ = leaf(d, args, now)
    sig = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    entry, _, _ = rekor(d, hashedrekord(digest, sig, cert), integrated)
    return bundle(cert, entry, {"messageSignature": {"messageDigest": {"algorithm": "SHA2_256", "digest": b64(digest)},
                                                     "signature": b64(sig)}}, stamp(d, args, sig, integrated))


def sign_legacy(d, args, now, integrated):
    with open(args.input, "rb") as f:
        payload = f.read()
    key, cert, inter = leaf(d, args, now)
    sig = key.sign(payload, ec.ECDSA(hashes.SHA256()))
    _, promise, set_ = rekor(d, hashedrekord(sha256(payload), sig, cert), integrated)
    root = load_cert(os.path.join(d, "root.pem"))
    timestamp = stamp(d, args, sig, integrated)
    return {**({"dev.sigstore.cosign/rfc3161timestamp": json.dumps({"SignedRFC3161Timestamp": b64(timestamp)})}
               if timestamp else {}),
            "dev.cosignproject.cosign/signature": b64(sig),
            "dev.sigstore.cosign/certificate": pem(cert).decode(),
            "dev.sigstore.cosign/chain": (pem(inter) + pem(root)).decode(),
            "dev.sigstore.cosign/bundle": json.dumps({"SignedEntryTimestamp": b64(set_), "Payload": promise},
                                                     separators=(",", ":"))}


def sign_statement(d, args, now, integrated):
    with open(args.input, "rb") as f:
        payload = f.read()
    payload_type = "application/vnd.in-toto+json"
    key, cert, _ = leaf(d, args, now)
    pae = b"DSSEv1 %d %s %d %s" % (len(payload_type), payload_type.encode(), len(payload), payload)
    sig = key.sign(pae, ec.ECDSA(hashes.SHA256()))
    envelope = {"payload": b64(payload), "payloadType": payload_type, "signatures": [{"sig": b64(sig)}]}
    body = canonical({"apiVersion": "0.0.1", "kind": "dsse",
                      "spec": {"envelopeHash": {"algorithm": "sha256", "value": sha256(canonical(envelope)).hex()},
                               "payloadHash": {"algorithm": "sha256", "value": sha256(payload).hex()},
                               "signatures": [{"signature": b64(sig), "verifier": b64(pem(cert))}]}})
    entry, _, _ = rekor(d, body, integrated)
    return bundle(cert, entry, {"dsseEnvelope": envelope}, stamp(d, args, sig, integrated))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init").add_argument("dir")
    for command in ["blob", "legacy", "statement"]:
        s = sub.add_parser(command)
        s.add_argument("dir")
        s.add_argument("input")
        s.add_argument("--identity", required=True)
        s.add_argument("--issuer", required=True)
        s.add_argument("--out", required=True)
        s.add_argument("--not-before", type=int)
        s.add_argument("--not-after", type=int)
        s.add_argument("--integrated-time", type=int)
        s.add_argument("--no-sct", action="store_true")
        s.add_argument("--timestamp", action="store_true")
    args = p.parse_args()
    if args.command == "init":
        return init(args.dir)
    now = int(time.time())
    integrated = args.integrated_time if args.integrated_time is not None else now
    made = {"blob": sign_blob, "legacy": sign_legacy, "statement": sign_statement}[args.command](
        args.dir, args, now, integrated)
    with open(args.out, "w") as f:
        json.dump(made, f, indent=2)


if __name__ == "__main__":
    sys.exit(main())
