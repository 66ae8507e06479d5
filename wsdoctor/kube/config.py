"""Finding the cluster like kubectl does: ``--kubeconfig``, ``KUBECONFIG``, ``~/.kube/config``,
or the in-cluster service account; ``--context`` and ``-n/--namespace`` on top."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wsdoctor.settings import Settings

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class NoClusterConfig(Exception):
    """No usable configuration: the message is one line saying why and what would enable it."""


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


def kubeconfig_paths(settings: Settings, home: Path | None = None) -> list[str]:
    """The kubeconfig files kubectl would read, in order: the flag, KUBECONFIG, ~/.kube/config."""
    if settings.kubeconfig:
        return [p for p in settings.kubeconfig.split(os.pathsep) if p]
    default = (home or Path.home()) / ".kube" / "config"
    return [str(default)] if default.is_file() else []


def in_cluster(environ: dict[str, str] | None = None) -> bool:
    """Whether we run in a pod with a service account token."""
    env = environ if environ is not None else dict(os.environ)
    return bool(env.get("KUBERNETES_SERVICE_HOST")) and (SERVICE_ACCOUNT / "token").is_file()


def load_access(settings: Settings) -> ClusterAccess:
    """An API client for the chosen kubeconfig/context, or in-cluster; NoClusterConfig if none."""
    paths = kubeconfig_paths(settings)
    missing = [p for p in paths if not Path(p).is_file()]
    if paths and len(missing) == len(paths):
        raise NoClusterConfig(f"kubeconfig {', '.join(missing)} does not exist")
    if not paths and not in_cluster():
        raise NoClusterConfig(
            "no kubeconfig found (set KUBECONFIG or --kubeconfig, or create ~/.kube/config); "
            "use --no-kubernetes to silence this"
        )
    # Imported only once there is a cluster to talk to: the client takes ~150 ms to import.
    import yaml
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    if paths:
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(p for p in paths if p not in missing),
                context=settings.kube_context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
                config_file=os.pathsep.join(p for p in paths if p not in missing)
            )
        except (ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as exc:
            first_line = " ".join(str(exc).split())  # parser messages span several lines
            raise NoClusterConfig(f"kubeconfig {', '.join(paths)}: {first_line}") from None
        chosen = next((c for c in contexts if c["name"] == settings.kube_context), active) or {
            "name": "?",
            "context": {},
        }
        name = str(chosen["name"])
        default_ns = str((chosen.get("context") or {}).get("namespace") or "default")
    elif in_cluster():
        try:
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise NoClusterConfig(f"in-cluster configuration: {exc}") from None
        name = "in-cluster"
        default_ns = (SERVICE_ACCOUNT / "namespace").read_text().strip() or "default"
    else:
        raise NoClusterConfig(
            "no kubeconfig found (set KUBECONFIG or --kubeconfig, or create ~/.kube/config); "
            "use --no-kubernetes to silence this"
        )
    configuration.retries = 0
    api_client = client.ApiClient(configuration)
    return ClusterAccess(
        api_client=api_client,
        context=name,
        namespace=settings.namespace,
        default_namespace=default_ns,
        timeout=max(settings.timeout, 2.0),
    )
