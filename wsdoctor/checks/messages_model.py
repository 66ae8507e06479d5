"""The messages check's observation: what flowed over one upgraded connection."""

from __future__ import annotations

from typing import Literal

from wsdoctor.checks.base import Observation
from wsdoctor.checks.messages_app import AppExchange, MaxMessage
from wsdoctor.checks.messages_protocol import ConnectionEnd, ServerPings
from wsdoctor.models import Model, endpoint


class EchoResult(Model):
    """One message sent, and whether the same bytes came back."""

    kind: Literal["text", "binary"]
    size: int
    echoed: bool
    rtt_s: float | None = None
    other_messages: int = 0
    """Messages received meanwhile that were not the echo (greetings, pushes)."""


class PingStats(Model):
    """Ping/pong round trips, sent one after another."""

    sent: int
    answered: int
    rtts_s: list[float] = []
    min_s: float | None = None
    median_s: float | None = None
    p95_s: float | None = None
    max_s: float | None = None


class LargeMessageResult(Model):
    """One large binary message: echoed, delivered (a ping after it was answered), or what
    ended the connection."""

    size: int
    outcome: Literal["echoed", "delivered", "closed", "fin", "reset", "timeout"]
    duration_s: float | None = None
    close_code: int | None = None
    close_reason: str | None = None


class MessagesObservation(Observation):
    """What flowed over one upgraded connection."""

    check: Literal["messages"] = "messages"
    address: str
    port: int
    upgrade_outcome: str
    upgrade_error: str | None = None
    echoes: bool | None = None
    """Whether the application echoes (None: not tried)."""
    text_echo: EchoResult | None = None
    binary_echo: EchoResult | None = None
    pings: PingStats | None = None
    large_message: LargeMessageResult | None = None
    app: AppExchange | None = None
    """The application's own messages (--send) and the reply (--expect)."""
    max_message: MaxMessage | None = None
    """The largest message that passed (--find-max-message)."""
    end: ConnectionEnd | None = None
    server_pings: ServerPings | None = None
    """Pings the server sent meanwhile (a flood is a finding)."""

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)
