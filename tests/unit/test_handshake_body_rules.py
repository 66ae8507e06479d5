"""400/431 refusals read by their body: headers too large, a rejected handshake header, and
the bare 400 that still means a proxy dropped Upgrade/Connection."""

from datetime import UTC, datetime

import pytest

from tests.unit.test_handshake_rules import URL, answer, judge
from wsdoctor.checks.base import Facts
from wsdoctor.checks.handshake import HandshakeObservation, judge_handshake
from wsdoctor.checks.handshake_advice import classify
from wsdoctor.models import CheckResult, CheckStatus
from wsdoctor.settings import Settings
from wsdoctor.target import parse_target

NGINX_TOO_LARGE = ("<html>\r\n<head><title>400 Request Header Or Cookie Too Large</title></head>"
                   "\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<center>Request "
                   "Header Or Cookie Too Large</center>\r\n<hr><center>nginx</center>\r\n")
#: Bodies recorded from websockets 14 (tests/integration/test_handshake_body_lab.py).
WEBSOCKETS_BODIES = [
    "Failed to open a WebSocket connection: invalid Sec-WebSocket-Protocol header: expected "
    "comma at 2 in a b.\n",
    "Failed to open a WebSocket connection: missing Sec-WebSocket-Key header.\n",
    "Failed to open a WebSocket connection: invalid Sec-WebSocket-Version header: 8.\n",
    "Failed to open a WebSocket connection: invalid subprotocol; expected one of chat.\n",
    "Unsupported Sec-WebSocket-Version",
]


@pytest.mark.parametrize(("status", "body"), [
    (400, NGINX_TOO_LARGE), (431, ""), (431, "Request Header Fields Too Large"),
    (400, "request header too large"),
])
def test_too_large_headers_are_their_own_code(status: int, body: str) -> None:
    """431, or a 400 page saying the headers are too large, is HEADERS-TOO-LARGE."""
    assert classify(answer(status, body)).code == "WSD-HANDSHAKE-HEADERS-TOO-LARGE"  # type: ignore[union-attr]


def test_too_large_fix_names_the_ingress_nginx_configmap_keys() -> None:
    """The fix gives large-client-header-buffers, client-header-buffer-size and nginx's
    directive, and the detail quotes nginx's page."""
    (finding,) = judge(answer(400, NGINX_TOO_LARGE, Server="nginx"))
    assert finding.code == "WSD-HANDSHAKE-HEADERS-TOO-LARGE"
    assert finding.status == "fail"
    assert finding.fix is not None
    assert 'large-client-header-buffers: "4 16k"' in (finding.fix.snippet or "")
    assert "client-header-buffer-size" in (finding.fix.snippet or "")
    assert "large_client_header_buffers" in finding.fix.summary
    assert "smaller cookies" in finding.fix.summary
    assert "Request Header Or Cookie Too Large" in finding.detail
    assert "Upgrade/Connection" not in finding.detail


@pytest.mark.parametrize("body", WEBSOCKETS_BODIES)
def test_rejected_handshake_header_is_bad_request(body: str) -> None:
    """A websockets-style complaint about a Sec-WebSocket-* header is BAD-REQUEST."""
    assert classify(answer(400, body)).code == "WSD-HANDSHAKE-BAD-REQUEST"  # type: ignore[union-attr]


def test_bad_request_quotes_the_body_and_what_was_sent() -> None:
    """BAD-REQUEST quotes the server's words and names the subprotocols and Origin sent."""
    obs = HandshakeObservation(url=URL, host_header="ws.example.com", origin="https://app.example",
                               offered_subprotocols=["other"],
                               attempts=[answer(400, WEBSOCKETS_BODIES[3])])
    (finding,) = judge_handshake(Facts(
        target=parse_target(URL), settings=Settings(), now=datetime(2026, 1, 1, tzinfo=UTC),
        results={"handshake": CheckResult(id="handshake", status=CheckStatus.OK,
                                          observation=obs)}))
    assert finding.code == "WSD-HANDSHAKE-BAD-REQUEST"
    assert "'Failed to open a WebSocket connection: invalid subprotocol; expected one of " \
        "chat.'" in finding.detail
    assert "subprotocols other" in finding.detail
    assert "Origin https://app.example" in finding.detail
    assert finding.detail.count("invalid subprotocol") == 1
    assert finding.fix is not None and "subprotocol" in finding.fix.summary


@pytest.mark.parametrize("body", [
    "", "Bad Request", "Failed to open a WebSocket connection: missing Connection header.\n",
    "Invalid Upgrade header", "websocket: the client is not using the websocket protocol: "
    "'upgrade' token not found in 'Connection' header",
])
def test_bare_or_hop_by_hop_400_is_still_not_forwarded(body: str) -> None:
    """A 400 whose body is empty or complains about Upgrade/Connection keeps its old code."""
    assert classify(answer(400, body)).code == "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"  # type: ignore[union-attr]


def test_426_with_a_body_about_headers_size_is_not_reclassified() -> None:
    """Only 400 and 431 are read by body: 426 still means the upgrade was lost."""
    code = classify(answer(426, "Upgrade Required"))
    assert code is not None and code.code == "WSD-HANDSHAKE-UPGRADE-NOT-FORWARDED"
