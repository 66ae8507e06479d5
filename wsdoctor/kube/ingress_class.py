"""Which controller serves an Ingress: its IngressClass's controller, a class name that
names one, the HAProxy or NGINX controller actually deployed for the class ``haproxy`` or
``nginx`` (NGINX Inc's controller is ``nginx-inc``), or the
annotation prefix it uses (the AWS Load Balancer Controller's ``alb.ingress.kubernetes.io/``
included, with or without a class)."""

from __future__ import annotations

from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject

#: IngressClass ``spec.controller`` / GatewayClass ``spec.controllerName`` → controller id.
CONTROLLER_NAMES = {
    "k8s.io/ingress-nginx": "ingress-nginx",
    "nginx.org/ingress-controller": "nginx-inc",
    "traefik.io/ingress-controller": "traefik",
    "traefik.io/gateway-controller": "traefik",
    "haproxy.org/ingress-controller": "haproxytech",
    "haproxy-ingress.github.io/controller": "haproxy-ingress",
    "istio.io/ingress-controller": "istio",
    "istio.io/gateway-controller": "istio",
    "gateway.envoyproxy.io/gatewayclass-controller": "envoy-gateway",
    "ingress.k8s.aws/alb": "aws-alb",
    "networking.gke.io/ingress-gce": "gce",
}


#: Annotation prefixes each controller reads, for Ingresses without a class it knows.
#: haproxytech reads ``haproxy.org/`` and ``haproxy.com/`` (its annotations.md); the AWS
#: Load Balancer Controller ``alb.ingress.kubernetes.io/``; NGINX Inc's (F5) controller
#: ``nginx.org/`` and, for NGINX Plus, ``nginx.com/`` (docs.nginx.com, "Advanced
#: configuration with Annotations").
ANNOTATION_PREFIXES = (
    ("nginx.ingress.kubernetes.io/", "ingress-nginx"),
    ("nginx.org/", "nginx-inc"),
    ("nginx.com/", "nginx-inc"),
    ("haproxy.org/", "haproxytech"),
    ("haproxy.com/", "haproxytech"),
    ("haproxy-ingress.github.io/", "haproxy-ingress"),
    ("traefik.ingress.kubernetes.io/", "traefik"),
    ("alb.ingress.kubernetes.io/", "aws-alb"),
)


def _default_class(snap: ClusterSnapshot) -> str | None:
    """The IngressClass marked default (the first by name when several are)."""
    default = [
        c.name
        for c in snap.of_kind("IngressClass")
        if c.annotations.get("ingressclass.kubernetes.io/is-default-class") == "true"
    ]
    return min(default) if default else None


def _haproxy_flavour(snap: ClusterSnapshot, obj: KubeObject) -> str:
    """Which HAProxy controller a class named ``haproxy`` means: the one deployed in the
    snapshot, else the one whose annotation prefix the Ingress uses, else haproxytech."""
    from wsdoctor.kube.backends import controller_workloads

    if any(k.startswith("haproxy-ingress.github.io/") for k in obj.annotations):
        return "haproxy-ingress"
    if any(k.startswith(("haproxy.org/", "haproxy.com/")) for k in obj.annotations):
        return "haproxytech"
    if controller_workloads(snap, "haproxy-ingress") and not controller_workloads(
        snap, "haproxytech"
    ):
        return "haproxy-ingress"
    return "haproxytech"


def _nginx_flavour(snap: ClusterSnapshot, obj: KubeObject) -> str:
    """Which NGINX controller a class named like ``nginx`` means (both default to the class
    ``nginx``): NGINX Inc's when the Ingress speaks only its ``nginx.org/``/``nginx.com/``
    annotations, or when only its controller is deployed in the snapshot; else
    ingress-nginx."""
    from wsdoctor.kube.backends import controller_workloads

    keys = obj.annotations
    if any(k.startswith(("nginx.org/", "nginx.com/")) for k in keys) and not any(
        k.startswith("nginx.ingress.kubernetes.io/") for k in keys
    ):
        return "nginx-inc"
    if controller_workloads(snap, "nginx-inc") and not controller_workloads(
        snap, "ingress-nginx"
    ):
        return "nginx-inc"
    return "ingress-nginx"


def ingress_controller(snap: ClusterSnapshot, obj: KubeObject) -> tuple[str, str | None]:
    """(controller, class name) of an Ingress: its IngressClass's controller, a class name
    that names one, or the annotation prefix it uses."""
    cls = obj.spec.get("ingressClassName") or obj.annotations.get("kubernetes.io/ingress.class")
    if cls is None:
        cls = snap.memo("default-ingress-class", lambda: _default_class(snap))
    if cls:
        cls = str(cls)
        klass = snap.find("IngressClass", None, cls)
        if klass is not None:
            name = str(klass.spec.get("controller", ""))
            for prefix, controller in CONTROLLER_NAMES.items():
                if name.startswith(prefix):
                    return controller, cls
        for word, controller in (
            ("nginx", "ingress-nginx"),
            ("traefik", "traefik"),
            ("haproxy", "haproxytech"),
            ("istio", "istio"),
            ("alb", "aws-alb"),
            ("gce", "gce"),
        ):
            if word in cls:
                if controller == "haproxytech":
                    controller = _haproxy_flavour(snap, obj)
                elif controller == "ingress-nginx":
                    controller = _nginx_flavour(snap, obj)
                return controller, cls
    for key in obj.annotations:
        for prefix, controller in ANNOTATION_PREFIXES:
            if key.startswith(prefix):
                return controller, cls
    return "unknown", cls
