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
    """The application's own messages (--send) and the reply (--expect); for socket.io, its
    namespace CONNECT and the acknowledgement."""
    protocol: Literal["socket.io"] | None = None
    """The application protocol the server's first message showed (engine.io's open packet),
    spoken instead of the echo probe."""
    max_message: MaxMessage | None = None
    """The largest message that passed (--find-max-message)."""
    end: ConnectionEnd | None = None
    server_pings: ServerPings | None = None
    """Pings the server sent meanwhile (a flood is a finding)."""

    @property
    def endpoint(self) -> str:
        """``addr:port`` with IPv6 brackets."""
        return endpoint(self.address, self.port)


def human_size(size: int) -> str:
    """``1 MiB``, ``64 KiB``, ``1500 B``."""
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale and size % scale == 0:
            return f"{size // scale} {unit}"
    return f"{size} B" if size < 1 << 10 else f"{size / (1 << 10):.1f} KiB"


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f} ms"


def summarize_messages(obs: Observation) -> str:
    """``echo ok, 5 pings median 0.2 ms (p95 0.3 ms), 1 MiB echoed, closed 1000``."""
    assert isinstance(obs, MessagesObservation)
    if obs.upgrade_outcome != "upgraded":
        return f"second upgrade failed: {obs.upgrade_error or obs.upgrade_outcome}"[:120]
    if obs.app is not None and obs.app.purpose == "socket.io connect":
        parts = [f"socket.io namespace joined in {_ms(obs.app.reply_s)}" if obs.app.matched
                 else "socket.io namespace refused"]
    elif obs.app is not None:
        reply = obs.app.reply_s
        parts = [("reply matched" if obs.app.matched else "no matching reply"
                  if obs.app.matched is False else "reply" if reply is not None else "no reply")
                 + (f" in {_ms(reply)}" if reply is not None else "")]
    else:
        parts = ["echo ok" if obs.echoes else "no echo"]
    if obs.pings is not None and obs.pings.sent:
        parts.append(f"{obs.pings.answered}/{obs.pings.sent} pings median "
                     f"{_ms(obs.pings.median_s)} (p95 {_ms(obs.pings.p95_s)})")
    if obs.large_message is not None:
        parts.append(f"{human_size(obs.large_message.size)} {obs.large_message.outcome}")
    if obs.max_message is not None and obs.max_message.largest_ok:
        parts.append(f"largest {human_size(obs.max_message.largest_ok)}")
    if obs.end is not None and obs.end.violation is not None:
        parts.append(f"protocol error: {obs.end.violation.kind.value}")
    elif obs.end is not None:
        parts.append(f"closed {obs.end.code}" if obs.end.code else f"ended: {obs.end.ending}")
    return ", ".join(parts)
