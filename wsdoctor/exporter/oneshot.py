"""Metrics of a one-shot run (``wsdoctor TARGET --textfile PATH --pushgateway URL``), for a
Kubernetes CronJob: node_exporter's textfile collector or a Pushgateway carries them to
Prometheus. Every sample has a ``target`` label (the URL), so several jobs can share a
collector directory or a Pushgateway."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import Metric

from wsdoctor.exporter.metrics import StaticCollector, exposition, registry_of, report_families
from wsdoctor.report import Report
from wsdoctor.settings import Settings


def one_shot_families(report: Report, settings: Settings) -> list[Metric]:
    """The families of a one-shot run, labelled with the target URL."""
    return report_families(report, labels={"target": report.target.url},
                           fail_on=settings.fail_on)


def write_textfile(report: Report, settings: Settings, path: str) -> None:
    """Write the exposition to ``path`` atomically: a temporary file in the same directory
    (whose name does not end in ``.prom``, so the collector ignores it), flushed to disk, then
    renamed over ``path``. A reader sees the old file or the new one, never half of one; a
    device or FIFO is written through, never replaced."""
    from wsdoctor.files import write_replacing

    write_replacing(path, exposition(one_shot_families(report, settings)))


def split_gateway(text: str) -> tuple[str, str | None, str | None]:
    """A Pushgateway URL (``http(s)://[user:password@]host[:port][/path]``, http:// when no
    scheme is given) as (URL without credentials, user, password); ValueError, one line that
    never repeats the password, when it is not one."""
    from urllib.parse import unquote

    from wsdoctor.target import TargetError, parse_target

    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme.lower() not in ("http", "https"):
        raise ValueError("expected an http:// or https:// URL")
    authority, slash, path = rest.partition("/")
    userinfo, at, hostport = authority.rpartition("@")
    try:
        parse_target(f"{scheme}://{hostport}/")
    except TargetError as exc:
        raise ValueError(str(exc)) from None
    if any(not c.isprintable() or c.isspace() for c in path):
        raise ValueError("the path contains whitespace or control characters")
    url = f"{scheme.lower()}://{hostport}{slash}{path}"
    if not at:
        return url, None, None
    user, _, password = userinfo.partition(":")
    return url, unquote(user), unquote(password)


def push(report: Report, settings: Settings, gateway: str, job: str) -> None:
    """PUT the metrics to a Pushgateway, grouped by job and target (a new push replaces the
    previous one of the same target); credentials in the URL go as Basic auth."""
    from prometheus_client.exposition import (
        basic_auth_handler,
        default_handler,
        push_to_gateway,
    )

    url, user, password = split_gateway(gateway)
    handler = default_handler
    if user is not None:
        def handler(url: str, method: str, timeout: float | None, headers: list[tuple[str, str]],
                    data: bytes) -> Callable[[], None]:
            return basic_auth_handler(url, method, timeout, headers, data, user, password)

    registry = registry_of(StaticCollector(one_shot_families(report, settings)))
    push_to_gateway(url, job=job, registry=registry, handler=handler,
                    grouping_key={"target": report.target.url}, timeout=settings.timeout * 2)
