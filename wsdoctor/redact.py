"""Secrets never reach an output: one :class:`Redactor` per run replaces every value the user
supplied as a secret, wherever it appears in what the probes saw (a body, a header, a close
reason, an error) and in the forms a server echoes it (percent-encoded, base64, JSON- or
HTML-escaped, a Basic credential decoded), before rules, reports, the TUI, the exporter or an
error line see it.

Which values: every ``-H`` value (an Authorization's credential and a Cookie's values also on
their own), URL credentials, and what :attr:`wsdoctor.settings.Settings.secrets` adds (proxy
credentials, a key's passphrase). A value shorter than :data:`MIN_SECRET` is not searched for
(replacing every ``1`` would wreck the report; it is still hidden where wsdoctor shows what it
sent), and one shorter than :data:`SHORT_SECRET` only as a whole word, so ``-H 'X-Env: prod'``
does not turn "production" into "<redacted>uction".

Response headers known to carry secrets (:func:`is_secret_header`) are masked by name.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import TypeVar
from urllib.parse import quote, quote_plus, unquote

from wsdoctor.untrusted import map_strings

T = TypeVar("T")

REDACTED = "<redacted>"
MIN_SECRET = 4
SHORT_SECRET = 8
#: Authorization schemes whose credential is a secret on its own.
_SCHEMES = ("basic", "bearer", "token", "digest", "negotiate", "apikey", "aws4-hmac-sha256")
#: Request and response headers whose values are secrets, whatever they contain.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    "x-auth-token", "authentication-info", "proxy-authentication-info", "x-csrf-token",
    "x-xsrf-token", "x-amz-security-token", "x-vault-token", "private-token",
})
_SECRET_NAME = re.compile(
    r"(?:^|[-_])(?:token|secret|passw(?:or)?d|api-?key|apikey|credentials?|session-?id)(?:$|[-_])",
    re.IGNORECASE,
)
#: A secret that starts with a scheme or a cookie name (``Bearer x``, ``session=x``).
_LABELLED = re.compile(r"^[A-Za-z0-9_.-]+[ =]")
#: Characters a truncated quote may end with after the cut.
_CUT_TAIL = " \t'\"….\ufffd"


def is_secret_header(name: str) -> bool:
    """Whether a header's value is a secret by its name alone (Authorization, Cookie,
    X-Api-Key, *-Token, *-Secret...). ``WWW-Authenticate`` is not: it names a scheme."""
    return name.lower() in SECRET_HEADERS or bool(_SECRET_NAME.search(name))


def header_secrets(name: str, value: str) -> list[str]:
    """The secrets in a request header the user gave: the whole value, an auth scheme's
    credential, a Basic credential's ``user:password`` and password, a Cookie's values."""
    found = [value.strip()]
    scheme, _, credential = value.strip().partition(" ")
    if scheme.lower() in _SCHEMES and credential.strip():
        found.append(credential.strip())
        if scheme.lower() == "basic":
            found += basic_secrets(credential.strip())
    if name.lower() == "cookie":
        for pair in value.split(";"):
            cookie_value = pair.partition("=")[2].strip().strip('"')
            found += [pair.strip(), cookie_value]
    return [s for s in found if s]


def basic_secrets(credential: str) -> list[str]:
    """``user:password`` and the password of a Basic credential (base64), if it decodes."""
    try:
        decoded = base64.b64decode(credential, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return []
    return [decoded, decoded.partition(":")[2]] if ":" in decoded else [decoded]


def url_secrets(url: str) -> list[str]:
    """The credentials of a URL (``scheme://user:password@host``): ``user:password`` and the
    password, as given and percent-decoded. For ``--proxy`` and the like."""
    match = re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#@]*)@", url)
    if match is None:
        return []
    userinfo = match.group(1)
    password = userinfo.partition(":")[2]
    found = [userinfo, unquote(userinfo), password, unquote(password)] if password else []
    return [s for s in found if s]


def mask_userinfo(text: str) -> str:
    """A URL (or target) as it may be printed: ``ws://<redacted>@host/``, also when the URL
    is malformed (``ws:/user:pw@host``, ``user:pw@host``)."""
    scheme = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/*", text)
    start = scheme.end() if scheme else 0
    authority = re.split(r"[/?#]", text[start:], maxsplit=1)[0]
    at = authority.rfind("@")
    if at < 0:
        return text
    return text[:start] + REDACTED + text[start + at:]


#: ``user:password@`` after a URL's ``scheme://`` (the password may hold ``@``; a user alone,
#: ``git@``, is no secret).
_URL_PASSWORD = re.compile(r"(?<=://)[^\s/?#@'\"<>]*:[^\s/?#'\"<>]*@")
#: A placeholder in a fix or an example (``USER:PASSWORD@``, ``$USER:${PASS}@``): no secret.
_PLACEHOLDER = re.compile(r"(?:[A-Z_]*|\$\{?\w+\}?):(?:[A-Z_]+|\$\{?\w+\}?)@")


def mask_url_passwords(text: str) -> str:
    """``text`` with the ``user:password`` of every URL in it replaced: a cluster's object or
    a server's page may carry one (``auth-url: https://user:pw@auth/``), nobody told us."""
    if "://" not in text or "@" not in text:
        return text
    return _URL_PASSWORD.sub(
        lambda m: m.group() if _PLACEHOLDER.fullmatch(m.group()) else REDACTED + "@", text)


#: Credentials recognisable by their shape in text nobody told us the secrets of (what an
#: exec credential plugin prints on stderr, a header line a client sent): the value of a
#: secret-bearing header line (``Cookie: a=b; c=d``, at a line's start or after a quote), a
#: scheme and its credential, a ``name=value`` whose name says secret, JWTs, and well-known
#: token prefixes (EKS ``k8s-aws-v1.``, Google OAuth ``ya29.``, OpenShift ``sha256~``, GitHub,
#: GitLab, Slack, AWS access key ids).
_SHAPED = re.compile(
    r"(?P<header>(?<![^\n'\"])(?:" + "|".join(sorted(SECRET_HEADERS, key=len, reverse=True))
    + r")\s*:[ \t]*(?:(?:bearer|basic|token|digest|negotiate|apikey)[ \t]+)?)"
    r"(?P<hvalue>[^\s'\"][^'\"\r\n]*)"
    r"|(?P<scheme>\b(?:bearer|basic|token)\s+)(?P<cred>[A-Za-z0-9._~+/=-]{8,})"
    r"|(?P<name>[\"']?\b[\w.-]*(?:token|secret|passw(?:or)?d|api[-_]?key|access[-_]?key|"
    r"credentials?|session)\b[\"']?\s*[:=]\s*[\"']?)(?P<value>[^\s\"',;&]{4,})"
    r"|\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
    r"|\b(?:k8s-aws-v1\.|ya29\.|sha256~|gh[pousr]_|glpat-|xox[abprs]-)[A-Za-z0-9._~+/=-]{8,}"
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"
    r"|(?<![A-Za-z0-9+_=-])(?=[A-Za-z+_=-]*[0-9])(?=[0-9+_=-]*[A-Za-z])[A-Za-z0-9+_=-]{40,}",
    re.IGNORECASE,
)


#: Brackets and punctuation around a word in an error line (``<nil>``, ``(none)``, ``expired.``).
_WORD_EDGES = "<>()[]{}.,:;!?"
#: The words an error line puts after ``token:``, ``password=`` or ``Bearer`` when it says what
#: went wrong rather than quoting the credential. Only these stay: an unknown word may be a
#: password (``password: letmein``), and a hidden word costs less than a printed secret.
_ERROR_WORDS = frozenset({
    "absent", "access", "api", "auth", "authentication", "authorization", "authorized", "bad",
    "been", "blank", "cannot", "credential", "credentials", "denied", "disabled", "empty",
    "error", "errored", "expired", "expires", "expiry", "failed", "failure", "false",
    "forbidden", "found", "given", "has", "id", "incorrect", "invalid", "invalidated", "is",
    "key", "login", "malformed", "mismatch", "missing", "nil", "no", "none", "not", "null",
    "ok", "password", "present", "provided", "refresh", "refreshed", "rejected", "request",
    "required", "revoked", "secret", "session", "set", "supplied", "timeout", "token", "true",
    "unauthorized", "unavailable", "undefined", "unknown", "unset", "valid", "validation",
    "verification", "verify", "was", "wrong",
})
_WORD_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def looks_like_token(value: str) -> bool:
    """Whether a value after ``token:``/``Bearer`` may be the credential rather than a word of
    an error message: anything but the known error words (``expired``, ``invalid``,
    ``not-found``, ``<nil>``, ``NULL``, ``invalidToken``) is taken for one."""
    core = value.strip(_WORD_EDGES)
    if not core:
        return False
    parts = re.split(r"[-_]", core)
    for part in parts:
        words = _WORD_PARTS.findall(part)
        if not words or "".join(words) != part:
            return True
        if any(word.lower() not in _ERROR_WORDS for word in words):
            return True
    return False


def mask_credentials(text: str) -> str:
    """``text`` with every token-shaped credential replaced by ``<redacted>`` (the scheme or
    ``name=`` in front kept, so the line still says what was there). After a scheme or a
    secret-sounding name, every value but the words of an error message goes (see
    :func:`looks_like_token`): "token: expired" stays as it is, "password: letmein" does not."""

    def replace(match: re.Match[str]) -> str:
        if match.group("header"):
            return match.group("header") + REDACTED
        if match.group("scheme"):
            if not looks_like_token(match.group("cred")):
                return match.group(0)
            return match.group("scheme") + REDACTED
        if match.group("name"):
            if not looks_like_token(match.group("value")):
                return match.group(0)
            return match.group("name") + REDACTED
        return REDACTED

    return _SHAPED.sub(replace, text)


def _forms(secret: str) -> set[str]:
    """The ways a server may echo ``secret`` as text (matched ignoring case)."""
    import html  # here: only a run given secrets needs it

    return {secret, unquote(secret), quote(secret, safe=""), quote(secret), quote_plus(secret),
            json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
            html.escape(secret)}


def _base64_forms(secret: str) -> set[str]:
    """The ways a server may echo ``secret`` in base64 (matched exactly: case is data)."""
    raw = secret.encode("utf-8", "surrogatepass")
    forms = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        text = encode(raw).decode("ascii")
        forms |= {text, text.rstrip("=")}
        # Inside a longer base64 text (a whole header line, a JSON dump of the request) the
        # secret starts at any of three byte offsets: keep the characters it alone decides.
        for offset in range(3):
            shifted = encode(bytes(offset) + raw).decode("ascii")
            forms.add(shifted[-(-8 * offset // 6):(8 * (offset + len(raw))) // 6])
    return forms


#: Named HTML entities of the punctuation templates escape.
_NAMED = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}


def _any_escape(char: str) -> str:
    """A pattern for one ASCII punctuation character of a secret as a server may have escaped
    it in an echo: itself, percent-encoded, an HTML character reference (Go's html/template
    writes ``+`` as ``&#43;``, Handlebars ``=`` as ``&#x3D;``), a JSON ``\\u`` escape."""
    code = ord(char)
    escapes = [re.escape(char), f"%{code:02x}", f"&#0*{code};", f"&#x0*{code:x};",
               rf"\\u{code:04x}"]
    escapes += [re.escape(_NAMED[char])] if char in _NAMED else []
    escapes += [r"\\/"] if char == "/" else []
    return f"(?:{'|'.join(escapes)})"


def _escaped(form: str) -> str:
    """A pattern for ``form`` with each ASCII punctuation character in any escaped spelling."""
    return "".join(_any_escape(c) if c.isascii() and not c.isalnum() and not c.isspace()
                   else re.escape(c) for c in form)


def _alternatives(forms: set[str], flags: int, *, escapes: bool = False
                  ) -> re.Pattern[str] | None:
    """One pattern for ``forms``, longest first; a short form only as a whole word; with
    ``escapes``, punctuation in any escaped spelling (:func:`_escaped`)."""
    spell = _escaped if escapes else re.escape
    patterns = [
        spell(f) if len(f) >= SHORT_SECRET
        else rf"(?<![A-Za-z0-9]){spell(f)}(?![A-Za-z0-9])"
        for f in sorted(forms, key=len, reverse=True)
    ]
    return re.compile("|".join(patterns), flags) if patterns else None


class Redactor:
    """Replaces the run's secrets in any text or model. Cheap when there are none."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        wanted = {s for s in secrets if len(s) >= MIN_SECRET}

        def usable(forms: set[str]) -> set[str]:
            return {f for f in forms if len(f) >= MIN_SECRET and f.lower() not in REDACTED}

        # Pieces of a secret are looked for only in a bare secret: "Bearer" or "session" cut
        # from "Bearer TOKEN" or "session=VALUE" is not one (the credential is, on its own).
        self._whole = sorted((s.lower() for s in wanted if len(s) >= SHORT_SECRET
                              and not _LABELLED.match(s)), key=len)
        self._pattern = _alternatives(usable({f for s in wanted for f in _forms(s)}),
                                      re.IGNORECASE, escapes=True)
        self._encoded = _alternatives(usable({f for s in wanted for f in _base64_forms(s)}), 0)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, text: str) -> str:
        """``text`` with every secret (and a secret cut at either end of it) replaced, and the
        password of any URL in it (:func:`mask_url_passwords`)."""
        text = mask_url_passwords(text)
        if self._pattern is None or len(text) < MIN_SECRET:
            return text
        text = self._pattern.sub(REDACTED, text)
        if self._encoded is not None:
            text = self._encoded.sub(REDACTED, text)
        return self._cut_ends(text)

    def _cut_ends(self, text: str) -> str:
        """A quote cut in the middle of a secret (a body's first 512 bytes), or a secret split
        in two (two headers, a folded header line quoted in an error), still leaks a part: an
        end of ``text`` that is a long enough piece of a secret goes too."""
        for secret in self._whole:  # lower-cased
            shortest = max(MIN_SECRET, min(6, len(secret) // 2))
            body = text.rstrip(_CUT_TAIL)
            if body[-shortest:].lower() in secret:
                for size in range(min(len(secret) - 1, len(body)), shortest - 1, -1):
                    if body[-size:].lower() in secret:
                        text = body[:-size] + REDACTED + text[len(body):]
                        break
            lead = len(text) - len(text.lstrip(_CUT_TAIL))
            if text[lead:lead + shortest].lower() in secret:
                for size in range(min(len(secret) - 1, len(text) - lead), shortest - 1, -1):
                    if text[lead:lead + size].lower() in secret:
                        text = text[:lead] + REDACTED + text[lead + size:]
                        break
        return text

    def __call__(self, value: T) -> T:
        """``value`` (a string, a model, a list...) with every string in it redacted."""
        return map_strings(value, lambda text, _field: self.text(text))


def redact_set_cookie(value: str) -> str:
    """``NAME=<redacted>; Path=/; HttpOnly``: the name and attributes stay (affinity
    diagnosis needs them), the value does not."""
    first, sep, attributes = value.partition(";")
    name = first.split("=", 1)[0].strip()
    return f"{name}={REDACTED}" + (sep + attributes if sep else "")


def redact_header(name: str, value: str, sent: frozenset[str] = frozenset()) -> str:
    """A header value as it may appear in a report: Set-Cookie keeps its cookie's name and
    attributes; secret-bearing headers (:func:`is_secret_header`) and the headers the user
    gave (``sent``, lower-case names) are masked whole."""
    if name.lower() == "set-cookie":
        return redact_set_cookie(value)
    if is_secret_header(name) or name.lower() in sent:
        return REDACTED
    return value
