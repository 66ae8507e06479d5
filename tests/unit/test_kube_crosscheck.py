"""Cross-checks on plain data: cluster configuration held against what the network checks
measured, given as the network checks' own observation types."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.affinity_probe import CookieSeen
from wsdoctor.checks.base import Facts
from wsdoctor.checks.cluster import ClusterObservation, judge_cluster, judge_cross_checks
from wsdoctor.checks.dns import DnsObservation
from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.checks.tls import CertificateInfo, TlsAttempt, TlsObservation
from wsdoctor.kube.manifests import load_manifests
from wsdoctor.kube.observe import observe
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.runner import order_findings
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"


def cluster_obs(url: str) -> ClusterObservation:
    snap = load_manifests([str(p) for p in sorted(CLUSTER.glob("*.yaml"))]).snapshot
    snap = snap.model_copy(update={"source": "cluster"})
    target = parse_target(url)
    return observe(snap, target, Settings(), 0.0, "fake")


def facts(url: str, **measured: Any) -> Facts:
    results = {
        "cluster": CheckResult(id="cluster", status=CheckStatus.OK, observation=cluster_obs(url))
    }
    for check_id, obs in measured.items():
        results[check_id] = CheckResult(id=check_id, status=CheckStatus.OK, observation=obs)
    return Facts(
        target=parse_target(url), settings=Settings(), now=datetime.now(UTC), results=results
    )


def upgrade_answer(status: int) -> HandshakeObservation:
    line = f"HTTP/1.1 {status} Bad Gateway"
    return HandshakeObservation(
        url="wss://down.example.com/",
        host_header="down.example.com",
        attempts=[
            HandshakeAttempt(
                address="127.0.0.1",
                port=443,
                outcome="refused",
                status_code=status,
                status_line=line,
            )
        ],
    )


def idle_closed_after(seconds: float) -> IdleObservation:
    return IdleObservation(address="127.0.0.1", idle_max_s=600, open_s=seconds, timeout_s=seconds)


def cookies_set(*names: str) -> AffinityObservation:
    return AffinityObservation(
        address="127.0.0.1",
        cookies_upgrade=[CookieSeen(name=n, value="sha256:00000000 (32 chars)") for n in names],
    )


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_upgrade_502_with_zero_ready_endpoints_names_the_service_as_root_cause() -> None:
    """Given a 502 on the upgrade and a Service with no ready endpoint, the finding says the
    502 comes from the missing endpoints of that Service."""
    found = list(judge_cluster(facts("wss://down.example.com/", handshake=upgrade_answer(502))))
    finding = next(f for f in found if f.code == "WSD-K8S-NO-READY-ENDPOINTS")
    assert finding.detail.startswith(
        "The upgrade got HTTP 502 because there are no ready endpoints for Service down/down"
    )
    assert finding.evidence["upgrade_status"] == 502
    assert "WSD-HANDSHAKE-BAD-GATEWAY" in finding.explains


def test_root_cause_with_explains_is_ordered_before_the_symptom() -> None:
    """A finding that explains the handshake code comes first among failures."""
    from wsdoctor.checks.base import Code
    from wsdoctor.kube.rules_workloads import no_ready_endpoints
    from wsdoctor.models import Status

    symptom = Code("WSD-HANDSHAKE-BAD-STATUS", Status.FAIL, "upgrade refused")
    obs = cluster_obs("wss://down.example.com/")
    svc = obs.snapshot.find("Service", "down", "down")
    assert svc is not None
    cause = no_ready_endpoints(
        svc, {"total": 1, "ready": 0, "serving": 0, "terminating": 0}, explains=(symptom,)
    )
    ordered = order_findings(
        [symptom.finding("handshake", "HTTP 502"), cause], {"handshake": 4, "cluster": 8}
    )
    assert ordered[0].code == "WSD-K8S-NO-READY-ENDPOINTS"


def test_without_a_failed_upgrade_the_endpoint_finding_is_plain() -> None:
    """No handshake status: the finding carries no upgrade status and explains nothing."""
    found = list(judge_cluster(facts("wss://down.example.com/")))
    finding = next(f for f in found if f.code == "WSD-K8S-NO-READY-ENDPOINTS")
    assert "upgrade_status" not in finding.evidence and finding.explains == []


def test_dns_pointing_elsewhere_is_reported() -> None:
    """DNS answers that miss the LoadBalancer address give WSD-K8S-DNS-ELSEWHERE."""
    dns = DnsObservation(name="chat.example.com", source="dns", addresses=["203.0.113.9"])
    found = list(judge_cross_checks(facts("wss://chat.example.com/ws", dns=dns)))
    assert codes(found) == ["WSD-K8S-DNS-ELSEWHERE"]
    same = DnsObservation(name="chat.example.com", source="dns", addresses=["127.0.0.1"])
    assert list(judge_cross_checks(facts("wss://chat.example.com/ws", dns=same))) == []


def test_default_certificate_is_explained_by_the_tls_configuration() -> None:
    """The ingress-nginx fake certificate with a TLS entry for the host blames its Secret, and
    is listed before the TLS check's own default-certificate finding."""
    fake = "CN=Kubernetes Ingress Controller Fake Certificate,O=Acme Co"
    leaf = CertificateInfo(
        subject=fake,
        issuer=fake,
        sans=["ingress.local"],
        serial="1",
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(2027, 1, 1, tzinfo=UTC),
        sha256="00" * 32,
        key_type="RSA",
        self_signed=True,
    )
    tls = TlsObservation(
        host="chat.example.com",
        server_name="chat.example.com",
        trust="system",
        alpn_offered=["http/1.1"],
        attempts=[TlsAttempt(address="127.0.0.1", port=443, outcome="completed", chain=[leaf])],
    )
    found = list(judge_cross_checks(facts("wss://chat.example.com/ws", tls=tls)))
    assert codes(found) == ["WSD-K8S-DEFAULT-CERT"]
    assert "chat-tls" in found[0].detail
    assert found[0].explains == ["WSD-TLS-DEFAULT-CERT"]
    nothing = list(judge_cross_checks(facts("wss://down.example.com/", tls=tls)))
    assert "no TLS section" in nothing[0].detail


def test_measured_idle_matching_a_configured_timeout_says_which_binds() -> None:
    """60 s measured behind ingress-nginx with proxy-send-timeout at its default: it binds."""
    found = list(
        judge_cross_checks(facts("wss://chat.example.com/ws", idle=idle_closed_after(60.2)))
    )
    assert codes(found) == ["WSD-K8S-IDLE-BINDS"]
    assert "proxy-send-timeout" in found[0].detail


def test_measured_idle_shorter_than_everything_configured_is_outside_the_cluster() -> None:
    """100 s measured with every cluster timeout longer: something outside cuts it."""
    obs = facts("wss://gw.example.com/", idle=idle_closed_after(100.0))
    found = list(judge_cross_checks(obs))
    assert codes(found) == ["WSD-K8S-IDLE-OUTSIDE"]
    assert "Cloudflare" in found[0].detail


def test_an_idle_close_by_the_application_is_not_outside_the_cluster() -> None:
    """100 s measured, ended by the server's close frame: the application closed it (the idle
    check says so), not something outside the cluster."""
    closed = idle_closed_after(100.0).model_copy(update={
        "ending": "close_frame", "closed_by": "application", "close_code": 1000})
    assert list(judge_cross_checks(facts("wss://gw.example.com/", idle=closed))) == []


def test_an_idle_cut_a_bisected_hop_inside_shows_is_not_outside_the_cluster() -> None:
    """4 s measured at the public address and at the ingress controller pod too: the cut is
    the controller's (the hops check names it), not something outside the cluster."""
    from wsdoctor.checks.hops_model import HopResult, HopsObservation
    from wsdoctor.kube.hops import HopPlan

    controller = HopResult(plan=HopPlan(role="controller", pod="c-1", namespace="ingress"),
                           status="tested", idle=idle_closed_after(3.96))
    pod = HopResult(plan=HopPlan(role="pod", pod="p-1", namespace="chat"), status="tested",
                    idle=IdleObservation(address="p", idle_max_s=8, open_s=8, cap_ping="pong"))
    hops = HopsObservation(reach="port-forward", hops=[pod, controller])
    inside = facts("wss://gw.example.com/", idle=idle_closed_after(4.0), hops=hops)
    assert list(judge_cross_checks(inside)) == []
    held = hops.model_copy(update={"hops": [pod]})
    outside = facts("wss://gw.example.com/", idle=idle_closed_after(4.0), hops=held)
    assert codes(list(judge_cross_checks(outside))) == ["WSD-K8S-IDLE-OUTSIDE"]


def test_affinity_configured_but_no_cookie_and_the_reverse() -> None:
    """Cookie affinity with no cookie seen warns; a sticky cookie with no config informs."""
    url = "wss://chat.example.com/ws"
    none_seen = list(judge_cross_checks(facts(url, affinity=cookies_set())))
    assert codes(none_seen) == []  # the chat Ingress configures no affinity: nothing expected
    seen = list(judge_cross_checks(facts(url, affinity=cookies_set("INGRESSCOOKIE"))))
    assert codes(seen) == ["WSD-K8S-COOKIE-UNCONFIGURED"]
    sticky = "wss://down.example.com/"  # affinity: cookie on the down Ingress
    missing = list(judge_cross_checks(facts(sticky, affinity=cookies_set("sid"))))
    assert codes(missing) == ["WSD-K8S-AFFINITY-NO-COOKIE"]
    assert "INGRESSCOOKIE" in missing[0].detail
    ok = facts(sticky, affinity=cookies_set("INGRESSCOOKIE"))
    assert list(judge_cross_checks(ok)) == []


def test_served_certificate_differing_from_the_secret_is_reported() -> None:
    """With the Secret's fingerprint known, a different served certificate is a warning."""
    from wsdoctor.checks.cluster import TlsConfig

    leaf = CertificateInfo(
        subject="CN=chat.example.com",
        issuer="CN=Some CA",
        sans=["chat.example.com"],
        serial="2",
        not_before=datetime(2026, 1, 1, tzinfo=UTC),
        not_after=datetime(2027, 1, 1, tzinfo=UTC),
        sha256="aa" * 32,
        key_type="EC",
    )
    tls = TlsObservation(
        host="chat.example.com",
        server_name="chat.example.com",
        trust="system",
        alpn_offered=[],
        attempts=[TlsAttempt(address="127.0.0.1", port=443, outcome="completed", chain=[leaf])],
    )
    base = facts("wss://chat.example.com/ws", tls=tls)
    obs = base.results["cluster"].observation
    secret = TlsConfig(
        namespace="chat",
        hosts=["chat.example.com"],
        secret_name="chat-tls",
        secret_exists=True,
        secret_cert_sha256="bb" * 32,
        secret_cert_subject="CN=chat.example.com",
    )
    changed = obs.model_copy(update={"tls": [secret]})
    results = {
        **base.results,
        "cluster": base.results["cluster"].model_copy(update={"observation": changed}),
    }
    found = list(
        judge_cross_checks(
            Facts(target=base.target, settings=base.settings, now=base.now, results=results)
        )
    )
    assert codes(found) == ["WSD-K8S-CERT-NOT-FROM-SECRET"]
    same = changed.model_copy(
        update={"tls": [secret.model_copy(update={"secret_cert_sha256": "aa" * 32})]}
    )
    results["cluster"] = results["cluster"].model_copy(update={"observation": same})
    assert (
        list(
            judge_cross_checks(
                Facts(target=base.target, settings=base.settings, now=base.now, results=results)
            )
        )
        == []
    )


def test_affinity_without_cookie_says_what_to_check_for_the_controller_configuring_it() -> None:
    """Traefik stickiness on a Service and haproxytech cookie-persistence: the fix names the
    Service annotation (and, for Traefik, that IngressRoutes ignore it), not the Ingress's."""
    from wsdoctor.kube.affinity import AffinityConfig
    from wsdoctor.kube.crosscheck import cross_check_affinity
    from wsdoctor.models import Resource

    sticky = facts("wss://down.example.com/", affinity=cookies_set("sid"))
    cluster = cluster_obs("wss://down.example.com/")
    for controller, said in (("traefik", "IngressRoute, Service annotations are ignored"),
                             ("haproxytech", "cookie-persistence is on the Service")):
        config = AffinityConfig(controller=controller, cookie="lb",
                                resource=Resource(kind="Service", namespace="down", name="down"))
        [found] = cross_check_affinity(cluster.model_copy(update={"affinity": config}), sticky)
        assert found.code == "WSD-K8S-AFFINITY-NO-COOKIE" and found.fix is not None
        assert said in found.fix.summary and "on the Ingress it uses" not in found.fix.summary
