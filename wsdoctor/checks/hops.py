"""hops: bisect the path. The pod behind the route and a pod of the ingress controller are
measured with the same checks as the public address (upgrade, messages, idle with --idle,
affinity at the controller); the rules name the first hop where a fault appears, with the
fix for that component. ``wsdoctor bisect TARGET`` runs it.

The registry imports this module at start-up: the probe (:mod:`~wsdoctor.checks.hops_probe`),
the rules (:mod:`~wsdoctor.checks.hops_rules`) and the table
(:mod:`~wsdoctor.checks.hops_table`) are imported when a bisected run uses them.
"""

from __future__ import annotations

from collections.abc import Iterator

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, rule
from wsdoctor.checks.lifetime import idle_time_limit
from wsdoctor.models import CheckStatus, Finding, Status
from wsdoctor.settings import Settings

FAULT_AT_POD = Code("WSD-HOPS-FAULT-AT-POD", Status.FAIL,
                    "The fault is already at the pod: the application")
FAULT_AT_CONTROLLER = Code("WSD-HOPS-FAULT-AT-CONTROLLER", Status.FAIL,
                           "The ingress controller adds the fault")
FAULT_IN_FRONT = Code("WSD-HOPS-FAULT-IN-FRONT", Status.FAIL,
                      "What is in front of the ingress controller adds the fault")
FAULT_UNPLACED = Code("WSD-HOPS-FAULT-UNPLACED", Status.FAIL,
                      "A fault appears between hops that could not all be tested")
CREDENTIALS = Code("WSD-HOPS-CREDENTIALS", Status.WARN,
                   "A hop behind the public address asks for credentials the path adds")
SKIPPED = Code("WSD-HOPS-SKIPPED", Status.WARN, "Some hops could not be tested")
ALIKE = Code("WSD-HOPS-ALIKE", Status.OK, "Every hop behaves like the public address")
CODES = (FAULT_AT_POD, FAULT_AT_CONTROLLER, FAULT_IN_FRONT, FAULT_UNPLACED, CREDENTIALS, SKIPPED,
         ALIKE)


async def probe_hops(ctx: ProbeContext) -> Observation:
    """Plan the hops from the cluster observation and measure them concurrently."""
    from wsdoctor.checks.hops_probe import measure_hops

    return await measure_hops(ctx)


def judge_hops(facts: Facts) -> Iterator[Finding]:
    """Each fault at the public address, placed at the first hop that shows it."""
    from wsdoctor.checks.hops_rules import judge

    yield from judge(facts)


def complete_hops(obs: Observation, facts: Facts) -> Observation:
    """The observation with the comparison table, the public address included."""
    from wsdoctor.checks.hops_table import complete

    return complete(obs, facts)


def summarize_hops(obs: Observation) -> str:
    """``pod 101, idle held; controller 101, idle held; public 101, idle 4.0 s``."""
    table = getattr(obs, "table", [])
    if not table:
        hops = getattr(obs, "hops", [])
        return f"{sum(h.status == 'tested' for h in hops)} of {len(hops)} hops tested"
    parts = []
    for row in table:
        if row.status in (CheckStatus.SKIPPED, CheckStatus.ERROR):
            parts.append(f"{row.hop} {row.status.value}")
            continue
        cell = f"{row.hop} {row.upgrade or '-'}"
        if row.idle is not None:
            cell += f", idle {row.idle_timeout_s:.1f} s" if row.idle_timeout_s is not None \
                else ", idle held"
        parts.append(cell)
    return "; ".join(parts)


def _time_limit(settings: Settings) -> float:
    """The hop's checks: upgrades, messages, and the idle wait when the run measures it."""
    wait = idle_time_limit(settings.idle_max, settings.timeout) \
        if "idle" in (*settings.enable, *settings.only) else 0.0
    return wait + settings.timeout * 10 + 10.0


CHECK = Check(
    id="hops",
    title="Hops (bisected path)",
    hop=Hop.HOPS,
    probe=probe_hops,
    needs=("cluster",),
    rules=(rule(judge_hops, "handshake", "messages", "idle", "affinity"),),
    codes=CODES,
    default=False,
    time_limit=_time_limit,
    summarize=summarize_hops,
    complete=complete_hops,
)
