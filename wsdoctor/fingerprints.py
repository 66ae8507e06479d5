"""What identifies a component from the outside: the default certificates ingress controllers
serve when no certificate matches the host (KNOWLEDGE §5), and the response headers and error
bodies by which proxies and load balancers give themselves away. Each entry names its source.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from wsdoctor.models import Fix
from wsdoctor.records import dataclass

FAKE_CERT_CN = "Kubernetes Ingress Controller Fake Certificate"


def _ingress_tls_fix(host: str, controller: str) -> Fix:
    secret = host.replace("*", "wildcard").replace(".", "-") + "-tls"
    return Fix(
        summary=f"Give {controller} a certificate for {host}: list the host under the Ingress's "
        "spec.tls with a Secret of type kubernetes.io/tls in the Ingress's own namespace (the "
        "host must match the rule's host exactly). With cert-manager, check that the "
        "Certificate is Ready: kubectl get certificate -A.",
        snippet=f"""# kubectl -n <namespace> create secret tls {secret} --cert=tls.crt --key=tls.key
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: <ingress>
  namespace: <namespace>
spec:
  tls:
    - hosts:
        - {host}
      secretName: {secret}
  rules:
    - host: {host}
""",
        language="yaml",
    )


@dataclass(frozen=True)
class DefaultCertificate:
    """An ingress controller's built-in certificate, served when no TLS secret matches."""

    controller: str
    verdict: str
    """What it means, said outright."""
    source: str

    def fix(self, host: str) -> Fix:
        """How to serve a real certificate for ``host`` with this controller."""
        if self.controller == "Traefik":
            return Fix(
                summary=f"Give Traefik a certificate for {host}: spec.tls.secretName on the "
                "IngressRoute (or spec.tls on the Ingress), a certResolver, or a default "
                "certificate in the TLSStore named default.",
                snippet=f"""apiVersion: traefik.io/v1alpha1
kind: IngressRoute
metadata:
  name: <route>
spec:
  entryPoints: [websecure]
  routes:
    - match: Host(`{host}`)
      kind: Rule
      services:
        - name: <service>
          port: <port>
  tls:
    secretName: {host.replace('.', '-')}-tls
""",
                language="yaml",
            )
        return _ingress_tls_fix(host, self.controller)


INGRESS_NGINX = DefaultCertificate(
    "ingress-nginx",
    "this is ingress-nginx's fake certificate: no TLS secret serves this host",
    "ingress-nginx: CN 'Kubernetes Ingress Controller Fake Certificate', O 'Acme Co', "
    "SAN ingress.local, RSA-2048, self-signed (internal/net/ssl/ssl.go)",
)
HAPROXY_INGRESS = DefaultCertificate(
    "haproxy-ingress",
    "this is haproxy-ingress's fake certificate: no TLS secret serves this host",
    "haproxy-ingress (jcmoraisjr): same subject as ingress-nginx, SANs localhost and "
    "ingress.local, ECDSA P-256",
)
HAPROXYTECH = DefaultCertificate(
    "HAProxy Kubernetes Ingress (haproxytech)",
    "this is the haproxytech ingress controller's default certificate (issuer "
    "kubernetes-ingress-ca): no TLS secret serves this host",
    "haproxytech/helm-charts: the chart generates a default certificate signed by "
    "'kubernetes-ingress-ca'",
)
TRAEFIK = DefaultCertificate(
    "Traefik",
    "this is Traefik's default certificate: no router's TLS configuration covers this host",
    "Traefik: self-signed, CN and issuer 'TRAEFIK DEFAULT CERT', one SAN "
    "<32 hex>.<32 hex>.traefik.default, RSA 2048, generated at start and valid one year "
    "(measured on Traefik 3.7.15: tests/integration/test_traefik_lab.py)",
)


def default_certificate(
    common_name: str | None,
    organization: str | None,
    sans: Sequence[str],
    issuer_common_name: str | None,
    key_type: str,
) -> DefaultCertificate | None:
    """The controller whose built-in certificate has these fields, if any."""
    if common_name == FAKE_CERT_CN:
        if key_type == "EC" or "localhost" in sans:
            return HAPROXY_INGRESS
        return INGRESS_NGINX
    if common_name == "TRAEFIK DEFAULT CERT" or any(
        s.endswith(".traefik.default") for s in sans
    ):
        return TRAEFIK
    if issuer_common_name == "kubernetes-ingress-ca":
        return HAPROXYTECH
    return None


@dataclass(frozen=True)
class HeaderTell:
    """A response header that names the component that wrote it."""

    component: str
    header: str
    """Lower-case header name; a trailing ``*`` matches every header with that prefix."""
    pattern: str | None = None
    """Regular expression searched in the value (case-insensitive); None: presence is enough."""

    def matches(self, name: str, value: str) -> bool:
        """True when the header ``name: value`` is this tell."""
        lowered = name.lower()
        if self.header.endswith("*"):
            if not lowered.startswith(self.header[:-1]):
                return False
        elif lowered != self.header:
            return False
        return self.pattern is None or re.search(self.pattern, value, re.IGNORECASE) is not None


# Sources: each vendor's documentation of its response headers; Envoy's router filter docs
# (x-envoy-*); Istio's gateway sets ``server: istio-envoy``; nginx's server_tokens.
HEADER_TELLS: tuple[HeaderTell, ...] = (
    HeaderTell("Istio gateway (Envoy)", "server", r"^istio-envoy"),
    HeaderTell("Envoy", "server", r"^envoy"),
    HeaderTell("Envoy", "x-envoy-*"),
    HeaderTell("Linkerd proxy", "l5d-*"),
    HeaderTell("nginx", "server", r"^nginx"),  # plain, ingress-nginx and NGINX Ingress alike
    HeaderTell("OpenResty", "server", r"^openresty"),
    HeaderTell("HAProxy", "server", r"haproxy"),
    HeaderTell("Traefik", "server", r"traefik"),
    HeaderTell("Caddy", "server", r"^caddy"),
    HeaderTell("Apache httpd", "server", r"^apache"),
    HeaderTell("Cloudflare", "server", r"^cloudflare"),
    HeaderTell("Cloudflare", "cf-ray"),
    HeaderTell("AWS ALB/ELB", "server", r"^awselb"),
    HeaderTell("Amazon CloudFront", "x-amz-cf-id"),
    HeaderTell("Google Cloud load balancer", "via", r"\bgoogle\b"),
    HeaderTell("Google Frontend", "server", r"^google frontend"),
    HeaderTell("Azure Application Gateway", "server", r"microsoft-azure-application-gateway"),
    HeaderTell("Azure Front Door", "x-azure-ref"),
    HeaderTell("Akamai", "server", r"akamaighost"),
    HeaderTell("Fastly", "x-served-by", r"^cache-"),
    HeaderTell("Varnish", "via", r"varnish"),
    HeaderTell("Varnish", "x-varnish"),
    HeaderTell("Kong", "via", r"kong/"),
    HeaderTell("Kong", "x-kong-*"),
    HeaderTell("Heroku router", "via", r"vegur"),
    HeaderTell("Python websockets server", "server", r"websockets/"),
)

#: Header names shown as identifying evidence even when no tell matches them.
IDENTIFYING_HEADERS = ("server", "via", "x-served-by", "x-powered-by", "x-cache")


@dataclass(frozen=True)
class BodyTell:
    """The start of an error body that names the component that wrote it."""

    component: str
    text: str
    source: str


BODY_TELLS: tuple[BodyTell, ...] = (
    BodyTell("ingress-nginx default backend", "default backend - 404",
             "ingress-nginx: the default backend's 404 when no rule matches host and path"),
    BodyTell("HAProxy", "No server is available to handle this request",
             "HAProxy's built-in 503 page"),
    BodyTell("Envoy", "no healthy upstream", "Envoy's 503 when a cluster has no healthy host"),
    BodyTell("Envoy", "upstream connect error or disconnect/reset before headers",
             "Envoy's 503 when the upstream connection fails"),
    BodyTell("Traefik (or another Go server)", "404 page not found",
             "Go net/http NotFound, Traefik's answer when no router matches"),
)


def identify(headers: Sequence[tuple[str, str]], body_start: str = "") -> list[str]:
    """Components named by these response headers and error body, most specific first."""
    found: list[str] = []
    for tell in HEADER_TELLS:
        if tell.component not in found and any(tell.matches(n, v) for n, v in headers):
            found.append(tell.component)
    named_by_body = [b.component for b in BODY_TELLS
                     if b.text in body_start and b.component not in found]
    # An error page names the product more precisely than a Server header does
    # ("ingress-nginx default backend" rather than "nginx").
    found = list(dict.fromkeys(named_by_body)) + found
    if "Istio gateway (Envoy)" in found and "Envoy" in found:
        found.remove("Envoy")
    found += [c for c in traefik_tells(headers, body_start) if c not in found]
    return found


#: Which idle-timeout entries of ``wsdoctor.knowledge`` belong to a component that
#: :func:`identify` names, so a short timeout gets the fix for the proxy actually answering.
IDLE_COMPONENTS_OF: dict[str, tuple[str, ...]] = {
    "nginx": ("ingress-nginx", "nginx"),  # both default to 60 s; the cluster check tells
    "OpenResty": ("nginx",),
    "HAProxy": ("HAProxy",),
    "Envoy": ("Envoy",),
    "Istio gateway (Envoy)": ("Istio",),
    "Cloudflare": ("Cloudflare",),
    "AWS ALB/ELB": ("AWS ALB", "AWS Classic ELB"),
    "Heroku router": ("Heroku router",),
}


# --- Traefik: answers only Traefik writes (it sends no Server header). Measured on the real
# binary; the facts and their sources are in wsdoctor.knowledge_traefik. ---


def traefik_tells(headers: Sequence[tuple[str, str]], body_start: str) -> list[str]:
    """``["Traefik"]`` when the answer is one only Traefik writes (its rate limiter's
    X-Retry-In, its 502/503/504 bodies without Content-Type, 'no available server')."""
    from wsdoctor.knowledge_traefik import answered_by_traefik

    return ["Traefik"] if answered_by_traefik(headers, body_start) else []
