"""Rough edges of the command line found by the reviews of issues 12, 13, 14 and 17: headers
that would break the handshake, empty or garbage list options."""

from __future__ import annotations

import pytest

from tests.helpers import run_cli
from wsdoctor.exit import ExitStatus


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("Content-Length: 5", "has no body"),
        ("Transfer-Encoding: chunked", "has no body"),
        ("transfer-encoding: gzip, chunked", "has no body"),
        ("Expect: 100-continue", "no body"),
        ("Keep-Alive: timeout=5", "hop-by-hop"),
        ("TE: trailers", "hop-by-hop"),
        ("Host: other.example", "sets this header itself"),
        ("Upgrade: h2c", "sets this header itself"),
        ("Connection: close", "sets this header itself"),
        ("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==", "sets this header itself"),
        ("Sec-WebSocket-Whatever: 1", "belong to the handshake"),
    ],
)
def test_headers_that_break_the_handshake_are_refused_with_why(header: str, why: str) -> None:
    """Given -H with a header the upgrade request cannot carry, wsdoctor refuses it before any
    connection, in one line that says why (exit 2), for the diagnosis and the watch alike."""
    for argv in (["ws://127.0.0.1:9/", "-H", header],
                 ["watch", "ws://127.0.0.1:9/", "-H", header, "--duration", "1"]):
        result = run_cli(*argv)
        assert result.status == ExitStatus.USAGE, result
        assert result.stderr.count("\n") == 1 and why in result.stderr, result.stderr
        assert header.partition(":")[0] in result.stderr
