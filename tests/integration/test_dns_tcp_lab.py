"""dns and tcp against real dnsmasq and real listeners on loopback."""

import json
import socket
from collections.abc import Callable

from tests.helpers import run_cli
from wsdoctor.lab.proxies import Dnsmasq, DnsZone

ZONE = DnsZone(
    addresses={"ws.lab.test": ["127.0.0.1"], "dual.lab.test": ["127.0.0.1", "::1"],
               "pool.lab.test": ["127.0.0.1", "127.0.0.2", "127.0.0.3"]},
    cnames={"alias.lab.test": "ws.lab.test"},
    servfail=["broken.test"],
)


def diagnose_json(*argv: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_cli(*argv, "--format", "json")
    return result.status, json.loads(result.stdout)


def test_nxdomain_is_the_first_failure(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> None:
    """A name the server does not know is NXDOMAIN (fail) and tcp is skipped for it."""
    dns = start_dnsmasq(ZONE)
    status, report = diagnose_json("ws://nope.lab.test/", "--dns-server", dns.server,
                                   "--only", "tcp")
    assert status == 1
    assert report["findings"][0]["code"] == "WSD-DNS-NXDOMAIN"
    assert report["checks"][1]["status"] == "skipped"


def test_cname_chain_and_ttl_are_recorded(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> None:
    """The CNAME chain and the TTLs of the answer are in the observation."""
    dns = start_dnsmasq(ZONE)
    _, report = diagnose_json("ws://alias.lab.test:1/", "--dns-server", dns.server,
                              "--only", "dns")
    obs = report["checks"][0]["observation"]
    assert obs["addresses"] == ["127.0.0.1"]
    assert obs["cname_chain"][0]["value"] == "ws.lab.test."
    assert obs["cname_chain"][0]["ttl"] == 30
    codes = [f["code"] for f in report["findings"]]
    assert codes == ["WSD-DNS-NO-AAAA"]


def test_servfail_is_reported(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> None:
    """A domain whose upstream is dead yields a server-failure finding, not a crash."""
    dns = start_dnsmasq(ZONE)
    status, report = diagnose_json("ws://x.broken.test/", "--dns-server", dns.server,
                                   "--only", "dns", "--timeout", "1")
    assert status == 1
    assert report["findings"][0]["code"] in ("WSD-DNS-SERVFAIL", "WSD-DNS-TIMEOUT")


def test_dual_stack_name_has_no_aaaa_finding(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> None:
    """A and AAAA both present: both addresses are probed, no AAAA finding."""
    dns = start_dnsmasq(ZONE)
    _, report = diagnose_json("ws://dual.lab.test:1/", "--dns-server", dns.server,
                              "--only", "tcp")
    assert report["checks"][0]["observation"]["addresses"] == ["127.0.0.1", "::1"]
    tcp = report["checks"][1]["observation"]["attempts"]
    assert {a["address"] for a in tcp} == {"127.0.0.1", "::1"}


def test_one_dead_address_of_three_is_named(start_dnsmasq: Callable[[DnsZone], Dnsmasq]) -> None:
    """With three addresses and one not listening, the finding names that address."""
    dns = start_dnsmasq(ZONE)
    listeners = []
    port = 0
    for address in ("127.0.0.1", "127.0.0.2"):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        port = sock.getsockname()[1]
        sock.listen()
        listeners.append(sock)
    try:
        status, report = diagnose_json(f"ws://pool.lab.test:{port}/", "--dns-server",
                                       dns.server, "--only", "tcp")
    finally:
        for sock in listeners:
            sock.close()
    assert status == 1
    (finding,) = [f for f in report["findings"] if f["check"] == "tcp"]
    assert finding["code"] == "WSD-TCP-PARTIAL"
    assert finding["resource"]["name"] == f"127.0.0.3:{port}"
