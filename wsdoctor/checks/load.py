"""load: a bounded load run (``wsdoctor load``). Opens up to N connections at a given rate,
holds them, optionally sends messages, and finds the connection cap, how it refuses, and
(with a kubeconfig) the setting behind it. Not run by ``wsdoctor TARGET``: it needs an
explicit number of connections."""

from __future__ import annotations

from wsdoctor.checks.base import Check, Hop, Observation, rule
from wsdoctor.load import crosscheck, rules
from wsdoctor.load.model import LoadObservation
from wsdoctor.load.probe import expected_duration, probe_load
from wsdoctor.settings import Settings

__all__ = ["CHECK", "LoadObservation"]


def summarize_load(obs: Observation) -> str:
    """``20 held, then HTTP 503 (100 asked)``, ``5000 held, handshake p95 4 ms``."""
    assert isinstance(obs, LoadObservation)
    asked = obs.plan.connections
    if obs.connected_none:
        return f"no connection: {obs.cap_cause} ({obs.refused} of {obs.attempted} attempts)"
    if obs.cap is not None:
        return f"cap {obs.cap}: refused above it with {obs.cap_cause} ({asked} asked)"
    if obs.intermittent:
        return f"{obs.refused} of {obs.attempted} refused now and then ({obs.peak_open} held)"
    held = f"{obs.held_at_end} of {asked} held"
    if obs.stopped == "interrupted":
        return f"interrupted: {held}"
    if obs.stopped == "client_limit":
        return f"stopped by this machine's limits at {obs.peak_open} held"
    p95 = f", handshake p95 {rules.ms(obs.handshake.p95)}" if obs.handshake else ""
    return held + p95


def _time_limit(settings: Settings) -> float:
    plan = settings.load
    return 60.0 if plan is None else expected_duration(plan, settings.timeout) + 30.0


CHECK = Check(
    id="load",
    title="Connection capacity",
    hop=Hop.CAPACITY,
    probe=probe_load,
    rules=(
        rule(rules.judge_load),
        rule(rules.judge_client),
        rule(rules.judge_connections),
        rule(crosscheck.cross_check_load, "cluster"),
    ),
    codes=(*rules.CODES, *crosscheck.CODES),
    needs=("dns",),
    default=False,
    time_limit=_time_limit,
    summarize=summarize_load,
)
