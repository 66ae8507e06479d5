"""A load run as lines for a terminal, shared by the text report and the TUI: the run in one
line, k6-style timing summaries, messages, the spread over replicas, the client's own cost,
and the ramp plot."""

from __future__ import annotations

from wsdoctor.load.model import Distribution, LoadObservation
from wsdoctor.load.plot import Line, ramp_plot

STOPPED = {
    "completed": "held for the whole run",
    "steady_refusals": "stopped early on a streak of refusals",
    "interrupted": "interrupted",
    "client_limit": "stopped by this machine's limits",
}


def _t(seconds: float) -> str:
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f}µs"
    if seconds < 1:
        return f"{seconds * 1000:.3g}ms"
    return f"{seconds:.3g}s"


def k6_line(name: str, dist: Distribution | None) -> str | None:
    """``handshake.......: avg=2.1ms min=0.9ms med=1.8ms max=12ms p(90)=3ms p(95)=4ms``."""
    if dist is None:
        return None
    return (f"{name:.<16}: avg={_t(dist.avg)} min={_t(dist.min)} med={_t(dist.p50)} "
            f"max={_t(dist.max)} p(90)={_t(dist.p90)} p(95)={_t(dist.p95)} "
            f"p(99)={_t(dist.p99)} ({dist.count})")


def summary_lines(obs: LoadObservation) -> list[str]:
    """What the run did and measured, a line each."""
    plan = obs.plan
    lines = [
        f"{plan.connections} asked at {plan.rate:g}/s, hold {plan.hold_s:g}s: "
        f"{obs.attempted} attempted, {obs.upgraded} upgraded, {obs.refused} refused, "
        f"{obs.dropped} dropped; most held at once {obs.peak_open}; {STOPPED[obs.stopped]} "
        f"({obs.duration_s:.1f}s)",
    ]
    if obs.connected_none:
        lines.append(f"no connection: every attempt refused ({obs.cap_cause})")
    elif obs.cap is not None:
        lines.append(f"cap: {obs.cap} held, then {obs.cap_cause}")
    for name, dist in (("handshake", obs.handshake), ("tcp connect", obs.connect),
                       ("tls", obs.tls), ("upgrade", obs.upgrade), ("session", obs.session),
                       ("round trip", obs.round_trip)):
        line = k6_line(name, dist)
        if line:
            lines.append(line)
    if obs.messages_sent or obs.messages_received:
        lines.append(f"messages: {obs.messages_sent} sent, {obs.messages_received} received "
                     f"({obs.echoes} echoes)")
    for cause in obs.causes[:6]:
        lines.append(f"{cause.kind}: {cause.count} × {cause.cause} (first at "
                     f"{cause.open_at_first} held)")
    if obs.replicas:
        shown = ", ".join(f"{r.name} {r.held}" + (f" (-{r.refused})" if r.refused else "")
                          for r in obs.replicas[:8])
        lines.append(f"replicas ({obs.replica_source or 'named'}): {shown}")
    if len(obs.addresses) > 1:
        shown = ", ".join(f"{a.name} {a.held}" + (f" (-{a.refused})" if a.refused else "")
                          for a in obs.addresses[:8])
        lines.append(f"addresses: {shown}")
    client = obs.client
    cost = []
    if client.rss_per_connection_kib is not None:
        cost.append(f"{client.rss_per_connection_kib:.1f} KiB per connection")
    if client.cpu_per_connection_ms is not None:
        cost.append(f"{client.cpu_per_connection_ms:.2f} ms CPU per attempt")
    if client.hold_cpu_percent is not None:
        cost.append(f"{client.hold_cpu_percent:.0f}% CPU holding")
    cost.append(f"loop lag p99 {client.loop_lag_p99_ms:.0f} ms")
    if client.fd_limit is not None:
        cost.append(f"open files {client.fd_limit}")
    lines.append("client cost: " + ", ".join(cost))
    return lines


def plot(obs: LoadObservation, ascii_only: bool = False) -> list[Line]:
    """The ramp plot of the run."""
    return ramp_plot(obs.ramp, cap=None if obs.connected_none else obs.cap,
                     ascii_only=ascii_only)
