"""WebSocket servers on loopback that upgrade correctly and then break the protocol in one
way each (RFC 6455 sections in :class:`FrameFault`): a close frame right behind the 101, a
masked frame, RSV bits, a reserved opcode, bad control and close frames, a 2^63 length,
text that is not UTF-8, a ping flood, a deflate bomb. They echo the messages they get (so
the fault can come after the first message, as from a real application) and are raw asyncio
servers, because no WebSocket library can be made to send these frames.

Run them on a :class:`~wsdoctor.lab.backend.LabLoop` when the diagnosis runs on another loop.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import struct
import zlib

from websockets.utils import accept_key

from wsdoctor.lab.hostile import LoopbackServer, _read_head

#: Pings a flooding server sends in a burst after each message it echoes.
FLOOD_PINGS = 2000
#: Inflated size of each deflate-bomb message (about 16 KB on the wire), and how many the
#: server sends after each message it receives.
BOMB_MESSAGE = 16 * 1024 * 1024
BOMB_MESSAGES = 16
#: Close code and reason of the server that accepts and closes at once.
AT_ONCE_CODE, AT_ONCE_REASON = 1008, "no anonymous clients"


class FrameFault(enum.StrEnum):
    """One way of breaking the protocol after a valid 101."""

    CLOSE_AT_ONCE = "close_at_once"
    """A close frame (1008) in the same TCP segment as the 101."""
    CLOSE_SOON = "close_soon"
    """The same close frame in a TCP segment of its own, 5 ms after the 101."""
    MASKED_FRAME = "masked_frame"
    """A masked text frame (§5.1: a server must not mask)."""
    RSV_BITS = "rsv_bits"
    """A text frame with RSV1 set, no extension negotiated (§5.2)."""
    RESERVED_OPCODE = "reserved_opcode"
    """A frame with opcode 0x3 (§5.2)."""
    CONTROL_TOO_LONG = "control_too_long"
    """A ping with 126 bytes of payload (§5.5)."""
    CONTROL_FRAGMENTED = "control_fragmented"
    """A ping without FIN (§5.5)."""
    LENGTH_2_63 = "length_2_63"
    """A binary frame header announcing 2^63 bytes (§5.2: the top bit must be 0)."""
    CLOSE_1005 = "close_1005"
    """A close frame carrying code 1005, reserved for "no code received" (§7.4.1)."""
    CLOSE_1006 = "close_1006"
    """A close frame carrying code 1006, reserved for "closed abnormally" (§7.4.1)."""
    CLOSE_ONE_BYTE = "close_one_byte"
    """A close frame with a 1-byte payload (§5.5.1)."""
    CLOSE_TOO_LONG = "close_too_long"
    """A close frame with 126 bytes of payload (§5.5)."""
    CLOSE_REASON_NOT_UTF8 = "close_reason_not_utf8"
    """A close frame whose reason is Latin-1, not UTF-8 (§5.5.1)."""
    TEXT_NOT_UTF8 = "text_not_utf8"
    """A text message with an invalid UTF-8 byte (§8.1)."""
    PING_FLOOD = "ping_flood"
    """Echoes, and after each message sends a burst of pings."""
    DEFLATE_BOMB = "deflate_bomb"
    """Negotiates permessage-deflate and answers each message with small frames that
    inflate to 16 MiB each."""


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False,
          mask: bytes | None = None) -> bytes:
    """One frame as a server (unmasked unless ``mask``) would send it."""
    head = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    length = len(payload)
    mask_bit = 0x80 if mask else 0
    if length < 126:
        out = struct.pack("!BB", head, mask_bit | length)
    elif length < 65536:
        out = struct.pack("!BBH", head, mask_bit | 126, length)
    else:
        out = struct.pack("!BBQ", head, mask_bit | 127, length)
    if mask:
        out += mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    else:
        out += payload
    return out


def _close(code: int, reason: bytes = b"") -> bytes:
    return frame(0x8, struct.pack("!H", code) + reason)


#: The bytes each fault sends after the first message (the CLOSE_ ones: after the 101).
FAULT_BYTES: dict[FrameFault, bytes] = {
    FrameFault.CLOSE_AT_ONCE: _close(AT_ONCE_CODE, AT_ONCE_REASON.encode()),
    FrameFault.CLOSE_SOON: _close(AT_ONCE_CODE, AT_ONCE_REASON.encode()),
    FrameFault.MASKED_FRAME: frame(0x1, b"masked hello", mask=b"\x12\x34\x56\x78"),
    FrameFault.RSV_BITS: frame(0x1, b"rsv1 without deflate", rsv1=True),
    FrameFault.RESERVED_OPCODE: frame(0x3, b"opcode three"),
    FrameFault.CONTROL_TOO_LONG: frame(0x9, b"p" * 126),
    FrameFault.CONTROL_FRAGMENTED: frame(0x9, b"half a ping", fin=False),
    FrameFault.LENGTH_2_63: struct.pack("!BBQ", 0x82, 127, 1 << 63) + b"\x00" * 16,
    FrameFault.CLOSE_1005: _close(1005),
    FrameFault.CLOSE_1006: _close(1006, b"abnormal"),
    FrameFault.CLOSE_ONE_BYTE: frame(0x8, b"\x03"),
    FrameFault.CLOSE_TOO_LONG: frame(0x8, struct.pack("!H", 1000) + b"r" * 124),
    FrameFault.CLOSE_REASON_NOT_UTF8: _close(1000, "caf\xe9 ferm\xe9".encode("latin-1")),
    FrameFault.TEXT_NOT_UTF8: frame(0x1, b"price: 10 \xff\xfe euros"),
}


@functools.cache
def _deflate_bomb_frames() -> bytes:
    """BOMB_MESSAGES compressed text messages of BOMB_MESSAGE spaces each, as
    permessage-deflate sends them (RSV1, the trailing 00 00 ff ff removed, no context
    takeover needed: each is compressed on its own)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(b" " * BOMB_MESSAGE) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return frame(0x1, data[:-4], rsv1=True) * BOMB_MESSAGES


def _accept(head: bytes) -> str:
    key = next((line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")), b"")
    return accept_key(key.decode("latin-1"))


async def _read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One client frame (masked, as clients send them): opcode and unmasked payload."""
    head1, head2 = await reader.readexactly(2)
    length = head2 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", await reader.readexactly(2))
    elif length == 127:
        (length,) = struct.unpack("!Q", await reader.readexactly(8))
    mask = await reader.readexactly(4) if head2 & 0x80 else b"\0\0\0\0"
    payload = await reader.readexactly(length)
    keys = (mask * (length // 4 + 1))[:length]
    unmasked = int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")
    return head1 & 0x0F, unmasked.to_bytes(length, "big")


class BadFrameServer(LoopbackServer):
    """One protocol-breaking WebSocket server on ``host`` and a free port."""

    def __init__(self, fault: FrameFault, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.fault = fault

    def _end(self, writer: asyncio.StreamWriter) -> None:
        writer.close()  # a FIN after the client's close: a clean end is part of the test

    async def _behave(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await _read_head(reader)
        if not head:
            return  # a plain TCP connect (the tcp check)
        if b"upgrade: websocket" not in head.lower():
            writer.write(b"HTTP/1.1 426 Upgrade Required\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
            return
        deflate = self.fault is FrameFault.DEFLATE_BOMB
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {_accept(head)}\r\n".encode()
            + (b"Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else b"")
            + b"\r\n"
            + (FAULT_BYTES[self.fault] if self.fault is FrameFault.CLOSE_AT_ONCE else b"")
        )
        await writer.drain()
        if self.fault is FrameFault.CLOSE_SOON:
            await asyncio.sleep(0.005)
            writer.write(FAULT_BYTES[self.fault])
            await writer.drain()
        if self.fault in (FrameFault.CLOSE_AT_ONCE, FrameFault.CLOSE_SOON):
            await reader.read()  # the client's close frame, then its FIN
            return
        await self._echo_then_fault(reader, writer)

    async def _echo_then_fault(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        faulted = False
        while True:
            opcode, payload = await _read_frame(reader)
            if opcode == 0x8:
                writer.write(frame(0x8, payload[:2]))
                await writer.drain()
                await reader.read()  # until the client's FIN: unread bytes would make a RST
                return
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
            elif opcode not in (0x0, 0x1, 0x2):
                continue  # pongs
            elif self.fault is FrameFault.PING_FLOOD:
                writer.write(frame(opcode, payload) + frame(0x9, b"") * FLOOD_PINGS)
            elif self.fault is FrameFault.DEFLATE_BOMB:
                writer.write(_deflate_bomb_frames())
            elif not faulted:
                writer.write(FAULT_BYTES[self.fault])
                faulted = True
            await writer.drain()


async def start_bad_frames(fault: FrameFault, host: str = "127.0.0.1") -> BadFrameServer:
    """Start one protocol-breaking server and return it (``stop()`` it when done)."""
    return await BadFrameServer(fault, host).start()
