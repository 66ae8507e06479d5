"""The verdict of a bisected run on plain data: the first hop where a fault appears, the fix
for that component, hops that could not be tested, and the table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from wsdoctor.checks.affinity import AffinityObservation
from wsdoctor.checks.base import Facts
from wsdoctor.checks.cluster import ClusterObservation, RouteSummary
from wsdoctor.checks.handshake import HandshakeAttempt, HandshakeObservation
from wsdoctor.checks.hops_model import HopResult, HopsObservation
from wsdoctor.checks.hops_rules import judge
from wsdoctor.checks.hops_table import hop_table
from wsdoctor.checks.idle import IdleObservation
from wsdoctor.kube.hops import HopPlan
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, PermissionGap
from wsdoctor.kube.timeouts import ConfiguredTimeout
from wsdoctor.models import CheckResult, CheckStatus, Finding, Resource
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

URL = "wss://chat.example.com/ws"


def attempt(status: int = 101, address: str = "10.1.0.11", port: int = 8080) -> HandshakeAttempt:
    if status == 101:
        return HandshakeAttempt(address=address, port=port, outcome="upgraded", status_code=101,
                                status_line="HTTP/1.1 101 Switching Protocols", upgrade_s=0.002)
    return HandshakeAttempt(address=address, port=port, outcome="refused", status_code=status,
                            status_line=f"HTTP/1.1 {status} Upgrade Required")


def handshake(*attempts: HandshakeAttempt) -> HandshakeObservation:
    return HandshakeObservation(url=URL, host_header="chat.example.com", attempts=list(attempts))


def idle(cut: float | None = None, by: str = "proxy", cap: float = 90.0) -> IdleObservation:
    if cut is None:
        return IdleObservation(address="x", idle_max_s=cap, open_s=cap, cap_ping="pong")
    ending = "close_frame" if by == "application" else "fin"
    return IdleObservation(address="x", idle_max_s=cap, open_s=cut, timeout_s=cut,
                           ending=ending, closed_by=by,
                           close_code=1000 if by == "application" else None)


def hop(role: str, *, status: int | None = 101, cut: float | None = None, by: str = "proxy",
        measured_idle: bool = True, skipped: str | None = None,
        gap: PermissionGap | None = None) -> HopResult:
    plan = HopPlan(role=role, namespace="chat" if role == "pod" else "ingress-nginx",
                   pod="chat-1" if role == "pod" else "controller-1",
                   component="application" if role == "pod" else "ingress-nginx",
                   port=8080 if role == "pod" else 443, address="10.1.0.11")
    if skipped is not None:
        return HopResult(plan=plan, status="skipped", reason=skipped, permission_gap=gap)
    return HopResult(plan=plan, via="port-forward", status="tested",
                     handshake=handshake(attempt(status)) if status else None,
                     idle=idle(cut, by) if measured_idle else None)


def cluster(timeouts: list[ConfiguredTimeout] | None = None,
            objects: list[KubeObject] | None = None) -> ClusterObservation:
    return ClusterObservation(
        routes=[RouteSummary(kind="Ingress", namespace="chat", name="chat",
                             controller="ingress-nginx")],
        controller="ingress-nginx", timeouts=timeouts or [],
        snapshot=ClusterSnapshot(source="cluster", objects=objects or []))


def facts(hops: list[HopResult], public_status: int = 101, public_cut: float | None = None,
          measured_idle: bool = True, expect: float | None = None,
          cluster_obs: ClusterObservation | None = None,
          public_affinity: AffinityObservation | None = None,
          expect_affinity: bool = False) -> Facts:
    observations: dict[str, Any] = {
        "hops": HopsObservation(reach="port-forward", hops=hops),
        "handshake": handshake(attempt(public_status, "203.0.113.7", 443)),
        "cluster": cluster_obs or cluster(),
    }
    if measured_idle:
        observations["idle"] = idle(public_cut)
    if public_affinity is not None:
        observations["affinity"] = public_affinity
    return Facts(
        target=parse_target(URL),
        settings=Settings(expect_idle=expect, expect_affinity=expect_affinity),
        now=datetime.now(UTC),
        results={k: CheckResult(id=k, status=CheckStatus.OK, observation=v)
                 for k, v in observations.items()})


def codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


def test_cut_only_at_the_public_address_is_the_balancer_in_front() -> None:
    """Given the pod and the controller holding idle connections and the public address
    cutting them at 60 s, the fault is placed in front of the controller."""
    found = list(judge(facts([hop("pod"), hop("controller")], public_cut=60.0)))
    assert codes(found) == ["WSD-HOPS-FAULT-IN-FRONT"]
    assert "60.0 s only at the public address" in found[0].title
    assert found[0].fix is not None and "AWS ALB" in found[0].fix.summary  # 60 s matches
    assert "WSD-IDLE-TIMEOUT" in found[0].explains
    assert found[0].evidence["controller_held_s"] == 90.0


def test_cut_at_the_controller_names_the_setting_that_binds() -> None:
    """Given the controller cutting at 60 s like the public address and the pod holding,
    the fault is the controller's, on the object that sets the matching timeout."""
    timeout = ConfiguredTimeout(
        component="ingress-nginx", setting="proxy-read-timeout", seconds=60, scope="idle",
        default=True, resource=Resource(kind="Ingress", namespace="chat", name="chat"))
    found = list(judge(facts([hop("pod"), hop("controller", cut=60.0)], public_cut=60.0,
                             cluster_obs=cluster([timeout]))))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-CONTROLLER"]
    assert found[0].resource == timeout.resource
    assert found[0].fix is not None
    assert found[0].fix.summary.startswith("Raise ingress-nginx proxy-read-timeout 60 s")
    assert "nginx.ingress.kubernetes.io/proxy-read-timeout" in (found[0].fix.snippet or "")


def test_a_controller_cutting_sooner_than_its_configured_timeout_says_it_is_not_in_force(
) -> None:
    """Given the Ingress setting proxy-read-timeout 3600 and the controller pod cutting at
    4 s, the fix does not ask for 3600 again: the setting is not what the controller runs."""
    timeout = ConfiguredTimeout(
        component="ingress-nginx", setting="proxy-read-timeout", seconds=3600, scope="idle",
        resource=Resource(kind="Ingress", namespace="chat", name="chat"))
    found = list(judge(facts([hop("pod"), hop("controller", cut=4.0)], public_cut=4.0,
                             cluster_obs=cluster([timeout]))))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-CONTROLLER"]
    assert found[0].resource == timeout.resource
    assert found[0].fix is not None and "not in force" in found[0].fix.summary


def test_a_cut_already_at_the_pod_is_the_applications() -> None:
    """Given every hop closed by the application after 2 s, the fault is at the pod."""
    hops = [hop("pod", cut=2.0, by="application"), hop("controller", cut=2.0, by="application")]
    found = list(judge(facts(hops, public_cut=2.0)))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-POD"]
    assert found[0].resource == Resource(kind="Pod", namespace="chat", name="chat-1")
    assert found[0].fix is not None and "application" in found[0].fix.summary


def test_each_hop_that_cuts_sooner_adds_its_own_fault() -> None:
    """Given the controller cutting at 60 s and the balancer in front at 30 s, both add a
    cut, each named at its hop."""
    found = list(judge(facts([hop("pod"), hop("controller", cut=60.0)], public_cut=30.0)))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-CONTROLLER", "WSD-HOPS-FAULT-IN-FRONT"]


def test_an_untested_controller_leaves_the_fault_unplaced() -> None:
    """Given the controller hop skipped, a public cut behind a healthy pod is placed between
    the two, and the skip is reported with the permission that was missing."""
    gap = PermissionGap(verb="create", resource="pods/portforward", namespace="ingress-nginx")
    skipped = hop("controller", skipped="forbidden", gap=gap)
    found = list(judge(facts([hop("pod"), skipped], public_cut=60.0)))
    assert codes(found) == ["WSD-HOPS-FAULT-UNPLACED", "WSD-HOPS-SKIPPED"]
    assert found[1].title == "1 hop could not be tested: create pods/portforward is forbidden"
    assert found[1].fix is not None and "ingress-nginx create rolebinding" in (
        found[1].fix.snippet or "")


def test_a_long_enough_timeout_is_no_fault() -> None:
    """Given --expect-idle 30 and a public cut at 60 s, no hop adds a fault and they agree."""
    found = list(judge(facts([hop("pod"), hop("controller")], public_cut=60.0, expect=30.0)))
    assert codes(found) == ["WSD-HOPS-ALIKE"]


def test_controller_that_refuses_the_upgrade_with_a_breaking_annotation() -> None:
    """Given the pod upgrading and the controller answering 426 with an Ingress that forces
    HTTP/1.0 upstream, the finding names that annotation and how to remove it."""
    ingress = KubeObject(api_version="networking.k8s.io/v1", kind="Ingress", name="chat",
                         namespace="chat", annotations={
                             "nginx.ingress.kubernetes.io/proxy-http-version": "1.0"})
    found = list(judge(facts([hop("pod"), hop("controller", status=426)], public_status=426,
                             measured_idle=False, cluster_obs=cluster(objects=[ingress]))))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-CONTROLLER"]
    assert found[0].resource is not None and "proxy-http-version" in str(found[0].resource)
    assert found[0].fix is not None and found[0].fix.snippet == (
        "kubectl -n chat annotate ingress chat nginx.ingress.kubernetes.io/proxy-http-version-")
    assert found[0].explains == ["WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"]


def test_refused_only_in_front_of_the_controller() -> None:
    """Given the pod and the controller upgrading and the public address refusing, the
    load balancer in front refuses the upgrade."""
    found = list(judge(facts([hop("pod"), hop("controller")], public_status=400,
                             measured_idle=False)))
    assert codes(found) == ["WSD-HOPS-FAULT-IN-FRONT"]
    assert found[0].fix is not None and "TCP/SSL listener" in found[0].fix.summary


def test_a_difference_the_public_address_does_not_show_is_not_a_fault() -> None:
    """Given the pod refusing what the controller (adding headers) gets accepted, and the
    public address upgrading, no fault is placed and the hops are not called alike: the
    refusal is told as credentials the controller adds (the pod, 403, what to check)."""
    found = list(judge(facts([hop("pod", status=403), hop("controller")],
                             measured_idle=False)))
    assert codes(found) == ["WSD-HOPS-CREDENTIALS"]
    assert found[0].title.startswith("The pod answers 403 where the ingress controller pod")
    assert "identity header from external authentication" in found[0].detail
    assert "no -H headers (none were given)" in found[0].detail


def test_front_provider_from_the_load_balancer_service() -> None:
    """Given the controller's LoadBalancer Service on AWS, the fix names AWS settings only."""
    controller = KubeObject(api_version="v1", kind="Pod", name="controller-1",
                            namespace="ingress-nginx", labels={"app": "ingress"},
                            spec={"containers": [
                                {"image": "registry.k8s.io/ingress-nginx/controller:v1.12"}]})
    service = KubeObject(api_version="v1", kind="Service", name="ingress", namespace=
                         "ingress-nginx", annotations={
                             "service.beta.kubernetes.io/aws-load-balancer-type": "nlb"},
                         spec={"type": "LoadBalancer", "selector": {"app": "ingress"}})
    found = list(judge(facts([hop("pod"), hop("controller")], public_cut=45.0,
                             cluster_obs=cluster(objects=[controller, service]))))
    assert found[0].resource == Resource(kind="Service", namespace="ingress-nginx",
                                         name="ingress", field="metadata.annotations")
    assert found[0].fix is not None and found[0].fix.snippet is not None
    assert "AWS" in found[0].fix.summary and "Azure" not in found[0].fix.snippet


def test_the_table_sets_the_hops_side_by_side() -> None:
    """One row per hop, innermost first, with the same columns; a skipped hop says why."""
    state = facts([hop("pod"), hop("controller", skipped="no controller pod")], public_cut=4.0)
    obs = state.get(HopsObservation)
    assert obs is not None
    rows = hop_table(obs, state)
    assert [(r.hop, r.status, r.upgrade, r.idle_timeout_s) for r in rows] == [
        ("pod", CheckStatus.OK, "101", None),
        ("controller", CheckStatus.SKIPPED, None, None),
        ("public", CheckStatus.FAIL, "101", 4.0),
    ]
    assert rows[0].idle == "none within 90 s" and rows[1].note == "no controller pod"
    assert rows[2].closed_by == "proxy (FIN)" and rows[2].time_to_101_ms == 2.0


def test_a_hop_check_that_crashed_is_shown_as_an_error() -> None:
    """A hop whose own check could not finish is not shown as healthy."""
    from wsdoctor.checks.hops_model import HopCheck

    broken = hop("controller").model_copy(update={"checks": [HopCheck(
        id="messages", status=CheckStatus.ERROR, reason="did not finish within 21 s")]})
    state = facts([hop("pod"), broken], measured_idle=False)
    obs = state.get(HopsObservation)
    assert obs is not None
    controller = hop_table(obs, state)[1]
    assert controller.status is CheckStatus.ERROR
    assert controller.note == "messages: did not finish within 21 s"


def affinity(replicas: int, cookie: str | None = None,
             pinned: bool | None = None) -> AffinityObservation:
    return AffinityObservation(address="x", affinity_cookie=cookie, distinct_replicas=replicas,
                               replay_pinned=pinned)


def with_affinity(result: HopResult, obs: AffinityObservation) -> HopResult:
    return result.model_copy(update={"affinity": obs})


def test_affinity_lost_at_the_controller() -> None:
    """Given --expect-affinity, a controller pod whose reconnects reach 2 replicas without a
    cookie and the public address alike, the lost affinity is the controller's."""
    hops = [hop("pod"), with_affinity(hop("controller"), affinity(2))]
    found = list(judge(facts(hops, measured_idle=False, public_affinity=affinity(2),
                             expect_affinity=True)))
    assert codes(found) == ["WSD-HOPS-FAULT-AT-CONTROLLER"]
    assert found[0].title == "Session affinity is lost at the ingress controller " \
        "(ingress-nginx), not at the pod"
    assert "WSD-AFFINITY-NONE" in found[0].explains
    assert found[0].resource == Resource(kind="Ingress", namespace="chat", name="chat")
    state = facts(hops, measured_idle=False, public_affinity=affinity(2), expect_affinity=True)
    obs = state.get(HopsObservation)
    assert obs is not None
    assert [r.status for r in hop_table(obs, state)] == [
        CheckStatus.OK, CheckStatus.FAIL, CheckStatus.FAIL]


def test_affinity_lost_in_front_of_a_controller_that_pins() -> None:
    """Given the controller pod's cookie pinning reconnects and the same cookie not honoured
    at the public address, what is in front loses the affinity."""
    hops = [hop("pod"), with_affinity(hop("controller"), affinity(1, "INGRESSCOOKIE", True))]
    found = list(judge(facts(hops, measured_idle=False,
                             public_affinity=affinity(2, "INGRESSCOOKIE", False))))
    assert codes(found) == ["WSD-HOPS-FAULT-IN-FRONT"]
    assert "WSD-AFFINITY-NOT-HONOURED" in found[0].explains
    assert found[0].fix is not None and "cookie" in found[0].fix.summary


def test_no_affinity_asked_for_is_no_fault() -> None:
    """Without --expect-affinity, reconnects spread over replicas everywhere is not placed."""
    hops = [hop("pod"), with_affinity(hop("controller"), affinity(2))]
    found = list(judge(facts(hops, measured_idle=False, public_affinity=affinity(2))))
    assert codes(found) == ["WSD-HOPS-ALIKE"]


def test_a_controller_refusing_403_behind_an_upgrading_public_address_asks_for_credentials(
) -> None:
    """Given the pod upgrading, the controller pod answering 403 and the public address
    upgrading, the finding names the controller hop and what the load balancer in front
    adds or lets through (a source-range annotation on the route is named)."""
    route = KubeObject(api_version="networking.k8s.io/v1", kind="Ingress", name="chat",
                       namespace="chat", annotations={
                           "nginx.ingress.kubernetes.io/whitelist-source-range": "203.0.113.0/24"})
    found = list(judge(facts([hop("pod"), hop("controller", status=403)],
                             cluster_obs=cluster(objects=[route]))))
    assert codes(found) == ["WSD-HOPS-CREDENTIALS"]
    [finding] = found
    assert finding.status.value == "warn"
    assert finding.title.startswith("The ingress controller pod answers 403 where the public ")
    assert finding.evidence["hop"] == "controller" and finding.evidence["in_front"] == "public"
    assert "source address allow-list" in finding.detail
    assert finding.resource is not None and finding.resource.field == (
        'metadata.annotations["nginx.ingress.kubernetes.io/whitelist-source-range"]')


def test_a_pod_refusing_401_is_named_only_when_the_path_in_front_upgrades() -> None:
    """A 401 at the pod with the public address upgrading is the credentials finding; with
    the public address refusing too, the upgrade fault is placed at the pod as before."""
    found = list(judge(facts([hop("pod", status=401), hop("controller")])))
    assert codes(found) == ["WSD-HOPS-CREDENTIALS"]
    assert found[0].evidence["in_front"] == "controller"
    assert found[0].resource == Resource(kind="Pod", namespace="chat", name="chat-1")
    both = list(judge(facts([hop("pod", status=401), hop("controller", status=401)],
                            public_status=401)))
    assert codes(both) == ["WSD-HOPS-FAULT-AT-POD"]
