"""Bounded YAML for manifests: files and standard input read with a size limit, documents
composed by libyaml (when installed) and refused before construction when their aliases
expand past a node budget, nest too deep, or refer to themselves. A 1 KB alias bomb costs
microseconds and one line, not gigabytes.

Only regular files are opened: a FIFO with no writer or ``/dev/zero`` never blocks a read."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, TextIO

from wsdoctor.kube.snapshot import field_path
from wsdoctor.records import dataclass

#: Largest manifest file (or standard input) read, in bytes.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Largest number of nodes one document may stand for once its aliases are expanded.
MAX_NODES = 2_000_000
#: Deepest nesting of mappings and sequences accepted (Kubernetes objects stay under ~40).
MAX_DEPTH = 200


class InputRefused(ValueError):
    """A file or document wsdoctor will not read; the message is one line for the user."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def read_file(path: str) -> str:
    """The text of a regular file or a pipe, at most :data:`MAX_FILE_BYTES` (a FIFO nobody
    writes to reads as empty at once, a device is refused); InputRefused otherwise."""
    from wsdoctor.files import FileProblem, read_bounded

    try:
        return decode(read_bounded(path, MAX_FILE_BYTES))
    except FileProblem as exc:
        raise InputRefused(f"cannot read ({exc.strerror})") from None


def decode(raw: bytes) -> str:
    """UTF-8 (with or without a byte-order mark); InputRefused names the first bad byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputRefused(f"not UTF-8 text (byte {exc.start} on line {line})", line) from None


def read_stream(stream: TextIO) -> str:
    """Standard input, at most :data:`MAX_FILE_BYTES` (``lint - < /dev/zero`` ends)."""
    from wsdoctor.files import FileProblem, read_text_stream

    try:
        return read_text_stream(stream, MAX_FILE_BYTES)
    except FileProblem as exc:
        raise InputRefused(f"cannot read ({exc.strerror})") from None


_LOADER: Any = None
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _loader_class() -> Any:
    """libyaml's safe loader when installed, else PyYAML's."""
    global _LOADER
    if _LOADER is None:
        import yaml

        _LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return _LOADER


class _Fallback(Exception):
    """A node the quick construction leaves to PyYAML (merge keys, timestamps, sets...)."""


def _quick(node: Any, loader: Any) -> Any:
    """Python data of a node for the tags manifests use (str, int, bool, null, map, seq);
    the same values PyYAML's safe constructor gives, much faster."""
    import yaml

    tag = node.tag
    if isinstance(node, yaml.ScalarNode):
        if tag == _STR:
            return node.value
        value = node.value
        if tag == "tag:yaml.org,2002:int" and value.isdigit() and value[0] != "0":
            return int(value)  # a leading 0 is octal in YAML 1.1: PyYAML's constructor
        if tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:null", "tag:yaml.org,2002:int"):
            return loader.construct_object(node)
        raise _Fallback
    if isinstance(node, yaml.SequenceNode) and tag == _SEQ:
        return [_quick(item, loader) for item in node.value]
    if isinstance(node, yaml.MappingNode) and tag == _MAP:
        out = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                raise _Fallback
            out[_quick(key, loader)] = _quick(value, loader)
        return out
    raise _Fallback


def construct(node: Any, loader: Any) -> Any:
    """The document's data: the quick construction, or PyYAML's when it meets a tag it
    leaves alone."""
    try:
        return _quick(node, loader)
    except _Fallback:
        return loader.construct_document(node)


@dataclass
class _Budget:
    """Expanded size and height of every node seen, for the alias and depth limits."""

    sizes: dict[int, tuple[int, int]]
    active: set[int]


def _measure(node: Any, depth: int, budget: _Budget) -> tuple[int, int]:
    """(expanded node count, height) of ``node``, each shared node measured once."""
    import yaml

    key = id(node)
    known = budget.sizes.get(key)
    if known is None:
        if key in budget.active:
            raise InputRefused(
                "a YAML alias refers to the node that contains it (recursive aliases are "
                "not Kubernetes objects)",
                node.start_mark.line + 1,
            )
        if depth > MAX_DEPTH:
            raise InputRefused(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
        budget.active.add(key)
        children: list[Any] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        size, height = 1, 0
        for child in children:
            child_size, child_height = _measure(child, depth + 1, budget)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_NODES:
                raise InputRefused(
                    f"YAML aliases expand this document past {MAX_NODES:,} nodes (an alias bomb?)",
                    node.start_mark.line + 1,
                )
        budget.active.discard(key)
        known = (size, height)
        budget.sizes[key] = known
    if depth + known[1] > MAX_DEPTH:
        raise InputRefused(f"nested deeper than {MAX_DEPTH} levels", node.start_mark.line + 1)
    return known


def documents(text: str) -> Iterator[tuple[Any, Any]]:
    """(node, data) of each non-empty document; InputRefused (with the line) for invalid
    YAML or a document past the limits. Documents before a bad one are still yielded."""
    import yaml

    loader = None
    try:
        loader = _loader_class()(text)
        # Without an anchor there is no alias to expand: the document is no bigger than the
        # text. Deep nesting then ends in RecursionError below.
        anchors = "&" in text
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            if anchors:
                _measure(node, 0, _Budget(sizes={}, active=set()))
            yield node, construct(node, loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        position = getattr(exc, "position", None)
        if line is None and isinstance(position, int):
            line = text.count("\n", 0, position) + 1
        raise InputRefused(f"not valid YAML ({problem})", line) from None
    except RecursionError:
        raise InputRefused(f"nested deeper than {MAX_DEPTH} levels") from None
    finally:
        if loader is not None:
            loader.dispose()


_STEP = re.compile(r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["([^"]*)"\]')


def line_of(node: Any, path: str | None) -> int:
    """The line of ``path`` (``spec.rules[0].http`` or ``metadata.annotations["a/b"]``)
    under ``node``, or of its nearest enclosing key; the node's own line for no path."""
    import yaml

    line = int(node.start_mark.line) + 1
    for match in _STEP.finditer(path or ""):
        key, index, quoted = match.groups()
        if index is not None:
            if not isinstance(node, yaml.SequenceNode) or int(index) >= len(node.value):
                break
            node = node.value[int(index)]
            line = int(node.start_mark.line) + 1
            continue
        name = key if key is not None else quoted
        if not isinstance(node, yaml.MappingNode):
            break
        found = next(
            ((k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name),
            None,
        )
        if found is None:
            break
        line, node = int(found[0].start_mark.line) + 1, found[1]
    return line


def line_index(node: Any, prefix: tuple[str | int, ...] = ()) -> dict[str, int]:
    """The line of every key under ``node``, by field path (for file:line in findings)."""
    import yaml

    out: dict[str, int] = {}
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(node, prefix)]
    while stack:
        current, path = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if not isinstance(key, yaml.ScalarNode):
                    continue
                sub = (*path, str(key.value))
                out.setdefault(field_path(*sub), key.start_mark.line + 1)
                stack.append((value, sub))
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                sub = (*path, i)
                out.setdefault(field_path(*sub), item.start_mark.line + 1)
                stack.append((item, sub))
    return out


def load_one(text: str) -> tuple[Any, Any]:
    """The first document of a configuration file (a kubeconfig, the exporter's file) and
    its node, under the same limits as a manifest; ``(None, None)`` when there is none."""
    for node, data in documents(text):
        return data, node
    return None, None
