"""SPDY/3 framing, the server's half, as far as ``kubectl port-forward`` uses it.

kubectl (client-go's ``httpstream/spdy`` over moby/spdystream) speaks SPDY/3 either on the
upgraded HTTP connection (``Upgrade: SPDY/3.1``) or tunnelled in WebSocket binary messages
(subprotocol ``SPDY/3.1+portforward.k8s.io``). It opens streams with SYN_STREAM, waits for a
SYN_REPLY, sends DATA (FIN half-closes), PINGs every few seconds and ends with GOAWAY.
Header blocks are zlib-compressed with the fixed SPDY/3 dictionary, one compression context
per direction for the whole session, flushed (Z_SYNC_FLUSH) after each frame. spdystream
implements no flow control, so WINDOW_UPDATE and SETTINGS are read and ignored.

Written from the SPDY/3 draft (draft-mbelshe-httpbis-spdy-00): frame layouts in §2.2, the
header block in §2.6.10, the dictionary in §2.6.10.1.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = (
    1, 2, 3, 4, 6, 7, 8, 9,
)
FLAG_FIN = 0x01
#: RST_STREAM status codes (§2.6.3).
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM = 1, 2, 3

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type",
    "date", "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since",
    "if-none-match", "if-range", "if-unmodified-since", "last-modified", "location",
    "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization", "range", "referer",
    "retry-after", "server", "te", "trailer", "transfer-encoding", "upgrade", "user-agent",
    "vary", "via", "warning", "www-authenticate", "method", "get", "status", "200 OK",
    "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502"
    "504505203 Non-Authoritative Information204 No Content301 Moved Permanently"
    "400 Bad Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error"
    "501 Not Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct "
    "Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,"
    "image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8"
    "charset=iso-8859-1,utf-,*,enq=0."
)
#: The SPDY/3 header-compression dictionary: length-prefixed header names, then a tail.
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS) + _TAIL.encode()


class SpdyError(Exception):
    """The peer broke the protocol; the session ends (GOAWAY with PROTOCOL_ERROR)."""


@dataclass
class Stream:
    """One SPDY stream as the server sees it."""

    id: int
    headers: dict[str, str]
    fin_received: bool = False
    fin_sent: bool = False
    reset: bool = False


def encode_headers(headers: dict[str, str]) -> bytes:
    """An uncompressed SPDY/3 header block: 32-bit count, then length-prefixed pairs."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        raw_name, raw_value = name.lower().encode(), value.encode()
        out += [struct.pack(">I", len(raw_name)), raw_name,
                struct.pack(">I", len(raw_value)), raw_value]
    return b"".join(out)


def decode_headers(block: bytes) -> dict[str, str]:
    """Names lowercased; several values of one name (NUL-separated) joined with commas."""
    try:
        (count,) = struct.unpack_from(">I", block, 0)
        pos, headers = 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + size].decode("latin-1").lower()
            pos += 4 + size
            (size,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + size].decode("latin-1")
            pos += 4 + size
            headers[name] = value.replace("\x00", ",")
    except struct.error:
        raise SpdyError("truncated header block") from None
    return headers


def control_frame(kind: int, flags: int, payload: bytes) -> bytes:
    """A control frame: C bit and version, type, flags and 24-bit length, payload."""
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def data_frame(stream_id: int, data: bytes, fin: bool = False) -> bytes:
    """A data frame on ``stream_id`` (at most 16 MiB - 1 of data)."""
    return struct.pack(">II", stream_id & 0x7FFFFFFF,
                       ((FLAG_FIN if fin else 0) << 24) | len(data)) + data


@dataclass
class ServerSession:
    """The server's side of one SPDY session: feed it bytes, it calls back and writes.

    ``send`` writes bytes to the peer (one frame per call); ``on_stream`` gets each new
    stream after its SYN_REPLY went out; ``on_data`` gets a stream's data (``b""`` with
    ``fin`` when the peer half-closed); ``on_reset`` a stream the peer reset."""

    send: Callable[[bytes], None]
    on_stream: Callable[[Stream], None]
    on_data: Callable[[Stream, bytes, bool], None]
    on_reset: Callable[[Stream], None]
    streams: dict[int, Stream] = field(default_factory=dict)
    ended: bool = False
    """GOAWAY received (or sent): no new streams."""
    _buffer: bytearray = field(default_factory=bytearray)
    _inflate: zlib._Decompress = field(default_factory=lambda: zlib.decompressobj(
        zdict=DICTIONARY))
    _deflate: zlib._Compress = field(default_factory=lambda: zlib.compressobj(
        9, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, DICTIONARY))

    def feed(self, data: bytes) -> None:
        """Bytes from the peer; every complete frame is handled at once."""
        self._buffer += data
        while len(self._buffer) >= 8:
            (length,) = struct.unpack_from(">I", self._buffer, 4)
            size = 8 + (length & 0xFFFFFF)
            if len(self._buffer) < size:
                return
            frame, self._buffer = bytes(self._buffer[:size]), self._buffer[size:]
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        first, second = struct.unpack_from(">II", frame, 0)
        flags, payload = second >> 24, frame[8:]
        if not first & 0x80000000:
            self._data(first & 0x7FFFFFFF, payload, bool(flags & FLAG_FIN))
            return
        version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
        if version != VERSION:
            raise SpdyError(f"SPDY version {version}, not {VERSION}")
        if kind == SYN_STREAM:
            self._syn_stream(payload, bool(flags & FLAG_FIN))
        elif kind == RST_STREAM:
            stream_id, _ = struct.unpack_from(">II", payload, 0)
            stream = self.streams.pop(stream_id & 0x7FFFFFFF, None)
            if stream is not None:
                stream.reset = True
                self.on_reset(stream)
        elif kind == PING:
            self.send(control_frame(PING, 0, payload[:4]))
        elif kind == GOAWAY:
            self.ended = True
        elif kind in (HEADERS, SYN_REPLY):
            self._inflate_block(payload[4:])  # keeps the compression context in step
        # SETTINGS and WINDOW_UPDATE: spdystream has no flow control; nothing to do.

    def _inflate_block(self, compressed: bytes) -> dict[str, str]:
        try:
            return decode_headers(self._inflate.decompress(compressed))
        except zlib.error as exc:
            raise SpdyError(f"header block does not inflate: {exc}") from None

    def _syn_stream(self, payload: bytes, fin: bool) -> None:
        stream_id = struct.unpack_from(">I", payload, 0)[0] & 0x7FFFFFFF
        headers = self._inflate_block(payload[10:])
        if stream_id == 0 or stream_id in self.streams or self.ended:
            self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id,
                                                               PROTOCOL_ERROR)))
            return
        stream = Stream(stream_id, headers, fin_received=fin)
        self.streams[stream_id] = stream
        block = self._deflate.compress(encode_headers({})) + self._deflate.flush(
            zlib.Z_SYNC_FLUSH)
        self.send(control_frame(SYN_REPLY, 0, struct.pack(">I", stream_id) + block))
        self.on_stream(stream)

    def _data(self, stream_id: int, data: bytes, fin: bool) -> None:
        stream = self.streams.get(stream_id)
        if stream is None:
            self.send(control_frame(RST_STREAM, 0, struct.pack(">II", stream_id,
                                                               INVALID_STREAM)))
            return
        if fin:
            stream.fin_received = True
        self.on_data(stream, data, fin)
        self._forget_if_done(stream)

    def write(self, stream: Stream, data: bytes, fin: bool = False) -> None:
        """Data to the peer on ``stream`` (nothing once it was reset or half-closed)."""
        if stream.reset or stream.fin_sent:
            return
        for start in range(0, len(data), 0xFFFFFF):
            self.send(data_frame(stream.id, data[start:start + 0xFFFFFF]))
        if fin:
            stream.fin_sent = True
            self.send(data_frame(stream.id, b"", fin=True))
            self._forget_if_done(stream)

    def _forget_if_done(self, stream: Stream) -> None:
        if stream.fin_received and stream.fin_sent:
            self.streams.pop(stream.id, None)

    def goaway(self, status: int = 0) -> None:
        """Tell the peer no more streams will be accepted."""
        last = max(self.streams, default=0)
        self.ended = True
        self.send(control_frame(GOAWAY, 0, struct.pack(">II", last, status)))
