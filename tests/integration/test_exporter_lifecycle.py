"""The exporter's request lifecycle under hostile clients: a storm of scrapes is answered
within each scrape's timeout, probes of clients that hung up are cancelled, slowloris
connections are closed, malformed requests get a 400 and one log line."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.exporter_support import parse_exposition, running_exporter, value, wait_for
from tests.exporter_support import write_config as write
from wsdoctor.lab.backend import Backend, BackendOptions, LabLoop
from wsdoctor.lab.badframes import FrameFault, start_bad_frames
from wsdoctor.lab.hostile import HostileServer, Hostility, start_hostile
from wsdoctor.lab.proxies import free_port
from wsdoctor.report import Report

SCRAPES = 200
SCRAPE_TIMEOUT = 2.0
#: Malformed requests, as scanners and broken clients send them.
MALFORMED = [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 a TLS hello\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHo\x00st: a\r\n\r\n",
    b"GET /probe HTTP/9.9\r\n\r\n",
    b"GARBAGE \x1b[2J\r\n\r\n",
]


@pytest.fixture
async def silent(lab_loop: LabLoop) -> AsyncIterator[HostileServer]:
    """A server that accepts the upgrade request and never answers."""
    server = lab_loop.run(start_hostile(Hostility.NEVER_ANSWERS))
    yield server
    lab_loop.run(server.stop())


async def _get(session: aiohttp.ClientSession, url: str, timeout: float
               ) -> tuple[int, float, str]:
    start = time.monotonic()
    async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout), headers={
            "X-Prometheus-Scrape-Timeout-Seconds": f"{SCRAPE_TIMEOUT:g}"}) as response:
        body = await response.text()
        return response.status, time.monotonic() - start, body


@contextlib.contextmanager
def exporter_process(config: Path) -> Iterator[tuple[int, int]]:
    """``wsdoctor probe`` as a process of its own (as Prometheus sees it): port and pid."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsdoctor", "probe", "-c", str(config), "--listen",
         f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert "listening on" in first, first
        yield port, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def rss_of(pid: int) -> int:
    """Resident set size of process ``pid``, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
async def test_a_storm_of_scrapes_is_answered_within_the_scrape_timeout(
    tmp_path: Path, silent: HostileServer, lab_loop: LabLoop
) -> None:
    """Given 200 concurrent /probe scrapes (a silent target, and a healthy one) with a 2 s
    scrape timeout and 10 slots, every scrape is answered 200 within 2.5 s (the silent ones
    probe_success 0), /healthz answers meanwhile, and RSS is back within 50 MB of its
    start; a scrape that got no slot says so."""
    healthy = Backend(BackendOptions())
    lab_loop.run(healthy.start())
    config = write(tmp_path, "concurrency: 10\ntargets: []\n")
    try:
        with exporter_process(config) as (port, pid):
            base = f"http://127.0.0.1:{port}"
            urls = [f"/probe?target={silent.url()}"] * (SCRAPES - 20) + \
                [f"/probe?target=ws://127.0.0.1:{healthy.port}/&module=quick"] * 20
            health: list[tuple[int, float]] = []
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:
                await _get(s, base + urls[-1], 10)  # warm-up: imports, first run
                rss_before = rss_of(pid)
                storm = asyncio.gather(*(_get(s, base + url, 30) for url in urls))
                while not storm.done():
                    status, took, _ = await _get(s, base + "/healthz", 5)
                    health.append((status, took))
                    await asyncio.sleep(0.05)
                results = await storm
                reasons = await asyncio.gather(*(_get(s, base + url + "&debug=true", 10)
                                                 for url in urls[:15]))
                await asyncio.sleep(1)
                rss_after = rss_of(pid)
    finally:
        lab_loop.run(healthy.stop())
    slowest = max(took for _, took, _ in results)
    assert all(status == 200 for status, _, _ in results)
    assert slowest < SCRAPE_TIMEOUT + 0.5, f"slowest answer {slowest:.2f} s"
    silent_success = [value(parse_exposition(body), "probe_success")
                      for _, _, body in results[:SCRAPES - 20]]
    assert silent_success == [0.0] * (SCRAPES - 20)
    assert any("no probe slot came free within 1 s (10 running" in body
               for _, _, body in reasons)
    assert len(health) >= 5 and all(status == 200 for status, _ in health)
    assert max(took for _, took in health) < 1.0, health
    assert rss_after - rss_before < 50 * 2**20, (rss_before, rss_after)


async def test_deflate_bombs_leave_no_memory_behind(tmp_path: Path, lab_loop: LabLoop) -> None:
    """Ten concurrent probes of a server whose messages inflate 1,000-fold: each is refused
    at the size limit (WSD-FRAMES-TOO-BIG) and the exporter's RSS grows by less than 50 MB."""
    bomber = lab_loop.run(start_bad_frames(FrameFault.DEFLATE_BOMB))
    config = write(tmp_path, "targets: []\n")
    try:
        with exporter_process(config) as (port, pid):
            url = f"http://127.0.0.1:{port}/probe?target={bomber.url()}&debug=true"
            async with aiohttp.ClientSession() as session:
                await _get(session, url, 20)  # warm-up: imports, first run
                before = rss_of(pid)
                answers = await asyncio.gather(*(_get(session, url, 20) for _ in range(10)))
                await asyncio.sleep(1)
                after = rss_of(pid)
    finally:
        lab_loop.run(bomber.stop())
    codes = [[f.code for f in Report.model_validate_json(body).findings]
             for _, _, body in answers]
    assert codes == [["WSD-FRAMES-TOO-BIG"]] * 10
    assert after - before < 50 * 2**20, (before, after)


async def test_probes_of_clients_that_hung_up_are_cancelled(
    tmp_path: Path, silent: HostileServer
) -> None:
    """Scrapes whose client leaves after 0.3 s: their probes (and the sockets they opened
    to the target) are gone soon after, not kept until the module's 30 s time limit."""
    config = write(tmp_path, "targets: []\n")
    async with running_exporter(config) as ex:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            left = await asyncio.gather(
                *(_get(session, f"{ex.base}/probe?target={silent.url()}", 0.3)
                  for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, TimeoutError) for r in left), left
        pool = ex.exporter.on_demand_quick
        with contextlib.suppress(AssertionError):
            await wait_for(lambda: not (pool.running or pool.waiting or silent.open_connections),
                           timeout=2)
        assert (pool.running, pool.waiting, silent.open_connections) == (0, 0, 0)


async def test_slow_request_heads_are_cut_off(tmp_path: Path) -> None:
    """A connection that sends its request head a byte at a time, or nothing at all, is
    closed at the head timeout; a normal request on another connection is answered."""
    config = write(tmp_path, "targets: []\n")
    async with running_exporter(config, head_timeout=0.5) as ex:
        port = int(ex.base.rsplit(":", 1)[1])
        slow = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        mute = [await asyncio.open_connection("127.0.0.1", port) for _ in range(5)]
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
        start = time.monotonic()
        for index in range(8):  # 1.6 s of dribbling
            for _, writer in slow:
                with contextlib.suppress(OSError):
                    writer.write(head[index:index + 1])
            await asyncio.sleep(0.2)
        ends = await asyncio.gather(*(_closed_by_server(reader) for reader, _ in slow + mute))
        took = time.monotonic() - start
        status, _, _ = await _get(ex.session, ex.base + "/healthz", 5)
        for _, writer in slow + mute:
            writer.close()
    assert ends == [True] * 10 and took < 2.5
    assert status == 200


async def _closed_by_server(reader: asyncio.StreamReader) -> bool:
    """The server closed (FIN) or reset the connection, sending nothing."""
    try:
        return await asyncio.wait_for(reader.read(), 2) == b""
    except ConnectionError:
        return True


async def test_malformed_requests_get_a_400_and_one_log_line(tmp_path: Path) -> None:
    """Each malformed request is answered 400 with one sentence and logged as one printable
    line, never a traceback nor aiohttp's bytes literal of the request line."""
    config = write(tmp_path, "targets: []\n")
    log = io.StringIO()
    async with running_exporter(config, log=log) as ex:
        port = int(ex.base.rsplit(":", 1)[1])
        before = log.getvalue().count("\n")
        answers, bodies = [], []
        for request in MALFORMED:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            head, _, body = (await asyncio.wait_for(reader.read(), 5)).partition(b"\r\n\r\n")
            answers.append(head.split(b"\r\n")[0])
            bodies.append(body.decode())
            writer.close()
        await asyncio.sleep(0.1)
        lines = log.getvalue().splitlines()[before:]
    assert all(answer.split(b" ")[1:2] == [b"400"] for answer in answers), answers
    # each answer is one sentence quoting the request escaped, never a Python bytes repr
    assert all(b.startswith("Malformed request: ") and b.endswith(".\n") and b.count("\n") == 1
               and "b'" not in b and "bytearray" not in b and b[:-1].isprintable()
               for b in bodies), bodies
    assert 'in the line "GARBAGE \\x1b[2J"' in bodies[-1], bodies
    assert all("b'" not in line and "bytearray" not in line for line in lines), lines
    assert len(lines) == len(MALFORMED), lines
    assert all("Traceback" not in line and line.isprintable() for line in lines), lines
    assert all(line.startswith("wsdoctor probe: Error handling request") for line in lines)


#: A scraper's credential, in header lines aiohttp cannot parse (a control character, a
#: folded line): its error quotes the line.
SCRAPER_TOKEN = "promTok-9Xq2Lm7Vb3Kc"
LEAKY = (
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SCRAPER_TOKEN.encode()
    + b"\x01\x1b]52;c;cHduZWQ=\x07\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: x\r\nCookie: sid=" + SCRAPER_TOKEN.encode()
    + b"\x7f; theme=dark\r\n\r\n",
)


async def test_a_malformed_header_line_is_quoted_without_its_credential(tmp_path: Path) -> None:
    """A request whose Authorization or Cookie line is malformed is answered 400 and logged
    as one line; both quote the line without the credential it carried."""
    config = write(tmp_path, "targets: []\n")
    log = io.StringIO()
    answers = b""
    async with running_exporter(config, log=log) as ex:
        port = int(ex.base.rsplit(":", 1)[1])
        for request in LEAKY:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.split(b" ")[1:2] == [b"400"], answer
            answers += answer
            writer.close()
        await asyncio.sleep(0.1)
    assert SCRAPER_TOKEN.encode()[:10] not in answers and b"<redacted>" in answers, answers
    logged = log.getvalue()
    assert logged.count("Error handling request") == len(LEAKY), logged
    assert SCRAPER_TOKEN not in logged and SCRAPER_TOKEN[:10] not in logged, logged
    assert "Authorization: Bearer <redacted>" in logged and "Cookie: <redacted>" in logged
