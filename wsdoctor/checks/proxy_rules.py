"""Findings about the proxy connections go through: unreachable, wanting credentials,
refusing the tunnel, or unable to reach the target. Each names the proxy and quotes it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from wsdoctor.checks.base import Code
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status
from wsdoctor.settings import ProxyConfig

if TYPE_CHECKING:
    from wsdoctor.checks.tcp import TcpAttempt

PROXY_UNREACHABLE = Code("WSD-PROXY-UNREACHABLE", Status.FAIL, "The proxy cannot be reached")
PROXY_AUTH = Code("WSD-PROXY-AUTH", Status.FAIL, "The proxy wants (other) credentials")
PROXY_REFUSED = Code("WSD-PROXY-REFUSED", Status.FAIL,
                     "The proxy refused to open a tunnel to the target")
PROXY_UPSTREAM = Code("WSD-PROXY-UPSTREAM", Status.FAIL,
                      "The proxy could not reach the target")
PROXY_CERT = Code("WSD-PROXY-CERT-UNTRUSTED", Status.WARN,
                  "The HTTPS proxy's certificate is not trusted (-k went on)")
CODES = (PROXY_UNREACHABLE, PROXY_AUTH, PROXY_REFUSED, PROXY_UPSTREAM, PROXY_CERT)

_SQUID_CONNECT = """# squid.conf: allow CONNECT to the WebSocket port (default SSL_ports: 443)
acl SSL_ports port 443 {port}
acl websocket_hosts dstdomain {host}
http_access allow CONNECT SSL_ports websocket_hosts   # before any 'http_access deny'"""


def _named(attempt: TcpAttempt) -> str:
    who = attempt.proxy_software
    return f"the proxy {attempt.via}" + (f" ({who})" if who else "")


def proxy_certificate_finding(proxy: str, error: str) -> Finding:
    """-k carried the tunnels past the proxy's untrusted certificate: say so, apart from the
    server's certificate (which the tls check judges inside the tunnel)."""
    return PROXY_CERT.finding(
        "tcp", f"The certificate of the HTTPS proxy {proxy} is not trusted here ({error}). -k "
        "goes on past it, as past the server's; the server's certificate is judged on its own "
        "by the tls check, inside the tunnel. Whoever can intercept the connection to the "
        "proxy sees the tunnel requests and the proxy credentials.",
        evidence={"proxy": proxy, "error": error}, resource=Resource(kind="Proxy", name=proxy),
        fix=Fix(summary="Trust the proxy's CA with --cacert FILE (one bundle serves the proxy "
                "and the server: concatenate both CAs if they differ), then drop -k."))


def proxy_finding(attempt: TcpAttempt, host: str) -> Finding:
    """The finding for an attempt that failed at the proxy."""
    evidence: dict[str, EvidenceValue] = {
        "proxy": attempt.via, "outcome": attempt.outcome, "error": attempt.error,
        "proxy_status_line": attempt.proxy_status_line, "proxy_headers": [*attempt.proxy_headers],
        "proxy_body": attempt.proxy_body, "socks_reply": attempt.socks_reply,
    }
    evidence = {k: v for k, v in evidence.items() if v not in (None, [])}
    resource = Resource(kind="Proxy", name=attempt.via or "proxy")
    target = f"{host}:{attempt.port}" if attempt.address == host else \
        f"{attempt.endpoint} ({host})"
    said = f" It answered '{attempt.proxy_status_line}'" if attempt.proxy_status_line else ""
    if attempt.proxy_body:
        said += f", page: '{attempt.proxy_body}'"
    said += "." if said else ""
    if attempt.outcome == "proxy_unreachable" and "TLS with the proxy failed" in (
            attempt.error or ""):
        return PROXY_UNREACHABLE.finding(
            "tcp", f"{attempt.error}. Nothing reached {target}: every connection goes through "
            "this proxy.", evidence=evidence, resource=resource,
            title="TLS with the HTTPS proxy failed", fix=_proxy_tls_fix(attempt))
    if attempt.outcome == "proxy_unreachable":
        return PROXY_UNREACHABLE.finding(
            "tcp", f"{attempt.error}. Nothing reached {target}: every connection goes through "
            "this proxy.", evidence=evidence, resource=resource,
            fix=Fix(summary="Check the proxy's address and port (the --proxy URL or the "
                    "HTTPS_PROXY/HTTP_PROXY/ALL_PROXY variable), or exempt the host with "
                    "NO_PROXY / --noproxy if it is reachable directly."))
    if attempt.outcome == "proxy_auth":
        challenge = next((h for h in attempt.proxy_headers
                          if h.lower().startswith("proxy-authenticate")), None)
        return PROXY_AUTH.finding(
            "tcp", f"{_named(attempt)} refused the tunnel to {target} for want of "
            f"credentials.{said}" + (f" It asks for: {challenge}." if challenge else ""),
            evidence=evidence, resource=resource,
            fix=Fix(summary="Give the proxy's credentials in the URL: --proxy "
                    f"{_scheme(attempt)}://USER:PASSWORD@proxy:port (or in HTTPS_PROXY); they "
                    "are never shown in reports."))
    if attempt.outcome == "proxy_upstream":
        return PROXY_UPSTREAM.finding(
            "tcp", f"{_named(attempt)} accepted the request but could not connect to "
            f"{target}: {attempt.error}.{said} The proxy resolves and connects on its own: "
            "from where it stands the name does not resolve, or the port is closed or "
            "filtered.", evidence=evidence, resource=resource,
            fix=Fix(summary=f"Check {host} from the proxy's network (its DNS and firewall), "
                    "or exempt the host with NO_PROXY / --noproxy if clients reach it "
                    "directly."))
    squid = "squid" in (attempt.proxy_software or "").lower()
    why = (" WebSocket clients (browsers included, for ws:// as well as wss://) always tunnel "
           "through an HTTP proxy with CONNECT, so no WebSocket can pass.")
    if attempt.port not in (443,) and squid:
        why += (f" Squid allows CONNECT only to its SSL_ports (443) by default; port "
                f"{attempt.port} is not among them.")
    return PROXY_REFUSED.finding(
        "tcp", f"{_named(attempt)} refused to open a tunnel to {target}: "
        f"{attempt.error}.{said}{why}", evidence=evidence, resource=resource,
        fix=Fix(summary=f"Have the proxy allow CONNECT to {host}:{attempt.port} (its access "
                "rules), or exempt the host with NO_PROXY / --noproxy if clients reach it "
                "directly.",
                snippet=_SQUID_CONNECT.format(port=attempt.port, host=host) if squid else None,
                language="text" if squid else None))


def through_proxy(finding: Finding, proxy: ProxyConfig | None) -> Finding:
    """``finding`` (a connection held or ended without an answer), saying that the forward
    proxy every connection went through may be the one that did it, and how to tell."""
    if proxy is None:
        return finding
    note = (f" Every connection went through the proxy {proxy.url} ({proxy.source}), which "
            "opened the tunnel: it may be the one that held or ended this one (an inspecting "
            "proxy, a proxy's limit on tunnels) rather than the server behind it.")
    tell = ("Tell the proxy from the server: run where the server is reachable without the "
            "proxy (--proxy '' or --noproxy HOST), and read the proxy's log for this tunnel.")
    fix = finding.fix.model_copy(update={"summary": f"{tell} {finding.fix.summary}"}) \
        if finding.fix is not None else Fix(summary=tell)
    return finding.model_copy(update={"detail": finding.detail + note, "fix": fix,
                                      "evidence": {**finding.evidence, "proxy": proxy.url}})


def _scheme(attempt: TcpAttempt) -> str:
    """The proxy URL's scheme (``http``, ``socks5``...)."""
    scheme, sep, _ = (attempt.via or "").partition("://")
    return scheme if sep else "http"


def _proxy_tls_fix(attempt: TcpAttempt) -> Fix:
    """What to do when TLS with an ``https://`` proxy failed: most proxies speak plain HTTP
    (even for wss targets), and a private proxy CA must be trusted."""
    error = (attempt.error or "").upper()
    plain = ("WRONG_VERSION_NUMBER", "NO ANSWER TO THE TLS CLIENTHELLO", "RECORD_LAYER_FAILURE",
             "PACKET_LENGTH_TOO_LONG", "HTTP_REQUEST")
    if any(marker in error for marker in plain):
        return Fix(summary=f"The proxy does not speak TLS on this port: write its URL with "
                   f"http:// ({(attempt.via or '').replace('https://', 'http://', 1)}). Most "
                   "forward proxies listen on plain HTTP and carry wss:// inside a CONNECT "
                   "tunnel, end to end encrypted all the same.")
    if "CERTIFICATE_VERIFY_FAILED" in error:
        return Fix(summary="The HTTPS proxy's certificate is not trusted here: give its CA "
                   "with --cacert FILE (the bundle serves the proxy and the server alike; "
                   "concatenate both CAs if they differ), or -k to go on regardless.")
    return Fix(summary="Check that the proxy speaks TLS on this port (else use http:// in "
               "its URL) and that its certificate is valid for the name in the URL.")


def software(headers: list[tuple[str, str]]) -> str | None:
    """The proxy's product from its answer: ``squid/5.7`` from Server, Via or X-Squid-Error."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == "server":
            return value
        if lowered == "via" and (match := re.search(r"\(([^)]+)\)", value)):
            return match.group(1)
        if lowered.startswith("x-squid"):
            return "squid"
    return None
