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


def test_a_run_loads_each_kind_of_context_once() -> None:
    """The connections of one run (one settings object) share a context per verification and
    ALPN, so the trust store is loaded once per run, not once per connection (~20 ms each
    with the system store); another run's settings get their own."""
    settings = Settings()
    first = client_context(settings, verify=True, alpn=["http/1.1"])
    assert client_context(settings, verify=True, alpn=["http/1.1"]) is first
    assert client_context(settings, verify=True, alpn=["h2", "http/1.1"]) is not first
    assert client_context(settings, verify=False, alpn=["http/1.1"]) is not first
    assert client_context(Settings(), verify=True, alpn=["http/1.1"]) is not first


async def test_each_connection_of_a_shared_context_has_its_own_watch(tmp_path: Path) -> None:
    """Given two servers, one asking for a client certificate and one not, when two tasks
    connect at once through the same shared context, each with its own watch, each watch
    sees only its own connection's handshake."""
    import asyncio

    from wsdoctor.tlsctx import TlsWatch

    ca = LabCA()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    cert, key = ca.issue(["ws.lab.test"]).write(tmp_path, "server")
    servers = []
    for asks in (True, False):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        if asks:
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cafile=str(ca_file))
        servers.append(await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0,
                                                  ssl=context))
    settings = Settings(cafile=str(ca_file))

    async def connect(port: int) -> TlsWatch:
        watch = TlsWatch()
        context = client_context(settings, verify=True, alpn=["http/1.1"], watch=watch)
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context,
                                                  server_hostname="ws.lab.test")
        writer.close()
        return watch

    try:
        ports = [s.sockets[0].getsockname()[1] for s in servers]
        asking, silent = await asyncio.gather(*(connect(port) for port in ports))
    finally:
        for server in servers:
            server.close()
    assert asking.certificate_requested and asking.client_certificate_sent is False
    assert not silent.certificate_requested and silent.client_certificate_sent is None
