"""blackbox_exporter's names and formats, as pure functions and configuration: module aliases,
bare targets, FNV-1a address hashes, serial numbers, HTTP versions."""

from __future__ import annotations

import pytest

from wsdoctor.exporter.blackbox import fnv1a_32, http_version, ip_addr_hash, serial_label
from wsdoctor.exporter.config import default_config
from wsdoctor.exporter.schema import BLACKBOX_MODULES, BUILTIN_MODULES


@pytest.mark.parametrize(("data", "expected"),
                         [(b"", 0x811C9DC5), (b"a", 0xE40C292C), (b"foobar", 0xBF9CF968)])
def test_fnv1a_matches_the_published_vectors(data: bytes, expected: int) -> None:
    """FNV-1a 32 (Go's hash/fnv New32a, used by blackbox's ipHash) gives the reference values."""
    assert fnv1a_32(data) == expected


def test_ip_addr_hash_changes_with_the_address() -> None:
    """The hash of an address is stable, differs between addresses, and covers IPv6."""
    assert ip_addr_hash("127.0.0.1") == ip_addr_hash("127.0.0.1") == float(
        fnv1a_32(bytes([127, 0, 0, 1])))
    assert ip_addr_hash("127.0.0.2") != ip_addr_hash("127.0.0.1")
    assert ip_addr_hash("::1") == float(fnv1a_32(bytes(15) + b"\x01"))


def test_serial_and_http_version_are_printed_as_blackbox_prints_them() -> None:
    """Serials are hex of their bytes (even length, leading zero kept); versions are numbers."""
    assert serial_label("a1b2c") == "0a1b2c" and serial_label("0a1b2c") == "0a1b2c"
    assert http_version("HTTP/1.1 101 Switching Protocols") == 1.1
    assert http_version("HTTP/1.0 400 Bad Request") == 1.0
    assert http_version(None) is None and http_version("garbage") is None


def test_blackbox_module_names_stand_for_built_in_modules() -> None:
    """http_2xx is quick and tcp_connect is tcp, without any file; the file's own module of
    the same name would win."""
    config = default_config({})
    assert config.module("http_2xx") == BUILTIN_MODULES["quick"]
    assert config.module("tcp_connect") == BUILTIN_MODULES["tcp"]
    assert set(BLACKBOX_MODULES.values()) <= set(BUILTIN_MODULES)
    spec = config.probe_spec("127.0.0.1:8080", "tcp_connect")
    assert spec.module == "tcp_connect" and spec.settings.only == ["dns", "tcp"]


@pytest.mark.parametrize(("name", "fragment"), [
    ("icmp", "blackbox_exporter's module 'icmp' has no WebSocket meaning"),
    ("http_post_2xx", "has no WebSocket meaning"),
    ("quik", "unknown module 'quik' (known: full, quick, tcp, watch; blackbox names: "
             "http_2xx (quick), tcp_connect (tcp))"),
])
def test_other_module_names_are_refused_with_what_exists(name: str, fragment: str) -> None:
    """A blackbox module with no WebSocket meaning, or a typo, is refused naming the modules."""
    with pytest.raises(ValueError, match="known: full, quick, tcp") as caught:
        default_config({}).module(name)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(("target", "url"), [
    ("127.0.0.1:8080", "ws://127.0.0.1:8080/"),
    ("chat.example.com:443", "ws://chat.example.com:443/"),
    ("[::1]:9000", "ws://[::1]:9000/"),
    ("wss://chat.example.com/ws", "wss://chat.example.com/ws"),
    ("http://chat.example.com:8080", "ws://chat.example.com:8080/"),
])
def test_probe_targets_are_taken_as_blackbox_takes_them(target: str, url: str) -> None:
    """In /probe a target without a scheme is plain (blackbox's tcp prober connects without
    TLS, its http prober prepends http://); a URL keeps its scheme (http:// is ws://)."""
    assert default_config({}).probe_spec(target, "quick").target.url == url


def test_blackbox_hostname_parameter_sets_host_and_sni() -> None:
    """`&hostname=NAME` (blackbox's, as with dns_sd_configs) connects to the target's address
    with NAME as Host and SNI; the target must then be an address."""
    config = default_config({})
    spec = config.probe_spec("https://127.0.0.1:8443/ws", "quick", "chat.example.com")
    assert spec.target.url == "wss://chat.example.com:8443/ws"
    assert spec.settings.pinned_address("chat.example.com", 8443) == "127.0.0.1"
    with pytest.raises(ValueError, match="the target must be the IP address"):
        config.probe_spec("https://other.example/ws", "quick", "chat.example.com")


def test_certificate_labels_are_escaped() -> None:
    """A certificate's names are the server's text: escape sequences in them reach the
    exposition escaped, never raw."""
    from datetime import UTC, datetime

    from wsdoctor.checks.tls_probe import CertificateInfo, TlsAttempt
    from wsdoctor.exporter.blackbox import add_chain

    leaf = CertificateInfo(subject="CN=evil\x1b]0;pwned\x07", issuer="CN=ca", serial="1",
                           sans=["evil\x1b[2J.example", "127.0.0.1"], sha256="ab" * 32,
                           not_before=datetime(2026, 1, 1, tzinfo=UTC),
                           not_after=datetime(2027, 1, 1, tzinfo=UTC), key_type="EC")
    samples: list[dict[str, str]] = []
    add_chain(TlsAttempt(address="127.0.0.1", port=443, outcome="completed", chain=[leaf]),
              lambda name, doc, value, **labels: samples.append(labels))
    (labels,) = samples
    assert "\x1b" not in "".join(labels.values())
    assert labels["subject"] == "CN=evil\\x1b]0;pwned\\x07"
    assert labels["subjectalternative"] == "evil\\x1b[2J.example"
    assert labels["serialnumber"] == "01"
