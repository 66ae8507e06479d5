"""Rules of the tls check: pure functions of the TLS observation (and the run's time).

Addresses that show the same problem are reported once, naming all of them; the default
certificate of an ingress controller is reported as the root cause of the name, trust and
self-signed symptoms it would otherwise produce.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from datetime import timedelta

from wsdoctor.checks.base import Code, Facts
from wsdoctor.checks.dns import is_address
from wsdoctor.checks.proxy_rules import through_proxy
from wsdoctor.checks.tls_probe import CertificateInfo, TlsAttempt, TlsObservation
from wsdoctor.fingerprints import default_certificate
from wsdoctor.models import EvidenceValue, Finding, Fix, Resource, Status

#: A certificate this close to its end is a warning (renewal is failing).
EXPIRY_WARNING = timedelta(days=14)

HANDSHAKE_RESET = Code("WSD-TLS-HANDSHAKE-RESET", Status.FAIL,
                       "The server reset or closed the TLS handshake")
HANDSHAKE_TIMEOUT = Code("WSD-TLS-HANDSHAKE-TIMEOUT", Status.FAIL,
                         "No answer to the TLS ClientHello")
NOT_TLS = Code("WSD-TLS-NOT-TLS", Status.FAIL, "The port does not speak TLS")
HANDSHAKE_FAILED = Code("WSD-TLS-HANDSHAKE-FAILED", Status.FAIL, "The TLS handshake failed")
DEFAULT_CERT = Code("WSD-TLS-DEFAULT-CERT", Status.FAIL,
                    "The ingress controller's default certificate is served")
EXPIRED = Code("WSD-TLS-EXPIRED", Status.FAIL, "The certificate has expired")
NOT_YET_VALID = Code("WSD-TLS-NOT-YET-VALID", Status.FAIL, "The certificate is not yet valid")
EXPIRING = Code("WSD-TLS-EXPIRING", Status.WARN, "The certificate expires within 14 days")
HOSTNAME_MISMATCH = Code("WSD-TLS-HOSTNAME-MISMATCH", Status.FAIL,
                         "The certificate is not valid for this host name")
SELF_SIGNED = Code("WSD-TLS-SELF-SIGNED", Status.FAIL, "The certificate is self-signed")
CHAIN_INCOMPLETE = Code("WSD-TLS-CHAIN-INCOMPLETE", Status.FAIL,
                        "The server does not send the intermediate certificates")
UNTRUSTED = Code("WSD-TLS-UNTRUSTED", Status.FAIL, "The certificate chain is not trusted")
INCONSISTENT = Code("WSD-TLS-INCONSISTENT", Status.WARN,
                    "Addresses of the name serve different certificates")

CODES = (HANDSHAKE_RESET, HANDSHAKE_TIMEOUT, NOT_TLS, HANDSHAKE_FAILED, DEFAULT_CERT, EXPIRED,
         NOT_YET_VALID, EXPIRING, HOSTNAME_MISMATCH, SELF_SIGNED, CHAIN_INCOMPLETE, UNTRUSTED,
         INCONSISTENT)

# OpenSSL X509_V_ERR codes the name and date rules already explain.
_DATE_CODES = {9, 10}
_NAME_CODES = {62, 64}
_UNKNOWN_ISSUER_CODES = {20, 21}
_SELF_SIGNED_CODES = {18}

_ISTIO_GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: <gateway>
  namespace: <namespace>
spec:
  selector:
    istio: ingressgateway
  servers:
    - port: {{number: 443, name: https, protocol: HTTPS}}
      hosts: ["{host}"]
      tls:
        mode: SIMPLE
        credentialName: {secret}  # a kubernetes.io/tls Secret in the gateway pods' namespace
"""


def host_matches(host: str, sans: Sequence[str]) -> bool:
    """True when a subjectAltName covers ``host`` (RFC 6125: a wildcard covers one label)."""
    name = host.lower().rstrip(".")
    if is_address(name):
        wanted = ipaddress.ip_address(name)
        return any(is_address(s) and ipaddress.ip_address(s) == wanted for s in sans)
    for san in sans:
        pattern = san.lower().rstrip(".")
        if is_address(pattern):
            continue
        if pattern == name:
            return True
        label, _, rest = name.partition(".")
        if pattern.startswith("*.") and label and rest and rest == pattern[2:]:
            return True
    return False


def _where(attempts: Sequence[TlsAttempt], obs: TlsObservation) -> Resource:
    if len(attempts) == 1:
        return Resource(kind="Address", name=attempts[0].endpoint)
    return Resource(kind="Host", name=f"{obs.host}:{attempts[0].port}")


def _endpoints(attempts: Sequence[TlsAttempt]) -> str:
    return ", ".join(a.endpoint for a in attempts)


def _sni(obs: TlsObservation) -> str:
    return f"SNI {obs.server_name}" if obs.server_name else "no SNI (the target is an address)"


def _group(attempts: Sequence[TlsAttempt], key: str) -> list[list[TlsAttempt]]:
    """Attempts grouped by outcome (key 'outcome') or by leaf and verdict (key 'leaf')."""
    groups: dict[tuple[object, ...], list[TlsAttempt]] = {}
    for attempt in attempts:
        if key == "outcome":
            k: tuple[object, ...] = (attempt.outcome, attempt.error)
        else:
            k = (attempt.leaf.sha256 if attempt.leaf else None, attempt.verify_code)
        groups.setdefault(k, []).append(attempt)
    return list(groups.values())


def judge_handshakes(facts: Facts) -> Iterator[Finding]:
    """Handshakes that did not complete: reset, timeout, not TLS, alerts (a reset or silence
    through a forward proxy may be the proxy's)."""
    for finding in _handshakes(facts):
        yield through_proxy(finding, facts.settings.proxy) if finding.code in (
            HANDSHAKE_RESET.code, HANDSHAKE_TIMEOUT.code) else finding


def _handshakes(facts: Facts) -> Iterator[Finding]:
    obs = facts.get(TlsObservation)
    if obs is None:
        return
    # An alert after a CertificateRequest is the client-certificate rule's to explain.
    failed = [a for a in obs.attempts if a.outcome != "completed"
              and not (a.outcome == "alert" and a.client_cert_requested)]
    for group in _group(failed, "outcome"):
        first = group[0]
        where = f"{_endpoints(group)} ({_sni(obs)})"
        evidence: dict[str, EvidenceValue] = {
            "addresses": [a.endpoint for a in group], "outcome": first.outcome,
            "error": first.error, "server_name": obs.server_name,
        }
        if first.outcome in ("reset", "closed"):
            secret = obs.host.replace(".", "-") + "-tls"
            no_sni = "" if obs.server_name else (
                " No SNI was sent because the target is an IP address: use the host name "
                "with --resolve HOST:PORT:ADDR to test this address."
            )
            yield HANDSHAKE_RESET.finding(
                "tls",
                f"{where}: {first.error} right after the ClientHello. An Istio ingress gateway "
                "does exactly this when its Gateway server for the host has no usable "
                "credential: credentialName names a Secret that is missing or not in the "
                "gateway's namespace (istio#32665). Also possible: no TLS server is configured "
                "for this SNI, or the listener expects PROXY protocol (ingress-nginx "
                "use-proxy-protocol: \"true\" without a load balancer that sends it)." + no_sni,
                evidence=evidence,
                resource=_where(group, obs),
                fix=Fix(
                    summary="Istio: create the TLS Secret in the gateway pods' namespace "
                    "(usually istio-system) and name it in the Gateway's credentialName; "
                    "istioctl analyze reports a missing credential. Otherwise check the "
                    "listener's TLS and PROXY-protocol settings.",
                    snippet=_ISTIO_GATEWAY.format(host=obs.host, secret=secret),
                    language="yaml",
                ),
            )
        elif first.outcome == "timeout":
            yield HANDSHAKE_TIMEOUT.finding(
                "tls",
                f"{where}: {first.error}. The port accepts TCP connections but nothing answers "
                "the TLS ClientHello.",
                evidence=evidence,
                resource=_where(group, obs),
                fix=Fix(summary="Something accepts TCP but does not speak TLS back: a TCP (L4) "
                        "load balancer whose backend is gone, a server waiting for a PROXY "
                        "protocol header, or a firewall that holds TLS. Check what listens on "
                        "this port (kubectl get svc -A -o wide) and its target pods."),
            )
        elif first.outcome == "not_tls":
            yield NOT_TLS.finding(
                "tls",
                f"{where}: {first.error}. This port speaks plain HTTP (or another protocol), "
                "not TLS.",
                evidence=evidence,
                resource=_where(group, obs),
                fix=Fix(summary=f"Use ws://{obs.host}:{first.port} if this port is meant to be "
                        "plain, or the TLS port (usually 443); if TLS should end here, "
                        "enable it on the listener (Service targetPort may point at the "
                        "controller's HTTP port instead of HTTPS)."),
            )
        elif first.outcome == "connect_failed":
            yield HANDSHAKE_FAILED.finding(
                "tls",
                f"{where}: {first.error}, although the tcp check connected moments before: "
                "the address accepts connections only intermittently.",
                title="TCP connect failed during the TLS check",
                evidence=evidence,
                resource=_where(group, obs),
                fix=Fix(summary="Look for a listener that is restarting or overloaded (backlog "
                        "full, connection limits) and for load-balancer targets that flap."),
            )
        else:
            yield HANDSHAKE_FAILED.finding(
                "tls",
                f"{where}: {first.error}.",
                evidence=evidence,
                resource=_where(group, obs),
                fix=Fix(summary="Client and server share no protocol version or cipher, or the "
                        "server requires a client certificate (mTLS). Check the listener's "
                        "ssl-protocols/ssl-ciphers and client-auth settings; "
                        "openssl s_client -connect ADDR:PORT -servername HOST shows the alert."),
            )


def judge_certificates(facts: Facts) -> Iterator[Finding]:
    """The leaf of every completed handshake: default certificates, dates, names, trust."""
    obs = facts.get(TlsObservation)
    if obs is None:
        return
    done = [a for a in obs.attempts if a.outcome == "completed" and a.leaf is not None]
    for group in _group(done, "leaf"):
        yield from _judge_leaf(group, obs, facts)
    blind = [a for a in obs.attempts if a.outcome == "completed" and a.leaf is None
             and a.verified is False]
    for group in _group(blind, "outcome"):
        first = group[0]
        yield UNTRUSTED.finding(
            "tls",
            f"{_endpoints(group)}: verification failed: {first.verify_message} "
            f"(X509 error {first.verify_code}); {first.error or 'the chain was not captured'}.",
            evidence={"addresses": [a.endpoint for a in group],
                      "verify_message": first.verify_message},
            resource=_where(group, obs),
            fix=Fix(summary="Inspect the certificate: openssl s_client -connect ADDR:PORT "
                    f"-servername {obs.host} -showcerts"),
        )
    yield from _judge_consistency(done, obs)


def _leaf_evidence(leaf: CertificateInfo, group: Sequence[TlsAttempt]) -> dict[str, EvidenceValue]:
    return {
        "addresses": [a.endpoint for a in group],
        "subject": leaf.subject,
        "issuer": leaf.issuer,
        "sans": list(leaf.sans),
        "not_before": leaf.not_before.isoformat(),
        "not_after": leaf.not_after.isoformat(),
        "sha256": leaf.sha256,
        "key": f"{leaf.key_type}-{leaf.key_size}" if leaf.key_size else leaf.key_type,
        "verify_message": group[0].verify_message,
    }


def _renew_fix(host: str, facts: Facts) -> Fix:
    from wsdoctor.kube.serving import renewal_fix

    return renewal_fix(facts, host)


def _judge_leaf(group: list[TlsAttempt], obs: TlsObservation, facts: Facts) -> Iterator[Finding]:
    first = group[0]
    leaf = first.leaf
    assert leaf is not None
    where = _where(group, obs)
    prefix = f"{_endpoints(group)}: "
    evidence = _leaf_evidence(leaf, group)
    names = ", ".join(leaf.sans) or "no subjectAltName"
    tell = default_certificate(leaf.common_name, leaf.organization, leaf.sans,
                               leaf.issuer_common_name, leaf.key_type)
    if tell is not None:
        yield DEFAULT_CERT.finding(
            "tls",
            f"{prefix}{tell.verdict}. The server presented '{leaf.subject}' issued by "
            f"'{leaf.issuer}' (names: {names}) instead of a certificate for {obs.host}: the "
            f"controller found no certificate for this host and fell back to its default.",
            title=f"{DEFAULT_CERT.title}: {tell.controller}",
            evidence={**evidence, "controller": tell.controller, "source": tell.source},
            resource=where,
            fix=tell.fix(obs.host),
            explains=[HOSTNAME_MISMATCH, SELF_SIGNED, UNTRUSTED],
        )
        return
    now = facts.now
    if leaf.not_after <= now:
        days = (now - leaf.not_after).days
        yield EXPIRED.finding(
            "tls",
            f"{prefix}the certificate for {names} expired on {leaf.not_after:%Y-%m-%d %H:%M} "
            f"UTC ({days} days ago); every client rejects it.",
            evidence=evidence, resource=where, fix=_renew_fix(obs.host, facts),
        )
    elif leaf.not_before > now:
        yield NOT_YET_VALID.finding(
            "tls",
            f"{prefix}the certificate for {names} is valid only from "
            f"{leaf.not_before:%Y-%m-%d %H:%M} UTC; is this machine's or the issuer's clock "
            "wrong?",
            evidence=evidence, resource=where,
            fix=Fix(summary="Check the clocks (timedatectl); reissue the certificate if its "
                    "start date is wrong."),
        )
    elif leaf.not_after - now <= EXPIRY_WARNING:
        left = leaf.not_after - now
        yield EXPIRING.finding(
            "tls",
            f"{prefix}the certificate for {names} expires on {leaf.not_after:%Y-%m-%d %H:%M} "
            f"UTC, in {left.days} days {left.seconds // 3600} hours. Automated renewal "
            "(cert-manager renews at two thirds of the lifetime) should have replaced it by "
            "now.",
            evidence=evidence, resource=where, fix=_renew_fix(obs.host, facts),
        )
    if first.verified:
        return
    code = first.verify_code
    if not host_matches(obs.host, leaf.sans):
        yield HOSTNAME_MISMATCH.finding(
            "tls",
            f"{prefix}the certificate names {names}; the host is {obs.host}, which none of "
            "them covers (a wildcard covers exactly one label).",
            evidence={**evidence, "host": obs.host},
            resource=where,
            fix=Fix(
                summary=f"Serve a certificate whose subjectAltName includes {obs.host}: list "
                "the host under spec.tls[].hosts of the Ingress (cert-manager issues for the "
                "hosts listed there) and check that the Ingress points at the right Secret.",
                snippet=f"spec:\n  tls:\n    - hosts:\n        - {obs.host}\n"
                f"      secretName: {obs.host.replace('.', '-')}-tls\n",
                language="yaml",
            ),
        )
    if code in _DATE_CODES or code in _NAME_CODES:
        return
    trust = "the system trust store" if obs.trust == "system" else f"--cacert {obs.trust}"
    if leaf.self_signed and (code in _SELF_SIGNED_CODES or len(first.chain) == 1):
        yield SELF_SIGNED.finding(
            "tls",
            f"{prefix}the server presents a self-signed certificate ('{leaf.subject}'), which "
            f"{trust} does not trust: browsers and WebSocket clients refuse it.",
            evidence=evidence, resource=where,
            fix=Fix(summary="Serve a certificate from a trusted CA (for example cert-manager "
                    "with Let's Encrypt). If this certificate is intended, trust it "
                    "explicitly: wsdoctor --cacert it.pem, and the same in every client."),
        )
    elif code in _UNKNOWN_ISSUER_CODES and len(first.chain) == 1:
        yield CHAIN_INCOMPLETE.finding(
            "tls",
            f"{prefix}the server sends only its own certificate, issued by '{leaf.issuer}', "
            f"and {trust} cannot link that issuer to a trusted root ({first.verify_message}). "
            "Browsers may fetch missing intermediates themselves; other WebSocket clients "
            "(Node, Python, Go, mobile) do not.",
            evidence=evidence, resource=where,
            fix=Fix(summary="Put the full chain in the Secret's tls.crt: the leaf first, then "
                    "each intermediate (cert-manager does this). If the issuer is your private "
                    "CA, pass its certificate with --cacert instead."),
            explains=[UNTRUSTED],
        )
    else:
        yield UNTRUSTED.finding(
            "tls",
            f"{prefix}verification against {trust} failed: {first.verify_message} "
            f"(X509 error {code}); issuer '{leaf.issuer}'.",
            evidence=evidence, resource=where,
            fix=Fix(summary="If the issuing CA is private, trust it with --cacert CA.pem (and "
                    "in every client). Otherwise serve a chain that leads to a public root: "
                    "leaf then intermediates in the Secret's tls.crt."),
        )


def _judge_consistency(done: Sequence[TlsAttempt], obs: TlsObservation) -> Iterator[Finding]:
    leaves: dict[str, list[TlsAttempt]] = {}
    for attempt in done:
        assert attempt.leaf is not None
        leaves.setdefault(attempt.leaf.sha256, []).append(attempt)
    if len(leaves) < 2:
        return
    lines = []
    for sha, group in leaves.items():
        leaf = group[0].leaf
        assert leaf is not None
        lines.append(f"{_endpoints(group)}: '{leaf.subject}' issued by "
                     f"'{leaf.issuer_common_name or leaf.issuer}', expires "
                     f"{leaf.not_after:%Y-%m-%d}, sha256 {sha[:16]}…")
    yield INCONSISTENT.finding(
        "tls",
        f"{obs.host} serves {len(leaves)} different certificates: " + "; ".join(lines) + ".",
        evidence={"addresses": [a.endpoint for a in done],
                  "fingerprints": [a.leaf.sha256 for a in done if a.leaf is not None]},
        resource=Resource(kind="Host", name=f"{obs.host}:{done[0].port}"),
        fix=Fix(summary="Every address of the name should serve the same certificate: look for "
                "an ingress controller or cluster behind this name that was not updated (a "
                "stale replica, another region, a different Secret)."),
    )
