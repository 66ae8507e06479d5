"""Istio and Gateway API both have a kind Gateway: a route must find its own API's one."""

import io
import json
from pathlib import Path

from wsdoctor.cli import Environment, main

MANIFESTS = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: web, namespace: chat}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*.example.org"]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: web, namespace: chat}
spec:
  gatewayClassName: eg
  listeners:
  - {name: http, port: 80, protocol: HTTP, hostname: "chat.example.com"}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: chat, namespace: chat}
spec:
  parentRefs: [{name: web}]
  hostnames: [chat.example.com]
  rules:
  - backendRefs: [{name: chat, port: 80}]
"""


def test_httproute_attaches_to_the_gateway_api_gateway_not_istios(tmp_path: Path) -> None:
    """Given an Istio Gateway listed first with the same name, the HTTPRoute's parent is still
    the Gateway API one: no 'parent missing' and no 'hostname matches no listener'."""
    path = tmp_path / "gateways.yaml"
    path.write_text(MANIFESTS)
    out = io.StringIO()
    main(["lint", str(path), "--format", "json"],
         Environment(stdout=out, stderr=io.StringIO(), environ={}, stdout_isatty=False))
    codes = {f["finding"]["code"] for f in json.loads(out.getvalue())["findings"]}
    assert "WSD-GATEWAY-PARENT-MISSING" not in codes
    assert "WSD-GATEWAY-HOSTNAME-MISMATCH" not in codes
