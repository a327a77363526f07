#!/usr/bin/env python3
"""A tampering proxy in front of the local Sigstore stack's real Fulcio, Rekor v2 (and
Rekor v1 when the stack runs it) and timestamp authority: each request is forwarded to the real service, and the real answer,
made for *this* signature, is altered before it is returned, the way a compromised
service or a hop in front of it would lie.

    lying_service.py HOST PORT STACK_DIR SERVICE=URL...

SERVICE is `fulcio`, `rekor`, `rekor1` or `tsa`; URL the real service's base (`http://127.0.0.1:18081`).
A request for /SERVICE/MODE/REST is forwarded to URL/REST and its answer altered by MODE, so
that one process serves every lie and a client picks one with the URL it is given:

  any service   pass         the genuine answer, unaltered
                html500      500 with an HTML error page
                garbage      200 with bytes that are no answer
                truncated    the first half of the genuine answer, with its own length
                cut          the genuine Content-Length, half the body, then the connection closed
                replay       the genuine answer to the previous request (another signature's)
  fulcio        foreign-ca   the leaf re-issued by a CA of this proxy's own
                no-sct       the leaf re-issued by the stack's intermediate, without its SCT
                unknown-sct  the same, with an SCT signed by a log of this proxy's own
                no-intermediate  the chain with the intermediate removed
                detached     that leaf without its SCT, the SCT beside it (the detached form)
                chain-garbage    the genuine leaf, then a PEM block that is no certificate
                chain-foreign    the genuine leaf, then this proxy's own CA certificate
  rekor         proof        one inclusion-proof hash flipped
                checkpoint   the checkpoint's signature corrupted
                body         the entry's body taken from the previous answer
                index        the entry's logIndex changed
  rekor1        set          one byte of the signed entry timestamp flipped
                time         integratedTime a minute later (inside a Fulcio certificate's
                             ten minutes, so that only the SET can tell)
                index        logIndex + 1
                proof        one inclusion-proof hash (hex) flipped
                body         the entry's body taken from the previous answer
                checkpoint   the checkpoint's signature corrupted
                conflict     the entry submitted, then 409 naming the log's first entry
                             (another signature's) as the one it already holds
                again        the entry submitted twice: the log's own second answer, its
                             genuine 409 naming this very entry
                again-location  the same, its Location header pointing at /trap/ on this
                             proxy, which answers 404 (a client must fetch what the 409
                             names from the log it posted to)
  tsa           untrusted    a token for the same request, signed by a TSA of this proxy's own
                imprint      the real TSA's token for another imprint (the request altered)

STACK_DIR holds the stack's Fulcio intermediate (`fulcio-int.pem`, `fulcio-int.key`); the
proxy's own keys are made in STACK_DIR/lying-service. GET /healthz answers 200; a GET of
/rekor1/MODE/REST is forwarded unaltered, so that the entry a 409 names can be fetched.
"""

import base64
import datetime
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")

host, port, stack_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3]
upstreams = dict(arg.split("=", 1) for arg in sys.argv[4:])
work = os.path.join(stack_dir, "lying-service")
os.makedirs(work, exist_ok=True)
previous = {}
lock = threading.Lock()


def pem(path):
    with open(os.path.join(stack_dir, path), "rb") as f:
        return f.read()


stack_int_cert = x509.load_pem_x509_certificate(pem("fulcio-int.pem"))
stack_int_key = serialization.load_pem_private_key(pem("fulcio-int.key"), None)


def self_signed(name, usage):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
    )
    for ext, critical in usage:
        builder = builder.add_extension(ext, critical)
    return key, builder.sign(key, hashes.SHA256())


foreign_ca_key, foreign_ca = self_signed(
    "lying-service CA",
    [
        (x509.BasicConstraints(ca=True, path_length=0), True),
        (
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            True,
        ),
    ],
)
foreign_log_key = ec.generate_private_key(ec.SECP256R1())
tsa_key, tsa_cert = self_signed(
    "lying-service TSA",
    [(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True)],
)
with open(os.path.join(work, "tsa.key"), "wb") as f:
    f.write(
        tsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
with open(os.path.join(work, "tsa.pem"), "wb") as f:
    f.write(tsa_cert.public_bytes(serialization.Encoding.PEM))
with open(os.path.join(work, "ts.cnf"), "w") as f:
    f.write(
        f"""[ tsa ]
default_tsa = lying
[ lying ]
serial = {work}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.57264.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""
    )


def flip(b64, at=-1):
    raw = bytearray(base64.b64decode(b64))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def der_length(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def reissue(leaf, issuer_cert, issuer_key, sct_key=None):
    """The leaf's subject, key, serial, validity and extensions (its SCT list dropped),
    signed by `issuer_key`; with an SCT over it by `sct_key` when given."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(issuer_cert.subject)
        .public_key(leaf.public_key())
        .serial_number(leaf.serial_number)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for ext in leaf.extensions:
        if ext.oid == SCT_OID:
            continue
        if ext.oid == x509.ObjectIdentifier("2.5.29.35"):
            ext = x509.Extension(
                ext.oid,
                False,
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    issuer_key.public_key()
                ),
            )
        builder = builder.add_extension(ext.value, ext.critical)
    precert = builder.sign(issuer_key, hashes.SHA384())
    if sct_key is None:
        return precert
    # RFC 6962 §3.2: the SCT signs the precertificate's TBS (this certificate's without
    # the SCT list) and the issuer's key hash.
    stamp = int(time.time() * 1000).to_bytes(8, "big")
    tbs = precert.tbs_certificate_bytes
    issuer_key_hash = hashlib.sha256(
        issuer_cert.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    ).digest()
    signed = (
        b"\x00\x00"
        + stamp
        + b"\x00\x01"
        + issuer_key_hash
        + len(tbs).to_bytes(3, "big")
        + tbs
        + b"\x00\x00"
    )
    signature = sct_key.sign(signed, ec.ECDSA(hashes.SHA256()))
    log_id = hashlib.sha256(
        sct_key.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo,
        )
    ).digest()
    sct = (
        b"\x00"
        + log_id
        + stamp
        + b"\x00\x00"
        + b"\x04\x03"
        + len(signature).to_bytes(2, "big")
        + signature
    )
    listed = len(sct).to_bytes(2, "big") + sct
    tls = len(listed).to_bytes(2, "big") + listed
    value = b"\x04" + der_length(len(tls)) + tls
    builder = builder.add_extension(x509.UnrecognizedExtension(SCT_OID, value), False)
    return builder.sign(issuer_key, hashes.SHA384())


def lie_fulcio(mode, body):
    answer = json.loads(body)
    chain = answer["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    leaf = x509.load_pem_x509_certificate(chain[0].encode())
    to_pem = lambda c: c.public_bytes(serialization.Encoding.PEM).decode()
    if mode == "foreign-ca":
        chain[:] = [to_pem(reissue(leaf, foreign_ca, foreign_ca_key)), to_pem(foreign_ca)]
    elif mode == "no-sct":
        chain[0] = to_pem(reissue(leaf, stack_int_cert, stack_int_key))
    elif mode == "unknown-sct":
        chain[0] = to_pem(
            reissue(leaf, stack_int_cert, stack_int_key, sct_key=foreign_log_key)
        )
    elif mode == "chain-garbage":
        garbage = base64.encodebytes(b"not a certificate").decode()
        chain[1:] = [f"-----BEGIN CERTIFICATE-----\n{garbage}-----END CERTIFICATE-----\n"]
    elif mode == "chain-foreign":
        chain[1:] = [to_pem(foreign_ca)]
    elif mode == "no-intermediate":
        del chain[1:-1]
    elif mode == "detached":
        # The shape of Fulcio's answer when its CT log hands back the SCT beside the
        # certificate: a chain whose leaf carries none.
        chain[0] = to_pem(reissue(leaf, stack_int_cert, stack_int_key))
        return json.dumps(
            {
                "signedCertificateDetachedSct": {
                    "chain": {"certificates": chain},
                    "signedCertificateTimestamp": base64.b64encode(b"\x00" * 47).decode(),
                }
            }
        ).encode()
    else:
        return None
    return json.dumps(answer).encode()


def lie_rekor(mode, body, before):
    entry = json.loads(body)
    proof = entry["inclusionProof"]
    if mode == "proof":
        if proof.get("hashes"):
            proof["hashes"][0] = flip(proof["hashes"][0])
        else:
            proof["rootHash"] = flip(proof["rootHash"])
    elif mode == "checkpoint":
        # A signed note: the text, a blank line, then "— NAME BASE64(KEY-HINT || SIGNATURE)".
        note = proof["checkpoint"]["envelope"]
        text, _, signatures = note.rpartition("\n\n")
        lines = signatures.rstrip("\n").split("\n")
        dash, name, sig = lines[0].split(" ")
        lines[0] = " ".join([dash, name, flip(sig)])
        proof["checkpoint"]["envelope"] = text + "\n\n" + "\n".join(lines) + "\n"
    elif mode == "body":
        entry["canonicalizedBody"] = json.loads(before)["canonicalizedBody"]
    elif mode == "index":
        entry["logIndex"] = str(int(entry.get("logIndex", "0")) + 1)
    else:
        return None
    return json.dumps(entry).encode()


def lie_rekor1(mode, body, before):
    # Rekor v1 answers one entry keyed by its UUID; the proof's hashes are hex.
    answer = json.loads(body)
    (uuid, entry), = answer.items()
    verification = entry["verification"]
    proof = verification["inclusionProof"]
    if mode == "set":
        verification["signedEntryTimestamp"] = flip(verification["signedEntryTimestamp"], 10)
    elif mode == "time":
        entry["integratedTime"] += 60
    elif mode == "index":
        entry["logIndex"] += 1
    elif mode == "proof":
        field, at = ("hashes", 0) if proof.get("hashes") else ("rootHash", None)
        raw = bytearray.fromhex(proof[field][at] if at is not None else proof[field])
        raw[0] ^= 0x01
        if at is None:
            proof[field] = raw.hex()
        else:
            proof[field][at] = raw.hex()
    elif mode == "body":
        (_, earlier), = json.loads(before).items()
        entry["body"] = earlier["body"]
    elif mode == "checkpoint":
        text, _, signatures = proof["checkpoint"].rpartition("\n\n")
        lines = signatures.rstrip("\n").split("\n")
        dash, name, sig = lines[0].split(" ")
        lines[0] = " ".join([dash, name, flip(sig)])
        proof["checkpoint"] = text + "\n\n" + "\n".join(lines) + "\n"
    else:
        return None
    return json.dumps({uuid: entry}).encode()


def imprint_altered(request):
    """The RFC 3161 request with one bit of its SHA-256 message imprint flipped."""
    sha256 = bytes.fromhex("0609608648016503040201")
    at = request.index(sha256)
    octets = request.index(b"\x04\x20", at) + 2
    altered = bytearray(request)
    altered[octets] ^= 0x01
    return bytes(altered)


def untrusted_stamp(request):
    query = os.path.join(work, f"query-{threading.get_ident()}.tsq")
    reply = os.path.join(work, f"reply-{threading.get_ident()}.tsr")
    with open(query, "wb") as f:
        f.write(request)
    subprocess.run(
        ["openssl", "ts", "-reply", "-config", os.path.join(work, "ts.cnf"),
         "-queryfile", query, "-signer", os.path.join(work, "tsa.pem"),
         "-inkey", os.path.join(work, "tsa.key"), "-out", reply],
        check=True,
        capture_output=True,
    )
    with open(reply, "rb") as f:
        return f.read()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        parts = self.path.split("/", 3)
        if self.path == "/healthz":
            self.answer(200, b"ok", "text/plain")
        elif len(parts) == 4 and parts[1] == "rekor1" and "rekor1" in upstreams:
            self.answer(*self.forward(f"{upstreams['rekor1']}/{parts[3]}", None))
        else:
            self.answer(404, b"not found", "text/plain")

    def forward(self, url, data):
        request = urllib.request.Request(
            url,
            data=data,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
            method="GET" if data is None else "POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def conflict(self, rest, request):
        # The log's first entry, which the test made beforehand for another signature.
        self.forward(f"{upstreams['rekor1']}/{rest}", request)
        _, first, _ = self.forward(
            f"{upstreams['rekor1']}/api/v1/log/entries?logIndex=0", None
        )
        (uuid, _), = json.loads(first).items()
        message = (
            "an equivalent entry already exists in the transparency log with UUID " + uuid
        )
        body = json.dumps({"code": 409, "message": message}).encode()
        self.answer(409, body, "application/json")

    def do_POST(self):
        request = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        parts = self.path.split("/", 3)
        if len(parts) < 4 or parts[1] not in upstreams:
            self.answer(404, b"no such service", "text/plain")
            return
        service, mode, rest = parts[1], parts[2], parts[3]
        if service == "tsa" and mode == "imprint":
            request = imprint_altered(request)
        if service == "rekor1" and mode == "conflict":
            self.conflict(rest, request)
            return
        if service == "rekor1" and mode in ("again", "again-location"):
            self.forward(f"{upstreams[service]}/{rest}", request)
            status, body, content_type = self.forward(f"{upstreams[service]}/{rest}", request)
            if mode == "again-location":
                trap = f"http://{host}:{port}/trap/{rest}/held"
                self.answer(status, body, content_type, {"Location": trap})
            else:
                self.answer(status, body, content_type)
            return
        forwarded = urllib.request.Request(
            f"{upstreams[service]}/{rest}",
            data=request,
            headers={"Content-Type": self.headers.get("Content-Type", "")},
            method="POST",
        )
        try:
            with urllib.request.urlopen(forwarded, timeout=30) as r:
                status, body = r.status, r.read()
                content_type = r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
            content_type = e.headers.get("Content-Type", "")
        with lock:
            before = previous.get(service)
            if 200 <= status < 300:
                previous[service] = body
        if not 200 <= status < 300 or mode == "pass":
            self.answer(status, body, content_type)
        elif mode == "html500":
            page = b"<html><head><title>500 Internal Server Error</title></head>\n<body><h1>Internal Server Error</h1></body></html>\n"
            self.answer(500, page, "text/html")
        elif mode == "garbage":
            self.answer(200, b"\x00\xffnot an answer\x7f" * 8, content_type)
        elif mode == "truncated":
            self.answer(200, body[: len(body) // 2], content_type)
        elif mode == "cut":
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        elif mode == "replay":
            self.answer(200, before, content_type)
        elif service == "tsa" and mode == "imprint":
            self.answer(status, body, content_type)
        elif service == "tsa" and mode == "untrusted":
            self.answer(200, untrusted_stamp(request), content_type)
        else:
            lied = {
                "fulcio": lambda: lie_fulcio(mode, body),
                "rekor": lambda: lie_rekor(mode, body, before),
                "rekor1": lambda: lie_rekor1(mode, body, before),
            }.get(service, lambda: None)()
            if lied is None:
                self.answer(400, f"no mode {mode} for {service}".encode(), "text/plain")
            else:
                self.answer(200, lied, content_type)

    def answer(self, status, body, content_type, headers={}):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        sys.stderr.write("%s\n" % (format % args))


http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
