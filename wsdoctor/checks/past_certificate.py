"""One verdict per address for a certificate that fails verification: it is the tls check's
finding, and every check that upgrades (handshake, messages, idle, keepalive, affinity,
http2) goes past it alike, so that their own results show too — none of them calls the
upgrade failed because of the certificate."""

from __future__ import annotations

from collections.abc import Sequence

from wsdoctor.checks.base import ProbeContext
from wsdoctor.checks.handshake_model import HandshakeObservation
from wsdoctor.settings import Settings
from wsdoctor.wsconn import UpgradeAttempt, WsConnection, upgrade

CERT_ERROR = "SSLCertVerificationError"


def untrusted(ctx: ProbeContext, address: str) -> bool:
    """The handshake check found this address's certificate untrusted."""
    handshake = ctx.get(HandshakeObservation)
    return handshake is not None and any(
        a.address == address and a.certificate_error for a in handshake.attempts)


def settings_past_certificate(ctx: ProbeContext, address: str) -> Settings:
    """The run's settings, with verification off for an address whose certificate the
    handshake check already found untrusted."""
    if ctx.settings.insecure or not untrusted(ctx, address):
        return ctx.settings
    return ctx.settings.model_copy(update={"insecure": True})


async def upgrade_past_certificate(
    ctx: ProbeContext, address: str, *, extra_headers: Sequence[tuple[str, str]] = (),
    max_size: int | None = None,
) -> tuple[UpgradeAttempt, WsConnection | None, str | None]:
    """Upgrade to ``address``; when the certificate fails verification, again without
    verifying. Returns the attempt, the open connection, and the certificate error if any.
    ``max_size`` as for :func:`~wsdoctor.wsconn.upgrade` (default: the run's message limit)."""
    settings = settings_past_certificate(ctx, address)
    attempt, conn = await upgrade(ctx.target, address, settings, extra_headers=extra_headers,
                                  max_size=max_size)
    if attempt.error_type != CERT_ERROR or settings.insecure:
        return attempt, conn, None
    error = attempt.error
    attempt, conn = await upgrade(ctx.target, address, settings, verify=False,
                                  extra_headers=extra_headers, max_size=max_size)
    return attempt, conn, error
