"""How a refusal looked, in words a person can act on: the answer quoted (status line, the
headers that identify who wrote it, the start of the body; or the close frame; or the
silence), who answered, and which kinds of cap refuse that way. Pure text from the report's
data; renderers escape it like every other string."""

from __future__ import annotations

from wsdoctor.fingerprints import identify
from wsdoctor.httpbody import body_text
from wsdoctor.knowledge_limits import CapKind, kinds_refusing, signature_of
from wsdoctor.load.model import LoadCause

#: Response headers quoted when describing a refusal (others are in the JSON report).
TELLING_HEADERS = ("server", "via", "retry-after", "x-envoy-overloaded", "x-served-by",
                   "x-retry-in", "content-type")
BODY_SHOWN = 160


def answered_by(cause: LoadCause) -> list[str]:
    """Components that the refusal's headers and body name."""
    response = cause.response
    if response is None:
        return []
    return identify([(h.name, h.value) for h in response.headers], response.body_start)


def quote_refusal(cause: LoadCause) -> str:
    """``HTTP/1.1 503 Service Temporarily Unavailable; Server: nginx/1.22.1; body "..."``,
    ``close frame 1013 "server at capacity"``, or the error."""
    if cause.close_code is not None or cause.cause.startswith("closed "):
        reason = f' "{cause.close_reason}"' if cause.close_reason else ""
        code = cause.close_code if cause.close_code is not None else "without a code"
        return f"the 101 came, then a close frame {code}{reason}"
    response = cause.response
    if response is None or (response.status_line is None and not response.headers):
        error = response.error if response is not None else None
        return cause.cause + (f" ({error})" if error and error not in cause.cause else "")
    parts = [response.status_line or f"HTTP {response.status_code}"]
    parts += [f"{h.name}: {h.value}" for h in response.headers
              if h.name.lower() in TELLING_HEADERS]
    body = body_text(response.body_start, BODY_SHOWN + 1)
    if body:
        parts.append(f'body "{body}"')
    return "; ".join(parts)


def likely_caps(cause: LoadCause, rate: bool = False) -> list[CapKind]:
    """The kinds of cap that refuse the way ``cause`` did, most likely first (``rate``: of
    refusals that came and went)."""
    status = cause.response.status_code if cause.response is not None else None
    signature = signature_of(cause.cause, status)
    kinds = kinds_refusing(signature, status, tuple(answered_by(cause)), rate)
    if cause.replica is not None and not answered_by(cause):
        # the refusal carries the replica's own name and no proxy's: the application wrote it
        kinds.sort(key=lambda k: k.key != "application")
    return kinds


def refusal_hint(cause: LoadCause, rate: bool = False, limit: int = 2) -> str:
    """``Caps that refuse this way: ingress-nginx limit-connections (...); or ...``."""
    kinds = likely_caps(cause, rate)[:limit]
    if not kinds:
        return ""
    named = "; or ".join(f"{k.component} {k.setting} ({k.counts})" for k in kinds)
    if kinds[0].signature == "stall":  # silence is also what a merely slow target gives
        named += ("; or a target too busy to answer within the step time limit (try a "
                  "longer --timeout, or a slower --rate)")
    return f"Caps that refuse this way: {named}."
