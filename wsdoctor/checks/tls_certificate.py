"""A certificate as plain data (:class:`CertificateInfo`), read from its DER bytes: by
:mod:`wsdoctor.x509lite` for a chain OpenSSL verified, by cryptography otherwise."""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from wsdoctor.models import Model


class CertificateInfo(Model):
    """One certificate of the chain, described without anything secret."""

    subject: str
    common_name: str | None = None
    organization: str | None = None
    sans: list[str] = []
    """DNS names and IP addresses of the subjectAltName extension."""
    issuer: str
    issuer_common_name: str | None = None
    serial: str
    not_before: datetime
    not_after: datetime
    sha256: str
    """SHA-256 fingerprint of the DER encoding, lower-case hex."""
    key_type: str
    """RSA, EC, Ed25519, Ed448, DSA or unknown."""
    key_size: int | None = None
    curve: str | None = None
    signature_algorithm: str | None = None
    self_signed: bool = False
    """Subject equals issuer and the certificate's own key verifies its signature."""
    is_ca: bool = False


def _attribute(name: Any, oid: Any) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def parse_certificate(der: bytes, *, verified: bool = False) -> CertificateInfo:
    """Describe a DER certificate: names, validity, fingerprint, key and self-signedness.

    ``verified``: the certificate is part of a chain OpenSSL verified, so it is well formed and
    :mod:`wsdoctor.x509lite` describes it when it can (as cryptography would, without the
    ~25 ms of importing cryptography); anything else is parsed by cryptography."""
    if verified:
        from wsdoctor.x509lite import describe  # only once there is a certificate

        fields = describe(der)
        if fields is not None:
            return CertificateInfo(**fields)
    return _parse_with_cryptography(der)


def _parse_with_cryptography(der: bytes) -> CertificateInfo:
    # imported only here: a healthy chain (see parse_certificate) and ws:// runs never load it
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
    from cryptography.x509.oid import NameOID

    cert = x509.load_der_x509_certificate(der)
    sans: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans = [*ext.get_values_for_type(x509.DNSName)]
        sans += [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]
    is_ca = False
    with contextlib.suppress(x509.ExtensionNotFound, ValueError):
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    key = cert.public_key()
    key_type, key_size, curve = "unknown", None, None
    if isinstance(key, rsa.RSAPublicKey):
        key_type, key_size = "RSA", key.key_size
    elif isinstance(key, ec.EllipticCurvePublicKey):
        key_type, key_size, curve = "EC", key.key_size, key.curve.name
    elif isinstance(key, ed25519.Ed25519PublicKey):
        key_type, key_size = "Ed25519", 256
    elif isinstance(key, ed448.Ed448PublicKey):
        key_type, key_size = "Ed448", 456
    elif isinstance(key, dsa.DSAPublicKey):
        key_type, key_size = "DSA", key.key_size
    self_signed = False
    if cert.subject == cert.issuer:
        try:
            cert.verify_directly_issued_by(cert)
            self_signed = True
        except Exception:  # a different key signed it: self-issued, not self-signed
            self_signed = False
    signature = cert.signature_hash_algorithm
    return CertificateInfo(
        subject=cert.subject.rfc4514_string(),
        common_name=_attribute(cert.subject, NameOID.COMMON_NAME),
        organization=_attribute(cert.subject, NameOID.ORGANIZATION_NAME),
        sans=sans,
        issuer=cert.issuer.rfc4514_string(),
        issuer_common_name=_attribute(cert.issuer, NameOID.COMMON_NAME),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        sha256=cert.fingerprint(hashes.SHA256()).hex(),
        key_type=key_type,
        key_size=key_size,
        curve=curve,
        signature_algorithm=f"{signature.name}-{key_type}" if signature else key_type,
        self_signed=self_signed,
        is_ca=is_ca,
    )
