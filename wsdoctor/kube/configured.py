"""What the objects on the path configure, as the cluster observation records it: affinity
and timeouts. Apart from the code that finds them (:mod:`wsdoctor.kube.affinity`,
:mod:`wsdoctor.kube.timeouts`) so that the observation, which every report names, does not
import the route matching and rule machinery."""

from __future__ import annotations

from typing import Literal

from wsdoctor.models import Model, Resource


class AffinityConfig(Model):
    """Session affinity configured on a route."""

    controller: str
    cookie: str | None
    """Expected cookie name (None: generated, e.g. Traefik's ``_<hash>``, or no cookie)."""
    resource: Resource
    method: Literal["cookie", "hash"] = "cookie"
    """``cookie``: a sticky cookie; ``hash``: consistent hashing of a request key (ingress-nginx
    ``upstream-hash-by``, Istio ``consistentHash`` on a header or the source IP), no cookie."""


class ConfiguredTimeout(Model):
    """A timeout on the path: who applies it, how long, and where it is set."""

    component: str
    setting: str
    seconds: float
    scope: Literal["idle", "lifetime"]
    """``idle``: silence ends the connection; ``lifetime``: it ends even with traffic."""
    default: bool = False
    """True when nothing sets it and the component's default applies."""
    resource: Resource | None = None

    def describe(self) -> str:
        """``ingress-nginx proxy-read-timeout 60 s (default)``."""
        where = " (default)" if self.default else (f" ({self.resource})" if self.resource else "")
        return f"{self.component} {self.setting} {self.seconds:g} s{where}"
