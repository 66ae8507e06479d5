"""Soak: thousands of accelerated cycles of the real exporter (real probes on loopback, cut
runs included, scrapes in between) leave memory and open file descriptors flat."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path

import pytest

from tests.exporter_support import running_exporter, tcp_listener, value, write_config
from tests.helpers import LAB_HOST
from wsdoctor.lab.listeners import Blackhole, closed_port
from wsdoctor.lab.proxies import Nginx

CYCLES = 5000


def rss_bytes() -> int:
    """Resident set size of this process, from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def open_fds() -> int:
    """Open file descriptors of this process."""
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
async def test_memory_and_fds_stay_flat_over_5000_cycles(tmp_path: Path) -> None:
    """Given a healthy, a refused and a blackholed target probed every millisecond (the last
    one cut at its 10 ms time limit each time) and /metrics and /probe scraped every 250
    cycles, RSS grows by less than 10 MB from warm-up to the end of 5,000 cycles, open fds do
    not grow, and every fd is closed again when the exporter stops."""
    baseline_fds = open_fds()
    with Blackhole() as hole:
        async with tcp_listener() as port:
            config = write_config(tmp_path, f"""\
interval: 1ms
jitter: 0.5
concurrency: 8
modules:
  tcp: {{checks: [tcp], time_limit: 5s, settings: {{timeout: 2}}}}
  cut: {{checks: [tcp], time_limit: 10ms, settings: {{timeout: 2}}}}
targets:
  - {{name: healthy, url: 'ws://127.0.0.1:{port}/', module: tcp}}
  - {{name: refused, url: 'ws://127.0.0.1:{closed_port()}/', module: tcp}}
  - {{name: dead, url: 'ws://127.0.0.1:{hole.port}/', module: cut}}
""")
            async with running_exporter(config) as ex:
                healthy = ex.exporter.scheduler.targets["healthy"]
                rss: list[int] = []
                fds: list[int] = []
                next_scrape = 0
                while (done := sum(healthy.runs.values())) < CYCLES:
                    if done >= next_scrape:
                        next_scrape += 250
                        samples = await ex.scrape()
                        await ex.scrape(f"/probe?target=ws://127.0.0.1:{port}/&module=tcp")
                        if done >= 500:  # after warm-up: caches, pools, first reports
                            gc.collect()
                            rss.append(rss_bytes())
                            fds.append(open_fds())
                    await asyncio.sleep(0.005)
                targets = ex.exporter.scheduler.targets
                runs = {name: sum(s.runs.values()) for name, s in targets.items()}
                samples = await ex.scrape()
    gc.collect()
    after = open_fds()
    growth = rss[-1] - rss[0]
    print(f"\nsoak: runs {runs}; RSS {rss[0] / 2**20:.1f} → {rss[-1] / 2**20:.1f} MiB "
          f"(max {max(rss) / 2**20:.1f}); fds {fds[0]} → {fds[-1]} (max {max(fds)})")
    assert runs["healthy"] >= CYCLES and runs["refused"] >= CYCLES // 2 and runs["dead"] >= 100
    assert value(samples, "probe_success", target="healthy", module="tcp") == 1.0
    assert value(samples, "probe_success", target="dead", module="cut") == 0.0
    assert growth < 10 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB"
    assert max(fds[len(fds) // 2:]) <= max(fds[: len(fds) // 2]) + 8, fds  # in-flight runs
    assert after == baseline_fds, "every socket the exporter opened is closed when it stops"


@pytest.mark.slow
@pytest.mark.lab
async def test_runs_cut_mid_connection_leave_no_socket_behind(
    healthy_nginx: Nginx, lab_ca_file: Path, tmp_path: Path,
) -> None:
    """Given real WebSocket runs against the lab (TLS, upgrade, echo, pings, affinity), many of
    them cut by time limits of 20 to 150 ms in the middle of a handshake or an exchange, RSS
    stays within 10 MB after warm-up and every socket is closed when the exporter stops."""
    baseline_fds = open_fds()
    url = f"wss://{LAB_HOST}:{healthy_nginx.port}/ws"
    settings = f"{{cafile: '{lab_ca_file}', timeout: 3, message_size: 4096, pings: 2}}"
    limits = ("20ms", "40ms", "80ms", "150ms")
    modules = "".join(f"  cut{i}: {{time_limit: {limit}, settings: {settings}, checks: "
                      "[tls, handshake, http, messages, affinity]}\n"
                      for i, limit in enumerate(limits))
    targets = "".join(f"  - {{name: cut{i}, url: '{url}', address: 127.0.0.1, module: cut{i}}}\n"
                      for i in range(len(limits)))
    config = write_config(tmp_path, f"""\
interval: 5ms
jitter: 0.5
concurrency: 8
modules:
  whole: {{time_limit: 20s, settings: {settings}}}
{modules}targets:
  - {{name: whole, url: '{url}', address: 127.0.0.1, module: whole}}
{targets}""")
    async with running_exporter(config) as ex:
        targets_state = ex.exporter.scheduler.targets
        rss: list[int] = []
        while (done := sum(sum(s.runs.values()) for s in targets_state.values())) < 1500:
            if done >= 300 and len(rss) < done // 300:
                gc.collect()
                rss.append(rss_bytes())
            await asyncio.sleep(0.05)
        whole = targets_state["whole"].report
        cut = targets_state["cut0"].report
    gc.collect()
    await asyncio.sleep(0.2)
    after = open_fds()
    print(f"\nlab soak: {done} runs; RSS {rss[0] / 2**20:.1f} → {rss[-1] / 2**20:.1f} MiB; "
          f"fds {baseline_fds} → {after}")
    assert whole is not None and cut is not None
    assert whole.status == "ok", whole.findings
    assert any(c.status == "error" for c in cut.checks)
    assert rss[-1] - rss[0] < 10 * 2**20
    assert after == baseline_fds, "a run cut mid-connection left a socket open"
