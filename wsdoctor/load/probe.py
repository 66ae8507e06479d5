"""The load check's probe: raise the open-file limit, run the engine (Ctrl-C and SIGTERM stop
it gracefully: every connection is closed and the run is reported), and turn what it
counted into the :class:`~wsdoctor.load.model.LoadObservation`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterator

from wsdoctor.checks.base import ProbeContext, Skip
from wsdoctor.checks.dns import DnsObservation, addresses_to_probe
from wsdoctor.fdlimits import FD_RESERVE, FdLimits, raise_fd_limit, restore_fd_limit
from wsdoctor.load.client import lean_tls_buffers
from wsdoctor.load.engine import LoadEngine
from wsdoctor.load.model import LoadObservation
from wsdoctor.settings import LoadPlan


def expected_duration(plan: LoadPlan, timeout: float) -> float:
    """How long a run may take: the ramp, the attempts in flight, the hold, the close."""
    return plan.connections / plan.rate + timeout * 2 + plan.refusal_window_s + plan.hold_s + 2


@contextlib.contextmanager
def stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` once (a second Ctrl-C interrupts as usual). Only in
    the main thread (elsewhere, as under the TUI, quitting cancels the probe instead)."""
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []

    def first(sig: signal.Signals) -> None:
        loop.remove_signal_handler(sig)
        handled.remove(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, first, sig)
            handled.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass
    try:
        yield
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


async def probe_load(ctx: ProbeContext) -> LoadObservation:
    """Open, hold and close the planned connections; observe what the target did."""
    plan = ctx.settings.load
    if plan is None:
        raise Skip("a load run is started with 'wsdoctor load TARGET --connections N'")
    addresses = addresses_to_probe(ctx.target, ctx.settings, ctx.get(DnsObservation))
    if not addresses:
        raise Skip("no address to connect to (see the dns check)")
    limits = raise_fd_limit(plan.connections + FD_RESERVE)

    def progress(engine: LoadEngine) -> None:
        tally = engine.tally
        ctx.progress(f"{tally.open} open · {tally.refused} refused · {tally.attempted}/"
                     f"{plan.connections} attempted", tally.attempted / plan.connections)

    engine = LoadEngine(ctx.target, ctx.settings, addresses, plan, progress=progress)
    stop = asyncio.Event()
    try:
        with stop_on_signals(stop), lean_tls_buffers():
            await engine.run(stop)
    finally:
        restore_fd_limit(limits)
    return observe(engine, limits)


def observe(engine: LoadEngine, limits: FdLimits) -> LoadObservation:
    """The report's view of a finished run."""
    tally, plan = engine.tally, engine.plan
    ramp_s = engine.ramp_ended_at or 0.0
    hold_s = (engine.hold_ended_at or ramp_s) - ramp_s
    return LoadObservation(
        url=engine.target.url, plan=plan, stopped=engine.stop_reason or "completed",
        duration_s=round(engine.now(), 3), ramp_s=round(ramp_s, 3),
        attempted=tally.attempted, upgraded=tally.upgraded, peak_open=tally.peak_open,
        held_at_end=engine.held_at_end, refused=tally.refused, dropped=tally.dropped,
        client_failed=tally.client_failed, refusals_started_at=tally.first_refusal_open,
        cap=engine.cap(), cap_cause=engine.cap_cause(), intermittent=tally.intermittent(),
        connect=engine.connect.summary(), tls=engine.tls.summary(),
        upgrade=engine.upgrade_time.summary(), handshake=engine.handshake.summary(),
        session=engine.session.summary(), messages_sent=engine.messenger.sent,
        messages_received=engine.messenger.received, echoes=engine.messenger.echoes,
        round_trip=engine.messenger.round_trip.summary(), causes=tally.causes_found(),
        replica_source=engine.replica_source,
        replicas=tally.shares("replica", engine.held_by["replica"]),
        addresses=tally.shares("address", engine.held_by["address"]),
        ramp=list(engine.timeline.points),
        client=engine.meter.cost(limits, plan.connections + FD_RESERVE, tally.peak_open,
                                 tally.attempted, ramp_s, hold_s),
    )
