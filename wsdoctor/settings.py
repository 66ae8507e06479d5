"""Run settings: everything the user can choose, as one validated model."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from wsdoctor import validate
from wsdoctor.durations import parse_duration
from wsdoctor.modelbase import Field, Model, Secret
from wsdoctor.models import Status
from wsdoctor.redact import REDACTED, header_secrets

#: The default large message: under the default limits of the common servers (websockets:
#: max_size 1 MiB, which a compressed frame of 1 MiB exceeds; socket.io/engine.io:
#: maxHttpBufferSize 1e6 bytes), so a healthy default deployment passes.
DEFAULT_MESSAGE_SIZE = 512 * 1024


def _version() -> str:
    from wsdoctor import __version__

    return __version__


if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler
    from pydantic_core import CoreSchema

    from wsdoctor.redact import Redactor

__all__ = ["DEFAULT_MESSAGE_SIZE", "REDACTED", "Header", "LoadPlan", "ProxyConfig",
           "ResolvePin", "SendMessage", "Settings"]


#: The largest --message-size: the message is built, sent and echoed in memory (and the
#: exporter runs several probes at once).
MAX_MESSAGE_SIZE = 16 * 1024 * 1024


def _seconds(value: object) -> object:
    """A duration as text (``90s``, ``1h30m``, as on the command line) → seconds; numbers pass."""
    return parse_duration(value) if isinstance(value, str) else value


class _Duration:
    """Marks a float field that pydantic also reads from a duration's text (outside data)."""

    def __get_pydantic_core_schema__(self, source: object,
                                     handler: GetCoreSchemaHandler) -> CoreSchema:
        from pydantic_core import core_schema

        return core_schema.no_info_before_validator_function(_seconds, handler(source))


Seconds = Annotated[float, _Duration()]
"""Seconds, also given as a duration (the exporter's ``settings:`` take ``timeout: 1m30s``)."""


class ResolvePin(Model):
    """``--resolve HOST:PORT:ADDR``: connect to ADDR for HOST:PORT, keeping SNI and Host."""

    host: str
    port: int = Field(ge=0, le=65535)
    """0 for any port (``*``)."""
    address: str

    def __post_init__(self) -> None:
        super().__post_init__()
        self._normalise("address", validate.ip_address)


class Header(Model):
    """An extra request header given on the command line (its value is always redacted)."""

    name: str
    value: str

    def __post_init__(self) -> None:
        super().__post_init__()
        self._normalise("name", validate.header_name)
        self._normalise("value", validate.header_value)


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


class ProxyConfig(Model):
    """The proxy connections go through (``--proxy`` or the environment, as curl reads it).

    Credentials live here only: they are excluded from every dump and never printed."""

    scheme: Literal["http", "https", "socks5", "socks5h"]
    host: str
    port: int
    username: Secret | None = Field(default=None, exclude=True, repr=False)
    password: Secret | None = Field(default=None, exclude=True, repr=False)
    source: str = "--proxy"
    """Where it came from: ``--proxy`` or the environment variable (``HTTPS_PROXY``...)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("username", "password"):
            value = getattr(self, name)
            if isinstance(value, str):  # as pydantic's SecretStr took it
                self._set(name, Secret(value))

    @property
    def url(self) -> str:
        """``http://proxy.corp:3128``, credentials shown as ``<redacted>`` when there are any."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        auth = f"{REDACTED}@" if self.username is not None else ""
        return f"{self.scheme}://{auth}{host}:{self.port}"

    def credentials(self) -> list[str]:
        """The user name, the password and ``user:password``: secrets for the redactor."""
        user = self.username.get_secret_value() if self.username is not None else ""
        password = self.password.get_secret_value() if self.password is not None else ""
        return [s for s in (user, password, f"{user}:{password}" if password else "") if s]

    @property
    def resolves_remotely(self) -> bool:
        """The proxy resolves the target's name (HTTP CONNECT and socks5h; socks5 sends an
        address resolved here, as curl does)."""
        return self.scheme != "socks5"


class SendMessage(Model):
    """A message of the application's own, sent by the messages check (``--send``)."""

    text: str | None = None
    binary: bytes | None = Field(default=None, exclude=True, repr=False)
    source: str
    """How the user gave it: ``text`` or ``@FILE``; the content itself is not recorded
    (it may carry a token)."""

    @property
    def payload(self) -> bytes:
        """The bytes on the wire."""
        return self.binary if self.binary is not None else (self.text or "").encode()


class Settings(Model):
    """What to probe and how. Defaults suit an interactive run against a live deployment."""

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
    client_cert: str | None = None
    """Client certificate (PEM, may hold the key and the chain) for servers that require mTLS."""
    client_key: str | None = None
    """The client certificate's private key (PEM), when not in ``client_cert``."""
    client_key_password: Secret | None = Field(default=None, exclude=True, repr=False)
    """Passphrase of an encrypted key (read from the environment, never recorded)."""
    proxy: ProxyConfig | None = None
    """Connect through this proxy (HTTP CONNECT tunnel or SOCKS5), like curl's ``--proxy``."""
    proxy_note: str | None = None
    """Why no proxy is used although one is configured (``NO_PROXY`` names the host...)."""
    user_agent: str = Field(default_factory=lambda: f"wsdoctor/{_version()}")
    """User-Agent of every request (``-H 'User-Agent: ...'`` replaces it)."""
    timeout: Seconds = Field(default=5.0, gt=0, allow_inf_nan=False)
    """Time limit in seconds for each network step (connect, TLS, response, echo)."""
    only: list[str] = Field(default_factory=list)
    """Run only these checks (and what they need)."""
    skip: list[str] = Field(default_factory=list)
    """Do not run these checks."""
    suppress: list[str] = Field(default_factory=list)
    """Finding codes to leave out of the report (for known, accepted issues)."""
    message_size: int = Field(default=DEFAULT_MESSAGE_SIZE, ge=0, le=MAX_MESSAGE_SIZE)
    """Size in bytes of the large message sent by the messages check (0 to skip it; at most
    16 MiB). wsdoctor accepts messages of twice this size (at least 1 MiB)."""
    find_max_message: bool = False
    """Find the largest message the path accepts, by bisection (a few more connections)."""
    send: list[SendMessage] = Field(default_factory=list)
    """The application's own messages, sent in order by the messages check (``--send``)."""
    expect: str | None = None
    """A regular expression a reply to the sent messages must match (``--expect``)."""
    pings: int = Field(default=5, ge=0, le=100)
    """Number of ping/pong round trips the messages check measures."""
    echo_wait: Seconds = Field(default=1.0, gt=0, allow_inf_nan=False)
    """How long to wait for an echo before deciding the application does not echo."""
    max_addresses: int = Field(default=8, ge=1)
    """At most this many resolved addresses are probed (gentle on big pools)."""
    fail_on: Status | None = Status.FAIL
    """Exit 1 when a finding is at least this severe; ``None`` never fails."""
    enable: list[str] = Field(default_factory=list)
    """Non-default checks to run in addition to the defaults (``--idle`` adds idle and
    keepalive, ``--capture`` adds capture)."""
    idle_max: Seconds = Field(default=90.0, gt=0, allow_inf_nan=False)
    """Longest wait, in seconds, for an idle connection to be closed (raise it for NLB/Azure)."""
    expect_idle: Seconds | None = Field(default=None, gt=0, allow_inf_nan=False)
    """Idle seconds the application needs: a shorter idle timeout is a failure."""
    ping_interval: Seconds | None = Field(default=None, gt=0, allow_inf_nan=False)
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
    port_forward: bool = False
    """A bisected run reaches pods through the API server's port-forward (needs ``create`` on
    ``pods/portforward``; docs/deploy/rbac-portforward.yaml)."""
    pod_network: bool = False
    """A bisected run connects to pod IPs directly (set automatically inside the cluster)."""
    load: LoadPlan | None = None
    """A bounded load run (``wsdoctor load``): how many connections, how fast, how long."""
    secrets: list[str] = Field(default_factory=list, exclude=True, repr=False)
    """Values the user gave as secrets besides header values (which count already): proxy
    credentials, a key's passphrase (see :func:`wsdoctor.redact.url_secrets`). Never in any
    output: not in the report's options, nor anywhere a server echoes them."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.client_key_password, str):  # as pydantic's SecretStr took it
            self._set("client_key_password", Secret(self.client_key_password))
        if self.dns_server is not None:
            self._normalise("dns_server", validate.dns_server)
        if self.origin is not None:
            self._normalise("origin", validate.origin)
        self._normalise("subprotocols", lambda names: [validate.subprotocol(n) for n in names])
        if self.cafile is not None:
            self._normalise("cafile", validate.cafile)

    def redactor_secrets(self) -> list[str]:
        """What :meth:`redactor` hides: the header values' secrets and :attr:`secrets`."""
        return [*(s for h in self.headers for s in header_secrets(h.name, h.value)),
                *self.secrets]

    def redactor(self) -> Redactor:
        """What keeps this run's secrets out of every output (build it once per run)."""
        from wsdoctor.redact import Redactor

        return Redactor(self.redactor_secrets())

    def pinned_address(self, host: str, port: int) -> str | None:
        """The address pinned for ``host:port`` with ``--resolve``, if any."""
        for pin in self.resolve:
            if pin.host.lower() == host.lower() and pin.port in (port, 0):
                return pin.address
        return None

    def request_headers(self) -> list[tuple[str, str]]:
        """Extra headers as (name, value) pairs, for sending."""
        return [(h.name, h.value) for h in self.headers]

    @property
    def effective_user_agent(self) -> str:
        """The User-Agent sent: the user's ``-H User-Agent`` or ``wsdoctor/VERSION``."""
        return next((h.value for h in self.headers if h.name.lower() == "user-agent"),
                    self.user_agent)

    def identity_headers(self) -> list[tuple[str, str]]:
        """``User-Agent: wsdoctor/VERSION``, unless the user gave their own with ``-H``."""
        if any(h.name.lower() == "user-agent" for h in self.headers):
            return []
        return [("User-Agent", self.user_agent)]

