"""capture (optional, root): sniff a silent WebSocket connection with scapy and tell which
side sent the first FIN or RST, from how far away (TTL against the TTL at connect), and
whether segments were retransmitted. scapy is imported only inside this module's probe."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes.util
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Literal

from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.lifetime import (
    idle_time_limit,
    local_port,
    open_websocket,
    pong_wait,
    reachable_address,
    skip_closed_at_once,
    watch_silently,
)
from wsdoctor.models import Finding, Fix, Resource, Status

CAP_NET_RAW = 13
ENABLE_HINT = (
    "run as root (sudo wsdoctor ... --capture) or give the interpreter CAP_NET_RAW "
    "(sudo setcap cap_net_raw+ep \"$(readlink -f \"$(command -v python3)\")\")"
)


def _effective_capabilities() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        return None
    return None


def capture_unavailable() -> str | None:
    """Why this process cannot capture packets (None when it can), with how to enable it."""
    caps = _effective_capabilities()
    allowed = bool(caps & (1 << CAP_NET_RAW)) if caps is not None else os.geteuid() == 0
    if not allowed:
        return f"capturing packets needs root or CAP_NET_RAW (uid {os.geteuid()}): {ENABLE_HINT}"
    if ctypes.util.find_library("pcap") is None:
        return "libpcap is not installed (Debian/Ubuntu: apt-get install libpcap0.8)"
    if importlib.util.find_spec("scapy") is None:
        return "scapy is not installed (pip install scapy)"
    return None


class CaptureObservation(Observation):
    """The packets of one silent connection, de-duplicated."""

    check: Literal["capture"] = "capture"
    interface: str
    address: str
    port: int
    local_port: int | None = None
    packets: int
    """Packets of the connection after de-duplication (loopback shows each one twice)."""
    duplicates: int = 0
    connect_ttl: int | None = None
    """TTL (hop limit) of the server's SYN-ACK."""
    first_close_side: Literal["server", "client"] | None = None
    """Who sent the first FIN or RST."""
    first_close_flag: Literal["FIN", "RST"] | None = None
    first_close_ttl: int | None = None
    first_close_at_s: float | None = None
    """Seconds after the SYN."""
    closer_is_connect_hop: bool | None = None
    """The first FIN/RST has the SYN-ACK's TTL: the hop that accepted the connection closed it."""
    retransmissions: int = 0
    timeout_s: float | None = None
    """The idle timeout seen on this connection (as in the idle check)."""


PacketSummary = tuple[float, str, int, str, int, int, int, str, int, bytes]
"""(time, src, sport, dst, dport, seq, ttl, flags, payload length, raw bytes)."""


def analyse_packets(
    packets: Sequence[PacketSummary], address: str, port: int, client_port: int | None
) -> dict[str, Any]:
    """Who closed first and how far away, retransmissions; pure, for unit tests too."""
    ours = [p for p in packets if client_port is None or client_port in (p[2], p[4])]
    seen: set[bytes] = set()
    unique: list[PacketSummary] = []
    for packet in ours:
        if packet[9] not in seen:
            seen.add(packet[9])
            unique.append(packet)
    result: dict[str, Any] = {"packets": len(unique), "duplicates": len(ours) - len(unique)}
    start = unique[0][0] if unique else 0.0
    segments: set[tuple[str, int, int, str, int]] = set()
    retransmissions = 0
    for at, src, sport, _dst, _dport, seq, ttl, flags, length, _raw in unique:
        from_server = src == address and sport == port
        if "S" in flags and "A" in flags and from_server and "connect_ttl" not in result:
            result["connect_ttl"] = ttl
        if (length or "F" in flags or "S" in flags) and "R" not in flags:
            key = (src, sport, seq, flags.replace("P", ""), length)
            if key in segments:
                retransmissions += 1
            segments.add(key)
        if ("F" in flags or "R" in flags) and "first_close_side" not in result:
            result["first_close_side"] = "server" if from_server else "client"
            result["first_close_flag"] = "RST" if "R" in flags else "FIN"
            result["first_close_ttl"] = ttl
            result["first_close_at_s"] = round(at - start, 3)
    result["retransmissions"] = retransmissions
    if "first_close_ttl" in result and "connect_ttl" in result \
            and result["first_close_side"] == "server":
        result["closer_is_connect_hop"] = result["first_close_ttl"] == result["connect_ttl"]
    return result


def _load_scapy() -> Any:
    from scapy.config import conf
    from scapy.layers.inet import IP, TCP
    from scapy.layers.inet6 import IPv6
    from scapy.sendrecv import AsyncSniffer

    return conf, IP, IPv6, TCP, AsyncSniffer


def _summaries(captured: Sequence[Any], scapy: Any) -> list[PacketSummary]:
    _conf, ip_layer, ip6_layer, tcp_layer, _sniffer = scapy
    out: list[PacketSummary] = []
    for packet in captured:
        if tcp_layer not in packet:
            continue
        net = packet[ip_layer] if ip_layer in packet else packet[ip6_layer]
        ttl = int(net.ttl) if ip_layer in packet else int(net.hlim)
        tcp = packet[tcp_layer]
        out.append((float(packet.time), str(net.src), int(tcp.sport), str(net.dst),
                    int(tcp.dport), int(tcp.seq), ttl, str(tcp.flags),
                    len(bytes(tcp.payload)), bytes(net)))
    return out


async def capture_idle_connection(ctx: ProbeContext) -> CaptureObservation:
    """Sniff a silent connection on the route's interface while it waits to be closed."""
    if ctx.settings.proxy is not None:
        raise Skip(f"connections go through the proxy {ctx.settings.proxy.url}: the packets "
                   "seen here are the proxy's, not the server's (run it where no proxy is "
                   "needed, or with --proxy '')")
    reason = capture_unavailable()
    if reason is not None:
        raise Skip(reason)
    settings = ctx.settings
    address = reachable_address(ctx)
    port = ctx.target.port
    scapy = await asyncio.to_thread(_load_scapy)
    conf, _ip, _ip6, _tcp, async_sniffer = scapy
    route = conf.route6.route(address) if ":" in address else conf.route.route(address)
    iface = str(route[0])
    started = threading.Event()
    sniffer = async_sniffer(
        iface=iface, filter=f"tcp and host {address} and port {port}", store=True,
        started_callback=started.set, promisc=False,
    )
    sniffer.start()
    if not await asyncio.to_thread(started.wait, 5.0):
        failure = getattr(sniffer, "exception", None)
        with contextlib.suppress(Exception):
            sniffer.stop(join=False)
        raise Skip(f"the packet capture on {iface} could not start"
                   + (f": {failure}" if failure else " within 5 s") + f"; {ENABLE_HINT}")
    try:
        conn, opened_at = await open_websocket(ctx, address)
        client_port = local_port(conn)
        try:
            watch = await watch_silently(conn, opened_at, settings.idle_max,
                                         pong_wait(settings.timeout))
        finally:
            conn.abort()
        await asyncio.sleep(0.3)  # let the last segments of the close arrive
    finally:
        captured = await asyncio.to_thread(sniffer.stop)
    skip_closed_at_once(watch.closed, opened_at)
    facts = analyse_packets(_summaries(captured or [], scapy), address, port, client_port)
    return CaptureObservation(
        interface=iface, address=address, port=port, local_port=client_port,
        timeout_s=None if watch.timeout_s is None else round(watch.timeout_s, 3), **facts,
    )


CLOSER = Code("WSD-CAPTURE-CLOSER", Status.INFO, "Who closed the connection, from the packets")
OTHER_HOP = Code(
    "WSD-CAPTURE-OTHER-HOP", Status.WARN, "A hop in front of the server closed the connection"
)
RETRANSMISSIONS = Code("WSD-CAPTURE-RETRANSMISSIONS", Status.WARN, "Segments were retransmitted")


def judge_capture(facts: Facts) -> Iterator[Finding]:
    """The first FIN/RST's origin and distance; retransmissions."""
    obs = facts.get(CaptureObservation)
    if obs is None:
        return
    endpoint = f"{obs.address}:{obs.port}"
    resource = Resource(kind="Address", name=endpoint)
    evidence = {"first_close_side": obs.first_close_side, "first_close_flag":
                obs.first_close_flag, "first_close_ttl": obs.first_close_ttl,
                "connect_ttl": obs.connect_ttl, "first_close_at_s": obs.first_close_at_s,
                "interface": obs.interface}
    if obs.first_close_side == "server":
        when = f" {obs.first_close_at_s:.1f} s after the SYN" if obs.first_close_at_s else ""
        if obs.closer_is_connect_hop is False:
            yield OTHER_HOP.finding(
                "capture", f"The first {obs.first_close_flag} came from {endpoint}'s side{when} "
                f"with TTL {obs.first_close_ttl}, but the SYN-ACK had TTL {obs.connect_ttl}: "
                "a different hop closed the connection than the one that accepted it — a load "
                "balancer or middlebox in front.",
                evidence=evidence, resource=resource,
                fix=Fix(summary="Raise the idle timeout of the load balancer in front of the "
                        "ingress (see the idle check for the matching defaults)."),
            )
        else:
            same = (f"with TTL {obs.first_close_ttl}, the same as the SYN-ACK: the hop that "
                    "accepted the connection closed it") if obs.closer_is_connect_hop else \
                f"with TTL {obs.first_close_ttl}"
            yield CLOSER.finding(
                "capture", f"The server side ({endpoint}) sent the first "
                f"{obs.first_close_flag}{when}, {same}.",
                evidence=evidence, resource=resource,
                title=f"The server side ({endpoint}) sent the first {obs.first_close_flag}",
            )
    elif obs.first_close_side == "client":
        yield CLOSER.finding(
            "capture", "The server never closed the connection: the first FIN/RST was ours, "
            "at the end of the wait.", evidence=evidence, resource=resource,
            title="No close from the server side during the wait",
        )
    if obs.retransmissions:
        yield RETRANSMISSIONS.finding(
            "capture", f"{obs.retransmissions} segments of the connection were sent again: "
            "packets were lost on the path (or the peer had dropped the connection).",
            evidence={"retransmissions": obs.retransmissions, "packets": obs.packets},
            resource=resource,
        )


def summarize_capture(obs: Observation) -> str:
    """``server sent FIN at 2.0 s, TTL 64 = connect``."""
    assert isinstance(obs, CaptureObservation)
    if obs.first_close_side is None:
        return f"{obs.packets} packets on {obs.interface}, no FIN/RST"
    ttl = "" if obs.closer_is_connect_hop is None else (
        ", same hop as connect" if obs.closer_is_connect_hop else ", another hop than connect")
    return f"{obs.first_close_side} sent the first {obs.first_close_flag} on {obs.interface}{ttl}"


CHECK = Check(
    id="capture",
    title="Packet capture",
    hop=Hop.IDLE,
    probe=capture_idle_connection,
    needs=("tcp",),
    rules=(rule(judge_capture),),
    codes=(CLOSER, OTHER_HOP, RETRANSMISSIONS),
    default=False,
    time_limit=lambda s: idle_time_limit(s.idle_max, s.timeout) + 10.0,
    summarize=summarize_capture,
)
