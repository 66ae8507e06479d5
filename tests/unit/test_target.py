"""Target parsing: every accepted form, and one-line errors for the rest."""

import pytest

from wsdoctor.models import Scheme
from wsdoctor.target import TargetError, parse_target


@pytest.mark.parametrize(
    ("text", "scheme", "host", "port", "path"),
    [
        ("ws.example.com", Scheme.WSS, "ws.example.com", 443, "/"),
        ("ws.example.com:8443", Scheme.WSS, "ws.example.com", 8443, "/"),
        ("ws.example.com/chat", Scheme.WSS, "ws.example.com", 443, "/chat"),
        ("ws://ws.example.com", Scheme.WS, "ws.example.com", 80, "/"),
        ("wss://ws.example.com/a/b?x=1", Scheme.WSS, "ws.example.com", 443, "/a/b?x=1"),
        ("http://ws.example.com:8080/ws", Scheme.WS, "ws.example.com", 8080, "/ws"),
        ("https://WS.Example.COM/ws", Scheme.WSS, "ws.example.com", 443, "/ws"),
        ("[::1]:8443", Scheme.WSS, "::1", 8443, "/"),
        ("ws://[::1]/x", Scheme.WS, "::1", 80, "/x"),
        ("127.0.0.1:9000", Scheme.WSS, "127.0.0.1", 9000, "/"),
    ],
)
def test_accepted_forms(text: str, scheme: Scheme, host: str, port: int, path: str) -> None:
    """Given a supported form, the target is normalised with the documented defaults."""
    target = parse_target(text)
    assert (target.scheme, target.host, target.port, target.path) == (scheme, host, port, path)


def test_url_omits_default_port_and_brackets_ipv6() -> None:
    """The canonical URL is what a browser would use."""
    assert parse_target("ws.example.com:443/ws").url == "wss://ws.example.com/ws"
    assert parse_target("[::1]:8443").url == "wss://[::1]:8443/"
    assert parse_target("[::1]:8443").host_header == "[::1]:8443"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "ftp://example.com",
        "wss://",
        "wss://:443",
        "example.com:99999",
        "example.com:-1",
        "example.com:abc",
        "example.com:0",
        "::1",
        "[::1",
        "[::g]:80",
        "wss://user:pw@example.com",
        "exa mple.com",
        "-bad-.example.com",
        "example..com",
        "999.1.1.1",
        "wss://example.com/#frag",
        "a" * 300 + ".com",
        "wss://exa\x00mple.com",
        "wss://ex_am%ple.com",
        "[::1]]:80",
        "ws:/127.0.0.1",
        "ws:127.0.0.1",
        "ws://[v1.fe]/",
        "ws://[127.0.0.1]/",
        "ws://[::1]x:80/",
        "ws://host]:80/",
        "ws://host:+80/",
        "ws://host:0x50/",
        "ws://host:80:90/",
        "ws://%68ost/",
        "ws:///path",
        "ws://1.2.3/",
        "ws://host/\u202egnp.exe",
        "ws://host/\x9b31m",
        "ws://" + "a" * 9000,
    ],
)
def test_malformed_targets_raise_one_line_errors(text: str) -> None:
    """Given a malformed target, TargetError carries a single-line reason."""
    with pytest.raises(TargetError) as info:
        parse_target(text)
    assert "\n" not in str(info.value) and str(info.value)


def test_credentials_are_refused_without_repeating_them() -> None:
    """A URL with a password is refused, and the reason does not quote the password (even
    when the port is wrong too)."""
    for text in ("wss://alice:PA55word@example.com/", "ws://u:PA55word@example.com:99999/"):
        with pytest.raises(TargetError) as info:
            parse_target(text)
        assert "PA55word" not in str(info.value) and "credentials" in str(info.value)


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("ws://h.example/café?q=é", "ws://h.example/caf%C3%A9?q=%C3%A9"),
        ("ws://h.example/100%", "ws://h.example/100%25"),
        ("ws://h.example/a%20b", "ws://h.example/a%20b"),
        ("ws://h.example?x=1", "ws://h.example/?x=1"),
        ("ws://h.example:/x", "ws://h.example/x"),
        ("ws://café.example/", "ws://xn--caf-dma.example/"),
    ],
)
def test_paths_and_names_are_encoded_as_browsers_send_them(text: str, url: str) -> None:
    """Non-ASCII in the path or query is percent-encoded and an international host name
    takes its xn-- form, so no check meets a character it cannot send."""
    assert parse_target(text).url == url


@pytest.mark.parametrize(
    ("text", "placeholder", "advice"),
    [
        ("ws://{IPv6}:8080/ws", "{IPv6}", "in brackets"),
        ("wss://[{IPv6}]:443/", "{IPv6}", "in brackets"),
        ("{ip}:8080", "{ip}", "IPv4 as is"),
        ("ws://${HOST}/ws", "${HOST}", "envsubst"),
        ("wss://<host>/", "<host>", "real host name"),
        ("ws://{{host}}/", "{{host}}", "real host name"),
        ("wss://%HOST%/x", "%HOST%", "real host name"),
    ],
)
def test_template_placeholders_are_named_with_what_to_put_there(
    text: str, placeholder: str, advice: str
) -> None:
    """A placeholder left in the host is called one (with the fix), not 'not a valid host'."""
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    message = str(caught.value)
    assert message.startswith(f"{placeholder} is a template placeholder") and advice in message
    assert "not a valid" not in message and "\n" not in message
