"""A strict reader of DER (the ASN.1 encoding of certificates and TLS distinguished names):
enough to walk X.509 structures without importing cryptography. Anything it does not
understand raises :class:`DerError`."""

from __future__ import annotations

from collections.abc import Iterator


class DerError(ValueError):
    """The bytes are not the DER this reader understands."""


SEQUENCE = 0x30
SET = 0x31
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
NULL = 0x05
OID = 0x06
BOOLEAN = 0x01


def tlv(data: bytes, at: int = 0) -> tuple[int, bytes, int]:
    """The tag, the value and the offset after it, of the element at ``at`` (single-byte
    tags, definite lengths in their shortest form, as DER requires)."""
    if at + 2 > len(data):
        raise DerError("truncated DER")
    tag = data[at]
    if tag & 0x1F == 0x1F:
        raise DerError("multi-byte tag")
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data) or data[at] == 0:
            raise DerError("bad DER length")
        length = int.from_bytes(data[at:at + count], "big")
        if length < 0x80:
            raise DerError("non-minimal DER length")
        at += count
    if at + length > len(data):
        raise DerError("truncated DER")
    return tag, data[at:at + length], at + length


def expect(data: bytes, at: int, tag: int) -> tuple[bytes, int]:
    """The value of the element at ``at``, which must have ``tag``."""
    found, value, end = tlv(data, at)
    if found != tag:
        raise DerError(f"expected tag {tag:#x}, found {found:#x}")
    return value, end


def children(value: bytes) -> Iterator[tuple[int, bytes]]:
    """The (tag, value) elements inside a constructed value, in order."""
    at = 0
    while at < len(value):
        tag, inner, at = tlv(value, at)
        yield tag, inner


def element(data: bytes, at: int = 0) -> bytes:
    """The whole encoding (tag and length included) of the element at ``at``."""
    _, _, end = tlv(data, at)
    return data[at:end]


def oid(value: bytes) -> str:
    """An OBJECT IDENTIFIER's value in dotted form."""
    if not value or value[-1] & 0x80:
        raise DerError("bad OID")
    parts: list[int] = []
    number = 0
    for byte in value:
        if number == 0 and byte == 0x80:
            raise DerError("non-minimal OID")
        number = (number << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(number)
            number = 0
    first = min(parts[0] // 40, 2)
    return ".".join(map(str, [first, parts[0] - 40 * first, *parts[1:]]))


def integer(value: bytes) -> int:
    """An INTEGER's value (two's complement)."""
    if not value or (len(value) > 1 and (
            (value[0] == 0 and not value[1] & 0x80) or (value[0] == 0xFF and value[1] & 0x80))):
        raise DerError("bad INTEGER")
    return int.from_bytes(value, "big", signed=True)


def encode_integer(number: int) -> bytes:
    """DER of a non-negative INTEGER (to tell a canonical signature encoding)."""
    body = number.to_bytes(number.bit_length() // 8 + 1, "big")
    return bytes([INTEGER, len(body)]) + body if len(body) < 0x80 else \
        bytes([INTEGER, 0x81, len(body)]) + body


def bit_string(value: bytes) -> bytes:
    """A BIT STRING's bytes (whole bytes only)."""
    if not value or value[0] != 0:
        raise DerError("BIT STRING with unused bits")
    return value[1:]
