"""Manifests for ``wsdoctor lint``: YAML/JSON files, directories, stdin; multi-document
streams, ``List`` kinds and Helm-rendered output. Keeps the file and line of every key so
findings can point at the offending line (SARIF)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, field_path

#: Kinds that have no namespace (the rest default to ``default``, like kubectl apply).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "IngressClass",
        "GatewayClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)

SUFFIXES = (".yaml", ".yml", ".json")

#: How standard input is named in findings (``at: <stdin>:3``).
STDIN_NAME = "<stdin>"


class ManifestError(ValueError):
    """A file that cannot be read or parsed; the message names file and line."""


@dataclass(frozen=True)
class ObjectLocation:
    """Where an object was defined, and the line of each of its keys."""

    file: str
    line: int
    fields: dict[str, int] = field(default_factory=dict)

    def line_of(self, path: str | None) -> int:
        """Line of ``path`` or of its nearest enclosing key; the object's line otherwise."""
        while path:
            if path in self.fields:
                return self.fields[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.line


@dataclass
class ManifestSet:
    """The objects found, as a snapshot, and where each came from."""

    snapshot: ClusterSnapshot
    locations: dict[tuple[str, str | None, str], ObjectLocation]
    files: list[str]

    def location(self, kind: str, namespace: str | None, name: str) -> ObjectLocation | None:
        """Where the object was defined."""
        return self.locations.get((kind, namespace, name))


def _index_lines(node: Any, prefix: tuple[str | int, ...], out: dict[str, int]) -> None:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            path = (*prefix, str(key.value))
            out[field_path(*path)] = key.start_mark.line + 1
            _index_lines(value, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = (*prefix, i)
            out[field_path(*path)] = item.start_mark.line + 1
            _index_lines(item, path, out)


def _items_node(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
    return []


def _documents(text: str, name: str) -> Iterator[tuple[Any, Any]]:
    """(node, data) for each non-empty document."""
    import yaml

    from wsdoctor.yamlsafe import documents

    try:
        yield from documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{where}: not valid YAML ({problem})") from None


def _objects(node: Any, data: Any, name: str) -> Iterator[tuple[dict[str, Any], Any]]:
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        for item_node, item in zip(_items_node(node), data["items"], strict=False):
            yield from _objects(item_node, item, name)
        return
    if isinstance(kind, str) and data.get("apiVersion") and isinstance(data.get("metadata"), dict):
        yield data, node


def expand_paths(paths: Sequence[str]) -> list[str]:
    """Files named, and the YAML/JSON files under directories named (sorted); ``-`` is stdin.

    A file named twice (or also found under a directory named) is read once; a directory
    with no manifest files is an error, since a mistyped path is likelier than an empty lint."""
    found: list[str] = []
    seen: set[str] = set()

    def add(name: str, key: str) -> None:
        if key not in seen:
            seen.add(key)
            found.append(name)

    for raw in paths:
        if raw == "-":
            add(raw, raw)
            continue
        path = Path(raw)
        if path.is_dir():
            inside = [p for p in sorted(path.rglob("*")) if p.is_file() and p.suffix in SUFFIXES]
            if not inside:
                raise ManifestError(
                    f"{raw}: no manifest files (*.yaml, *.yml, *.json) in this directory"
                )
            for p in inside:
                add(str(p), str(p.resolve()))
        elif path.is_file():
            add(str(path), str(path.resolve()))
        elif path.exists():  # a pipe (lint <(helm template .)) is read; a device is refused
            add(raw, raw)
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return found


#: Manifests larger than this (per file, or on standard input) are refused, not read on.
INPUT_LIMIT = 64 * 1024 * 1024


def _read(name: str, stdin: TextIO | None) -> str:
    """A file's (or standard input's) text, bounded: never a hang or an endless read."""
    from wsdoctor.files import read_bounded, read_text_stream

    try:
        if name == "-":
            if stdin is None:
                raise ManifestError("-: no standard input")
            return read_text_stream(stdin, INPUT_LIMIT)
        return read_bounded(name, INPUT_LIMIT).decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(f"{name}: cannot read (not UTF-8 text)") from None
    except OSError as exc:
        raise ManifestError(f"{name}: cannot read ({exc.strerror or exc})") from None


def load_manifests(paths: Sequence[str], stdin: TextIO | None = None) -> ManifestSet:
    """Read every object in ``paths``; ManifestError names the file (and line) that failed."""
    files = expand_paths(paths)
    objects: list[KubeObject] = []
    locations: dict[tuple[str, str | None, str], ObjectLocation] = {}
    for name in files:
        text, shown = _read(name, stdin), (STDIN_NAME if name == "-" else name)
        for node, data in _documents(text, shown):
            for raw, obj_node in _objects(node, data, shown):
                kind = str(raw["kind"])
                default_ns = None if kind in CLUSTER_SCOPED else "default"
                obj = KubeObject.from_dict(raw, default_namespace=default_ns)
                lines: dict[str, int] = {}
                _index_lines(obj_node, (), lines)
                objects.append(obj)
                locations[(obj.kind, obj.namespace, obj.name)] = ObjectLocation(
                    file=shown, line=obj_node.start_mark.line + 1, fields=lines
                )
    kinds = sorted({o.kind for o in objects})
    snapshot = ClusterSnapshot(
        source="manifests", context=", ".join(paths), objects=objects, listed_kinds=kinds
    )
    return ManifestSet(snapshot=snapshot, locations=locations, files=files)
