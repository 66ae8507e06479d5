"""The hops side by side: one view of each hop's measurements, whatever measured them (the
hop's own checks, or the run's checks for the public address), what went wrong on it, and
the table row. Pure functions; the verdict rules and the renderers share them."""

from __future__ import annotations

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.base import Facts
from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.hops_model import HopName, HopResult, HopRow, HopsObservation
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.checks.messages import MessagesObservation, human_size
from wsdoctor.models import CheckStatus
from wsdoctor.records import dataclass

#: A hop is cut "sooner" than the one behind it only by more than this (seconds, or 5 %).
IDLE_MARGIN = 0.5


@dataclass(frozen=True)
class HopView:
    """What is known of one hop, for comparing it with the others."""

    name: HopName
    label: str
    endpoint: str | None
    tested: bool
    reason: str | None = None
    attempts: tuple[HandshakeAttempt, ...] = ()
    messages: MessagesObservation | None = None
    idle: IdleObservation | None = None
    affinity: AffinityObservation | None = None
    note: str | None = None
    component: str = ""
    errors: tuple[str, ...] = ()
    """Checks of the hop that could not run to the end (a crash, a time limit)."""

    @property
    def upgraded(self) -> HandshakeAttempt | None:
        return next((a for a in self.attempts if a.outcome == "upgraded"), None)


def view_of(result: HopResult) -> HopView:
    """A pod or controller hop as its own checks saw it."""
    plan = result.plan
    endpoint = None
    if plan.port is not None:
        where = f"{plan.address}:{plan.port}" if plan.address else f"port {plan.port}"
        endpoint = where + (f" via {result.via}" if result.via == "port-forward" else "")
    reason = result.reason
    if result.tunnel_errors:
        reason = "; ".join([*([reason] if reason else []), *result.tunnel_errors])
    return HopView(
        name=plan.role, label=plan.label, endpoint=endpoint,
        tested=result.status == "tested", reason=reason,
        attempts=tuple(result.handshake.attempts) if result.handshake else (),
        messages=result.messages, idle=result.idle, affinity=result.affinity,
        note=plan.note, component=plan.component,
        errors=tuple(f"{c.id}: {c.reason}" for c in result.checks
                     if c.status is CheckStatus.ERROR),
    )


def public_view(facts: Facts) -> HopView:
    """The public address, as the run's own checks measured it."""
    handshake = facts.get(HandshakeObservation)
    attempts = tuple(handshake.attempts) if handshake else ()
    first = next((a for a in attempts if a.outcome == "upgraded"), attempts[0] if attempts
                 else None)
    status = facts.status("handshake")
    return HopView(
        name="public", label=facts.target.url, endpoint=first.endpoint if first else None,
        tested=bool(attempts), reason=None if attempts else
        f"the handshake check {status.value if status else 'did not run'}",
        attempts=attempts, messages=facts.get(MessagesObservation),
        idle=facts.get(IdleObservation), affinity=facts.get(AffinityObservation),
        component="public",
    )


def views(obs: HopsObservation, facts: Facts) -> list[HopView]:
    """Pod, controller, public address: innermost first."""
    return [*(view_of(h) for h in obs.hops), public_view(facts)]


# -- what went wrong on a hop ----------------------------------------------------------------


def upgrade_fault(view: HopView) -> str | None:
    """How the upgrade failed on this hop (None: it upgraded everywhere, or was not tried)."""
    failed = [a for a in view.attempts if a.outcome != "upgraded"]
    if not failed:
        return None
    first = failed[0]
    if first.outcome == "refused" and first.status_line:
        what = f"was answered {first.status_line}"
    elif first.outcome == "connect_failed":
        what = f"could not start ({first.failed_step or 'connection'}: {first.error})"
    else:
        what = f"failed ({first.outcome}: {first.error or first.status_line or ''})"
    share = f" ({len(failed)} of {len(view.attempts)} addresses)" \
        if len(view.attempts) > 1 else ""
    return what + share


def messages_fault(view: HopView) -> str | None:
    """What broke over an upgraded connection (None: nothing, or not measured)."""
    obs = view.messages
    if obs is None or obs.upgrade_outcome != "upgraded":
        return None
    if obs.end is not None and obs.end.by == "server":
        how = f"close {obs.end.code}" if obs.end.code else obs.end.ending.upper()
        return f"the connection was ended ({how}) during the {obs.end.during} step"
    if obs.pings is not None and obs.pings.answered < obs.pings.sent:
        return f"{obs.pings.answered} of {obs.pings.sent} pings answered"
    large = obs.large_message
    if large is not None and large.outcome not in ("echoed", "delivered"):
        code = f" (close {large.close_code})" if large.close_code else ""
        return f"a {human_size(large.size)} message was {large.outcome}{code}"
    return None


def idle_cut(view: HopView) -> float | None:
    """Seconds of silence after which this hop's connection was closed (None: not closed
    within the wait, or not measured)."""
    return view.idle.timeout_s if view.idle is not None else None


def idle_held(view: HopView) -> float | None:
    """Seconds a silent connection stayed open and still answered a ping (None: it did not,
    or not measured)."""
    idle = view.idle
    if idle is None or idle.timeout_s is not None or idle.cap_ping != "pong":
        return None
    return idle.open_s


def cut_sooner(cut: float, held: float) -> bool:
    """A cut at ``cut`` s is a fault added in front of a hop that held ``held`` s."""
    return cut < held - max(IDLE_MARGIN, 0.05 * held)


# -- the table -------------------------------------------------------------------------------


def _upgrade_cell(view: HopView) -> str | None:
    if not view.attempts:
        return None
    fault = upgrade_fault(view)
    if fault is None:
        return "101"
    first = next(a for a in view.attempts if a.outcome != "upgraded")
    if first.outcome == "refused" and first.status_code:
        return f"HTTP {first.status_code}"
    return first.outcome.replace("_", " ")


def _idle_cells(view: HopView) -> tuple[str | None, str | None]:
    idle = view.idle
    if idle is None:
        return None, None
    if idle.timeout_s is not None:
        how = f"close {idle.close_code}" if idle.ending == "close_frame" else \
            (idle.ending or "").upper()
        return f"{idle.timeout_s:.1f} s", f"{idle.closed_by} ({how})"
    if idle.silent_drop:
        return f"dropped silently within {idle.idle_max_s:g} s", "nobody (state dropped)"
    if idle.cap_ping == "closed":
        return f"closed when pinged after {idle.idle_max_s:g} s", None
    if idle.server_ping_interval_s is not None:
        return f"kept alive by server pings every {idle.server_ping_interval_s:.1f} s", None
    return f"none within {idle.idle_max_s:g} s", None


def _affinity_cell(view: HopView) -> str | None:
    if view.name == "pod" and view.tested:
        return "one pod (n/a)"
    obs = view.affinity
    if obs is None:
        return None
    if obs.affinity_cookie is not None:
        state = {True: "pins", False: "not honoured", None: "not replayed"}[obs.replay_pinned]
        return f"cookie {obs.affinity_cookie} {state}"
    count = obs.distinct_replicas
    return f"none ({count} replica{'' if count == 1 else 's'} reached)"


def affinity_fault(view: HopView, expect: bool) -> str | None:
    """How this hop loses session affinity (None: it pins, it is one pod, or it was not
    measured): an affinity cookie not honoured, or, when the run expects affinity, reconnects
    reaching several replicas without one."""
    obs = view.affinity
    if view.name == "pod" or obs is None:
        return None
    if obs.affinity_cookie is not None and obs.replay_pinned is False:
        return f"the affinity cookie {obs.affinity_cookie} was not honoured " \
            f"({obs.distinct_replicas} replicas reached)"
    if obs.affinity_cookie is None and expect and obs.distinct_replicas > 1:
        return f"reconnects reached {obs.distinct_replicas} replicas without an affinity cookie"
    return None


def idle_fault(view: HopView, expect: float | None) -> float | None:
    """The idle cut of this hop when it is a fault: any cut within the wait, or one shorter
    than the idle time the application needs (``--expect-idle``)."""
    cut = idle_cut(view)
    if cut is None or (expect is not None and cut >= expect - 0.1):
        return None
    return cut


def row(view: HopView, expect: float | None = None, expect_affinity: bool = False) -> HopRow:
    """The table row of one hop."""
    if not view.tested:
        return HopRow(hop=view.name, name=view.label, endpoint=view.endpoint,
                      status=CheckStatus.SKIPPED, note=view.reason)
    faulty = upgrade_fault(view) or messages_fault(view) or \
        idle_fault(view, expect) is not None or affinity_fault(view, expect_affinity)
    upgraded = view.upgraded
    idle, closed_by = _idle_cells(view)
    status = CheckStatus.FAIL if faulty else CheckStatus.OK
    return HopRow(
        hop=view.name,
        name=view.label,
        endpoint=view.endpoint,
        status=CheckStatus.ERROR if view.errors else status,
        upgrade=_upgrade_cell(view),
        time_to_101_ms=round(upgraded.upgrade_s * 1000, 2)
        if upgraded is not None and upgraded.upgrade_s is not None else None,
        idle=idle,
        idle_timeout_s=idle_cut(view),
        closed_by=closed_by,
        affinity=_affinity_cell(view),
        note="; ".join(n for n in (*view.errors, view.note or view.reason) if n) or None,
    )


def hop_table(obs: HopsObservation, facts: Facts) -> list[HopRow]:
    """Every hop's row, innermost first."""
    return [row(v, facts.settings.expect_idle, facts.settings.expect_affinity)
            for v in views(obs, facts)]


def complete(obs: object, facts: Facts) -> HopsObservation:
    """The observation with the comparison table, public address included (``complete``)."""
    assert isinstance(obs, HopsObservation)
    return obs.model_copy(update={"table": hop_table(obs, facts)})
