"""Why an attempt gave no connection, in one short phrase that groups alike attempts: the
status for an HTTP answer, the close code for a connection closed right after its upgrade,
the silence for a timeout, and this machine's own limits (open files, local ports) told
apart from the target's."""

from __future__ import annotations

import errno
import re

from wsdoctor.load.model import CauseKind
from wsdoctor.wsconn import Ending, HandshakeOutcome, UpgradeAttempt

#: errno values that are this machine's limits, not the target's answer.
CLIENT_ERRNOS = {
    errno.EMFILE: "too many open files in wsdoctor (ulimit -n)",
    errno.ENFILE: "too many open files on this machine (fs.file-max)",
    errno.EADDRNOTAVAIL: "no free local port (net.ipv4.ip_local_port_range)",
    errno.ENOBUFS: "no buffer space on this machine",
    errno.ENOMEM: "out of memory on this machine",
}
_ERRNO = re.compile(r"\[Errno (\d+)\]")
#: Close codes with their RFC 6455 / IANA names, for the cause text.
CLOSE_NAMES = {
    1000: "normal closure", 1001: "going away", 1002: "protocol error",
    1003: "unsupported data", 1006: "abnormal closure", 1007: "invalid data",
    1008: "policy violation", 1009: "message too big", 1010: "mandatory extension",
    1011: "internal error", 1012: "service restart", 1013: "try again later",
    1014: "bad gateway", 1015: "TLS handshake",
}


def attempt_errno(attempt: UpgradeAttempt) -> int | None:
    """The OS error number quoted in the attempt's error, if any."""
    match = _ERRNO.search(attempt.error or "")
    return int(match.group(1)) if match else None


def failed_attempt_cause(attempt: UpgradeAttempt, timeout: float) -> tuple[str, CauseKind]:
    """(cause, kind) of an attempt that gave no connection."""
    number = attempt_errno(attempt)
    if number in CLIENT_ERRNOS:
        return CLIENT_ERRNOS[number], "client"
    outcome = attempt.outcome
    if outcome is HandshakeOutcome.CONNECT_FAILED:
        step = {"tcp": "TCP", "tls": "TLS", "proxy": "proxy"}.get(attempt.failed_step or "", "")
        if attempt.error_type == "ConnectionRefusedError":
            return "TCP connection refused", "refusal"
        if attempt.error_type == "TimeoutError":
            return f"no {step} answer within {timeout:g} s", "refusal"
        if attempt.error_type == "ConnectionResetError":
            return f"{step} connection reset", "refusal"
        return f"{step} failed: {_short(attempt.error)}", "refusal"
    if outcome is HandshakeOutcome.REFUSED and attempt.status_code is not None:
        return f"HTTP {attempt.status_code}", "refusal"
    if outcome is HandshakeOutcome.TIMEOUT:
        said = "no response" if not attempt.status_line else "no complete response"
        return f"{said} within {timeout:g} s", "refusal"
    if outcome in (HandshakeOutcome.CLOSED, HandshakeOutcome.GARBAGE) and not attempt.status_line:
        if attempt.error_type == "ConnectionResetError" or "reset" in (attempt.error or ""):
            return "connection reset before a response", "refusal"
        if outcome is HandshakeOutcome.CLOSED or not attempt.body_start:
            return "connection closed before a response", "refusal"
    if outcome is HandshakeOutcome.INVALID and attempt.status_code == 101:
        return "invalid 101 response", "refusal"
    if attempt.status_code is not None:
        return f"HTTP {attempt.status_code} (malformed)", "refusal"
    return f"not an HTTP response: {_short(attempt.error)}", "refusal"


def ended_cause(ending: Ending, code: int | None, reason: str | None, refused: bool) -> str:
    """The cause of a connection the target ended: ``closed after the upgrade: 1013 try
    again later (server at capacity)`` when it did so at once, ``closed: 1001 going away``
    when it dropped a held one."""
    when = "after the upgrade" if refused else "while held"
    if ending is Ending.CLOSE_FRAME and code is not None:
        name = CLOSE_NAMES.get(code, "")
        said = f" ({_short(reason, 60)})" if reason else ""
        return f"closed {when}: {code}{' ' + name if name else ''}{said}"
    if ending is Ending.CLOSE_FRAME:
        return f"closed {when}: close frame without a code"
    if ending is Ending.PROTOCOL_ERROR:
        return f"protocol error of the server {when}: {_short(reason, 60)}"
    return f"{'reset' if ending is Ending.RESET else 'TCP FIN, no close frame'} {when}"


def _short(text: str | None, limit: int = 80) -> str:
    text = " ".join((text or "unknown error").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
