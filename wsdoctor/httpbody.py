"""HTTP/1.1 message bodies as a proxy sent them: what the probes quote of a response."""

from __future__ import annotations

import re

_CHUNKED = re.compile(rb"^transfer-encoding:[^\r\n]*\bchunked\b", re.IGNORECASE | re.MULTILINE)


def is_chunked(head: bytes) -> bool:
    """Whether a raw response head says ``Transfer-Encoding: chunked``."""
    return _CHUNKED.search(head) is not None


def decode_chunked(raw: bytes) -> bytes:
    """As much of a chunked body as ``raw`` holds (a body cut short decodes to its start):
    a quote of the chunk framing would show the text split by chunk sizes."""
    out = b""
    while raw:
        size_line, sep, rest = raw.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out += rest[:size]
        raw = rest[size + 2:]
    return out
