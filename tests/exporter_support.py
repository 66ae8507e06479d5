"""Helpers for the exporter's tests: run ``wsdoctor probe`` in-process on loopback, scrape it
over real HTTP and parse the exposition with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from wsdoctor.exporter.config import load_config
from wsdoctor.exporter.server import Exporter, serve

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_exposition(text: str) -> Samples:
    """Every sample of an exposition, keyed by (name, labels); an empty label is dropped, as
    Prometheus treats it as absent."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = frozenset((k, v) for k, v in sample.labels.items() if v != "")
            samples[(sample.name, labels)] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` with exactly these labels."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}; have: " + ", ".join(
        sorted(f"{n}{dict(sorted(ls))}" for n, ls in samples if n == name)
    )
    return samples[key]


def names(samples: Samples) -> set[str]:
    """The sample names present."""
    return {name for name, _ in samples}


@dataclass
class RunningExporter:
    """An exporter serving on loopback."""

    exporter: Exporter
    base: str
    session: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str]:
        """GET ``path``: (status, body)."""
        async with self.session.get(self.base + path, headers=headers) as response:
            return response.status, await response.text()

    async def scrape(self, path: str = "/metrics") -> Samples:
        """GET and parse an exposition; the status must be 200."""
        status, body = await self.get(path)
        assert status == 200, body
        return parse_exposition(body)


def write_config(tmp_path: Path, text: str, name: str = "exporter.yaml") -> Path:
    """Write a (dedented) configuration file."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@asynccontextmanager
async def running_exporter(config_path: Path, environ: dict[str, str] | None = None,
                           log: TextIO | None = None, **serve_options: float,
                           ) -> AsyncIterator[RunningExporter]:
    """Start the exporter of ``config_path`` on 127.0.0.1 (free port) until the block ends;
    its log lines go to ``log``; ``serve_options`` go to :func:`serve`."""
    config = load_config(config_path, environ or {}, listen="127.0.0.1:0")
    exporter = Exporter(config, config_path=str(config_path), environ=environ or {},
                        listen_override="127.0.0.1:0", log=log)
    stop = asyncio.Event()
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        serve(exporter, stop=stop, ready=lambda _h, port: bound.set_result(port),
              handle_signals=False, **serve_options)
    )
    try:
        port = await asyncio.wait_for(asyncio.shield(bound), 10)
        async with aiohttp.ClientSession() as session:
            yield RunningExporter(exporter, f"http://127.0.0.1:{port}", session)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def wait_for(predicate: object, timeout: float = 10.0) -> None:
    """Wait until ``predicate()`` is true."""
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


@asynccontextmanager
async def tcp_listener(host: str = "127.0.0.1") -> AsyncIterator[int]:
    """A TCP port that accepts and closes connections (a healthy target for dns+tcp)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, host, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()
