"""Text that a server, a cluster or a file sent is data, never instructions for a terminal.

Every renderer (text, ``--short``, markdown, JUnit, the TUI) and every line on stderr passes
what it shows through :func:`printable` (or a whole report through :func:`safe`): control
characters and escape sequences (C0, ESC, DEL, C1), bidirectional overrides and the
characters XML cannot carry become visible escapes (``\\x1b``, ``\\u202e``), and lengths are
capped. The JSON report keeps the exact text (JSON escapes it); :func:`json_safe` also
escapes what JSON leaves raw but a terminal would act on.

Imports nothing heavy: ``wsdoctor.cli`` uses it on every error line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Characters a terminal acts on or XML 1.0 cannot carry: C0 (tab and newline are allowed
#: where lines are), DEL, C1, the bidi controls, line/paragraph separators, the byte order
#: mark, U+FFFE/U+FFFF and lone surrogates.
_UNSAFE_CLASS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
    "\ufeff\ufffe\uffff\ud800-\udfff"
)
_UNSAFE_LINES = re.compile(f"[{_UNSAFE_CLASS}]")
_UNSAFE_LINE = re.compile(f"[\n{_UNSAFE_CLASS}]")
#: What :func:`json_safe` escapes: JSON already escapes C0; these it would leave raw.
_JSON_RAW = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                       "\ufeff\ufffe\uffff]")

#: Longest single-line value shown (a header, a summary, an evidence value).
LINE_LIMIT = 2000
#: Longest multi-line value shown (a detail, a fix snippet, a traceback).
TEXT_LIMIT = 10000
#: Fields whose value is several lines by design; every other string is one line.
MULTILINE_FIELDS = frozenset({"detail", "snippet", "traceback", "description"})


def header_text(raw: bytes) -> str:
    """What a server sent in an HTTP head (status line, header value) as text: UTF-8 when
    the bytes are valid UTF-8 (what servers that send non-ASCII mean), else latin-1 (every
    byte kept, one character each). The text is untrusted: show it through
    :func:`printable`, which escapes a control character however it was encoded."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def rewrap_latin1(text: str) -> str:
    """A head value a parser decoded as latin-1 (``websockets`` does), read as
    :func:`header_text` would have read its bytes."""
    try:
        return header_text(text.encode("latin-1"))
    except UnicodeEncodeError:
        return text


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, *, multiline: bool = False, limit: int | None = LINE_LIMIT) -> str:
    """``text`` safe to show: escapes visible, newlines kept only when ``multiline``, at most
    ``limit`` characters (the rest counted, never silently dropped)."""
    escaped = (_UNSAFE_LINES if multiline else _UNSAFE_LINE).sub(_escape, text)
    if limit is not None and len(escaped) > limit:  # the result fits too: idempotent
        keep = limit - 32
        escaped = f"{escaped[:keep]}… ({len(escaped) - keep} more characters)"
    return escaped


def one_line(text: str) -> str:
    """A message for stderr or a log: its lines joined, escaped, capped."""
    return printable(" ".join(part.strip() for part in text.splitlines() if part.strip()))


def map_strings(value: T, fn: Callable[[str, str], str], key: str = "") -> T:
    """``value`` with ``fn(text, field)`` applied to every string inside it: pydantic models
    and dataclass instances (copied, never mutated), lists, tuples and dicts (keys too); the
    same object back when nothing changed. Enums and other types are left alone."""
    result: Any = value
    if isinstance(value, str) and type(value) is str:  # not a StrEnum: those are code's
        result = fn(value, key)
    elif isinstance(value, list | tuple):
        items = [map_strings(item, fn, key) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            result = type(value)(items)
    elif isinstance(value, dict):
        pairs = [(map_strings(k, fn, ""), map_strings(v, fn, k if type(k) is str else key))
                 for k, v in value.items()]
        if any(nk is not k or nv is not v
               for (nk, nv), (k, v) in zip(pairs, value.items(), strict=True)):
            result = dict(pairs)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {}
        for item in dataclasses.fields(value):
            old = getattr(value, item.name)
            new = map_strings(old, fn, item.name)
            if new is not old:
                changes[item.name] = new
        if changes:
            result = dataclasses.replace(value, **changes)
    else:
        fields = getattr(type(value), "model_fields", None)
        if isinstance(fields, dict) and hasattr(value, "model_copy"):
            changes = {}
            for name in fields:
                old = getattr(value, name)
                new = map_strings(old, fn, name)
                if new is not old:
                    changes[name] = new
            if changes:
                result = value.model_copy(update=changes)
    return result  # type: ignore[no-any-return]


def _safe_field(text: str, field: str) -> str:
    if field == "traceback":  # the end of a traceback says what failed: keep the end
        escaped = printable(text, multiline=True, limit=None)
        return escaped if len(escaped) <= TEXT_LIMIT else "…" + escaped[-TEXT_LIMIT:]
    if field in MULTILINE_FIELDS:
        return printable(text, multiline=True, limit=TEXT_LIMIT)
    return printable(text)


def safe(value: T) -> T:
    """A report (or a finding, a check, an event's payload) with every string made
    :func:`printable`: what renderers show, whatever a server or a forged file put in it."""
    return map_strings(value, _safe_field)


def json_safe(text: str) -> str:
    """JSON text with DEL, C1, bidi controls and separators written as ``\\uXXXX`` escapes:
    the same data for a JSON reader, nothing a terminal acts on."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
