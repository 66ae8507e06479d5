"""Certificates for the local lab and the demo: a CA and leaves that are valid, expired,
for the wrong name, self-signed, or copies of the ingress controllers' default certificates."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def _key(kind: str) -> PrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class CertPair:
    """A certificate (PEM, with its chain) and its private key (PEM)."""

    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path, stem: str) -> tuple[Path, Path]:
        """Write ``stem.crt`` and ``stem.key``; return their paths."""
        directory.mkdir(parents=True, exist_ok=True)
        cert, key = directory / f"{stem}.crt", directory / f"{stem}.key"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        key.chmod(0o600)
        return cert, key

    def encrypted_key(self, passphrase: bytes) -> bytes:
        """The private key as an encrypted PKCS#8 PEM (what ``--key`` with a passphrase reads)."""
        key = serialization.load_pem_private_key(self.key_pem, None)
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )

    def combined(self) -> bytes:
        """Certificate then key in one PEM, as HAProxy's ``crt`` wants."""
        return self.cert_pem + self.key_pem


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class LabCA:
    """A throw-away certificate authority."""

    def __init__(self, common_name: str = "wsdoctor lab CA") -> None:
        self.key = _key("ec")
        self.name = _name(common_name, "wsdoctor lab")
        now = _now()
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True, key_cert_sign=True, crl_sign=True,
                    content_commitment=False, key_encipherment=False, data_encipherment=False,
                    key_agreement=False, encipher_only=False, decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def cert_pem(self) -> bytes:
        """The CA certificate, for ``--cacert``."""
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        names: list[str],
        *,
        days_valid: float = 90,
        days_before: float = 1,
        key_type: str = "ec",
        client: bool = False,
    ) -> CertPair:
        """A leaf for ``names`` valid from ``days_before`` ago for ``days_valid`` days
        (negative ``days_valid`` with a larger ``days_before`` gives an expired certificate);
        ``client`` makes it a client certificate (extended key usage clientAuth, for mTLS)."""
        key = _key(key_type)
        now = _now()
        not_before = now - dt.timedelta(days=days_before)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(names[0]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + dt.timedelta(days=days_valid + days_before))
            .add_extension(_san(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.cert_pem
        return CertPair(cert_pem=chain, key_pem=_pem_key(key))

    def issue_client(self, common_name: str, organization: str | None = None) -> CertPair:
        """A client certificate (``clientAuth``): kube-apiserver reads the user from the CN
        and the groups from O."""
        key = _key("ec")
        now = _now()
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name, organization))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        return CertPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key))

    def expired(self, names: list[str]) -> CertPair:
        """A leaf that expired yesterday."""
        return self.issue(names, days_before=30, days_valid=-29)


def self_signed(
    names: list[str],
    *,
    common_name: str | None = None,
    organization: str | None = None,
    key_type: str = "ec",
    days_valid: float = 365,
) -> CertPair:
    """A self-signed leaf (its own issuer), like the controllers' default certificates."""
    key = _key(key_type)
    subject = _name(common_name or names[0], organization)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days_valid))
        .add_extension(_san(names), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=_pem_key(key))


def ingress_nginx_fake_certificate() -> CertPair:
    """The subject ingress-nginx serves when no TLS secret matches the host (KNOWLEDGE §5)."""
    return self_signed(
        ["ingress.local"],
        common_name="Kubernetes Ingress Controller Fake Certificate",
        organization="Acme Co",
        key_type="rsa",
    )


def traefik_default_certificate() -> CertPair:
    """A look-alike of the certificate Traefik serves when no certificate matches: self-signed,
    CN TRAEFIK DEFAULT CERT, one SAN <32 hex>.<32 hex>.traefik.default, RSA 2048 (measured on
    Traefik 3.7.15; the real one is in tests/integration/test_traefik_lab.py)."""
    return self_signed(
        ["6e0794edc32b542c39ccb4f8bcc01ef0.4778e495a7b618b185e4f51809cf6fcc.traefik.default"],
        common_name="TRAEFIK DEFAULT CERT",
        key_type="rsa",
    )


def haproxy_ingress_default_certificate() -> CertPair:
    """A look-alike of haproxy-ingress's default certificate: the ingress-nginx subject with
    SANs localhost and ingress.local on an ECDSA P-256 key (KNOWLEDGE §5)."""
    return self_signed(
        ["localhost", "ingress.local"],
        common_name="Kubernetes Ingress Controller Fake Certificate",
        organization="Acme Co",
        key_type="ec",
    )


def haproxytech_default_certificate(names: list[str]) -> CertPair:
    """A leaf signed by a CA named like the haproxytech Helm chart's ``kubernetes-ingress-ca``."""
    return LabCA("kubernetes-ingress-ca").issue(names)
