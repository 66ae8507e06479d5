"""What a bisected run (``wsdoctor bisect``) knows about the hops in front of a controller:
load balancers and CDNs by provider, the controllers' own idle settings, and the annotations
that break the upgrade; each entry with its source (KNOWLEDGE.md)."""

from __future__ import annotations

from collections.abc import Iterable

#: Load balancers and CDNs that sit in front of an ingress controller, by provider, with
#: the idle-timeout entries of :data:`wsdoctor.knowledge.IDLE_TIMEOUT_DEFAULTS` that belong to them.
FRONT_COMPONENTS: dict[str, tuple[str, ...]] = {
    "aws": ("AWS Classic ELB", "AWS NLB", "AWS ALB"),
    "azure": ("Azure Load Balancer",),
    "gcp": ("GCP HTTP(S) load balancer",),
    "digitalocean": ("DigitalOcean load balancer",),
}
"""Sources: the idle-timeout entries' sources; provider told from the LoadBalancer Service's
annotations (``service.beta.kubernetes.io/aws-load-balancer-*``, ``azure-*``,
``do-loadbalancer-*``, ``cloud.google.com/*``) and its status hostname
(``*.elb.amazonaws.com``)."""

#: When the provider is not known: every front component this tool can name.
GENERIC_FRONT_COMPONENTS = ("AWS Classic ELB", "AWS ALB", "AWS NLB", "Azure Load Balancer",
                            "GCP HTTP(S) load balancer", "DigitalOcean load balancer",
                            "Cloudflare")

#: Ingress controller (as the cluster check names it) → its idle-timeout entry above.
CONTROLLER_IDLE_COMPONENTS: dict[str, str] = {
    "ingress-nginx": "ingress-nginx",
    "haproxytech": "HAProxy",
    "haproxy-ingress": "HAProxy",
    "istio": "Istio",
}


def front_provider(annotations: dict[str, str], hostnames: Iterable[str] = ()) -> str | None:
    """The cloud whose load balancer a LoadBalancer Service gets, from its annotations or
    status hostname (None when nothing tells)."""
    keys = " ".join(annotations)
    if "aws-load-balancer" in keys or any(h.endswith(".amazonaws.com") for h in hostnames):
        return "aws"
    if "service.beta.kubernetes.io/azure-" in keys:
        return "azure"
    if "cloud.google.com/" in keys:
        return "gcp"
    if "service.beta.kubernetes.io/do-loadbalancer-" in keys:
        return "digitalocean"
    return None


#: What stops a load balancer or CDN in front of the controller from passing the upgrade.
FRONT_UPGRADE_FIX = (
    "A load balancer, CDN or proxy between the clients and the ingress controller refuses or "
    "strips the WebSocket upgrade: an AWS Classic ELB with an HTTP/HTTPS listener (use a "
    "TCP/SSL listener: service.beta.kubernetes.io/aws-load-balancer-backend-protocol: tcp, "
    "or an NLB), Cloudflare with WebSockets off (Network settings), a corporate or CDN proxy "
    "that does not forward Upgrade. Let it pass Upgrade/Connection, or run it in TCP mode."
)
"""Sources: AWS ELB docs (Classic: 'Listeners for your Classic Load Balancer' — WebSockets
need TCP/SSL listeners); Cloudflare docs 'WebSockets'; nginx.org/en/docs/http/websocket.html
(hop-by-hop headers)."""

#: ingress-nginx annotations that stop the Upgrade reaching the pod: name → why.
INGRESS_NGINX_UPGRADE_BREAKERS: dict[str, str] = {
    "nginx.ingress.kubernetes.io/proxy-http-version": "HTTP/1.0 to the backend cannot carry "
    "an Upgrade (ingress-nginx sends HTTP/1.1 by default)",
    "nginx.ingress.kubernetes.io/connection-proxy-header": "replaces the Connection header "
    "sent to the backend, so 'upgrade' never reaches it",
    "nginx.ingress.kubernetes.io/configuration-snippet": "a snippet that sets the Upgrade or "
    "Connection header sent to the backend",
    "nginx.ingress.kubernetes.io/server-snippet": "a snippet that sets the Upgrade or "
    "Connection header sent to the backend",
}
"""Source: ingress-nginx annotations.md (proxy-http-version, connection-proxy-header,
configuration-snippet); its nginx.tmpl sets ``proxy_set_header Upgrade $http_upgrade`` and
``Connection $connection_upgrade`` on every location by default."""

KUBELET_STREAMING_IDLE_TIMEOUT = 4 * 3600.0
"""A port-forward tunnel is closed by the kubelet after this long without data (kubelet
``--streaming-connection-idle-timeout``, default 4h; kubelet ``cri/streaming`` sets it on
the WebSocket with ``SetIdleTimeout``): an idle measurement through port-forward cannot
last longer."""
