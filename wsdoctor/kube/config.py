"""Finding the cluster like kubectl does: ``--kubeconfig``/``KUBECONFIG`` (merged by
kubectl's rules, see :mod:`wsdoctor.kube.kubeconfig`), ``~/.kube/config``, or the in-cluster
service account; ``--context`` and ``-n/--namespace`` on top.

Two ways to fail: :class:`NoClusterConfig` when nothing points at a cluster (the cluster
check is quietly skipped), :class:`ClusterConfigError` when something does but cannot be
used (a finding: the user asked for a cluster)."""

from __future__ import annotations

import atexit
import base64
import os
import shutil
import tempfile
import time
from dataclasses import field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wsdoctor.records import dataclass
from wsdoctor.redact import mask_userinfo

if TYPE_CHECKING:
    from wsdoctor.kube.credentials import Credentials
    from wsdoctor.kube.kubeconfig import Selected
    from wsdoctor.settings import Settings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


class NoClusterConfig(Exception):
    """Nothing points at a cluster: the message says what would enable the check."""


class ClusterConfigError(NoClusterConfig):
    """The cluster the user pointed at cannot be used: one line with the precise cause.
    (A NoClusterConfig too, for callers that only need to know there is no cluster to read;
    the cluster check reports it as a finding.)"""


@dataclass
class ClusterAccess:
    """A configured (sync) API client and where it points."""

    api_client: Any
    context: str
    namespace: str | None
    """The namespace to read (``-n``); None: every namespace the user can read."""
    default_namespace: str
    """The context's namespace, the fallback when listing across namespaces is forbidden."""
    timeout: float = 10.0
    """Time limit in seconds of each request."""
    server: str = ""
    deadline: float = field(default_factory=lambda: time.monotonic() + 60.0)
    """``time.monotonic()`` by which every request must have ended (the check's limit)."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra request headers (basic auth)."""
    scratch: str | None = None
    """Directory of the client certificate and key written for the TLS library (which reads
    files): removed by :meth:`close`, else at exit; never by garbage collection, since a
    caller may keep using the client's configuration after dropping this object."""
    credentials: str = "none"
    """How the user authenticates (``token``, ``exec plugin NAME``...), for messages."""
    secrets: tuple[str, ...] = ()
    """The token or password sent: kept out of every message built from what the server
    (or a proxy in front of it) answered."""

    def close(self) -> None:
        self.api_client.close()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)


def kubeconfig_paths(settings: Settings, home: Path | None = None) -> list[str]:
    """The kubeconfig files kubectl would read, in order: the flag, KUBECONFIG, ~/.kube/config."""
    if settings.kubeconfig:
        return [p for p in settings.kubeconfig.split(os.pathsep) if p]
    default = (home or Path.home()) / ".kube" / "config"
    return [str(default)] if default.exists() else []


def in_cluster(environ: dict[str, str] | None = None, account: Path = SERVICE_ACCOUNT) -> bool:
    """Whether we run in a pod with a service account token."""
    env = environ if environ is not None else dict(os.environ)
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (account / "token").is_file()


def load_access(
    settings: Settings,
    *,
    deadline: float | None = None,
    environ: dict[str, str] | None = None,
    home: Path | None = None,
    service_account: Path = SERVICE_ACCOUNT,
) -> ClusterAccess:
    """An API client for the chosen kubeconfig/context, or in-cluster.

    NoClusterConfig when nothing points at a cluster; ClusterConfigError when the user asked
    for one (a kubeconfig exists, or --kubeconfig/--context/-n) and it cannot be used."""
    deadline = deadline if deadline is not None else time.monotonic() + 60.0
    env = environ if environ is not None else dict(os.environ)
    paths = kubeconfig_paths(settings, home)
    existing = [p for p in paths if Path(p).expanduser().exists()]
    if paths and not existing:
        raise ClusterConfigError(f"kubeconfig {', '.join(paths)} does not exist")
    if not paths:
        if in_cluster(env, service_account):
            return _in_cluster(settings, env, service_account, deadline)
        flags = [
            f for f, v in (("--context", settings.kube_context), ("-n", settings.namespace)) if v
        ]
        message = "no kubeconfig found (set KUBECONFIG or --kubeconfig, or create ~/.kube/config)"
        if flags:
            raise ClusterConfigError(f"{' and '.join(flags)} given, but {message}")
        raise NoClusterConfig(f"{message}; use --no-kubernetes to silence this")
    from wsdoctor.kube.credentials import user_credentials
    from wsdoctor.kube.kubeconfig import KubeconfigError, merge, select

    try:
        selected = select(merge(existing), settings.kube_context)
        # A credential plugin answers in a second or two; one that hangs is cut well before
        # the check's own limit, so the whole run still ends on time.
        plugin_deadline = min(deadline - 0.5, time.monotonic() + max(2 * settings.timeout, 10.0))
        creds = user_credentials(selected, plugin_deadline)
    except KubeconfigError as exc:
        raise ClusterConfigError(str(exc)) from None
    return _from_kubeconfig(settings, selected, creds, deadline)


def _from_kubeconfig(
    settings: Settings, selected: Selected, creds: Credentials, deadline: float
) -> ClusterAccess:
    from kubernetes import client

    from wsdoctor.kube.kubeconfig import resolve

    cluster = selected.cluster.body
    where = f'context "{selected.context}": cluster "{selected.cluster.name}"'
    server = str(cluster["server"]).rstrip("/")
    problem = _url_problem(server, ("https", "http"), "an http(s) URL")
    if problem:
        raise ClusterConfigError(f"{where}: server {mask_userinfo(server)!r} {problem}")
    configuration = client.Configuration()
    configuration.host = server
    configuration.retries = 0  # retried by wsdoctor.kube.client, within the check's limit
    configuration.verify_ssl = not cluster.get("insecure-skip-tls-verify")
    if not configuration.verify_ssl:  # asked for in the kubeconfig: kubectl says nothing either
        import warnings

        from urllib3.exceptions import InsecureRequestWarning

        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    if cluster.get("certificate-authority-data"):
        try:
            pem = base64.b64decode(str(cluster["certificate-authority-data"]), validate=True)
            configuration.ca_cert_data = pem.decode("ascii")
        except ValueError:
            raise ClusterConfigError(
                f"{where}: certificate-authority-data is not base64 of a PEM certificate"
            ) from None
    elif cluster.get("certificate-authority"):
        path = resolve(selected.cluster, str(cluster["certificate-authority"]))
        if not os.path.isfile(path):
            raise ClusterConfigError(
                f"{where}: certificate-authority {path} does not exist or is not a regular file"
            )
        configuration.ssl_ca_cert = path
    if cluster.get("tls-server-name"):
        configuration.tls_server_name = str(cluster["tls-server-name"])
    if cluster.get("proxy-url"):
        configuration.proxy = _proxy_url(where, str(cluster["proxy-url"]))
    headers: dict[str, str] = {}
    if creds.token:
        if any(c.isspace() or ord(c) < 32 for c in creds.token):
            raise ClusterConfigError(
                f'user "{selected.user.name}": the {creds.source} holds a space or line break '
                "inside the token"
            )
        configuration.api_key["BearerToken"] = f"Bearer {creds.token}"
    elif creds.username is not None:
        pair = f"{creds.username}:{creds.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    scratch = None
    if creds.cert_pem or creds.key_pem:
        scratch = tempfile.mkdtemp(prefix="wsdoctor-kube-")  # mode 0700
        atexit.register(shutil.rmtree, scratch, True)
        for name, data in (("client.crt", creds.cert_pem), ("client.key", creds.key_pem)):
            if data:
                written = Path(scratch) / name
                written.touch(mode=0o600)
                written.write_bytes(data)
        configuration.cert_file = str(Path(scratch) / "client.crt")
        configuration.key_file = str(Path(scratch) / "client.key")
    else:
        configuration.cert_file, configuration.key_file = creds.cert_file, creds.key_file
    for named in (configuration.cert_file, configuration.key_file):
        if named and not os.path.isfile(named):
            raise ClusterConfigError(
                f'user "{selected.user.name}": client certificate file {named} does not exist '
                "or is not a regular file"
            )
    if configuration.cert_file and configuration.key_file:
        problem = _client_pair_problem(configuration.cert_file, configuration.key_file)
        if problem:
            raise ClusterConfigError(f'user "{selected.user.name}": {problem}')
    return ClusterAccess(
        api_client=client.ApiClient(configuration),
        context=selected.context,
        namespace=settings.namespace,
        default_namespace=selected.namespace or "default",
        timeout=max(settings.timeout, 2.0),
        server=mask_userinfo(server),
        deadline=deadline,
        headers=headers,
        scratch=scratch,
        credentials=creds.source,
        secrets=tuple(s for s in (creds.token, creds.password) if s),
    )


def _proxy_url(where: str, proxy: str) -> str:
    """The proxy URL, checked: a scheme the client speaks, and SOCKS support installed."""
    problem = _url_problem(proxy, PROXY_SCHEMES, "supported (use http, https or socks5)")
    if problem:
        raise ClusterConfigError(f"{where}: proxy-url {mask_userinfo(proxy)!r} {problem}")
    scheme = urlsplit(proxy).scheme
    if scheme.startswith("socks"):
        import importlib.util

        if importlib.util.find_spec("socks") is None:
            raise ClusterConfigError(
                f"{where}: proxy-url {scheme}:// needs SOCKS support: pip install PySocks"
            )
    return proxy


def _client_pair_problem(cert_file: str, key_file: str) -> str | None:
    """Why the client certificate and key cannot be used, or None: checked here so that the
    TLS failure they would cause later is not blamed on the server's certificate."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:  # an encrypted key gets an empty passphrase: never a prompt on the terminal
        context.load_cert_chain(cert_file, key_file, password=lambda: b"")
    except ssl.SSLError as exc:
        reason = str(exc.reason or "")
        if "MISMATCH" in reason:
            return "the client key does not belong to the client certificate"
        with open(key_file, "rb") as handle:
            if b"ENCRYPTED" in handle.read(1 << 16):
                return "the client key is encrypted (kubectl cannot use it either)"
        return "the client certificate and key are not a PEM certificate and its key" + (
            f" ({reason})" if reason else "")
    except OSError as exc:
        return f"the client certificate or key cannot be read ({exc.strerror or exc})"
    return None


def _url_problem(url: str, schemes: tuple[str, ...], wanted: str) -> str | None:
    """Why ``url`` cannot be used (a scheme other than ``schemes``, no host, a bad port, what
    urllib3 cannot parse), or None. Never quotes the URL: its userinfo may be a password."""
    from urllib3.util import parse_url

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not 0-65535
        parse_url(url)
    except ValueError as exc:  # urllib3's LocationParseError is one
        reason = "the port is not a number from 0 to 65535" if "port" in str(exc).lower() \
            else "it cannot be parsed (a bracket, a space or a character a host cannot hold)"
        return f"is not a valid URL: {reason}"
    if parts.scheme not in schemes or not parts.hostname:
        return f"is not {wanted}"
    return None


def _in_cluster(
    settings: Settings, env: dict[str, str], account: Path, deadline: float
) -> ClusterAccess:
    from kubernetes import client
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import InClusterConfigLoader

    configuration = client.Configuration()
    try:
        InClusterConfigLoader(  # type: ignore[no-untyped-call]
            token_filename=str(account / "token"),
            cert_filename=str(account / "ca.crt"),
            try_refresh_token=False,
            environ=env,
        ).load_and_set(configuration)
    except (ConfigException, OSError) as exc:
        raise ClusterConfigError(f"in-cluster configuration ({account}): {exc}") from None
    token = configuration.api_key.get("BearerToken", "")
    configuration.api_key["BearerToken"] = token.strip()  # "bearer <token>", as client-go
    configuration.retries = 0
    try:
        default_ns = (account / "namespace").read_text().strip() or "default"
    except OSError:
        default_ns = "default"
    return ClusterAccess(
        api_client=client.ApiClient(configuration),
        context="in-cluster",
        namespace=settings.namespace,
        default_namespace=default_ns,
        timeout=max(settings.timeout, 2.0),
        server=str(configuration.host),
        deadline=deadline,
        credentials="service account token",
        secrets=(token.split(" ", 1)[-1],) if token.strip() else (),
    )
