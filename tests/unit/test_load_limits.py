"""The measured cap held against the limits configured on the route, on manifests: each
controller's setting is named with its object, field and value when its number and its
refusal explain the cap; a cap nothing explains, and a limit not reached, are said so."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wsdoctor.checks.base import Facts
from wsdoctor.checks.handshake import HandshakeAttempt, HeaderField
from wsdoctor.kube.manifests import load_manifests
from wsdoctor.kube.observe import observe
from wsdoctor.load.crosscheck import cross_check_load
from wsdoctor.load.model import LoadCause, LoadObservation
from wsdoctor.models import CheckResult, CheckStatus, Finding
from wsdoctor.settings import LoadPlan, Settings
from wsdoctor.target import parse_target

URL = "wss://chat.example.com/ws"

BACKEND = """
apiVersion: v1
kind: Service
metadata: {name: chat, namespace: chat}
spec:
  selector: {app: chat}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: chat-1, namespace: chat, labels: {kubernetes.io/service-name: chat}}
addressType: IPv4
endpoints:
- addresses: [10.1.0.11]
  conditions: {ready: true}
- addresses: [10.1.0.12]
  conditions: {ready: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: chat, namespace: chat}
spec:
  replicas: 2
  selector: {matchLabels: {app: chat}}
  template:
    metadata: {labels: {app: chat}}
    spec:
      containers:
      - name: chat
        image: example/chat:1
        env:
        - {name: LOG_LEVEL, value: info}
        - {name: %(env)s, value: "%(app_limit)s"}
"""

INGRESS = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: %(cls)s}
spec: {controller: %(controller)s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: controller, namespace: ingress}
spec:
  replicas: %(replicas)s
  selector: {matchLabels: {app: controller}}
  template:
    metadata: {labels: {app: controller}}
    spec:
      containers:
      - name: controller
        image: %(image)s
        args: ["--configmap=ingress/controller"]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: controller, namespace: ingress}
data: %(configmap)s
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: chat
  annotations: %(annotations)s
spec:
  ingressClassName: %(cls)s
  rules:
  - host: chat.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend: {service: {name: chat, port: {name: http}}}
"""

NGINX = {"cls": "nginx", "controller": "k8s.io/ingress-nginx", "replicas": 1,
         "image": "registry.k8s.io/ingress-nginx/controller:v1.12.0", "configmap": "{}",
         "annotations": "{}", "env": "LOG_FORMAT", "app_limit": "json"}
HAPROXYTECH = {**NGINX, "cls": "haproxy", "controller": "haproxy.org/ingress-controller",
               "image": "haproxytech/kubernetes-ingress:3.1"}
NGINX_503 = HandshakeAttempt(
    address="127.0.0.1", port=443, outcome="refused", status_code=503,
    status_line="HTTP/1.1 503 Service Temporarily Unavailable",
    headers=[HeaderField(name="Server", value="nginx")])


def facts(tmp_path: Path, manifests: str, load: LoadObservation) -> Facts:
    path = tmp_path / "cluster.yaml"
    path.write_text(manifests)
    snap = load_manifests([str(path)]).snapshot.model_copy(update={"source": "cluster"})
    cluster = observe(snap, parse_target(URL), Settings(), 0.0, "test")
    results = {"cluster": CheckResult(id="cluster", status=CheckStatus.OK, observation=cluster),
               "load": CheckResult(id="load", status=CheckStatus.OK, observation=load)}
    return Facts(target=parse_target(URL), settings=Settings(), now=datetime.now(UTC),
                 results=results)


def capped(cap: int, cause: str, response: HandshakeAttempt | None = None,
           **cause_fields: Any) -> LoadObservation:
    found = LoadCause(cause=cause, kind="refusal", count=5, first_attempt=cap + 1,
                      open_at_first=cap, first_at_s=1.0, address="127.0.0.1:443",
                      response=response, **cause_fields)
    return LoadObservation(
        url=URL, plan=LoadPlan(connections=500, rate=100, hold_s=0), stopped="steady_refusals",
        duration_s=2.0, ramp_s=2.0, attempted=cap + 5, upgraded=cap, peak_open=cap,
        held_at_end=cap, refused=5, dropped=0, cap=cap, cap_cause=cause, causes=[found])


def only(findings: list[Finding], code: str) -> Finding:
    found = [f for f in findings if f.code == code]
    assert len(found) == 1, [f.code for f in findings]
    return found[0]


def manifests(template: dict[str, Any], **overrides: Any) -> str:
    values = {**template, **overrides}
    return (INGRESS % values) + "---" + (BACKEND % values)


def test_limit_connections_times_the_controller_replicas(tmp_path: Path) -> None:
    """Given limit-connections 20 on the Ingress and two ingress-nginx replicas, a cap of 40
    refused with nginx's 503 is that annotation: 20 per client address per replica."""
    text = manifests(NGINX, replicas=2,
                     annotations='{"nginx.ingress.kubernetes.io/limit-connections": "20"}')
    found = list(cross_check_load(facts(tmp_path, text, capped(40, "HTTP 503", NGINX_503))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.resource is not None and limit.resource.name == "chat"
    assert limit.resource.field == \
        'metadata.annotations["nginx.ingress.kubernetes.io/limit-connections"]'
    assert limit.evidence["value"] == 20 and limit.evidence["allowed"] == 40
    assert limit.evidence["refusal_fits"] is True
    # the cluster check's warning on the same annotation is the measured cap's, not news
    assert limit.explains == ["WSD-LOAD-CAP", "WSD-NGINX-RATE-LIMIT"]
    assert "WSD-NGINX-RATE-LIMIT" in limit.detail


def test_limit_connections_answered_with_the_configmaps_status(tmp_path: Path) -> None:
    """Given limit-connections 20 and the ConfigMap's limit-conn-status-code 429, a cap of 20
    answered 429 by nginx is that annotation, refusing as configured."""
    text = manifests(NGINX, configmap='{"limit-conn-status-code": "429"}',
                     annotations='{"nginx.ingress.kubernetes.io/limit-connections": "20"}')
    too_many = NGINX_503.model_copy(update={"status_code": 429,
                                            "status_line": "HTTP/1.1 429 Too Many Requests"})
    found = list(cross_check_load(facts(tmp_path, text, capped(20, "HTTP 429", too_many))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.evidence["setting"] == "limit-connections"
    assert limit.evidence["refusal_fits"] is True


def test_max_worker_connections_with_one_worker(tmp_path: Path) -> None:
    """Given max-worker-connections 64 and worker-processes 1, a cap of 31 with resets is
    that key: two connections per WebSocket, a few listeners."""
    text = manifests(NGINX, configmap='{"max-worker-connections": "64", '
                     '"worker-processes": "1"}')
    found = list(cross_check_load(facts(
        tmp_path, text, capped(31, "connection reset before a response"))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.evidence["setting"] == "max-worker-connections"
    assert limit.resource is not None and limit.resource.kind == "ConfigMap"


def test_haproxy_maxconn_in_the_configmap(tmp_path: Path) -> None:
    """Given haproxytech with maxconn 30 in its ConfigMap, a cap of 30 refused by silence is
    that key."""
    text = manifests(HAPROXYTECH, configmap='{"maxconn": "30"}')
    found = list(cross_check_load(facts(tmp_path, text, capped(30, "no response within 5 s"))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.evidence["setting"] == "maxconn" and limit.evidence["value"] == 30
    assert limit.resource is not None and limit.resource.field == "data.maxconn"


def test_the_applications_max_connections_times_its_replicas(tmp_path: Path) -> None:
    """Given MAX_CONNECTIONS=40 in the backend's environment and two ready replicas, a cap of
    80 closed with 1013 right after the upgrade is that variable."""
    text = manifests(NGINX, env="MAX_CONNECTIONS", app_limit="40")
    cause = "closed after the upgrade: 1013 try again later"
    found = list(cross_check_load(facts(tmp_path, text, capped(80, cause, close_code=1013))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.evidence["setting"] == "MAX_CONNECTIONS" and limit.evidence["allowed"] == 80
    assert limit.resource is not None and limit.resource.kind == "Deployment"
    assert limit.resource.field == "spec.template.spec.containers[0].env[1].value"


def test_a_number_that_fits_with_a_refusal_that_does_not_is_said(tmp_path: Path) -> None:
    """Given limit-connections 20 but a cap of 20 refused by silence (not a 503), the limit is
    named with the caveat that another limit in front may refuse at that number."""
    text = manifests(NGINX, annotations='{"nginx.ingress.kubernetes.io/limit-connections": '
                     '"20"}')
    found = list(cross_check_load(facts(tmp_path, text, capped(20, "no response within 5 s"))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.evidence["refusal_fits"] is False
    assert "That is not how limit-connections refuses" in limit.detail


def test_a_cap_nothing_explains_lists_what_was_read(tmp_path: Path) -> None:
    """Given limit-connections 20 and a cap of 57, no limit is named: LIMIT-UNKNOWN lists the
    limits read with what each allows."""
    text = manifests(NGINX, annotations='{"nginx.ingress.kubernetes.io/limit-connections": '
                     '"20"}')
    found = list(cross_check_load(facts(tmp_path, text, capped(57, "HTTP 503", NGINX_503))))
    unknown = only(found, "WSD-LOAD-LIMIT-UNKNOWN")
    assert "limit-connections 20" in unknown.detail and "WSD-LOAD-LIMIT" not in \
        [f.code for f in found]


def test_a_limit_below_what_was_held_was_not_reached(tmp_path: Path) -> None:
    """Given limit-connections 20 while 100 connections were held without a refusal, the
    limit is said not to be in force for this client (or counted per something else)."""
    text = manifests(NGINX, annotations='{"nginx.ingress.kubernetes.io/limit-connections": '
                     '"20"}')
    held = LoadObservation(
        url=URL, plan=LoadPlan(connections=100, rate=100, hold_s=0), stopped="completed",
        duration_s=1.0, ramp_s=1.0, attempted=100, upgraded=100, peak_open=100,
        held_at_end=100, refused=0, dropped=0)
    found = list(cross_check_load(facts(tmp_path, text, held)))
    note = only(found, "WSD-LOAD-LIMIT-NOT-REACHED")
    assert "100 connections were held" in note.detail


def test_no_cluster_observation_no_cross_check() -> None:
    """Without the cluster check's observation, the cross-check says nothing."""
    facts_ = Facts(target=parse_target(URL), settings=Settings(), now=datetime.now(UTC),
                   results={"load": CheckResult(id="load", status=CheckStatus.OK,
                                                observation=capped(20, "HTTP 503"))})
    assert list(cross_check_load(facts_)) == []


TOO_MANY = HandshakeAttempt(address="127.0.0.1", port=443, outcome="refused", status_code=429,
                            status_line="HTTP/1.1 429 Too Many Requests",
                            body_start="max connections reached: 50")

TRAEFIK = """
apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata: {name: chat, namespace: chat}
spec:
  routes:
  - match: Host(`chat.example.com`) && PathPrefix(`/ws`)
    kind: Rule
    middlewares: [{name: few}]
    services: [{name: chat, port: 80}]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata: {name: few, namespace: chat}
spec:
  inFlightReq: {amount: 50}
"""

ISTIO = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: chat, namespace: chat}
spec:
  hosts: [chat.example.com]
  http:
  - match: [{uri: {prefix: /ws}}]
    route: [{destination: {host: chat.chat.svc.cluster.local, port: {number: 80}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: chat, namespace: chat}
spec:
  host: chat.chat.svc.cluster.local
  trafficPolicy:
    connectionPool:
      tcp: {maxConnections: 100}
"""


def test_traefik_inflightreq_on_the_ingressroute(tmp_path: Path) -> None:
    """Given an IngressRoute whose route uses an inFlightReq middleware of 50 (Traefik's HTTP
    in-flight limit; inFlightConn is the TCP one), a cap of 50 answered 429 is that
    middleware's amount, counted per Host by default."""
    text = TRAEFIK + "---" + (BACKEND % NGINX)
    found = list(cross_check_load(facts(tmp_path, text, capped(50, "HTTP 429", TOO_MANY))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.resource is not None and limit.resource.kind == "Middleware"
    assert limit.resource.field == "spec.inFlightReq.amount"
    assert limit.evidence["setting"] == "inFlightReq.amount" and limit.evidence["value"] == 50
    assert "Host" in str(limit.evidence["counts_per"])
    assert limit.fix is not None and "inFlightReq:" in str(limit.fix.snippet)


def test_traefik_inflightreq_named_by_an_ingress_annotation(tmp_path: Path) -> None:
    """Given a Kubernetes Ingress served by Traefik whose router.middlewares annotation names
    the Middleware (namespace-name@kubernetescrd), the cap of 50 is that middleware."""
    ingress = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: traefik}
spec: {controller: traefik.io/ingress-controller}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: chat
  namespace: chat
  annotations:
    traefik.ingress.kubernetes.io/router.middlewares: chat-few@kubernetescrd
spec:
  ingressClassName: traefik
  rules:
  - host: chat.example.com
    http:
      paths:
      - path: /ws
        pathType: Prefix
        backend: {service: {name: chat, port: {number: 80}}}
"""
    middleware = TRAEFIK[TRAEFIK.index("apiVersion: traefik.io/v1alpha1\nkind: Middleware"):]
    text = ingress + "---\n" + middleware + "---" + (BACKEND % NGINX)
    found = list(cross_check_load(facts(tmp_path, text, capped(50, "HTTP 429", TOO_MANY))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.resource is not None and limit.resource.kind == "Middleware"
    assert limit.evidence["setting"] == "inFlightReq.amount"


def test_istio_max_connections_of_the_destination_rule(tmp_path: Path) -> None:
    """Given a DestinationRule with connectionPool.tcp.maxConnections 100 for the backend, a
    cap of 100 answered 503 by Envoy is that field."""
    text = ISTIO + "---" + (BACKEND % NGINX)
    overflow = HandshakeAttempt(
        address="127.0.0.1", port=443, outcome="refused", status_code=503,
        status_line="HTTP/1.1 503 Service Unavailable",
        headers=[HeaderField(name="x-envoy-overloaded", value="true"),
                 HeaderField(name="server", value="istio-envoy")],
        body_start="upstream connect error or disconnect/reset before headers. reset reason: "
        "overflow")
    found = list(cross_check_load(facts(tmp_path, text, capped(100, "HTTP 503", overflow))))
    limit = only(found, "WSD-LOAD-LIMIT")
    assert limit.resource is not None and limit.resource.kind == "DestinationRule"
    assert limit.resource.field == "spec.trafficPolicy.connectionPool.tcp.maxConnections"
