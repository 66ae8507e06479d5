"""Echoes the main echoing server does not try: a secret split by chunked framing in a body
that never ends (the upgrade's quote was the raw chunks), a secret inside a longer base64
text (the request's headers base64-encoded, so the secret starts at any byte offset), and a
secret split across a folded header line (quoted by the parser's error) and two headers."""

from __future__ import annotations

import asyncio
import base64
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from tests.helpers import run_cli
from wsdoctor.lab.backend import LabLoop
from wsdoctor.lab.hostile import LoopbackServer, _read_head

TOKEN = "tok-Zq8vN3xYp7Lw2Kd9Hj4m"
HALF = len(TOKEN) // 2


def _headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {n.strip(): v.strip() for n, sep, v in (ln.partition(":") for ln in lines) if sep}


class ChunkedEcho(LoopbackServer):
    """Refuses every request with a chunked body that cuts the token in two chunks, then
    never sends the last chunk."""

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await _read_head(reader):
            return
        chunks = [f"denied for {TOKEN[:HALF]}", f"{TOKEN[HALF:]} (expired)"]
        body = "".join(f"{len(c.encode()):x}\r\n{c}\r\n" for c in chunks)
        writer.write(b"HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
                     + body.encode())
        await writer.drain()
        await reader.read()  # the body never ends: the client gives up


class Base64Echo(LoopbackServer):
    """Refuses every request with its headers as base64 JSON, in a body and a header."""

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if not head:
            return
        headers = _headers(head.split(b"\r\n\r\n", 1)[0])
        blob = {"auth": headers.get("Authorization", ""), "all": headers}
        body = base64.b64encode(json.dumps(blob).encode())
        writer.write(b"HTTP/1.1 400 Bad Request\r\nX-Debug: " + body[:300] + b"\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()


class FoldedEcho(LoopbackServer):
    """Refuses every request with the token's halves in a folded header line (which the
    client's parser rejects, quoting the continuation) and after text in other headers."""

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not await _read_head(reader):
            return
        writer.write(f"HTTP/1.1 401 Unauthorized\r\nX-Seen: {TOKEN[:HALF]}\r\n"
                     f" {TOKEN[HALF:]}\r\nX-End: token ends {TOKEN[HALF:]}\r\n"
                     f"X-Start: {TOKEN[:HALF]} began it\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()


@pytest.fixture(params=[ChunkedEcho, Base64Echo, FoldedEcho])
def server(request: pytest.FixtureRequest, lab_loop: LabLoop) -> Iterator[LoopbackServer]:
    started = lab_loop.run(request.param().start())
    yield started
    lab_loop.run(started.stop())


def test_split_and_encoded_echoes_keep_the_secret_out(server: LoopbackServer) -> None:
    """Every format, against each server: neither half of the token nor any base64 text
    that decodes to it appears."""
    args = [server.url(), "--timeout", "1", "--no-kubernetes", "-H",
            f"Authorization: Bearer {TOKEN}"]
    for extra in (["--format", "json"], ["--format", "text"], ["--format", "markdown"],
                  ["--format", "junit"], ["--short"]):
        result = run_cli(*args, *extra)
        text = result.stdout + result.stderr
        assert TOKEN[:HALF] not in text and TOKEN[HALF:] not in text, (extra, text)
        for offset in range(3):  # the token at each byte offset of a base64 text
            encoded = base64.b64encode(b"x" * offset + TOKEN.encode()).decode()
            assert encoded[4:-4] not in text, (extra, offset)
        if extra[-1] == "junit":
            ET.fromstring(result.stdout.encode())
        if extra[-1] == "json":  # the test can fail: the server's answer is in the report
            assert "<redacted>" in text


#: A token with the punctuation templates escape (``+`` and ``=``: base64 text).
PUNCTUATED = "tok+Zq8vN3xYp7Lw2Kd9+Ab/c="


def _go_escape(text: str) -> str:
    """What Go's html/template does to text (oauth2-proxy's and most Go servers' pages)."""
    for char, ref in (("&", "&amp;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"),
                      ('"', "&#34;"), ("+", "&#43;")):
        text = text.replace(char, ref)
    return text


class GoTemplateEcho(LoopbackServer):
    """Refuses every request with an HTML page quoting its Authorization as Go's
    html/template writes it (``+`` as ``&#43;``), and as Handlebars does (``=`` as
    ``&#x3D;``) in a header."""

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if not head:
            return
        auth = _headers(head.split(b"\r\n\r\n", 1)[0]).get("Authorization", "")
        body = (f"<!DOCTYPE html><html><head><title>401 {_go_escape(auth)}</title></head>"
                f"<body><h1>Unauthorized</h1><p>rejected {_go_escape(auth)}</p></body></html>"
                ).encode()
        writer.write(b"HTTP/1.1 401 Unauthorized\r\nContent-Type: text/html\r\nWWW-Authenticate: "
                     b"Bearer error=\"" + auth.replace("=", "&#x3D;").encode() + b"\"\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        await writer.drain()


def test_a_secret_whose_punctuation_a_template_escaped_stays_out(lab_loop: LabLoop) -> None:
    """A token with ``+`` and ``=`` echoed by an HTML template as character references
    (``&#43;``, ``&#x3D;``) is redacted in every format (it was quoted as is)."""
    server = lab_loop.run(GoTemplateEcho().start())
    try:
        for extra in (["--format", "json"], ["--format", "text"], ["--format", "markdown"],
                      ["--format", "junit"], ["--short"]):
            result = run_cli(server.url(), "--timeout", "1", "--no-kubernetes", "-H",
                             f"Authorization: Bearer {PUNCTUATED}", *extra)
            text = result.stdout + result.stderr
            for piece in ("Zq8vN3xYp7Lw2Kd9", "tok&#43;Zq8v", "Ab/c&#x3D;"):
                assert piece not in text, (extra, piece, text)
            if extra[-1] == "junit":
                ET.fromstring(result.stdout.encode())
            if extra[-1] == "json":  # the test can fail: the page is quoted
                assert "<title>401 <redacted></title>" in text
    finally:
        lab_loop.run(server.stop())
