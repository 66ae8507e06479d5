"""What one upgrade attempt saw (:class:`UpgradeAttempt`) and how it ended
(:class:`HandshakeOutcome`): the record :mod:`wsdoctor.wsconn` fills while it upgrades."""

from __future__ import annotations

import enum
from dataclasses import field

from wsdoctor.records import dataclass
from wsdoctor.tlsctx import TlsWatch
from wsdoctor.tunnel import ProxyError


class HandshakeOutcome(enum.StrEnum):
    """How an upgrade attempt ended."""

    UPGRADED = "upgraded"
    """101 with a valid Sec-WebSocket-Accept."""
    REFUSED = "refused"
    """A complete HTTP response other than 101."""
    INVALID = "invalid"
    """A 101 (or response) that breaks the protocol: wrong Accept, missing Upgrade..."""
    CLOSED = "closed"
    """The connection ended before a complete response."""
    TIMEOUT = "timeout"
    """No complete response within the time limit."""
    GARBAGE = "garbage"
    """Bytes that are not HTTP."""
    CONNECT_FAILED = "connect_failed"
    """TCP or TLS failed before the request was sent."""


@dataclass
class UpgradeAttempt:
    """Everything seen while upgrading: timings, the raw head, the parsed response."""

    address: str
    outcome: HandshakeOutcome
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    status_line: str | None = None
    status_code: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    body_start: bytes = b""
    error: str | None = None
    error_type: str | None = None
    connect_s: float | None = None
    tls_s: float | None = None
    upgrade_s: float | None = None
    """From sending the request to the complete response head."""
    subprotocol: str | None = None
    extensions: list[str] = field(default_factory=list)
    failed_step: str | None = None
    """For CONNECT_FAILED: ``tcp``, ``proxy`` or ``tls``."""
    tls: TlsWatch | None = None
    """What the TLS handshake's messages showed (client certificate requested, alerts)."""
    proxy_error: ProxyError | None = None
    """For a failed ``proxy`` step: what the proxy answered."""
    received_at: float | None = None
    """``time.monotonic()`` when the 101 arrived (see :func:`wsdoctor.wsconn.arrival_time`)."""

    def header(self, name: str) -> str | None:
        """First response header of that name (case-insensitive)."""
        lowered = name.lower()
        return next((v for k, v in self.response_headers if k.lower() == lowered), None)

    def headers_named(self, name: str) -> list[str]:
        """Every response header of that name."""
        lowered = name.lower()
        return [v for k, v in self.response_headers if k.lower() == lowered]
