#!/usr/bin/env python3
"""An OIDC issuer for the local Sigstore stack's tests: discovery, a JWKS with one P-256 key,
and ES256 ID tokens on request, for Fulcio to check and sign certificates for.

    oidc_issuer.py HOST PORT

The issuer is http://HOST:PORT, and every path prefix below it is an issuer too (with the
same key), so that one process stands for an email issuer (http://HOST:PORT) and a
GitHub-workflow one (http://HOST:PORT/gha):

    GET [/PREFIX]/.well-known/openid-configuration
    GET [/PREFIX]/jwks
    GET [/PREFIX]/token?sub=S[&aud=A][&ttl=SECONDS][&claims=JSON]

A token's claims are iss, sub, aud (default "sigstore"), iat, nbf, exp (default ten minutes),
and, unless `claims` says otherwise, email = sub with email_verified. `claims` (a JSON object)
is merged last; a null in it removes that claim: a GitHub-shaped token must carry no email,
since a Sigstore client proves possession of the email when there is one and of sub when not.
"""

import base64
import hashlib
import http.server
import json
import sys
import time
import urllib.parse

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


host, port = sys.argv[1], int(sys.argv[2])
base = f"http://{host}:{port}"
key = ec.generate_private_key(ec.SECP256R1())
numbers = key.public_key().public_numbers()
jwk = {
    "kty": "EC",
    "crv": "P-256",
    "x": b64url(numbers.x.to_bytes(32, "big")),
    "y": b64url(numbers.y.to_bytes(32, "big")),
}
# RFC 7638 thumbprint: the required members, sorted, no whitespace.
kid = b64url(hashlib.sha256(json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()).digest())
jwk.update({"use": "sig", "alg": "ES256", "kid": kid})


def discovery(issuer: str) -> dict:
    return {
        "issuer": issuer,
        "jwks_uri": issuer + "/jwks",
        "authorization_endpoint": issuer + "/auth",
        "token_endpoint": issuer + "/token",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        # Without it go-oidc (Fulcio's verifier) accepts RS256 tokens only.
        "id_token_signing_alg_values_supported": ["ES256"],
    }


def token(issuer: str, query: dict) -> str:
    one = lambda name, default: query.get(name, [default])[0]
    now = int(time.time())
    sub = one("sub", "signer@example.com")
    claims = {
        "iss": issuer,
        "sub": sub,
        "aud": one("aud", "sigstore"),
        "email": sub,
        "email_verified": True,
        "iat": now,
        "nbf": now - 5,
        "exp": now + int(one("ttl", "600")),
    }
    claims.update(json.loads(one("claims", "{}")))
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": "ES256", "typ": "JWT", "kid": kid}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, status: int, body: str, content_type: str = "application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        for endpoint in ("/.well-known/openid-configuration", "/jwks", "/token"):
            if url.path.endswith(endpoint):
                issuer = base + url.path[: -len(endpoint)]
                break
        else:
            return self.answer(404, "{}")
        if endpoint == "/jwks":
            self.answer(200, json.dumps({"keys": [jwk]}))
        elif endpoint == "/token":
            self.answer(200, token(issuer, urllib.parse.parse_qs(url.query)), "text/plain")
        else:
            self.answer(200, json.dumps(discovery(issuer)))

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer((host, port), Handler).serve_forever()
