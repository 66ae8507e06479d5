"""Choosing the proxy as curl does: URL forms, the environment variables and NO_PROXY."""

import pytest

from wsdoctor.proxy_config import (
    ProxyConfigError,
    choose_proxy,
    no_proxy_matches,
    parse_proxy_url,
    proxy_from_environment,
)


def test_a_proxy_url_without_scheme_is_http_on_curls_default_port() -> None:
    """``proxy.corp`` is http://proxy.corp:1080, as curl reads it."""
    proxy = parse_proxy_url("proxy.corp")
    assert (proxy.scheme, proxy.host, proxy.port) == ("http", "proxy.corp", 1080)


def test_credentials_are_kept_out_of_the_url_and_the_dump() -> None:
    """User and password are percent-decoded for sending and never shown."""
    proxy = parse_proxy_url("http://al%40ice:p%3Ass@10.0.0.1:3128")
    assert proxy.username is not None and proxy.username.get_secret_value() == "al@ice"
    assert proxy.password is not None and proxy.password.get_secret_value() == "p:ss"
    assert proxy.url == "http://<redacted>@10.0.0.1:3128"
    assert "p:ss" not in str(proxy.model_dump()) and "al@ice" not in repr(proxy)


@pytest.mark.parametrize("text", ["ftp://proxy:21", "http://", "http://proxy:3128/path",
                                  "http://proxy:99999"])
def test_unusable_proxy_urls_are_errors(text: str) -> None:
    """A scheme curl's proxies do not have, no host, a path or a bad port: one error."""
    with pytest.raises(ProxyConfigError):
        parse_proxy_url(text)


def test_lower_case_wins_and_ws_reads_only_lower_case_http_proxy() -> None:
    """https_proxy before HTTPS_PROXY; HTTP_PROXY is ignored for ws (httpoxy), ALL_PROXY
    is the fallback."""
    env = {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:2", "HTTP_PROXY":
           "http://cgi:3", "ALL_PROXY": "socks5h://all:4"}
    secure = proxy_from_environment(True, env)
    plain = proxy_from_environment(False, env)
    assert secure is not None and (secure.host, secure.source) == ("low", "https_proxy")
    assert plain is not None and (plain.host, plain.source) == ("all", "ALL_PROXY")


@pytest.mark.parametrize(("host", "no_proxy", "exempt"), [
    ("ws.example.com", "example.com", True),
    ("ws.example.com", ".example.com", True),
    ("example.com", ".example.com", True),
    ("badexample.com", "example.com", False),
    ("anything.test", "*", True),
    ("10.1.2.3", "10.0.0.0/8", True),
    ("10.1.2.3", "10.1.2.4", False),
    ("::1", "::1", True),
    ("ws.example.com", "other.org, example.com", True),
])
def test_no_proxy_follows_curl(host: str, no_proxy: str, exempt: bool) -> None:
    """Domains cover their subdomains, * covers all, addresses match exactly or by CIDR."""
    assert no_proxy_matches(host, no_proxy) is exempt


def test_noproxy_option_replaces_the_variable_and_empty_proxy_turns_it_off() -> None:
    """--noproxy wins over NO_PROXY; --proxy '' means no proxy, with the reason recorded."""
    env = {"https_proxy": "http://p:1", "NO_PROXY": "example.com"}
    assert choose_proxy("ws.example.com", True, None, None, env)[0] is None
    assert choose_proxy("ws.example.com", True, None, "other.org", env)[0] is not None
    proxy, note = choose_proxy("ws.example.com", True, "", None, env)
    assert proxy is None and note is not None and "--proxy ''" in note


def test_proxy_credentials_and_the_key_passphrase_are_registered_as_secrets() -> None:
    """The run's redactor knows the proxy's user, password and the key's passphrase."""
    from wsdoctor.commands.options import build_parser, settings_from_args

    args = build_parser().parse_args(["wss://ws.example.com/", "--proxy",
                                      "http://alice:s3cr3t-pw@10.0.0.1:3128"])
    settings = settings_from_args(args, {})
    assert {"alice", "s3cr3t-pw", "alice:s3cr3t-pw"} <= set(settings.secrets)
    redactor = settings.redactor()
    assert "s3cr3t-pw" not in redactor.text("the proxy said s3cr3t-pw")


@pytest.mark.parametrize(("host", "port", "no_proxy", "exempt"), [
    ("ws.example.com", 8443, "ws.example.com:8443", True),
    ("ws.example.com", 443, "ws.example.com:8443", False),
    ("ws.example.com", 8443, ".example.com:8443", True),
    ("10.1.2.3", 8443, "10.1.2.3:8443", True),
    ("10.1.2.3", 443, "10.1.2.3:8443", False),
    ("::1", 8443, "[::1]:8443", True),
    ("::1", 8443, "::1", True),
])
def test_a_port_qualified_entry_exempts_that_port_only(host: str, port: int, no_proxy: str,
                                                       exempt: bool) -> None:
    """NO_PROXY=host:port (as Go and Python's requests read it; curl ignores such entries, so
    honouring them only exempts what the user named) covers that port of the host."""
    assert no_proxy_matches(host, no_proxy, port) is exempt
    env = {"https_proxy": "http://p:1", "NO_PROXY": no_proxy}
    assert (choose_proxy(host, True, None, None, env, port=port)[0] is None) is exempt
