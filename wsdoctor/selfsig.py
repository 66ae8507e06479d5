"""Does a certificate's own key verify its signature? RSA (PKCS #1 v1.5) and ECDSA on the
NIST curves, in plain Python: a root that a server sends with its chain is judged
self-signed without importing cryptography. Only a confirmed signature counts: anything
else (an unknown form, a signature that does not verify) answers False, and the caller asks
cryptography."""

from __future__ import annotations

import hashlib
from typing import Any

from wsdoctor import der

#: DigestInfo prefixes of EMSA-PKCS1-v1_5 (RFC 8017 §9.2, note 1).
_DIGEST_INFO = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


class _Curve:
    """A short Weierstrass curve y² = x³ - 3x + b over GF(p), with generator G of order n."""

    def __init__(self, p: int, b: int, gx: int, gy: int, n: int) -> None:
        self.p, self.b, self.g, self.n = p, b, (gx, gy), n

    def on_curve(self, x: int, y: int) -> bool:
        p = self.p
        return 0 <= x < p and 0 <= y < p and (y * y - (x * x * x - 3 * x + self.b)) % p == 0

    def _double(self, point: tuple[int, int, int]) -> tuple[int, int, int]:
        x, y, z = point
        if y == 0 or z == 0:
            return (1, 1, 0)
        p = self.p
        zz = z * z % p
        m = 3 * (x - zz) * (x + zz) % p  # a = -3
        yy = y * y % p
        s = 4 * x * yy % p
        x3 = (m * m - 2 * s) % p
        return x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p

    def _add(self, one: tuple[int, int, int], two: tuple[int, int, int]) -> tuple[int, int, int]:
        if one[2] == 0:
            return two
        if two[2] == 0:
            return one
        p = self.p
        x1, y1, z1 = one
        x2, y2, z2 = two
        z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
        u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
        s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
        h, r = (u2 - u1) % p, (s2 - s1) % p
        if h == 0:
            return self._double(one) if r == 0 else (1, 1, 0)
        hh = h * h % p
        hhh = h * hh % p
        v = u1 * hh % p
        x3 = (r * r - hhh - 2 * v) % p
        return x3, (r * (v - x3) - s1 * hhh) % p, h * z1 * z2 % p

    def combine(self, u1: int, u2: int, q: tuple[int, int]) -> int | None:
        """x of u1·G + u2·Q (Shamir's trick), or None at infinity."""
        g, qq = (*self.g, 1), (*q, 1)
        both = self._add(g, qq)
        acc: tuple[int, int, int] = (1, 1, 0)
        for bit in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
            acc = self._double(acc)
            pick = ((u1 >> bit) & 1, (u2 >> bit) & 1)
            if pick == (1, 1):
                acc = self._add(acc, both)
            elif pick == (1, 0):
                acc = self._add(acc, g)
            elif pick == (0, 1):
                acc = self._add(acc, qq)
        if acc[2] == 0:
            return None
        return acc[0] * pow(acc[2] * acc[2], -1, self.p) % self.p


def _h(digits: str) -> int:
    return int(digits, 16)


#: FIPS 186-4 D.1.2 (SEC 2 secp256r1, secp384r1, secp521r1), by named-curve OID.
CURVES = {
    "1.2.840.10045.3.1.7": _Curve(
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551),
    "1.3.132.0.34": _Curve(
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        _h("B3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875A"
           "C656398D8A2ED19D2A85C8EDD3EC2AEF"),
        _h("AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B9859F741E082542A38"
           "5502F25DBF55296C3A545E3872760AB7"),
        _h("3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147CE9DA3113B5F0B8C0"
           "0A60B1CE1D7E819D7A431D7C90EA0E5F"),
        _h("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFC7634D81F4372DDF"
           "581A0DB248B0A77AECEC196ACCC52973")),
    "1.3.132.0.35": _Curve(
        2**521 - 1,
        _h("0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
           "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00"),
        _h("00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D"
           "3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66"),
        _h("011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E"
           "662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650"),
        _h("1FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
           "A51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409")),
}


def _rsa(message: bytes, signature: bytes, hash_name: str, n: int, e: int) -> bool:
    prefix = _DIGEST_INFO.get(hash_name)
    size = (n.bit_length() + 7) // 8
    if prefix is None or len(signature) != size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= n:
        return False
    digest = prefix + hashlib.new(hash_name, message).digest()
    padded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return size - len(digest) - 3 >= 8 and pow(s, e, n).to_bytes(size, "big") == padded


def _ecdsa(message: bytes, signature: bytes, hash_name: str, curve_oid: str,
           point: bytes) -> bool:
    curve = CURVES.get(curve_oid)
    if curve is None or hash_name not in ("sha256", "sha384", "sha512"):
        return False
    size = (curve.p.bit_length() + 7) // 8
    if len(point) != 1 + 2 * size:
        return False
    q = int.from_bytes(point[1:1 + size], "big"), int.from_bytes(point[1 + size:], "big")
    pair, end = der.expect(signature, 0, der.SEQUENCE)
    (_, r_value), (_, s_value) = der.children(pair)  # tags: see `canonical`
    r, s = der.integer(r_value), der.integer(s_value)
    canonical = der.encode_integer(r) + der.encode_integer(s) if r > 0 and s > 0 else b""
    n = curve.n
    if end != len(signature) or canonical != pair or not (0 < r < n and 0 < s < n) \
            or not curve.on_curve(*q):
        return False
    digest = hashlib.new(hash_name, message).digest()
    e = int.from_bytes(digest, "big")
    if len(digest) * 8 > n.bit_length():
        e >>= len(digest) * 8 - n.bit_length()
    w = pow(s, -1, n)
    x = curve.combine(e * w % n, r * w % n, q)
    return x is not None and x % n == r


def signed_by_own_key(tbs: bytes, signature: bytes, hash_name: str, key: Any) -> bool:
    """Whether ``signature`` over the TBSCertificate ``tbs`` verifies with the certificate's
    own key (``(n, e)`` for RSA, ``(curve OID, uncompressed point)`` for EC). False also
    when this cannot tell."""
    try:
        if isinstance(key[0], int):
            return _rsa(tbs, signature, hash_name, *key)
        return _ecdsa(tbs, signature, hash_name, *key)
    except (der.DerError, ValueError):
        return False
