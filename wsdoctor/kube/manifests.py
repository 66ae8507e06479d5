"""Manifests for ``wsdoctor lint``: YAML/JSON files, directories, stdin; multi-document
streams, ``List`` kinds and Helm-rendered output. Objects are identified as kubectl does
(group, kind, namespace, name; ``-n`` for those without a namespace): one defined twice is
one object, the last definition kept and the duplicate reported. A file that cannot be
read, holds no objects or is an unrendered template is reported and the others are still
linted. Keeps the file and line of every key so findings point at the offending line."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any, TextIO

from wsdoctor.codes import Code
from wsdoctor.kube.rulebase import CHECK_ID
from wsdoctor.kube.snapshot import ClusterSnapshot, KubeObject, ObjectKey, object_key
from wsdoctor.kube.yamlload import InputRefused, documents, line_index, read_file, read_stream
from wsdoctor.kube.yamlload import line_of as find_line
from wsdoctor.models import Finding, Fix, Resource, Status
from wsdoctor.records import dataclass

#: Kinds that have no namespace (the rest default to ``-n``, like kubectl apply).
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
        "RuntimeClass",
        "APIService",
        "CSIDriver",
        "VolumeSnapshotClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "PodSecurityPolicy",
        "ClusterIssuer",
    }
)

SUFFIXES = (".yaml", ".yml", ".json")
#: Entries (files and directories) walked under one directory named, at most: /usr has about
#: 140,000 here, walked in 1.5 s; a lint of more is a mistyped path.
MAX_WALK_ENTRIES = 200_000
DEFAULT_NAMESPACE = "default"

#: How standard input is named in findings (``at: <stdin>:3``).
STDIN_NAME = "<stdin>"

UNREADABLE = Code("WSD-LINT-UNREADABLE", Status.FAIL, "A manifest file could not be read")
NO_OBJECTS = Code("WSD-LINT-NO-OBJECTS", Status.WARN, "A file holds no Kubernetes objects")
TEMPLATE = Code(
    "WSD-LINT-TEMPLATE", Status.WARN, "A Helm or Go template was not linted: render it first"
)
DUPLICATE = Code(
    "WSD-K8S-DUPLICATE", Status.INFO, "The same object is defined twice; the last one is kept"
)
INPUT_CODES = (UNREADABLE, NO_OBJECTS, TEMPLATE, DUPLICATE)

#: Helm's built-in objects and functions: a file holding them is a chart template.
_HELM = re.compile(
    r"\{\{-?\s*(?:\.Values|\.Release|\.Chart|\.Capabilities|\.Files|\$\.Values|include\s+\"|"
    r"template\s+\"|toYaml|tpl\s|required\s)"
)
_GO_ACTION = re.compile(r"\{\{.*?\}\}")
_RENDER_HINT = (
    "render it first and lint the output: helm template RELEASE CHART | wsdoctor lint - "
    "(or kubectl kustomize DIR | wsdoctor lint -)"
)


class ManifestError(ValueError):
    """A path that names nothing to lint (usage error); the message is one line."""


class ObjectLocation:
    """Where an object was defined; the line of any of its keys is found on demand."""

    def __init__(self, file: str, line: int, node: Any = None) -> None:
        self.file = file
        self.line = line
        self._node = node

    def __repr__(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def fields(self) -> dict[str, int]:
        """Line of every field path of the object."""
        return line_index(self._node) if self._node is not None else {}

    def line_of(self, path: str | None) -> int:
        """Line of ``path`` or of its nearest enclosing key; the object's line otherwise."""
        return find_line(self._node, path) if self._node is not None and path else self.line


@dataclass(frozen=True)
class InputProblem:
    """A file that was not linted (or not wholly): unreadable, empty of objects, a template."""

    code: Code
    file: str
    message: str
    line: int | None = None
    hint: str | None = None

    def finding(self) -> Finding:
        """The problem as a finding about the file."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        hint = f" {self.hint[0].upper()}{self.hint[1:]}." if self.hint else ""
        return self.code.finding(
            CHECK_ID,
            f"{where}: {self.message}.{hint}",
            resource=Resource(kind="File", name=self.file),
            evidence={"file": self.file, "line": self.line},
            fix=Fix(summary=(self.hint or "Fix the file and lint it again.").rstrip(".") + "."),
        )


@dataclass
class ManifestSet:
    """The objects found, as a snapshot, where each came from, and what could not be read."""

    snapshot: ClusterSnapshot
    locations: dict[tuple[str, str | None, str], ObjectLocation]
    files: list[str]
    problems: list[InputProblem] = field(default_factory=list)
    duplicates: list[Finding] = field(default_factory=list)

    def location(self, kind: str, namespace: str | None, name: str) -> ObjectLocation | None:
        """Where the object was defined."""
        return self.locations.get((kind, namespace, name))


def _items_node(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if getattr(key, "value", None) == "items" and isinstance(value, yaml.SequenceNode):
                return list(value.value)
    return []


def _objects(node: Any, data: Any) -> Iterator[tuple[dict[str, Any], Any]]:
    if not isinstance(data, dict):
        return
    kind = data.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(data.get("items"), list):
        for item_node, item in zip(_items_node(node), data["items"], strict=False):
            yield from _objects(item_node, item)
        return
    if isinstance(kind, str) and data.get("apiVersion") and isinstance(data.get("metadata"), dict):
        yield data, node


def _walk(root: str) -> tuple[list[str], list[InputProblem]]:
    """The manifest files under ``root`` (symlinked directories not followed, as kubectl -R),
    and what could not be read there: an unreadable directory, a manifest-named FIFO, device
    or broken link (never opened: it could block or never end). Entries that vanish while
    walked (/proc) are passed over; more than :data:`MAX_WALK_ENTRIES` is a ManifestError."""
    files: list[str] = []
    problems: list[InputProblem] = []
    closed: list[OSError] = []
    seen = 0

    def unreadable(exc: OSError) -> None:
        if not isinstance(exc, FileNotFoundError):
            closed.append(exc)

    for directory, subdirs, names in os.walk(root, onerror=unreadable):
        seen += len(subdirs) + len(names)
        if seen > MAX_WALK_ENTRIES:
            raise ManifestError(f"{root}: more than {MAX_WALK_ENTRIES} entries under this "
                                "directory; name the directories that hold the manifests")
        subdirs.sort()
        for name in names:
            if not name.endswith(SUFFIXES):
                continue
            path = os.path.join(directory, name)
            try:
                mode = os.stat(path).st_mode
            except FileNotFoundError:
                if os.path.islink(path):
                    problems.append(InputProblem(UNREADABLE, path, "a broken symbolic link"))
                continue
            except OSError as exc:
                problems.append(InputProblem(UNREADABLE, path, f"cannot read ({exc.strerror})"))
                continue
            if stat.S_ISREG(mode):
                files.append(path)
            elif not stat.S_ISDIR(mode):
                problems.append(InputProblem(
                    UNREADABLE, path, "not a regular file (a FIFO, device or socket), not read "
                    "from a directory; name it to read it"))
    if closed:
        first = closed[0]
        more = f" and {len(closed) - 1} more" if len(closed) > 1 else ""
        why = f"{first.filename}{more} ({first.strerror or first})"
        if not files and not problems:
            raise ManifestError(f"{root}: no manifest files (*.yaml, *.yml, *.json) in the "
                                f"directories that could be read; not read: {why}")
        problems.append(InputProblem(UNREADABLE, root, f"directories not read: {why}"))
    return files, problems


def expand_paths(paths: Sequence[str]) -> tuple[list[str], list[InputProblem]]:
    """Files named, and the YAML/JSON files under directories named; ``-`` is stdin. Sorted
    by path, so the result never depends on the order they were named in (a directory is
    read in the same order by kubectl); with what could not be read under the directories.

    A file named twice (or also found under a directory named) is read once; a directory
    with no manifest files is an error, since a mistyped path is likelier than an empty lint."""
    found: dict[str, str] = {}
    problems: list[InputProblem] = []
    for raw in paths:
        if raw == "-":
            found.setdefault(raw, raw)
            continue
        path = Path(raw)
        if path.is_dir():
            inside, trouble = _walk(raw)
            if not inside and not trouble:
                raise ManifestError(
                    f"{raw}: no manifest files (*.yaml, *.yml, *.json) in this directory"
                )
            problems.extend(trouble)
            for name in inside:
                found.setdefault(os.path.realpath(name), name)
        elif path.is_file():
            found.setdefault(str(path.resolve()), str(path))
        elif path.exists():  # a pipe (lint <(helm template .)) is read; a device is refused
            found.setdefault(raw, raw)
        else:
            raise ManifestError(f"{raw}: no such file or directory")
    return sorted(found.values(), key=lambda name: (name == "-", name)), \
        sorted(problems, key=lambda problem: problem.file)


def _text_of(name: str, stdin: TextIO | None) -> tuple[str, str]:
    """(shown name, text); InputRefused when it cannot be read."""
    if name == "-":
        if stdin is None:
            raise InputRefused("no standard input")
        return STDIN_NAME, read_stream(stdin)
    return name, read_file(name)


@dataclass
class _Found:
    obj: KubeObject
    location: ObjectLocation


def _parse(text: str, shown: str, namespace: str) -> Iterator[_Found]:
    """Every object of a file's text, with its location; InputRefused for bad YAML."""
    for node, data in documents(text):
        for raw, obj_node in _objects(node, data):
            kind = str(raw["kind"])
            obj = KubeObject.from_dict(
                raw, default_namespace=None if kind in CLUSTER_SCOPED else namespace
            )
            if kind in CLUSTER_SCOPED and obj.namespace is not None:
                obj = obj.model_copy(update={"namespace": None})
            yield _Found(obj, ObjectLocation(shown, obj_node.start_mark.line + 1, obj_node))


def _read_one(
    name: str, stdin: TextIO | None, namespace: str
) -> tuple[str, list[_Found], InputProblem | None]:
    """The objects of one file, or the problem that kept it from being linted."""
    shown = STDIN_NAME if name == "-" else name
    try:
        shown, text = _text_of(name, stdin)
    except InputRefused as exc:
        return shown, [], InputProblem(UNREADABLE, shown, str(exc), exc.line)
    helm = _HELM.search(text)
    if helm is not None:
        line = text.count("\n", 0, helm.start()) + 1
        problem = "is a Helm chart template (it uses {{ .Values }}-style actions)"
        return shown, [], InputProblem(TEMPLATE, shown, problem, line, _RENDER_HINT)
    try:
        found = list(_parse(text, shown, namespace))
    except InputRefused as exc:
        if _GO_ACTION.search(text):
            problem = f"is a Go template, not YAML yet ({exc})"
            return shown, [], InputProblem(TEMPLATE, shown, problem, exc.line, _RENDER_HINT)
        return shown, [], InputProblem(UNREADABLE, shown, str(exc), exc.line)
    if not found:
        hint = (
            "documents need apiVersion, kind and metadata; a kustomization or chart must be "
            "rendered first: kubectl kustomize DIR | wsdoctor lint -"
        )
        return shown, [], InputProblem(NO_OBJECTS, shown, "holds no Kubernetes objects", None, hint)
    return shown, found, None


def _duplicate(key: ObjectKey, first: _Found, last: _Found) -> Finding:
    obj = last.obj
    where = f"{first.location.file}:{first.location.line}"
    kept = f"{last.location.file}:{last.location.line}"
    return DUPLICATE.finding(
        CHECK_ID,
        f"{obj.ref} is defined at {where} and again at {kept}; like kubectl apply, the last "
        f"definition ({kept}) is the one checked.",
        resource=obj.resource("metadata.name"),
        evidence={"first": where, "kept": kept},
        fix=Fix(summary="Keep one definition (or give them different names or namespaces)."),
    )


def load_manifests(
    paths: Sequence[str], stdin: TextIO | None = None, namespace: str = DEFAULT_NAMESPACE
) -> ManifestSet:
    """Read every object in ``paths``; objects without a namespace get ``namespace``.

    ManifestError only when a path names nothing; a file that cannot be read is an
    :class:`InputProblem` and the other files are still read."""
    files, problems = expand_paths(paths)
    kept: dict[ObjectKey, _Found] = {}
    duplicates: list[Finding] = []
    shown_files: list[str] = []
    for name in files:
        shown, found, problem = _read_one(name, stdin, namespace)
        shown_files.append(shown if name != "-" else "-")
        if problem is not None:
            problems.append(problem)
        for item in found:
            key = object_key(item.obj)
            if key in kept:
                duplicates.append(_duplicate(key, kept[key], item))
                del kept[key]  # the last definition takes the first one's place
            kept[key] = item
    ordered = sorted(kept.items(), key=lambda kv: tuple(part or "" for part in kv[0]))
    objects = [item.obj for _, item in ordered]
    locations = {
        (item.obj.kind, item.obj.namespace, item.obj.name): item.location for _, item in ordered
    }
    kinds = sorted({o.kind for o in objects})
    snapshot = ClusterSnapshot(
        source="manifests", context=", ".join(paths), objects=objects, listed_kinds=kinds
    )
    return ManifestSet(
        snapshot=snapshot,
        locations=locations,
        files=shown_files,
        problems=problems,
        duplicates=duplicates,
    )
