"""The series a blackbox_exporter dashboard reads, where a WebSocket probe measures the same
thing (names, labels and formats from blackbox_exporter's prober/http.go, tls.go and utils.go),
and wsdoctor's own per-phase durations of the connection.

- ``probe_websocket_duration_seconds{phase}``: ``resolve``, ``connect``, ``tls``, ``upgrade``
  (request sent to the 101 head) and ``first_message`` (the first round trip after the
  upgrade: the echo of a text message, or the first ping's pong when the app does not echo).
- ``probe_http_duration_seconds{phase}``: the upgrade is an HTTP request, so blackbox's five
  phases mean the same: ``resolve``, ``connect``, ``tls``, ``processing`` (to the response
  head) and ``transfer`` (0: a 101 has no body). As blackbox, every phase is present (0 when
  not reached). ``probe_http_status_code``, ``probe_http_version``, ``probe_http_ssl`` and
  ``probe_http_redirects`` (0: the upgrade follows no redirect) likewise.
- ``probe_ssl_last_chain_info{fingerprint_sha256,subject,issuer,subjectalternative,
  serialnumber}`` (the leaf as served), ``probe_ssl_last_chain_expiry_timestamp_seconds``
  (only for a verified chain, as blackbox) and ``probe_ip_addr_hash`` (FNV-1a of the
  address's bytes: it changes when the address does).

Everything comes from the report, for the address the probe's verdict is about: the first
that upgraded, else the first tried.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol, TypeVar

from wsdoctor.checks.dns import DnsObservation, is_address
from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.messages import MessagesObservation
from wsdoctor.checks.tls_probe import TlsAttempt, TlsObservation
from wsdoctor.report import Report
from wsdoctor.untrusted import printable

T = TypeVar("T")
WEBSOCKET_PHASES = ("resolve", "connect", "tls", "upgrade", "first_message")
HTTP_PHASES = ("resolve", "connect", "tls", "processing", "transfer")


class Gauge(Protocol):
    """Adds one gauge sample with extra labels (the ``gauge`` helper of ``add_report``)."""

    def __call__(self, name: str, doc: str, value: float, **labels: str) -> None: ...


def observation_of(report: Report, check_id: str, kind: type[T]) -> T | None:
    """The observation of a check of the report, if it ran and observed something."""
    check = report.check(check_id)
    if check is None or not isinstance(check.observation, kind):
        return None
    return check.observation


def fnv1a_32(data: bytes) -> int:
    """The 32-bit FNV-1a hash (Go's ``hash/fnv.New32a``)."""
    value = 0x811C9DC5
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


def ip_addr_hash(address: str) -> float:
    """blackbox's ``probe_ip_addr_hash``: FNV-1a of the address bytes (4 for IPv4, 16 for
    IPv6); what matters is that it changes when the address does."""
    return float(fnv1a_32(ipaddress.ip_address(address).packed))


def serial_label(serial: str) -> str:
    """A serial number as blackbox prints it: lower-case hex of its bytes (even length)."""
    return serial if len(serial) % 2 == 0 else f"0{serial}"


def http_version(status_line: str | None) -> float | None:
    """``HTTP/1.1 101 Switching Protocols`` → 1.1, as blackbox exports the version."""
    protocol = (status_line or "").split(" ", 1)[0]
    if not protocol.startswith("HTTP/"):
        return None
    try:
        return float(protocol.removeprefix("HTTP/"))
    except ValueError:
        return None


def chosen_attempt(handshake: HandshakeObservation) -> HandshakeAttempt | None:
    """The address the verdict is about: the first that upgraded, else the first tried."""
    upgraded = [a for a in handshake.attempts if a.outcome == "upgraded"]
    candidates = upgraded or handshake.attempts
    return candidates[0] if candidates else None


def first_message_s(messages: MessagesObservation | None) -> float | None:
    """The first round trip after the upgrade: the text echo, else the first pong."""
    if messages is None:
        return None
    if messages.text_echo is not None and messages.text_echo.echoed:
        return messages.text_echo.rtt_s
    if messages.pings is not None and messages.pings.rtts_s:
        return messages.pings.rtts_s[0]
    return None


def add_blackbox(report: Report, gauge: Gauge) -> None:
    """Add the per-phase durations and blackbox's http/ssl/ip series of one report."""
    dns = observation_of(report, "dns", DnsObservation)
    handshake = observation_of(report, "handshake", HandshakeObservation)
    attempt = chosen_attempt(handshake) if handshake is not None else None
    resolve = dns.duration_s if dns is not None else None
    if attempt is not None:
        address = attempt.address
        websocket = {"resolve": resolve, "connect": attempt.connect_s, "tls": attempt.tls_s,
                     "upgrade": attempt.upgrade_s,
                     "first_message": first_message_s(
                         observation_of(report, "messages", MessagesObservation))}
        for phase in WEBSOCKET_PHASES:
            value = websocket[phase]
            if value is not None:
                gauge("probe_websocket_duration_seconds", "Duration of the WebSocket "
                      "connection by phase: resolve, connect, tls, upgrade, first_message.",
                      value, phase=phase)
        http = {"resolve": resolve, "connect": attempt.connect_s, "tls": attempt.tls_s,
                "processing": attempt.upgrade_s, "transfer": 0.0}
        for phase in HTTP_PHASES:
            gauge("probe_http_duration_seconds", "Duration of http request by phase (the "
                  "upgrade request; transfer is 0, a 101 has no body).",
                  http[phase] or 0.0, phase=phase)
        if attempt.status_code is not None:
            gauge("probe_http_status_code", "Response HTTP status code (101 for an upgrade).",
                  attempt.status_code)
            gauge("probe_http_redirects", "The number of redirects (wsdoctor follows none: a "
                  "redirect is the status code and a finding).", 0.0)
        version = http_version(attempt.status_line)
        if version is not None:
            gauge("probe_http_version", "Returns the version of HTTP of the probe response",
                  version)
        gauge("probe_http_ssl", "Indicates if SSL was used for the request.",
              1.0 if report.target.secure else 0.0)
        gauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect "
              "if the IP address changes.", ip_addr_hash(address))
    tls = observation_of(report, "tls", TlsObservation)
    if tls is not None:
        done = [a for a in tls.attempts if a.outcome == "completed" and a.chain]
        chosen = next((a for a in done if attempt is not None and a.address == attempt.address),
                      done[0] if done else None)
        if chosen is not None:
            add_chain(chosen, gauge)


def add_chain(attempt: TlsAttempt, gauge: Gauge) -> None:
    """``probe_ssl_last_chain_info`` of the leaf and, for a verified chain, its expiry."""
    leaf = attempt.chain[0]
    names = [n for n in leaf.sans if not is_address(n)]
    # The certificate is the server's text: escaped like every other untrusted value.
    gauge("probe_ssl_last_chain_info", "Contains SSL leaf certificate information", 1.0,
          fingerprint_sha256=leaf.sha256, subject=printable(leaf.subject),
          issuer=printable(leaf.issuer), subjectalternative=printable(",".join(names)),
          serialnumber=serial_label(leaf.serial))
    if attempt.verified:
        gauge("probe_ssl_last_chain_expiry_timestamp_seconds", "Returns last SSL chain expiry "
              "in timestamp (the earliest not-after of the verified chain).",
              min(c.not_after.timestamp() for c in attempt.chain))
