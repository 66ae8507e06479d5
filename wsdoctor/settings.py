"""Run settings: everything the user can choose, as one validated model."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ConfigDict, Field, field_validator

from wsdoctor import validate
from wsdoctor.models import Model, Status
from wsdoctor.redact import REDACTED, header_secrets

if TYPE_CHECKING:
    from wsdoctor.redact import Redactor

__all__ = ["REDACTED", "Header", "LoadPlan", "ResolvePin", "Settings"]


#: The largest --message-size: the message is built, sent and echoed in memory (and the
#: exporter runs several probes at once).
MAX_MESSAGE_SIZE = 16 * 1024 * 1024


class ResolvePin(Model):
    """``--resolve HOST:PORT:ADDR``: connect to ADDR for HOST:PORT, keeping SNI and Host."""

    host: str
    port: int = Field(ge=0, le=65535)
    """0 for any port (``*``)."""
    address: str

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        return validate.ip_address(value)


class Header(Model):
    """An extra request header given on the command line (its value is always redacted)."""

    name: str
    value: str

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return validate.header_name(value)

    @field_validator("value")
    @classmethod
    def _value(cls, value: str) -> str:
        return validate.header_value(value)


#: Connections no load run opens, whatever it is asked.
MAX_CONNECTIONS = 100_000


class LoadPlan(Model):
    """What the run was asked to do."""

    connections: int = Field(ge=1, le=MAX_CONNECTIONS)
    """Connections to open (the most held at once)."""
    rate: float = Field(gt=0, allow_inf_nan=False)
    """New connections per second during the ramp."""
    hold_s: float = Field(ge=0, allow_inf_nan=False)
    """How long the connections are held after the ramp."""
    message_rate: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    """Messages per second sent on each held connection (0: none)."""
    message_size: int = Field(default=64, ge=16, le=1024 * 1024)
    """Bytes per message."""
    steady_refusals: int = Field(default=5, ge=0)
    """The ramp stops after this many refused attempts in a row (0: never early)."""
    refusal_window_s: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """A connection the target closes within this time of its upgrade was refused."""


class Settings(Model):
    """What to probe and how. Defaults suit an interactive run against a live deployment."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    resolve: list[ResolvePin] = Field(default_factory=list)
    """Pinned addresses, like curl's ``--resolve``; DNS is still queried but not used to connect."""
    dns_server: str | None = None
    """Query this DNS server (``ADDR`` or ``ADDR:PORT``) instead of the system resolver."""
    headers: list[Header] = Field(default_factory=list)
    """Extra request headers sent with every HTTP request and upgrade."""
    origin: str | None = None
    """Origin header for the upgrade request (browsers always send one)."""
    subprotocols: list[str] = Field(default_factory=list)
    """Subprotocols offered in ``Sec-WebSocket-Protocol``."""
    cafile: str | None = None
    """Trust this CA bundle (PEM) instead of the system store."""
    insecure: bool = False
    """Continue past certificate errors (they are still reported)."""
    timeout: float = Field(default=5.0, gt=0, allow_inf_nan=False)
    """Time limit in seconds for each network step (connect, TLS, response, echo)."""
    only: list[str] = Field(default_factory=list)
    """Run only these checks (and what they need)."""
    skip: list[str] = Field(default_factory=list)
    """Do not run these checks."""
    suppress: list[str] = Field(default_factory=list)
    """Finding codes to leave out of the report (for known, accepted issues)."""
    message_size: int = Field(default=1024 * 1024, ge=0, le=MAX_MESSAGE_SIZE)
    """Size in bytes of the large message sent by the messages check (0 to skip it; at most
    16 MiB). wsdoctor accepts messages of twice this size (at least 1 MiB)."""
    pings: int = Field(default=5, ge=0, le=100)
    """Number of ping/pong round trips the messages check measures."""
    echo_wait: float = Field(default=1.0, gt=0, allow_inf_nan=False)
    """How long to wait for an echo before deciding the application does not echo."""
    max_addresses: int = Field(default=8, ge=1)
    """At most this many resolved addresses are probed (gentle on big pools)."""
    fail_on: Status | None = Status.FAIL
    """Exit 1 when a finding is at least this severe; ``None`` never fails."""
    enable: list[str] = Field(default_factory=list)
    """Non-default checks to run in addition to the defaults (``--idle`` adds idle and
    keepalive, ``--capture`` adds capture)."""
    idle_max: float = Field(default=90.0, gt=0, allow_inf_nan=False)
    """Longest wait, in seconds, for an idle connection to be closed (raise it for NLB/Azure)."""
    expect_idle: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Idle seconds the application needs: a shorter idle timeout is a failure."""
    ping_interval: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    """The application's heartbeat interval, tried by the keepalive check (default: pings at
    0.5, 1, 2, 4... s, which straddle any timeout)."""
    affinity_connections: int = Field(default=6, ge=2, le=50)
    """Handshakes the affinity check makes (the first without a cookie)."""
    affinity_cookie: list[str] = Field(default_factory=list)
    """Cookie names that pin a client to a replica, besides the proxies' default names."""
    backend_header: str | None = None
    """Response header that names the replica that answered (auto: X-Pod-Name, X-Served-By...)."""
    expect_affinity: bool = False
    """The application needs reconnects to reach the same replica: no affinity is a failure."""
    kubernetes: bool = True
    """Read the cluster behind the host (``--no-kubernetes`` turns it off)."""
    kubeconfig: str | None = None
    """kubeconfig file(s), ``:``-separated like KUBECONFIG; None: ~/.kube/config or in-cluster."""
    kube_context: str | None = None
    """kubeconfig context to use; None: the current context."""
    namespace: str | None = None
    """Read only this namespace; None: every namespace the user can read."""
    read_tls_secret: bool = False
    """Read the route's TLS Secret (only its ``tls.crt``) to compare with the served certificate."""
    load: LoadPlan | None = None
    """A bounded load run (``wsdoctor load``): how many connections, how fast, how long."""
    secrets: list[str] = Field(default_factory=list, exclude=True, repr=False)
    """Values the user gave as secrets besides header values (which count already): proxy
    credentials, a key's passphrase (see :func:`wsdoctor.redact.url_secrets`). Never in any
    output: not in the report's options, nor anywhere a server echoes them."""

    @field_validator("dns_server")
    @classmethod
    def _dns_server(cls, value: str | None) -> str | None:
        return None if value is None else validate.dns_server(value)

    @field_validator("origin")
    @classmethod
    def _origin(cls, value: str | None) -> str | None:
        return None if value is None else validate.origin(value)

    @field_validator("subprotocols")
    @classmethod
    def _subprotocols(cls, value: list[str]) -> list[str]:
        return [validate.subprotocol(name) for name in value]

    @field_validator("cafile")
    @classmethod
    def _cafile(cls, value: str | None) -> str | None:
        return None if value is None else validate.cafile(value)

    def redactor(self) -> Redactor:
        """What keeps this run's secrets out of every output (build it once per run)."""
        from wsdoctor.redact import Redactor

        found = [s for h in self.headers for s in header_secrets(h.name, h.value)]
        return Redactor([*found, *self.secrets])

    def pinned_address(self, host: str, port: int) -> str | None:
        """The address pinned for ``host:port`` with ``--resolve``, if any."""
        for pin in self.resolve:
            if pin.host.lower() == host.lower() and pin.port in (port, 0):
                return pin.address
        return None

    def request_headers(self) -> list[tuple[str, str]]:
        """Extra headers as (name, value) pairs, for sending."""
        return [(h.name, h.value) for h in self.headers]

