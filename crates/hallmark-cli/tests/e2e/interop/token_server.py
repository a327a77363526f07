#!/usr/bin/env python3
"""A token server speaking the distribution token protocol, for tests: it issues ES256 JWTs
whose `access` claim grants what GRANTS allows the one user it knows.

    token_server.py DIR USER:PASSWORD GRANTS_JSON [ADMIN:PASSWORD]

Writes DIR/token.pem (the certificate the registry trusts), then prints the port it listens
on. GRANTS_JSON maps repository names to the actions the user may have, e.g.
{"team/app": ["pull", "push"], "team/other": ["pull"]}. The optional admin gets every action
asked for (to set the registry up). Anonymous requests get no access; a wrong password is 401.
With TOKEN_LIFETIME=N in the environment, tokens are good for N seconds only.
"""

import base64
import datetime
import http.server
import json
import os
import sys
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

out, credentials, grants = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
user, password = credentials.split(":", 1)
admin = sys.argv[4] if len(sys.argv) > 4 else None
lifetime = int(os.environ.get("TOKEN_LIFETIME", "300"))
key = ec.generate_private_key(ec.SECP256R1())
now = datetime.datetime.now(datetime.timezone.utc)
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hallmark test token issuer")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256()))
open(os.path.join(out, "token.pem"), "wb").write(cert.public_bytes(serialization.Encoding.PEM))
x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims):
    header = {"alg": "ES256", "typ": "JWT", "x5c": [x5c]}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        auth = self.headers.get("Authorization", "")
        who = None
        if auth.startswith("Basic "):
            given = base64.b64decode(auth[6:]).decode()
            if given == admin:
                who = "admin"
            elif given == f"{user}:{password}":
                who = user
            else:
                self.send_response(401)
                self.end_headers()
                return
        access = []
        for scope in query.get("scope", []):
            kind, _, rest = scope.partition(":")
            repo, _, actions = rest.rpartition(":")
            if who == "admin":
                allowed = set(actions.split(","))
            else:
                allowed = set(grants.get(repo, [])) if who else set()
            granted = sorted(set(actions.split(",")) & allowed)
            access.append({"type": kind, "name": repo, "actions": granted})
        t = int(time.time())
        # The registry accepts a token until 60 s past its `exp` (distribution's clock-skew
        # leeway), so a token meant to die in N seconds says it expired 60 s earlier.
        exp = t + lifetime - 60 if lifetime < 300 else t + lifetime
        token = jwt({"iss": "hallmark-test", "sub": who or "", "aud": query.get("service", [""])[0],
                     "exp": exp, "nbf": t - 10, "iat": t, "jti": os.urandom(8).hex(), "access": access})
        body = json.dumps({"token": token, "access_token": token, "expires_in": lifetime}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
