"""The exporter's web server (aiohttp).

- ``/metrics``: the last run of every scheduled target (labels ``target``, ``module``) and the
  exporter's own health (runs, overruns, pools, config reloads, process).
- ``/probe?target=URL&module=NAME``: probe now, blackbox-style; ``&debug=true`` returns the
  JSON report instead.
- ``/healthz``: 200 while the exporter runs.
- ``/reports`` and ``/reports/NAME``: the last JSON report of each scheduled target.
- ``POST /-/reload``: reload the configuration, like SIGHUP.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TextIO

from aiohttp import web
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.process_collector import ProcessCollector

from wsdoctor import __version__
from wsdoctor.exporter.config import (
    ConfigError,
    ExporterConfig,
    ProbeSpec,
    load_config,
    parse_listen,
)
from wsdoctor.exporter.lifecycle import (
    HEAD_TIMEOUT,
    Turns,
    acquire_by,
    bound_port,
    listen,
    runner_options,
    track_requests,
)
from wsdoctor.exporter.metrics import Expected, MetricSet, add_report, exposition
from wsdoctor.exporter.scheduler import (
    Pool,
    RunRecord,
    Scheduler,
    TargetState,
    cut_report,
    run_probe,
)
from wsdoctor.exporter.schema import Expectations
from wsdoctor.exporter.watch import WatchManager
from wsdoctor.redact import mask_userinfo
from wsdoctor.report import Report
from wsdoctor.target import TargetError
from wsdoctor.untrusted import one_line

#: Seconds kept back from Prometheus' scrape timeout so the answer arrives in time (as blackbox).
SCRAPE_TIMEOUT_OFFSET = 0.5
#: A scrape waits for a probe slot only while this much of its time would be left to probe.
MIN_PROBE_S = 0.5


def expected_of(expect: Expectations) -> Expected:
    """The metrics' view of a config ``expect`` block."""
    return Expected(idle_timeout_s=expect.idle_timeout, affinity=expect.affinity)


class Exporter:
    """The running exporter: configuration, scheduler, reload state and the web app."""

    def __init__(self, config: ExporterConfig, *, config_path: str | None = None,
                 environ: Mapping[str, str] | None = None, log: TextIO | None = None,
                 listen_override: str | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.environ = dict(environ or {})
        self.log_stream = log
        self.listen_override = listen_override
        self.scheduler = Scheduler(config, on_run=self._log_change)
        self.watches = WatchManager()
        self.on_demand_quick = Pool(config.concurrency)
        self.on_demand_long = Pool(config.long_concurrency)
        self.reload_ok = True
        self.reload_time = time.time()
        self.reload_error: str | None = None
        self.process = ProcessCollector(registry=None)
        self.render_turns = Turns()

    def log(self, message: str) -> None:
        """One line on the log stream (stderr)."""
        if self.log_stream is not None:
            self.log_stream.write(f"wsdoctor probe: {one_line(message)}\n")
            self.log_stream.flush()

    def _log_change(self, run: RunRecord) -> None:
        """Log a target's first result and every change between success and failure."""
        state = self.scheduler.targets.get(run.name)
        if state is None:
            return
        changed = state.previous_success is None or state.previous_success != run.success
        state.previous_success = run.success
        if not changed:
            return
        if run.success:
            self.log(f"target {run.name}: probe succeeds")
            return
        first = run.report.findings[0] if run.report.findings else None
        errors = [c for c in run.report.checks if c.status == "error"]
        why = (f"{first.code}: {first.title}" if first is not None
               else f"{errors[0].id}: {errors[0].reason}" if errors else "no finding")
        self.log(f"target {run.name}: probe fails ({why})")

    def reload(self) -> bool:
        """Read the configuration file again; on error keep running the old one and say why."""
        if self.config_path is None:
            return True
        try:
            config = load_config(self.config_path, self.environ, listen=self.listen_override)
        except ConfigError as exc:
            self.reload_ok, self.reload_error = False, str(exc)
            self.log(f"reload failed, still running the previous configuration: {exc}")
            return False
        if config.listen != self.config.listen:
            self.log(f"the listen address changed to {config.listen}: it takes a restart")
        self.config = config
        self.scheduler.apply(config)
        self.watches.apply(config)
        self.on_demand_quick.resize(config.concurrency)
        self.on_demand_long.resize(config.long_concurrency)
        self.reload_ok, self.reload_error, self.reload_time = True, None, time.time()
        self.log(f"reloaded {self.config_path}: {len(config.targets)} targets")
        return True

    def metrics(self, states: list[tuple[str, TargetState]] | None = None) -> bytes:
        """The /metrics exposition: scheduled targets' last runs and the exporter's health."""
        out = MetricSet()
        for name, state in sorted(states or self.scheduler.targets.items()):
            spec = state.spec
            labels = {**dict(spec.labels), "target": name, "module": spec.module}
            if state.report is not None:
                add_report(out, state.report, labels=labels, fail_on=spec.settings.fail_on,
                           expected=expected_of(spec.expect))
            for result, count in state.runs.items():
                out.counter("wsdoctor_probe_runs", "Scheduled runs by result.", count,
                            {**labels, "result": result})
            out.counter("wsdoctor_probe_overruns", "Runs still going when the next was due "
                        "(the target is slower than its interval).", state.overruns, labels)
            out.gauge("wsdoctor_probe_schedule_delay_seconds", "How late the last run started "
                      "after it was due (waiting for a slot included).", state.last_delay_s, labels)
            out.gauge("wsdoctor_probe_interval_seconds", "Configured interval.", spec.interval,
                      labels)
        self._health(out)
        return exposition([*out.families(), *self.watches.families()], self.process)

    def _health(self, out: MetricSet) -> None:
        base = dict(self.config.labels)
        out.gauge("wsdoctor_build_info", "wsdoctor's version.", 1, {**base, "version": __version__})
        out.gauge("wsdoctor_exporter_config_last_reload_successful",
                  "Whether the last configuration reload succeeded.", float(self.reload_ok), base)
        out.gauge("wsdoctor_exporter_config_last_reload_success_timestamp_seconds",
                  "When the configuration was last loaded successfully.", self.reload_time, base)
        out.gauge("wsdoctor_exporter_targets", "Scheduled targets.",
                  len(self.scheduler.targets), base)
        pools = (("quick", self.scheduler.quick), ("long", self.scheduler.long),
                 ("on_demand_quick", self.on_demand_quick),
                 ("on_demand_long", self.on_demand_long))
        for pool_name, pool in pools:
            labels = {**base, "pool": pool_name}
            out.gauge("wsdoctor_exporter_running_probes", "Runs in progress.", pool.running,
                      labels)
            out.gauge("wsdoctor_exporter_waiting_probes", "Runs waiting for a slot.",
                      pool.waiting, labels)
            out.gauge("wsdoctor_exporter_concurrency", "Slots of each pool.", pool.limit, labels)

    async def probe(self, request: web.Request) -> web.Response:
        """``/probe?target=URL&module=NAME``, as blackbox_exporter answers it."""
        url = request.query.get("target")
        if not url:
            return web.Response(status=400, text="Target parameter is missing\n")
        module = request.query.get("module", "quick")
        try:
            spec = self.config.probe_spec(url, module, request.query.get("hostname"))
        except TargetError as exc:
            return _bad_request(f"target '{mask_userinfo(url)}': {exc}")
        except ValueError as exc:
            return _bad_request(str(exc))
        limit = spec.time_limit
        header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        if header:
            try:
                limit = min(limit, max(float(header) - SCRAPE_TIMEOUT_OFFSET, 0.1))
            except ValueError:
                pass
        report = await self._probe_by(spec, limit)
        async with self.render_turns:
            if request.query.get("debug", "").lower() in ("1", "true"):
                return web.Response(text=report.to_json(), content_type="application/json")
            out = MetricSet()
            add_report(out, report, labels=dict(spec.labels), fail_on=spec.settings.fail_on,
                       expected=expected_of(spec.expect))
            return _exposition_response(exposition(out.families()))

    async def _probe_by(self, spec: ProbeSpec, limit: float) -> Report:
        """Wait for a slot and probe, all within ``limit`` seconds (the scrape's deadline);
        cancelled with the request when the client goes away."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        pool = self.on_demand_long if spec.long else self.on_demand_quick
        started_at = datetime.now(UTC)
        wait = limit - min(MIN_PROBE_S, limit / 2)  # a slot with no time left is no use
        if not await acquire_by(pool, loop.time() + wait):
            return cut_report(
                spec, f"no probe slot came free within {wait:g} s ({pool.running} running, "
                f"{pool.waiting} waiting): raise 'concurrency' or the scrape timeout",
                started_at, wait)
        try:
            return await run_probe(spec, max(deadline - loop.time(), 0.001))
        finally:
            pool.release()

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """``/metrics``, rendered in a thread so that a big exposition never stalls probes."""
        states = list(self.scheduler.targets.items())
        return _exposition_response(await asyncio.to_thread(self.metrics, states))

    async def healthz(self, request: web.Request) -> web.Response:
        """``/healthz``: the exporter runs (its configuration may still have failed to reload)."""
        body = {"status": "ok", "targets": len(self.scheduler.targets),
                "config_reload_successful": self.reload_ok, "config_error": self.reload_error}
        return web.json_response(body)

    async def reports(self, request: web.Request) -> web.Response:
        """``/reports``: the scheduled targets and the state of their last run."""
        index = {}
        for name, state in sorted(self.scheduler.targets.items()):
            report = state.report
            index[name] = {
                "url": state.spec.target.url,
                "module": state.spec.module,
                "success": state.success,
                "status": report.status if report else None,
                "started_at": report.started_at.isoformat() if report else None,
                "report": f"/reports/{name}",
            }
        return web.json_response(index, dumps=lambda d: json.dumps(d, indent=2))

    async def report(self, request: web.Request) -> web.Response:
        """``/reports/NAME``: the last JSON report of a scheduled target."""
        name = request.match_info["name"]
        state = self.scheduler.targets.get(name)
        if state is None:
            return web.Response(status=404, text=f"no scheduled target named {name!r}\n")
        if state.report is None:
            return web.Response(status=404, text=f"target {name!r} has not run yet\n")
        return web.Response(text=state.report.to_json(),
                            content_type="application/json")

    async def reload_endpoint(self, request: web.Request) -> web.Response:
        """``POST /-/reload``."""
        if self.reload():
            return web.Response(text="reloaded\n")
        return web.Response(status=500, text=f"{self.reload_error}\n")

    async def index(self, request: web.Request) -> web.Response:
        """``/``: where things are."""
        return web.Response(text=(
            f"wsdoctor {__version__} probe exporter\n\n"
            "/metrics                      last results of the scheduled targets\n"
            "/probe?target=URL&module=quick probe now (blackbox-style); &debug=true for JSON\n"
            "/reports                      scheduled targets; /reports/NAME the last report\n"
            "/healthz                      health\n"
        ))

    def make_app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application(middlewares=[track_requests])
        app.router.add_get("/", self.index)
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/probe", self.probe)
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/reports", self.reports)
        app.router.add_get("/reports/{name}", self.report)
        app.router.add_post("/-/reload", self.reload_endpoint)
        return app


def _bad_request(message: str) -> web.Response:
    """A 400 whose body is one escaped sentence (what the client sent is quoted, never shown
    as a Python repr)."""
    text = one_line(message)
    return web.Response(status=400, text=f"{text[:1].upper()}{text[1:].rstrip('.')}.\n")


def _exposition_response(body: bytes) -> web.Response:
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response


async def serve(exporter: Exporter, *, stop: asyncio.Event | None = None,
                ready: Callable[[str, int], None] | None = None,
                handle_signals: bool = True, head_timeout: float = HEAD_TIMEOUT) -> None:
    """Listen and schedule until ``stop`` is set (or SIGTERM/SIGINT); SIGHUP reloads. A
    client has ``head_timeout`` seconds to send a request head (see lifecycle)."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    if handle_signals:
        loop.add_signal_handler(signal.SIGHUP, exporter.reload)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
    host, port = parse_listen(exporter.config.listen)
    runner = web.AppRunner(exporter.make_app(), **runner_options(exporter.log))
    await runner.setup()
    listener: asyncio.Server | None = None
    try:
        listener = await listen(runner, host or None, port, head_timeout)
        bound = bound_port(listener) or port
        exporter.scheduler.start()
        exporter.watches.apply(exporter.config)
        exporter.log(f"listening on {host or '*'}:{bound} with {len(exporter.config.targets)} "
                     f"targets (config {exporter.config.source})")
        if ready is not None:
            ready(host or "0.0.0.0", bound)
        await stop.wait()
        exporter.log("stopping")
    finally:
        await exporter.scheduler.stop()
        if listener is not None:
            listener.close()
        await exporter.watches.stop()
        await runner.cleanup()
        if handle_signals:
            for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

