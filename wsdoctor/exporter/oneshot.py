"""Metrics of a one-shot run (``wsdoctor TARGET --textfile PATH --pushgateway URL``), for a
Kubernetes CronJob: node_exporter's textfile collector or a Pushgateway carries them to
Prometheus. Every sample has a ``target`` label (the URL), so several jobs can share a
collector directory or a Pushgateway."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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
    renamed over ``path``. A reader sees the old file or the new one, never half of one."""
    body = exposition(one_shot_families(report, settings))
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent or Path("."), prefix=f".{target.name}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def push(report: Report, settings: Settings, gateway: str, job: str) -> None:
    """PUT the metrics to a Pushgateway, grouped by job and target (a new push replaces the
    previous one of the same target)."""
    from prometheus_client.exposition import push_to_gateway

    registry = registry_of(StaticCollector(one_shot_families(report, settings)))
    push_to_gateway(gateway, job=job, registry=registry,
                    grouping_key={"target": report.target.url}, timeout=settings.timeout * 2)
