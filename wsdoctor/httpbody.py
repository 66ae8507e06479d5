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


_LOOKS_HTML = re.compile(r"<\s*(!doctype|html|head|body|title|h[1-6]|p|center|div|hr|pre)\b",
                         re.IGNORECASE)
#: Elements whose content a browser does not show.
_HIDDEN = frozenset({"script", "style", "head", "noscript", "template", "svg"})


def body_text(body: str, limit: int = 200) -> str:
    """What a quote of a response body shows, at most ``limit`` characters: for an HTML page
    its title and visible text (``502 Bad Gateway nginx``), never the markup, scripts or
    styles; other bodies with their whitespace collapsed. Escaping for the terminal is the
    renderers' (the result is still untrusted text)."""
    if _LOOKS_HTML.search(body):
        body = _html_text(body)
    text = " ".join(body.split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _html_text(page: str) -> str:
    from html.parser import HTMLParser

    class Visible(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.title: list[str] = []
            self.text: list[str] = []
            self.hidden: list[str] = []
            self.in_title = False

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "title":
                self.in_title = True
            elif tag in _HIDDEN:
                self.hidden.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if tag == "title":
                self.in_title = False
            elif tag in self.hidden:
                del self.hidden[self.hidden.index(tag):]

        def handle_data(self, data: str) -> None:
            if self.in_title:
                self.title.append(data)
            elif not self.hidden:
                self.text.append(data)

    parser = Visible()
    try:
        parser.feed(page)  # a body cut short ends mid-tag: what was read so far counts
    except (AssertionError, ValueError):
        pass
    title = " ".join("".join(parser.title).split())
    text = " ".join(" ".join(parser.text).split())
    if title and not text.startswith(title):
        return f"{title}: {text}" if text else title
    return text
