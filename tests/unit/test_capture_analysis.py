"""Packet analysis of the capture check, on synthetic packets (loopback shows each twice)."""

import os
import subprocess
import sys

from wsdoctor.checks.capture import PacketSummary, analyse_packets, capture_unavailable

SERVER, CLIENT = ("10.0.0.5", 443), ("192.0.2.9", 50000)


def pkt(at: float, from_server: bool, flags: str, seq: int, ttl: int, length: int = 0,
        ident: int = 0) -> PacketSummary:
    (src, sport), (dst, dport) = (SERVER, CLIENT) if from_server else (CLIENT, SERVER)
    raw = f"{src}{sport}{dst}{dport}{seq}{flags}{length}{ident}{ttl}".encode()
    return (at, src, sport, dst, dport, seq, ttl, flags, length, raw)


def test_server_fin_from_the_connect_hop_with_duplicates() -> None:
    """Twice-seen packets count once; the server's FIN with the SYN-ACK's TTL."""
    packets = [pkt(0.0, False, "S", 1, 64), pkt(0.001, True, "SA", 100, 60),
               pkt(0.002, False, "A", 2, 64), pkt(60.0, True, "FA", 101, 60)]
    result = analyse_packets([p for p in packets for _ in (1, 2)], *SERVER, CLIENT[1])
    assert result["packets"] == 4 and result["duplicates"] == 4
    assert (result["first_close_side"], result["first_close_flag"]) == ("server", "FIN")
    assert result["connect_ttl"] == 60 and result["first_close_ttl"] == 60
    assert result["closer_is_connect_hop"] is True and result["first_close_at_s"] == 60.0


def test_rst_from_another_hop_and_retransmissions() -> None:
    """An RST with another TTL is another hop; a re-sent segment is a retransmission."""
    packets = [pkt(0.0, False, "S", 1, 64), pkt(0.001, True, "SA", 100, 52),
               pkt(90.0, False, "PA", 2, 64, length=6, ident=1),
               pkt(90.2, False, "PA", 2, 64, length=6, ident=2),
               pkt(90.6, True, "R", 101, 58)]
    result = analyse_packets(packets, *SERVER, CLIENT[1])
    assert result["retransmissions"] == 1
    assert result["first_close_flag"] == "RST" and result["closer_is_connect_hop"] is False


def test_other_connections_are_ignored() -> None:
    """Packets of another client port are not ours."""
    other = pkt(1.0, True, "FA", 5, 60)
    other = (*other[:4], 40000, *other[5:])
    assert analyse_packets([other], *SERVER, CLIENT[1])["packets"] == 0


def test_privilege_detection_matches_this_process() -> None:
    """Capture is available to root with libpcap; the reason names what is missing."""
    reason = capture_unavailable()
    if os.geteuid() != 0:
        assert reason is not None and "CAP_NET_RAW" in reason


def test_without_cap_net_raw_capture_is_unavailable() -> None:
    """A process without CAP_NET_RAW cannot open a packet socket, and is told how to."""
    code = ("import socket, sys\nfrom wsdoctor.checks.capture import capture_unavailable\n"
            "try:\n    socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close()\n"
            "    can = True\nexcept PermissionError:\n    can = False\n"
            "print(can, capture_unavailable())\n")
    prefix = ["setpriv", "--bounding-set", "-net_raw", "--inh-caps", "-net_raw"] \
        if os.geteuid() == 0 else []
    proc = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True,
                          text=True, check=True)
    can, _, reason = proc.stdout.strip().partition(" ")
    assert can == "False"
    assert "needs root or CAP_NET_RAW" in reason and "setcap" in reason
