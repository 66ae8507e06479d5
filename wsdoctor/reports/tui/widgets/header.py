"""The header: target, the address actually used, the controller detected, overall status and
elapsed time."""

from __future__ import annotations

from rich.text import Text

from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.http_probe import HttpObservation
from wsdoctor.checks.tcp import TcpObservation
from wsdoctor.models import CheckStatus, Status
from wsdoctor.reports.text import VERDICTS
from wsdoctor.reports.tui.format import SPINNER, check_mark, duration
from wsdoctor.reports.tui.state import Checklist


def address_used(checklist: Checklist) -> str | None:
    """The address the connection went to: the first that accepted TCP, else what DNS gave."""
    observations = [r.result.observation for r in checklist.rows.values() if r.result is not None]
    for obs in observations:
        if isinstance(obs, TcpObservation) and (obs.reachable or obs.attempts):
            return (obs.reachable or obs.attempts)[0].endpoint
    for obs in observations:
        if isinstance(obs, DnsObservation) and obs.addresses:
            return obs.addresses[0]
    return None


def controller_detected(checklist: Checklist) -> str | None:
    """The ingress controller or proxy recognised: an observation's own ``controller``, else
    what the plain HTTP answer's headers and body give away (``wsdoctor.fingerprints``)."""
    from wsdoctor.fingerprints import identify

    observations = [r.result.observation for r in checklist.rows.values() if r.result is not None]
    for obs in observations:
        controller = getattr(obs, "controller", None)
        if isinstance(controller, str) and controller:
            return controller
    for obs in observations:
        if isinstance(obs, HttpObservation):
            for exchange in obs.target_exchanges:
                headers = [(h.name, h.value) for h in exchange.headers]
                found = identify(headers, exchange.body_start or "")
                if found:
                    return found[0]
    return None


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'s' * (count != 1)}"


def header_text(
    checklist: Checklist, url: str, *, elapsed: float, frame: int, saved_from: str | None
) -> Text:
    """Two lines: where we are connecting, and how the run stands."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("wsdoctor ", style="bold")
    text.append(url, style="bold underline")
    address = address_used(checklist)
    if address:
        text.append(f" → {address}")
    controller = controller_detected(checklist)
    if controller:
        text.append(f" · {controller}", style="bold")
    text.append("\n")
    report = checklist.report
    done, total = checklist.counts()
    if report is None:
        text.append(SPINNER[frame % len(SPINNER)], style="bold cyan")
        text.append(f" running · {done}/{total} checks done · {duration(elapsed)}")
        return text
    status = CheckStatus(report.status)
    failed = sum(1 for f in report.findings if f.status is Status.FAIL)
    warned = sum(1 for f in report.findings if f.status is Status.WARN)
    broken = sum(1 for c in report.checks if c.status is CheckStatus.ERROR)
    text.append_text(check_mark(status))
    text.append(f" {VERDICTS[status]}", style="bold")
    counts = [f"{failed} failed", _plural(warned, "warning")]
    if broken:
        counts.append(_plural(broken, "error"))
    text.append(f" · {', '.join(counts)} · {duration(report.duration_s)}")
    if saved_from:
        text.append(f" · {saved_from}, {report.started_at:%Y-%m-%d %H:%M} UTC", style="dim")
    return text
