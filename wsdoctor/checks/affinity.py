"""affinity: do reconnects reach the same replica? Find the affinity cookie on the 101 (and on
a plain GET), check its attributes, replay it, and count the replicas reached."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from wsdoctor.checks.affinity_probe import (
    GREETING_WAIT_S,
    CookieSeen,
    SetCookie,
    cookies_in,
    fingerprint,
    first_message,
    plain_get,
    replica_header,
    replica_in_message,
)
from wsdoctor.checks.affinity_replay import replay_unknown, unknown_cookies
from wsdoctor.checks.base import Check, Code, Facts, Hop, Observation, ProbeContext, Skip, rule
from wsdoctor.checks.lifetime import reachable_address
from wsdoctor.checks.past_certificate import settings_past_certificate
from wsdoctor.knowledge import (
    INGRESS_NGINX_AFFINITY_FIX,
    affinity_cookie_component,
    is_affinity_cookie_name,
)
from wsdoctor.models import EvidenceValue, Finding, Fix, Model, Resource, Scalar, Status
from wsdoctor.wsconn import upgrade

ReplicaSource = Literal["header", "message", "cookie"]


class AffinityConnection(Model):
    """One handshake of the affinity check."""

    cookie_sent: bool
    status_code: int | None = None
    upgraded: bool
    replica: str | None = None
    """The replica that answered (from ``replica_source``); cookie values are fingerprinted."""


class AffinityObservation(Observation):
    """Cookies, replicas and replays."""

    check: Literal["affinity"] = "affinity"
    address: str
    http_status: int | None = None
    """Status of the plain GET to the same URL (None: it failed, see ``http_error``)."""
    http_error: str | None = None
    cookies_upgrade: list[CookieSeen] = []
    """Set-Cookie on the 101 of the first (cookie-less) handshake."""
    cookies_http: list[CookieSeen] = []
    """Set-Cookie on the plain GET."""
    affinity_cookie: str | None = None
    """Name of the affinity cookie found (a known default or ``--affinity-cookie``)."""
    affinity_component: str | None = None
    """Whose default name it is (None when named by the user or recognised by behaviour)."""
    affinity_by_behaviour: bool = False
    """The cookie's name is not a known one: replaying it pinned the replica that set it."""
    replayed_cookies: list[str] = []
    """With no known affinity cookie, the names of the cookies set that were replayed (all
    together) to see whether one of them pins the replica."""
    replayed_pinned_together: bool | None = None
    """Those cookies, replayed together, kept reconnects on one replica (None: not replayed)."""
    replica_source: ReplicaSource | None = None
    replica_header: str | None = None
    connections: list[AffinityConnection] = []
    distinct_replicas: int = 0
    replay_pinned: bool | None = None
    """With the cookie replayed, every reconnect reached the replica that set it."""


async def probe_affinity(ctx: ProbeContext) -> AffinityObservation:
    """A plain GET, one handshake without a cookie, then replays with the cookie (or more
    handshakes without one)."""
    settings = ctx.settings
    from wsdoctor.checks.handshake import HandshakeObservation

    handshake = ctx.get(HandshakeObservation)
    if handshake is not None and not any(a.outcome == "upgraded" for a in handshake.attempts):
        # Six more doomed upgrades would only wait out the same time limits again.
        raise Skip("no address upgraded to WebSocket; the handshake check says why")
    address = reachable_address(ctx)
    settings = settings_past_certificate(ctx, address)  # the tls check's finding, not ours
    http = await plain_get(ctx.target, address, settings)
    http_cookies = cookies_in(http.headers)
    connections: list[AffinityConnection] = []
    source: ReplicaSource | None = None
    header_name: str | None = None
    wait_for_greeting = GREETING_WAIT_S
    first_cookies: list[SetCookie] = []
    chosen: SetCookie | None = None

    for index in range(settings.affinity_connections):
        extra = [("Cookie", f"{chosen.name}={chosen.value}")] if chosen is not None else []
        attempt, conn = await upgrade(ctx.target, address, settings, extra_headers=extra)
        if index == 0 and conn is None:
            status = f"HTTP {attempt.status_code}" if attempt.status_code else \
                attempt.outcome.value
            raise Skip(f"the upgrade failed ({status}); the handshake check says why")
        cookies = cookies_in(attempt.response_headers)
        replica: str | None = None
        found = replica_header(attempt, settings.backend_header)
        if found is not None:
            header_name, replica = found
            source = "header"
        elif conn is not None and wait_for_greeting > 0:
            try:
                data = await first_message(conn, wait_for_greeting)
            except BaseException:  # cancelled by a time limit: never leave the socket open
                conn.abort()
                raise
            replica = replica_in_message(data) if data is not None else None
            if replica is not None:
                source = "message"
            else:
                wait_for_greeting = 0  # the application does not say who it is
        if conn is not None:
            await conn.close(wait=1.0)
        if index == 0:
            first_cookies = cookies
            chosen = _affinity_cookie(cookies, http_cookies, settings.affinity_cookie)
        if replica is None and source in (None, "cookie") and chosen is not None:
            reissued = next((c for c in cookies if c.name == chosen.name), None)
            replica = fingerprint((reissued or chosen).value)
            source = "cookie"
        connections.append(AffinityConnection(
            cookie_sent=bool(extra), status_code=attempt.status_code,
            upgraded=conn is not None, replica=replica))
    by_behaviour = False
    replayed: list[str] = []
    together: bool | None = None
    unknown = unknown_cookies(first_cookies, http_cookies) if chosen is None else []
    if unknown and source in ("header", "message"):
        first_names = {c.name for c in first_cookies}
        replay = await replay_unknown(
            ctx.target, address, settings, unknown,
            {c.name: connections[0].replica if c.name in first_names else None for c in unknown},
            source or "header", header_name, max(2, settings.affinity_connections - 1))
        replayed, together = [c.name for c in unknown], replay.pinned_together
        chosen, by_behaviour = replay.cookie, replay.cookie is not None
        connections += [AffinityConnection(cookie_sent=True, status_code=r.status_code,
                                           upgraded=r.upgraded, replica=r.replica)
                        for r in replay.reached]
    replicas = {c.replica for c in connections if c.replica is not None}
    pinned = None
    replays = [c for c in connections if c.cookie_sent]
    if chosen is not None and replays and source is not None:
        issuer = connections[0].replica if any(c.name == chosen.name for c in first_cookies) \
            else replays[0].replica
        pinned = all(c.replica == issuer and c.replica is not None for c in replays)
    return AffinityObservation(
        address=address,
        http_status=http.status,
        http_error=http.error,
        cookies_upgrade=[c.seen for c in first_cookies],
        cookies_http=[c.seen for c in http_cookies],
        affinity_cookie=chosen.name if chosen is not None else None,
        affinity_component=affinity_cookie_component(chosen.name) if chosen is not None and
        chosen.name not in settings.affinity_cookie else None,
        affinity_by_behaviour=by_behaviour,
        replayed_cookies=replayed,
        replayed_pinned_together=together,
        replica_source=source,
        replica_header=header_name,
        connections=connections,
        distinct_replicas=len(replicas),
        replay_pinned=pinned,
    )


def _affinity_cookie(upgrade_cookies: list[SetCookie], http_cookies: list[SetCookie],
                     named: list[str]) -> SetCookie | None:
    """The affinity cookie: from the 101 first, then from the plain GET."""
    for cookies in (upgrade_cookies, http_cookies):
        for wanted in named:
            match = next((c for c in cookies if c.name == wanted), None)
            if match is not None:
                return match
        for cookie in cookies:
            if is_affinity_cookie_name(cookie.name):
                return cookie
    return None


PINNED = Code("WSD-AFFINITY-PINNED", Status.OK, "The affinity cookie pins reconnects")
NOT_HONOURED = Code(
    "WSD-AFFINITY-NOT-HONOURED", Status.FAIL, "Affinity cookie set but not honoured"
)
NOT_ON_UPGRADE = Code(
    "WSD-AFFINITY-NOT-ON-UPGRADE", Status.WARN,
    "Affinity cookie set on plain HTTP but not on the WebSocket upgrade",
)
COOKIE_PATH = Code(
    "WSD-AFFINITY-COOKIE-PATH", Status.WARN, "Affinity cookie Path does not cover the WebSocket"
)
COOKIE_INSECURE = Code(
    "WSD-AFFINITY-COOKIE-INSECURE", Status.WARN, "Affinity cookie without Secure on wss"
)
NONE = Code("WSD-AFFINITY-NONE", Status.FAIL, "No session affinity across replicas")
SPREAD = Code("WSD-AFFINITY-SPREAD", Status.INFO, "Reconnects spread over replicas")


def _path_covers(cookie_path: str, path: str) -> bool:
    """RFC 6265 §5.1.4 path-match."""
    request = path.split("?", 1)[0] or "/"
    if request == cookie_path:
        return True
    return request.startswith(cookie_path) and (
        cookie_path.endswith("/") or request[len(cookie_path)] == "/")


def _affinity_fix(path: str, facts: Facts) -> Fix:
    """Cookie affinity for the controller serving the target (the cluster's route, or a proxy
    that named itself); for every controller when neither tells."""
    from wsdoctor.kube.affinity import controller_affinity_fix
    from wsdoctor.kube.serving import serving_controller

    location = path.split("?", 1)[0] or "/"
    serving = serving_controller(facts)
    if serving is not None:
        fix = controller_affinity_fix(serving.controller, location, serving.route,
                                      serving.service)
        if fix is not None:
            return fix
    return Fix(
        summary="Turn on cookie affinity for the WebSocket path (ingress-nginx shown; Traefik: "
        "service sticky.cookie; HAProxy: cookie-persistence; Istio: DestinationRule "
        "consistentHash.httpCookie with a ttl).",
        snippet=INGRESS_NGINX_AFFINITY_FIX.format(path=location),
        language="yaml",
    )


def _secure_fix(component: str | None) -> Fix:
    if component == "Traefik":
        from wsdoctor.knowledge_traefik import STICKY_COOKIE_FIX

        return Fix(summary="Traefik's sticky cookie has only Path=/ unless configured: set "
                   "sticky.cookie.secure (and httpOnly, sameSite) on the service, the "
                   "IngressRoute's spec.routes[].services[].sticky.cookie.",
                   snippet=STICKY_COOKIE_FIX, language="yaml")
    return Fix(summary="Mark the affinity cookie Secure (ingress-nginx: "
               "nginx.ingress.kubernetes.io/session-cookie-secure: \"true\").")


def _attributes(cookie: CookieSeen) -> str:
    parts = [f"Path={cookie.path}" if cookie.path else "no Path",
             "Secure" if cookie.secure else "not Secure",
             "HttpOnly" if cookie.http_only else "not HttpOnly",
             f"SameSite={cookie.same_site}" if cookie.same_site else "no SameSite",
             f"Max-Age={cookie.max_age}" if cookie.max_age is not None else
             (f"Expires={cookie.expires}" if cookie.expires else "session cookie")]
    return ", ".join(parts)


def judge_affinity(facts: Facts) -> Iterator[Finding]:
    """Cookie presence, attributes and whether replays stick; replicas without a cookie."""
    obs = facts.get(AffinityObservation)
    if obs is None:
        return
    target = facts.target
    resource = Resource(kind="URL", name=target.url)
    name = obs.affinity_cookie
    cookie = next((c for c in obs.cookies_upgrade if c.name == name), None)
    http_cookie = next((c for c in obs.cookies_http if c.name == name), None)
    replays = [c for c in obs.connections if c.cookie_sent]
    seen = cookie or http_cookie
    if name is not None and seen is not None:
        whose = f" ({obs.affinity_component})" if obs.affinity_component else ""
        if obs.affinity_by_behaviour:
            whose = (" (recognised by behaviour, not by name: replaying it kept reconnects on "
                     "the replica that set it)")
        evidence: dict[str, EvidenceValue] = {
                    "cookie": name, "value": seen.value, "on_upgrade": cookie is not None,
                    "on_http": http_cookie is not None, "secure": seen.secure,
                    "http_only": seen.http_only, "same_site": seen.same_site,
                    "path": seen.path, "max_age": seen.max_age, "expires": seen.expires,
                    "replica_source": obs.replica_source,
                    "replicas": [c.replica for c in replays]}
        if cookie is None:
            yield NOT_ON_UPGRADE.finding(
                "affinity", f"Cookie {name}{whose} comes with a plain GET of {target.path} but "
                "not with the 101: a client that only opens the WebSocket never gets it.",
                evidence=evidence, resource=resource, fix=_affinity_fix(target.path, facts))
        if seen.path and not _path_covers(seen.path, target.path):
            from wsdoctor.kube.serving import cookie_path_fix  # only for this finding

            yield COOKIE_PATH.finding(
                "affinity", f"Cookie {name} has Path={seen.path}, which does not cover "
                f"{target.path}: browsers do not send it on the WebSocket upgrade.",
                evidence=evidence, resource=resource,
                fix=cookie_path_fix(facts, target.path, obs.affinity_component))
        if target.secure and not seen.secure:
            yield COOKIE_INSECURE.finding(
                "affinity", f"Cookie {name} is set over wss without the Secure attribute.",
                evidence=evidence, resource=resource,
                fix=_secure_fix(obs.affinity_component))
        if obs.replay_pinned is True:
            yield PINNED.finding(
                "affinity", f"Cookie {name}{whose} is set on the 101 ({_attributes(seen)}); "
                f"{len(replays)} reconnects sending it all reached replica "
                f"{replays[0].replica} (identified by {obs.replica_source}).",
                evidence=evidence, resource=resource,
                title=f"Cookie {name} pins reconnects to one replica")
        elif obs.replay_pinned is False:
            reached = sorted({c.replica or "?" for c in replays})
            yield NOT_HONOURED.finding(
                "affinity", f"Cookie {name}{whose} is set, but {len(replays)} reconnects "
                f"sending it reached {len(reached)} replicas ({', '.join(reached)}).",
                evidence=evidence, resource=resource, fix=_affinity_fix(target.path, facts),
                title=f"Cookie {name} is set but reconnects still change replica")
        return
    candidates = sorted({c.name for c in (*obs.cookies_upgrade, *obs.cookies_http)})
    hint = (f" Cookies set that might pin replicas: {', '.join(candidates)} (name one with "
            "--affinity-cookie NAME)." if candidates else "")
    if obs.replayed_cookies and obs.replayed_pinned_together:
        hint = (f" Replaying the cookies set ({', '.join(obs.replayed_cookies)}) together kept "
                "reconnects on one replica, but none of them alone did: name the affinity "
                "cookie with --affinity-cookie NAME.")
    elif obs.replayed_cookies:
        hint = (f" Replaying the cookies set ({', '.join(obs.replayed_cookies)}) on reconnects "
                "did not keep them on one replica either: none of them pins.")
    count = len(obs.connections)
    replayed = sum(c.cookie_sent for c in obs.connections)
    without = (f"{count} connections ({replayed} replaying the cookies set)" if replayed
               else f"{count} connections without a cookie")
    evidence_spread: dict[str, EvidenceValue] = {
        "connections": count, "distinct_replicas": obs.distinct_replicas,
        "replica_source": obs.replica_source, "cookies": list[Scalar](candidates)}
    if obs.replica_source is None:
        yield SPREAD.finding(
            "affinity", "No affinity cookie, and no replica identity: no response header "
            f"(X-Pod-Name, X-Served-By...), no first message naming one.{hint}",
            evidence=evidence_spread, resource=resource,
            title="Replicas cannot be told apart: affinity not verifiable",
            fix=Fix(summary="Name the header carrying the pod with --backend-header, or have "
                    "the app send it (e.g. X-Pod-Name from the downward API)."))
        return
    if obs.distinct_replicas > 1:
        detail = (f"{without} reached {obs.distinct_replicas} replicas (by "
                  f"{obs.replica_source}) and no affinity cookie was set.{hint}")
        if facts.settings.expect_affinity:
            yield NONE.finding("affinity", detail + " The application needs reconnects to "
                               "reach the same replica.", evidence=evidence_spread,
                               resource=resource, fix=_affinity_fix(target.path, facts),
                               title=f"No affinity: {count} connections reached "
                               f"{obs.distinct_replicas} replicas")
        else:
            yield SPREAD.finding("affinity", detail, evidence=evidence_spread, resource=resource,
                                 title=f"No affinity: {count} connections reached "
                                 f"{obs.distinct_replicas} replicas")
    else:
        yield SPREAD.finding(
            "affinity", f"{without} all reached one replica; no "
            f"affinity cookie was set.{hint}", evidence=evidence_spread, resource=resource,
            title=f"All {count} connections reached one replica (no affinity cookie)")


def summarize_affinity(obs: Observation) -> str:
    """``cookie SRV pins replica (5/5)`` or ``no cookie, 2 replicas``."""
    assert isinstance(obs, AffinityObservation)
    if obs.affinity_cookie is not None:
        state = {True: "pins reconnects", False: "not honoured", None: "not replayed"}
        return f"cookie {obs.affinity_cookie} {state[obs.replay_pinned]}"
    replicas = obs.distinct_replicas
    noun = "replica" if replicas == 1 else "replicas"
    return f"no affinity cookie, {replicas} {noun} in {len(obs.connections)} connections"


CHECK = Check(
    id="affinity",
    title="Session affinity",
    hop=Hop.AFFINITY,
    probe=probe_affinity,
    needs=("tcp", "handshake"),
    rules=(rule(judge_affinity, "cluster"),),
    codes=(PINNED, NOT_HONOURED, NOT_ON_UPGRADE, COOKIE_PATH, COOKIE_INSECURE, NONE, SPREAD),
    time_limit=lambda s: s.timeout * (2 * s.affinity_connections + 2) + 10.0,
    summarize=summarize_affinity,
)
