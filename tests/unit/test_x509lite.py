"""The plain reader of certificates (used for chains OpenSSL verified) describes them exactly
as cryptography does, and leaves to cryptography whatever it cannot be sure of."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from wsdoctor.checks.tls_probe import parse_certificate
from wsdoctor.lab import certs
from wsdoctor.selfsig import CURVES
from wsdoctor.x509lite import describe

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Key = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
KEYS: dict[str, Key] = {
    "rsa": rsa.generate_private_key(65537, 2048),
    "p256": ec.generate_private_key(ec.SECP256R1()),
    "p384": ec.generate_private_key(ec.SECP384R1()),
    "p521": ec.generate_private_key(ec.SECP521R1()),
}
HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
#: RFC 4514 specials, a multi-valued RDN, an attribute without a short name, UTF-8.
ODD_NAME = x509.Name([
    x509.RelativeDistinguishedName([
        x509.NameAttribute(NameOID.COMMON_NAME, ' #a,b+c;"<>\\ '),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "ou")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.EMAIL_ADDRESS, "a@b.example")]),
    x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ünï Org")]),
])
CA_NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuing CA")])


def build(key: Key, *, signer: Key | None = None, issuer: x509.Name | None = None,
          subject: x509.Name | None = None, digest: hashes.HashAlgorithm | None = None,
          not_after: datetime = NOW + timedelta(days=90), ca: bool = False) -> bytes:
    """A DER certificate; self-signed unless ``signer`` is given."""
    subject = subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x.example")])
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or subject)
               .public_key(key.public_key()).serial_number(2**158 + 7)
               .not_valid_before(NOW).not_valid_after(not_after)
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectAlternativeName([
                   x509.DNSName("a.example"), x509.IPAddress(ipaddress.ip_address("10.0.0.1")),
                   x509.IPAddress(ipaddress.ip_address("::1")), x509.DNSName("*.b.example"),
                   x509.RFC822Name("x@y.example")]), critical=False))
    signing = signer or key
    chosen = None if isinstance(signing, ed25519.Ed25519PrivateKey) else \
        digest or hashes.SHA256()
    return builder.sign(signing, chosen).public_bytes(Encoding.DER)


def cases() -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for name, key in KEYS.items():
        for hash_name, digest in HASHES.items():
            found[f"{name} {hash_name} self-signed CA"] = build(key, digest=digest, ca=True)
            found[f"{name} {hash_name} leaf"] = build(key, signer=KEYS["p256"], issuer=CA_NAME,
                                                      digest=digest)
    found["odd names"] = build(KEYS["rsa"], subject=ODD_NAME, ca=True)
    found["after 2049 (GeneralizedTime)"] = build(KEYS["p256"], not_after=datetime(
        2051, 1, 1, tzinfo=UTC))
    lab = certs.LabCA().issue(["ws.lab.test", "127.0.0.1"]).cert_pem
    for index, cert in enumerate(x509.load_pem_x509_certificates(lab)):
        found[f"lab chain {index}"] = cert.public_bytes(Encoding.DER)
    fake = x509.load_pem_x509_certificate(certs.ingress_nginx_fake_certificate().cert_pem)
    found["ingress-nginx fake"] = fake.public_bytes(Encoding.DER)
    return found


CASES = cases()


@pytest.mark.parametrize("case", list(CASES))
def test_the_plain_reader_agrees_with_cryptography(case: str) -> None:
    """Given a certificate of a common kind, when both readers describe it, every field is the
    same (self-signedness included: the signature is really checked)."""
    der = CASES[case]
    assert describe(der) == parse_certificate(der).model_dump()
    assert parse_certificate(der, verified=True) == parse_certificate(der)


def test_what_the_plain_reader_cannot_confirm_goes_to_cryptography() -> None:
    """Given an Ed25519 key, a secp256k1 key, or a self-issued certificate whose own key did not
    sign it, the plain reader declines, and parse_certificate still describes it."""
    other = build(KEYS["p256"], signer=KEYS["p384"])  # same names, another key signed
    declined = {
        "ed25519": build(ed25519.Ed25519PrivateKey.generate()),
        "secp256k1": build(ec.generate_private_key(ec.SECP256K1())),
        "self-issued, not self-signed": other,
    }
    for name, der in declined.items():
        assert describe(der) is None, name
        assert parse_certificate(der, verified=True) == parse_certificate(der), name
    assert parse_certificate(other).self_signed is False


def test_the_curves_are_the_named_ones() -> None:
    """Each curve's generator lies on it and has the stated order (n·G is the identity)."""
    for curve in CURVES.values():
        assert curve.on_curve(*curve.g)
        assert curve.combine(curve.n, 0, curve.g) is None
        assert curve.combine(curve.n - 1, 0, curve.g) == curve.g[0]
