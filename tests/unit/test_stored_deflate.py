"""An incompressible message goes as permessage-deflate in stored blocks: still a deflated
message the server inflates (RSV1 set), about the same size on the wire, and the messages
after it stay readable by the server's inflater."""

from __future__ import annotations

import os

import pytest
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

from wsdoctor.wsconnection import store_from_now_on


def pair(no_context_takeover: bool) -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server protocol, open, with permessage-deflate negotiated."""
    client = ClientProtocol(parse_uri("ws://example.com/"), state=State.OPEN)
    server = ServerProtocol(state=State.OPEN)
    client.extensions = [PerMessageDeflate(False, no_context_takeover, 15, 12)]
    server.extensions = [PerMessageDeflate(no_context_takeover, False, 12, 15)]
    return client, server


@pytest.mark.parametrize("no_context_takeover", [False, True])
def test_an_incompressible_message_is_stored_and_the_stream_stays_valid(
    no_context_takeover: bool,
) -> None:
    """Given deflate negotiated, when a text, then random bytes stored, then a text are sent,
    the server inflates all three exactly; the random message is flagged compressed and is
    at most a few dozen bytes longer than itself."""
    client, server = pair(no_context_takeover)
    payload = os.urandom(200_000)
    client.send_text(b"before, before, before")
    server.receive_data(b"".join(client.data_to_send()))
    store_from_now_on(client)
    client.send_binary(payload)
    wire = b"".join(client.data_to_send())
    assert wire[0] & 0x40  # RSV1: a compressed message
    assert len(payload) < len(wire) < len(payload) + 64
    server.receive_data(wire)
    client.send_text(b"after, after, after")
    server.receive_data(b"".join(client.data_to_send()))
    frames = [e for e in server.events_received() if isinstance(e, Frame)]
    assert [(f.opcode, bytes(f.data)) for f in frames] == [
        (Opcode.TEXT, b"before, before, before"), (Opcode.BINARY, payload),
        (Opcode.TEXT, b"after, after, after")]
