"""Frame delimiting and violation naming on plain bytes (the lab servers test them live)."""

import pytest
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close

from wsdoctor.checks.messages_protocol import quote_bytes
from wsdoctor.lab.badframes import FAULT_BYTES, FrameFault, frame
from wsdoctor.wsviolations import QUOTE_LIMIT, FrameSplitter, ViolationKind, classify

FRAMES = [
    frame(0x1, b"hi"),
    frame(0x2, b""),
    frame(0x2, b"x" * 300),  # 16-bit length
    frame(0x2, b"y" * 70000),  # 64-bit length
    frame(0x9, b"ping", mask=b"abcd"),
    frame(0x8, b"\x03\xe8bye"),
]


def split(stream: bytes, chunk: int) -> list[bytes]:
    """Frames as the splitter delimits ``stream`` arriving in ``chunk``-byte pieces."""
    splitter, frames, current = FrameSplitter(), [], bytearray()
    for offset in range(0, len(stream), chunk):
        data = bytearray(stream[offset:offset + chunk])
        while data:
            size = splitter.take(data)
            current += data[:size]
            del data[:size]
            if splitter.complete:
                assert bytes(splitter.start) == bytes(current[:QUOTE_LIMIT])
                frames.append(bytes(current))
                current.clear()
                splitter.next_frame()
    assert not current
    return frames


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 125, 4096, 1 << 20])
def test_frames_are_delimited_whatever_the_chunking(chunk: int) -> None:
    """Every header form (7, 16, 64-bit lengths, masked) ends where the frame ends."""
    assert split(b"".join(FRAMES), chunk) == FRAMES


def test_a_2_63_length_is_length_invalid_not_too_big() -> None:
    """websockets says the frame is too big; its top length bit makes it a violation."""
    header = FAULT_BYTES[FrameFault.LENGTH_2_63][:10]
    assert classify(PayloadTooBig(1 << 63, 1024), header, Close(1009, "")).kind \
        is ViolationKind.LENGTH_INVALID
    assert classify(PayloadTooBig(2048, 1024), frame(0x2, b"z" * 2048)[:10], None).kind \
        is ViolationKind.TOO_BIG


def test_an_unknown_protocol_error_is_other_with_its_words() -> None:
    """A message websockets may add later is still reported, in its words."""
    violation = classify(ProtocolError("something new"), b"\x81\x00", Close(1002, ""))
    assert (violation.kind, violation.message, violation.close_code) == (
        ViolationKind.OTHER, "something new", 1002)


def test_quoted_bytes_are_printable_ascii() -> None:
    """Control bytes, non-ASCII and the backslash itself are escaped."""
    assert quote_bytes(b"a\\b\x00\x1b[2J\xe9 z") == "a\\x5cb\\x00\\x1b[2J\\xe9 z"
