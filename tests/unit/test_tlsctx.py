"""client_context: verification on or off, the user's CA bundle, ALPN."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from wsdoctor.lab.certs import LabCA
from wsdoctor.settings import Settings
from wsdoctor.tlsctx import client_context


def test_verifying_context_checks_chain_and_name() -> None:
    """verify=True requires a certificate and checks the host name."""
    context = client_context(Settings(), verify=True)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_non_verifying_context_accepts_anything() -> None:
    """verify=False checks neither chain nor name, even with --cacert."""
    context = client_context(Settings(), verify=False, alpn=["http/1.1"])
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


def test_cafile_replaces_the_system_store(tmp_path: Path) -> None:
    """With a CA file only that CA is trusted."""
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(LabCA("only this CA").cert_pem)
    context = client_context(Settings(cafile=str(ca_file)), verify=True)
    subjects = [dict(x[0] for x in c["subject"]) for c in context.get_ca_certs()]
    assert subjects == [{"organizationName": "wsdoctor lab", "commonName": "only this CA"}]


def test_unreadable_cafile_is_refused_by_the_settings(tmp_path: Path) -> None:
    """A CA file that is not PEM is refused when the settings are made (the command line and
    the exporter's configuration alike), not when the first TLS handshake needs it."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(ValueError, match="not a PEM certificate bundle"):
        Settings(cafile=str(bad))
