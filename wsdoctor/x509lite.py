"""A certificate described without cryptography (whose import costs ~25 ms on every wss://
run): the fields of :class:`~wsdoctor.checks.tls_certificate.CertificateInfo`, exactly as
cryptography gives them, for the certificates a healthy chain is made of.

:func:`describe` answers only what it is sure of and returns None for anything else (a string
type, key, curve or signature it does not know, a self-signature it cannot confirm, a date
form it does not read): the caller then asks cryptography. A test holds the two equal."""

from __future__ import annotations

import hashlib
import ipaddress
from datetime import UTC, datetime
from typing import Any

from wsdoctor import der

#: cryptography's short names (``_NAMEOID_TO_NAME``); other attributes are dotted OIDs.
_SHORT_NAMES = {"2.5.4.3": "CN", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O",
                "2.5.4.11": "OU", "2.5.4.6": "C", "2.5.4.9": "STREET",
                "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID"}
_COMMON_NAME, _ORGANIZATION = "2.5.4.3", "2.5.4.10"
#: String types decoded the same way by every reader: UTF8String, PrintableString, IA5String.
_STRINGS = {0x0C: "utf-8", 0x13: "ascii", 0x16: "ascii"}
#: Signature algorithm OID -> (hash name as cryptography gives it, key type that signs).
SIGNATURES = {
    "1.2.840.113549.1.1.5": ("sha1", "RSA"),
    "1.2.840.113549.1.1.14": ("sha224", "RSA"),
    "1.2.840.113549.1.1.11": ("sha256", "RSA"),
    "1.2.840.113549.1.1.12": ("sha384", "RSA"),
    "1.2.840.113549.1.1.13": ("sha512", "RSA"),
    "1.2.840.10045.4.1": ("sha1", "EC"),
    "1.2.840.10045.4.3.1": ("sha224", "EC"),
    "1.2.840.10045.4.3.2": ("sha256", "EC"),
    "1.2.840.10045.4.3.3": ("sha384", "EC"),
    "1.2.840.10045.4.3.4": ("sha512", "EC"),
}
_RSA_KEY, _EC_KEY = "1.2.840.113549.1.1.1", "1.2.840.10045.2.1"
#: Named curves: OID -> (cryptography's name, key size).
CURVES = {"1.2.840.10045.3.1.7": ("secp256r1", 256), "1.3.132.0.34": ("secp384r1", 384),
          "1.3.132.0.35": ("secp521r1", 521)}
_SUBJECT_ALT_NAME, _BASIC_CONSTRAINTS = "2.5.29.17", "2.5.29.19"


class _Unsure(Exception):
    """Something only cryptography can answer."""


def _name(value: bytes) -> tuple[list[list[tuple[str, str]]], str]:
    """A Name's RDNs as (OID, text) pairs, and its RFC 4514 form as cryptography writes it."""
    rdns: list[list[tuple[str, str]]] = []
    for tag, rdn in der.children(value):
        if tag != der.SET:
            raise der.DerError("RDN is not a SET")
        pairs = []
        for tag, pair in der.children(rdn):
            kind, oid_value, at = der.tlv(pair, 0)
            string, encoded, end = der.tlv(pair, at)
            if tag != der.SEQUENCE or kind != der.OID or end != len(pair):
                raise der.DerError("bad attribute")
            if string not in _STRINGS:
                raise _Unsure("string type")
            pairs.append((der.oid(oid_value), encoded.decode(_STRINGS[string])))
        if not pairs or len(set(pairs)) != len(pairs):
            raise _Unsure("empty RDN or duplicate attribute")
        rdns.append(pairs)
    text = ",".join("+".join(f"{_SHORT_NAMES.get(oid, oid)}={_escape(value)}"
                             for oid, value in rdn) for rdn in reversed(rdns))
    return rdns, text


def _escape(value: str) -> str:
    """cryptography's ``_escape_dn_value``."""
    if not value:
        return ""
    for special in ("\\", '"', "+", ",", ";", "<", ">"):
        value = value.replace(special, "\\" + special)
    value = value.replace("\0", "\\00")
    if value[0] == "#" or (value[0] == " " and len(value) > 1):
        value = "\\" + value
    if value[-1] == " ":
        value = value[:-1] + "\\ "
    return value


def _first(rdns: list[list[tuple[str, str]]], oid: str) -> str | None:
    return next((value for rdn in rdns for o, value in rdn if o == oid), None)


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii")
    if tag == 0x17 and len(text) == 13 and text.endswith("Z"):  # UTCTime YYMMDDHHMMSSZ
        year = int(text[:2])
        text = f"{1900 + year if year >= 50 else 2000 + year}{text[2:]}"
    elif not (tag == 0x18 and len(text) == 15 and text.endswith("Z")):
        raise _Unsure("time form")
    if not text[:-1].isdigit():
        raise der.DerError("bad time")
    # not strptime: its first use imports _strptime, calendar and locale
    return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]),
                    int(text[10:12]), int(text[12:14]), tzinfo=UTC)


def _key(spki: bytes) -> tuple[str, int, str | None, Any]:
    """Key type, size, curve and the key itself (``(n, e)`` or the EC point's bytes)."""
    algorithm, at = der.expect(spki, 0, der.SEQUENCE)
    key_bits, _ = der.expect(spki, at, der.BIT_STRING)
    key = der.bit_string(key_bits)
    kind = list(der.children(algorithm))
    algorithm_oid = der.oid(kind[0][1]) if kind and kind[0][0] == der.OID else ""
    if algorithm_oid == _RSA_KEY:
        numbers, _ = der.expect(key, 0, der.SEQUENCE)
        (t1, modulus), (t2, exponent) = der.children(numbers)
        n, e = der.integer(modulus), der.integer(exponent)
        if t1 != der.INTEGER or t2 != der.INTEGER or n <= 0 or e <= 0:
            raise _Unsure("RSA key")
        return "RSA", n.bit_length(), None, (n, e)
    if algorithm_oid == _EC_KEY and len(kind) == 2 and kind[1][0] == der.OID:
        parameters = der.oid(kind[1][1])
        if parameters in CURVES and key[:1] == b"\x04":  # uncompressed points only
            curve, size = CURVES[parameters]
            return "EC", size, curve, (parameters, key)
    raise _Unsure("key type")


def _extensions(value: bytes) -> tuple[list[str], bool]:
    """The SANs (DNS names, then IP addresses) and whether it is a CA."""
    dns: list[str] = []
    ips: list[str] = []
    is_ca = False
    seen: set[str] = set()
    outer, _ = der.expect(value, 0, der.SEQUENCE)
    for tag, extension in der.children(outer):
        parts = list(der.children(extension))
        if tag != der.SEQUENCE or not parts or parts[0][0] != der.OID \
                or parts[-1][0] != der.OCTET_STRING:
            raise der.DerError("bad extension")
        name = der.oid(parts[0][1])
        if name in seen:
            raise _Unsure("duplicate extension")
        seen.add(name)
        body = parts[-1][1]
        if name == _SUBJECT_ALT_NAME:
            names, _ = der.expect(body, 0, der.SEQUENCE)
            for kind, general in der.children(names):
                if kind == 0x82:  # dNSName
                    dns.append(general.decode("ascii"))
                elif kind == 0x87:  # iPAddress
                    if len(general) not in (4, 16):
                        raise _Unsure("SAN IP network")
                    ips.append(str(ipaddress.ip_address(general)))
        elif name == _BASIC_CONSTRAINTS:
            constraints, _ = der.expect(body, 0, der.SEQUENCE)
            fields = list(der.children(constraints))
            if fields and fields[0][0] == der.BOOLEAN:
                is_ca = fields[0][1] == b"\xff"
    return dns + ips, is_ca


def describe(data: bytes) -> dict[str, Any] | None:
    """The fields of ``CertificateInfo`` for a DER certificate, or None when only cryptography
    can tell (see the module's docstring)."""
    try:
        return _describe(data)
    except (_Unsure, der.DerError, ValueError, IndexError):
        return None


def _describe(data: bytes) -> dict[str, Any]:
    certificate, end = der.expect(data, 0, der.SEQUENCE)
    if end != len(data):
        raise der.DerError("trailing bytes")
    tbs_element = der.element(certificate, 0)
    tbs, at = der.expect(certificate, 0, der.SEQUENCE)
    signature_algorithm, at = der.expect(certificate, at, der.SEQUENCE)
    signature_bits, _ = der.expect(certificate, at, der.BIT_STRING)
    fields = list(der.children(tbs))
    if fields and fields[0][0] == 0xA0:  # version [0] EXPLICIT, absent for v1
        fields = fields[1:]
    (t_serial, serial), (_, inner_algorithm), (t_issuer, issuer), (_, validity), \
        (t_subject, subject), (_, spki), *rest = fields
    if t_serial != der.INTEGER or t_issuer != der.SEQUENCE or t_subject != der.SEQUENCE:
        raise der.DerError("bad TBSCertificate")
    algorithm = list(der.children(signature_algorithm))
    signature_oid = der.oid(algorithm[0][1])
    if signature_oid not in SIGNATURES or inner_algorithm != signature_algorithm:
        raise _Unsure("signature algorithm")
    hash_name, signer_type = SIGNATURES[signature_oid]
    subject_rdns, subject_text = _name(subject)
    issuer_rdns, issuer_text = _name(issuer)
    (t_from, not_before), (t_to, not_after) = der.children(validity)
    key_type, key_size, curve, key = _key(spki)
    sans: list[str] = []
    is_ca = False
    for tag, value in rest:
        if tag == 0xA3:
            sans, is_ca = _extensions(value)
        elif tag not in (0x81, 0x82):  # issuer/subject unique IDs
            raise der.DerError("unknown TBSCertificate field")
    self_signed = False
    if [set(r) for r in subject_rdns] == [set(r) for r in issuer_rdns]:
        if issuer != subject or key_type != signer_type:
            raise _Unsure("equal names encoded differently, or a foreign signature type")
        from wsdoctor.selfsig import signed_by_own_key  # most certificates are not self-issued

        if not signed_by_own_key(tbs_element, der.bit_string(signature_bits), hash_name, key):
            raise _Unsure("self-signature not confirmed")
        self_signed = True
    return {
        "subject": subject_text,
        "common_name": _first(subject_rdns, _COMMON_NAME),
        "organization": _first(subject_rdns, _ORGANIZATION),
        "sans": sans,
        "issuer": issuer_text,
        "issuer_common_name": _first(issuer_rdns, _COMMON_NAME),
        "serial": format(der.integer(serial), "x"),
        "not_before": _time(t_from, not_before),
        "not_after": _time(t_to, not_after),
        "sha256": hashlib.sha256(data).hexdigest(),
        "key_type": key_type,
        "key_size": key_size,
        "curve": curve,
        "signature_algorithm": f"{hash_name}-{key_type}",
        "self_signed": self_signed,
        "is_ca": is_ca,
    }

