"""The handshake check's observation: the upgrade request sent and every address's answer.

Kept apart from the probe and the rules so that the advice modules (which classify answers)
can import it without importing the check: the dependency runs one way, check → advice →
model.
"""

from __future__ import annotations

from typing import Literal

from wsdoctor.checks.base import Observation
from wsdoctor.models import Model, endpoint

Outcome = Literal[
    "upgraded", "refused", "invalid", "closed", "timeout", "garbage", "connect_failed"
]


class HeaderField(Model):
    """One HTTP header line, secrets redacted."""

    name: str
    value: str


class HandshakeAttempt(Model):
    """The upgrade as one address answered it."""

    address: str
    port: int
    outcome: Outcome
    status_code: int | None = None
    status_line: str | None = None
    """The response's first line, control characters escaped."""
    headers: list[HeaderField] = []
    """Response headers in the order received (Set-Cookie values redacted)."""
    request_headers: list[HeaderField] = []
    """What wsdoctor sent (Authorization, Cookie and user-given headers redacted)."""
    body_start: str = ""
    """At most 512 bytes of the response body, decoded leniently."""
    error: str | None = None
    """What went wrong, in websockets' or the OS's words."""
    error_type: str | None = None
    failed_step: Literal["tcp", "proxy", "tls"] | None = None
    """For ``connect_failed``: which step failed (``proxy``: the proxy's tunnel)."""
    client_cert_requested: bool | None = None
    """The server's TLS handshake asked for a client certificate (None: no TLS)."""
    client_cert_sent: bool | None = None
    """A client certificate was sent (``--cert``) in answer to that request."""
    acceptable_cas: list[str] = []
    """The CAs whose client certificates the server accepts, as it named them."""
    tls_alerts: list[str] = []
    """TLS alerts the server sent on this connection (``certificate required``)."""
    certificate_error: str | None = None
    """The certificate failed verification; the upgrade was then tried without verifying."""
    plain_http_answer: str | None = None
    """When TLS failed: the status line a plain HTTP request got from the same port."""
    connect_s: float | None = None
    tls_s: float | None = None
    upgrade_s: float | None = None
    """From sending the request to the complete response head (time to 101)."""
    subprotocol: str | None = None
    extensions: list[str] = []

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)

    def header(self, name: str) -> str | None:
        """First response header of that name (case-insensitive)."""
        lowered = name.lower()
        return next((h.value for h in self.headers if h.name.lower() == lowered), None)


class HandshakeObservation(Observation):
    """The upgrade request sent and every address's answer."""

    check: Literal["handshake"] = "handshake"
    url: str
    host_header: str
    origin: str | None = None
    offered_subprotocols: list[str] = []
    attempts: list[HandshakeAttempt]

    @property
    def upgraded(self) -> list[HandshakeAttempt]:
        """Attempts that got a valid 101."""
        return [a for a in self.attempts if a.outcome == "upgraded"]
