"""Reading kubeconfig files exactly as kubectl does, without the ``kubernetes`` package.

Merging (``KUBECONFIG=a:b``), from kubectl's documentation ("Organizing Cluster Access
Using kubeconfig Files"): empty names are ignored, files that do not exist are skipped, a
file that cannot be read is an error; the first file to set a value or a map key wins and
is never changed by a later file: ``current-context`` comes from the first file that sets
it, and a cluster, user or context named in two files is taken whole from the first.
Relative paths (certificates, token files, exec commands) are relative to the file that
holds them."""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import Any

from wsdoctor.records import dataclass

MAX_BYTES = 4 * 2**20
"""Larger files are refused: a kubeconfig is a few kilobytes."""


class KubeconfigError(Exception):
    """The configuration the user pointed at cannot be used: one line saying why."""


@dataclass
class Entry:
    """A named cluster, user or context, and the directory relative paths in it start from."""

    name: str
    body: dict[str, Any]
    base: Path


@dataclass
class Merged:
    """kubeconfig files merged by kubectl's rules."""

    files: list[str]
    current_context: str | None = None
    clusters: dict[str, Entry] = field(default_factory=dict)
    users: dict[str, Entry] = field(default_factory=dict)
    contexts: dict[str, Entry] = field(default_factory=dict)


@dataclass
class Selected:
    """The context to use and what it points at."""

    context: str
    cluster: Entry
    user: Entry
    namespace: str | None
    """The context's namespace, if it sets one."""
    files: list[str]


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml

    from wsdoctor.kube.yamlload import InputRefused, load_one

    if not path.is_file():
        raise KubeconfigError(f"kubeconfig {path}: not a regular file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise KubeconfigError(f"kubeconfig {path}: cannot read it ({reason})") from None
    if len(data) > MAX_BYTES:
        raise KubeconfigError(f"kubeconfig {path}: larger than {MAX_BYTES // 2**20} MiB")
    try:
        doc, _ = load_one(text)
    except InputRefused as exc:  # invalid YAML, an alias bomb, too deep: one line
        message = str(exc)
        if exc.line and message.startswith("not valid YAML"):
            message = message.replace("not valid YAML", f"not valid YAML at line {exc.line}", 1)
        elif exc.line:
            message += f" (line {exc.line})"
        raise KubeconfigError(f"kubeconfig {path}: {message}") from None
    except (yaml.YAMLError, ValueError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KubeconfigError(f"kubeconfig {path}: not valid YAML{where} ({problem})") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise KubeconfigError(
            f"kubeconfig {path}: expected a mapping (kind: Config), found {type(doc).__name__}"
        )
    return doc


def _entries(path: Path, doc: dict[str, Any], key: str, inner: str) -> list[Entry]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise KubeconfigError(f"kubeconfig {path}: {key} must be a list")
    found = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise KubeconfigError(f"kubeconfig {path}: {key}[{i}] has no name")
        body = item.get(inner)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise KubeconfigError(f"kubeconfig {path}: {key}[{i}].{inner} must be a mapping")
        found.append(Entry(item["name"], body, path.parent))
    return found


def merge(paths: list[str]) -> Merged:
    """Merge the files that exist, first one winning."""
    merged = Merged(files=[])
    for name in paths:
        if not name:
            continue
        path = Path(name).expanduser()
        if not path.exists():
            continue
        doc = _load_yaml(path)
        merged.files.append(str(path))
        current = doc.get("current-context")
        if merged.current_context is None and isinstance(current, str) and current:
            merged.current_context = current
        for key, inner, target in (
            ("clusters", "cluster", merged.clusters),
            ("users", "user", merged.users),
            ("contexts", "context", merged.contexts),
        ):
            for entry in _entries(path, doc, key, inner):
                target.setdefault(entry.name, entry)
    return merged


def select(merged: Merged, context: str | None) -> Selected:
    """The context ``--context`` names, or the current one; KubeconfigError naming what is
    missing (with the contexts that exist)."""
    files = ", ".join(merged.files)
    name = context or merged.current_context
    if not name:
        known = ", ".join(sorted(merged.contexts)) or "none"
        raise KubeconfigError(
            f"kubeconfig {files}: no current-context is set and no --context was given "
            f"(contexts: {known})"
        )
    entry = merged.contexts.get(name)
    if entry is None:
        known = ", ".join(sorted(merged.contexts)) or "none"
        how = "--context" if context else "current-context"
        raise KubeconfigError(
            f'context "{name}" ({how}) not found in kubeconfig {files} (contexts: {known})'
        )
    cluster_name = entry.body.get("cluster")
    user_name = entry.body.get("user")
    cluster = merged.clusters.get(str(cluster_name)) if cluster_name else None
    if cluster is None:
        raise KubeconfigError(
            f'context "{name}": cluster "{cluster_name or ""}" not found in kubeconfig {files}'
        )
    if not cluster.body.get("server"):
        raise KubeconfigError(f'context "{name}": cluster "{cluster.name}" has no server')
    user = merged.users.get(str(user_name)) if user_name else None
    if user is None:
        if user_name:
            raise KubeconfigError(
                f'context "{name}": user "{user_name}" not found in kubeconfig {files}'
            )
        user = Entry("", {}, cluster.base)  # no credentials: anonymous, as kubectl allows
    namespace = entry.body.get("namespace")
    return Selected(name, cluster, user, str(namespace) if namespace else None, list(merged.files))


def resolve(entry: Entry, value: str) -> str:
    """A path from a kubeconfig entry: ``~`` expanded, relative to the file that holds it."""
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else entry.base / path)
