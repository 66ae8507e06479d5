"""Label and field selectors as kube-apiserver parses them: a malformed one is a 400, a field
the resource does not index is a 400, and matching follows ``k8s.io/apimachinery``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from wsdoctor.lab.kubeapi.resources import ApiStatus, ResourceType, bad_request

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPECIAL = "!=<>(),"


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values``."""

    key: str
    op: str
    """``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``, ``gt``, ``lt``."""
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return value is not None and value in self.values
        if self.op in ("!=", "notin"):
            return value is None or value not in self.values
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        try:
            number = int(value or "")
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if self.op == "gt" else number < bound


def _tokens(selector: str) -> list[str]:
    """Identifiers and operators, as the apimachinery lexer splits them."""
    out: list[str] = []
    i = 0
    while i < len(selector):
        ch = selector[i]
        if ch.isspace():
            i += 1
        elif selector.startswith(("!=", "=="), i):
            out.append(selector[i : i + 2])
            i += 2
        elif ch in _SPECIAL:
            out.append(ch)
            i += 1
        else:
            j = i
            while j < len(selector) and not selector[j].isspace() and selector[j] not in _SPECIAL:
                j += 1
            out.append(selector[i:j])
            i = j
    return out


def _check_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if (
        not name
        or len(name) > 63
        or not _NAME.match(name)
        or ("/" in key and (not prefix or len(prefix) > 253 or not _SUBDOMAIN.match(prefix)))
    ):
        raise bad_request(
            f'unable to parse requirement: <nil>: Invalid value: "{key}": name part must consist '
            "of alphanumeric characters, '-', '_' or '.', and must start and end with an "
            "alphanumeric character"
        )


def _check_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise bad_request(
            f'unable to parse requirement: values[0][key]: Invalid value: "{value}": a valid '
            "label must be an empty string or consist of alphanumeric characters, '-', '_' "
            "or '.', and must start and end with an alphanumeric character"
        )


def _is_ident(token: str | None) -> bool:
    return token is not None and token not in _SPECIAL and token not in ("!=", "==")


def parse_labels(selector: str) -> list[Requirement]:
    """The requirements of a label selector; ApiStatus(400) when it does not parse."""
    tokens = _tokens(selector)
    reqs: list[Requirement] = []
    pos = 0

    def peek(offset: int = 0) -> str | None:
        return tokens[pos + offset] if pos + offset < len(tokens) else None

    while pos < len(tokens):
        negate = peek() == "!"
        if negate:
            pos += 1
        key = peek()
        if not _is_ident(key):
            raise bad_request(f"found '{key or ''}', expected: identifier")
        assert key is not None
        _check_key(key)
        pos += 1
        op = peek()
        if negate or op is None or op == ",":
            reqs.append(Requirement(key, "!" if negate else "exists"))
        elif op in ("in", "notin"):
            if peek(1) != "(":
                raise bad_request(f"found '{peek(1) or ''}', expected: '('")
            pos += 2
            values: list[str] = []
            while True:
                tok = peek()
                if tok is None:
                    raise bad_request("found '', expected: ',', ')' or identifier")
                if tok == ")":
                    pos += 1
                    break
                if tok == ",":
                    values.append("")
                    pos += 1
                    continue
                if not _is_ident(tok):
                    raise bad_request(f"found '{tok}', expected: ',', ')' or identifier")
                values.append(tok)
                pos += 1
                if peek() == ",":
                    pos += 1
                elif peek() != ")":
                    raise bad_request(f"found '{peek() or ''}', expected: ',' or ')'")
            if not values:
                raise bad_request(f"for '{op}', 'notin' operators, values set can't be empty")
            for value in values:
                _check_value(value)
            reqs.append(Requirement(key, op, tuple(values)))
        elif op in ("=", "==", "!=", ">", "<"):
            pos += 1
            value = (peek() or "") if _is_ident(peek()) else ""
            if value:
                pos += 1
            if op in (">", "<"):
                if not value.isdigit():
                    raise bad_request(
                        f"unable to parse requirement: for 'Gt', 'Lt' operators, the value must "
                        f"be an integer: {value!r}"
                    )
                reqs.append(Requirement(key, "gt" if op == ">" else "lt", (value,)))
            else:
                _check_value(value)
                reqs.append(Requirement(key, "!=" if op == "!=" else "=", (value,)))
        else:
            raise bad_request(
                f"found '{op}', expected: in, notin, =, ==, !=, gt, lt, ',' or 'end of string'"
            )
        tok = peek()
        if tok is None:
            break
        if tok != ",":
            raise bad_request(f"found '{tok}', expected: ',' or 'end of string'")
        pos += 1
        if not (_is_ident(peek()) or peek() == "!"):
            raise bad_request(f"found '{peek() or ''}', expected: identifier after ','")
    return reqs


def _pod_fields(obj: dict[str, Any]) -> dict[str, str]:
    spec, state = obj.get("spec") or {}, obj.get("status") or {}
    return {
        "spec.nodeName": str(spec.get("nodeName") or ""),
        "spec.restartPolicy": str(spec.get("restartPolicy") or ""),
        "spec.schedulerName": str(spec.get("schedulerName") or ""),
        "spec.serviceAccountName": str(spec.get("serviceAccountName") or ""),
        "spec.hostNetwork": "true" if spec.get("hostNetwork") else "false",
        "status.phase": str(state.get("phase") or ""),
        "status.podIP": str(state.get("podIP") or ""),
        "status.nominatedNodeName": str(state.get("nominatedNodeName") or ""),
    }


#: The fields each kind indexes for field selectors, beyond ``metadata.name``/``namespace``
#: (``pkg/registry/*/strategy.go`` ``GetAttrs``/``ToSelectableFields``).
_FIELDS: dict[str, Callable[[dict[str, Any]], dict[str, str]]] = {
    "Pod": _pod_fields,
    "Namespace": lambda o: {"status.phase": str((o.get("status") or {}).get("phase") or "")},
    "Secret": lambda o: {"type": str(o.get("type") or "")},
    "Node": lambda o: {
        "spec.unschedulable": "true" if (o.get("spec") or {}).get("unschedulable") else "false"
    },
    "ReplicaSet": lambda o: {"status.replicas": str((o.get("status") or {}).get("replicas", 0))},
    "Event": lambda o: (
        {f"involvedObject.{k}": str(v) for k, v in (o.get("involvedObject") or {}).items()}
        | {"reason": str(o.get("reason") or ""), "type": str(o.get("type") or "")}
    ),
}


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch == sep:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def parse_fields(selector: str, rt: ResourceType) -> list[tuple[str, bool, str]]:
    """(field, negated, value) terms of a field selector; ApiStatus(400) for a malformed term
    or a field this resource does not support."""
    terms: list[tuple[str, bool, str]] = []
    for term in _split_unescaped(selector, ","):
        if not term:
            continue
        for op in ("!=", "==", "="):
            if op in term:
                field, _, value = term.partition(op)
                terms.append((field.strip(), op == "!=", _unescape(value)))
                break
        else:
            raise bad_request(f"invalid selector: '{selector}'; can't understand '{term}'")
    allowed = {"metadata.name", "metadata.namespace"}
    extra = _FIELDS.get(rt.kind)
    if extra is not None:
        allowed |= set(extra({}))
    for field, _, _ in terms:
        if field not in allowed:
            raise ApiStatus(400, "BadRequest", f"field label not supported: {field}")
    return terms


@dataclass(frozen=True)
class Selector:
    """A parsed label and field selector of one request."""

    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, query: dict[str, str], rt: ResourceType) -> Selector:
        return cls(
            tuple(parse_labels(query.get("labelSelector", ""))),
            tuple(parse_fields(query.get("fieldSelector", ""), rt)),
        )

    @property
    def empty(self) -> bool:
        return not self.labels and not self.fields

    def matches(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        if not all(r.matches(labels) for r in self.labels):
            return False
        if not self.fields:
            return True
        values = {
            "metadata.name": str(meta.get("name") or ""),
            "metadata.namespace": str(meta.get("namespace") or ""),
        }
        extra = _FIELDS.get(str(obj.get("kind")))
        if extra is not None:
            values.update(extra(obj))
        return all((values.get(f, "") == v) != neg for f, neg, v in self.fields)
