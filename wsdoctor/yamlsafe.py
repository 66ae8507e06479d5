"""YAML that a user, a chart or a cluster wrote, loaded bounded: libyaml's parser when it is
installed (ten times faster than PyYAML's own), and every document checked before anything
walks it: aliases may not expand it past :data:`MAX_NODES` nodes (a 1 KB alias bomb expands
to billions), refer to themselves, or nest it deeper than :data:`MAX_DEPTH`.

A refused document raises :class:`YamlLimitError`, a ``yaml.MarkedYAMLError``: callers that
turn YAML errors into one line (with the line number) need nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

#: Nodes a document may expand to through aliases (when that is also more than
#: :data:`MAX_RATIO` times the nodes written): a List of 10,000 objects has about a million.
MAX_NODES = 1_000_000
MAX_RATIO = 10
#: Nesting a manifest, a kubeconfig or a configuration never needs (CRD schemas reach ~60).
MAX_DEPTH = 200

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlLimitError(yaml.MarkedYAMLError):
    """A document refused before it was built: an alias bomb, a recursive alias, too deep."""


def loader(text: str) -> Any:
    """A safe loader for ``text`` (libyaml's if installed); ``dispose()`` it when done."""
    return _Loader(text)


def check_node(root: yaml.Node) -> None:
    """Refuse a composed document whose aliases expand it past the limits, that contains
    itself, or that nests deeper than :data:`MAX_DEPTH`. Iterative and linear in the nodes
    written (an aliased node is counted once per use, but walked once)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:  # the common case first: no node is reached twice, so no alias to expand
        node, depth = stack.pop()
        if id(node) in seen:
            _check_aliases(root)
            return
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise YamlLimitError(problem=f"nested deeper than {MAX_DEPTH} levels",
                                 problem_mark=node.start_mark)
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append((key, depth + 1))
                stack.append((value, depth + 1))


def _check_aliases(root: yaml.Node) -> None:
    """The walk of a document whose nodes are shared: expanded sizes, cycles and depth."""
    expanded: dict[int, int] = {}
    written = 0
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    depth = 0
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            depth -= 1
            expanded[key] = 1 + sum(expanded[id(c)] for c in _children(node))
            if expanded[key] > MAX_NODES and expanded[key] > MAX_RATIO * written:
                raise YamlLimitError(
                    problem=f"its aliases expand it to more than {MAX_NODES:,} values "
                    f"({written:,} written): an alias bomb?",
                    problem_mark=node.start_mark,
                )
            continue
        if key in expanded:
            continue
        if key in on_path:
            raise YamlLimitError(problem="an alias refers to a node that contains it",
                                 problem_mark=node.start_mark)
        depth += 1
        if depth > MAX_DEPTH:
            raise YamlLimitError(problem=f"nested deeper than {MAX_DEPTH} levels",
                                 problem_mark=node.start_mark)
        written += 1
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            yield key
            yield value


def documents(text: str) -> Iterator[tuple[yaml.Node, Any]]:
    """(node, data) of each non-empty document of ``text``, each checked before it is built."""
    load = loader(text)
    try:
        while load.check_node():
            node = load.get_node()
            if node is None:
                continue
            check_node(node)
            yield node, load.construct_document(node)
    finally:
        load.dispose()


def load_one(text: str) -> tuple[Any, yaml.Node | None]:
    """The single document of ``text`` (None when empty) and its node, checked."""
    load = loader(text)
    try:
        node = load.get_single_node()
        if node is None:
            return None, None
        check_node(node)
        return load.construct_document(node), node
    finally:
        load.dispose()
