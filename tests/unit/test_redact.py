"""The redaction layer: which values are secrets, the forms they are found in, and what is
left alone so reports stay readable."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from wsdoctor.checks.http import HttpExchange, HttpObservation
from wsdoctor.models import CheckResult, CheckStatus, Finding, Status
from wsdoctor.redact import (
    REDACTED,
    Redactor,
    header_secrets,
    is_secret_header,
    mask_userinfo,
    redact_header,
    url_secrets,
)
from wsdoctor.settings import Header, Settings

TOKEN = "eyJhbGciOiJIUzI1NiJ9.payload.sig"
PASSWORD = "correct-horse-battery"
BASIC = base64.b64encode(f"alice:{PASSWORD}".encode()).decode()


def redactor() -> Redactor:
    return Settings(headers=[Header(name="Authorization", value=f"Bearer {TOKEN}"),
                             Header(name="Proxy-Authorization", value=f"Basic {BASIC}"),
                             Header(name="Cookie", value="session=s3ss10n-v4lue; theme=dark"),
                             Header(name="X-Env", value="prod"),
                             Header(name="X-Debug", value="1")]).redactor()


@pytest.mark.parametrize("echo", [
    f"Bearer {TOKEN}",
    TOKEN,
    quote(TOKEN, safe=""),
    base64.b64encode(TOKEN.encode()).decode(),
    json.dumps(f"Bearer {TOKEN}")[1:-1],
    BASIC,
    f"alice:{PASSWORD}",
    PASSWORD,
    quote(PASSWORD),
    "s3ss10n-v4lue",
    "session%3Ds3ss10n-v4lue",
    TOKEN.upper(),
])
def test_a_secret_is_found_in_the_forms_a_server_echoes(echo: str) -> None:
    """Raw, percent-encoded, base64, JSON-escaped, a Basic credential decoded, its password,
    a cookie's value, in any case: each is replaced wherever it sits in a text."""
    text = redactor().text(f'realm="{echo}", next=/login')
    assert text == f'realm="{REDACTED}", next=/login'


def test_a_secret_cut_by_a_quote_is_replaced_too() -> None:
    """A body quoted up to 512 bytes that ends inside a secret does not leak its first half,
    nor a text that starts with its second half."""
    r = redactor()
    assert r.text(f"token={TOKEN[:12]}") == f"token={REDACTED}"
    assert r.text(f"token={TOKEN[:12]}…") == f"token={REDACTED}…"
    assert r.text(f"{PASSWORD[-9:]} and more") == f"{REDACTED} and more"


def test_a_secret_split_in_two_is_replaced_at_either_end() -> None:
    """A secret split across two headers, or a folded header line that an error quotes: a
    text that ends with the secret's second half, or starts with its first, leaks nothing."""
    r = redactor()
    assert r.text(f"invalid HTTP header line:  {TOKEN[12:]}") == \
        f"invalid HTTP header line:  {REDACTED}"
    assert r.text(f"{TOKEN[:12]} began it") == f"{REDACTED} began it"
    assert r.text(f'"{PASSWORD[3:15]}" seen') == f'"{REDACTED}" seen'


@pytest.mark.parametrize("offset", [0, 1, 2])
def test_a_secret_inside_a_longer_base64_text_is_replaced(offset: int) -> None:
    """Base64 of the whole request head: the secret starts at any byte offset; what only the
    secret decides is replaced, the rest of the text stays."""
    blob = base64.b64encode(b"x" * offset + f"Authorization: Bearer {TOKEN}!".encode()).decode()
    text = redactor().text(blob)
    assert REDACTED in text and text.startswith(blob[:16])
    assert base64.b64encode(TOKEN.encode()).decode()[4:-4] not in text


def test_short_values_are_words_and_scheme_names_stay() -> None:
    """'prod' is replaced only as a word, '1' never (it would wreck every number), and the
    scheme or cookie name of a secret is not a secret."""
    r = redactor()
    assert r.text("production prod 1 2") == f"production {REDACTED} 1 2"
    assert r.text('WWW-Authenticate: Bearer realm="chat"') == \
        'WWW-Authenticate: Bearer realm="chat"'
    assert r.text("the session cookie") == "the session cookie"


def test_models_are_redacted_everywhere_and_copied() -> None:
    """Every string of an observation or a finding (dict keys and lists too) is redacted;
    a model without secrets comes back as the very same object."""
    exchange = HttpExchange(purpose="target", url="http://h/", address="127.0.0.1", port=80,
                            outcome="response", body_start=f"hello {TOKEN}")
    result = CheckResult(id="http", status=CheckStatus.OK,
                         observation=HttpObservation(host="h", request_headers=[],
                                                     exchanges=[exchange]))
    finding = Finding(code="WSD-X", check="http", status=Status.FAIL, title="t",
                      detail=f"saw {PASSWORD}", evidence={f"echo {PASSWORD}": [TOKEN, 3]},
                      docs="d")
    r = redactor()
    clean = r(result)
    assert clean.observation.exchanges[0].body_start == f"hello {REDACTED}"
    assert result.observation.exchanges[0].body_start == f"hello {TOKEN}"  # not mutated
    assert r(finding).evidence == {f"echo {REDACTED}": [REDACTED, 3]}
    assert r(finding).detail == f"saw {REDACTED}"
    untouched = finding.model_copy(update={"detail": "x", "evidence": {}})
    assert r(untouched) is untouched


def test_settings_secrets_are_never_dumped() -> None:
    """Settings.secrets (proxy credentials, passphrases) redact, and stay out of model_dump,
    so the report's options never carry them."""
    settings = Settings(secrets=url_secrets(f"http://bob:{PASSWORD}@proxy:3128"))
    assert settings.redactor().text(f"407 for bob:{PASSWORD}") == f"407 for {REDACTED}"
    assert "secrets" not in settings.model_dump() and PASSWORD not in repr(settings)


def test_header_secrets_and_masked_names() -> None:
    """An Authorization's credential, a Basic password and a Cookie's values are secrets on
    their own; secret-bearing headers are masked by name, Set-Cookie keeps its name."""
    assert header_secrets("Authorization", f"Basic {BASIC}") == \
        [f"Basic {BASIC}", BASIC, f"alice:{PASSWORD}", PASSWORD]
    assert "s3ss10n" in header_secrets("Cookie", "session=s3ss10n")
    for name in ("Authorization", "X-Auth-Token", "Authentication-Info", "X-Vault-Token",
                 "X-Client-Secret", "X-Api-Key", "apikey"):
        assert is_secret_header(name), name
    for name in ("WWW-Authenticate", "Server", "X-Served-By", "Location"):
        assert not is_secret_header(name), name
    assert redact_header("Set-Cookie", "route=abc; Path=/") == f"route={REDACTED}; Path=/"
    assert redact_header("X-Mine", "v", frozenset({"x-mine"})) == REDACTED


@pytest.mark.parametrize(("url", "shown"), [
    ("wss://alice:pw@host/x", f"wss://{REDACTED}@host/x"),
    ("ws:/alice:pw@host", f"ws:/{REDACTED}@host"),
    ("alice:pw@host:80", f"alice:{REDACTED}@host:80"),
    ("wss://a:p@ss@host/", f"wss://{REDACTED}@host/"),
    ("wss://host/a@b", "wss://host/a@b"),
])
def test_mask_userinfo(url: str, shown: str) -> None:
    """URL credentials are masked in every shape a user may type, the path left alone."""
    assert mask_userinfo(url) == shown


def test_a_crash_is_reported_through_the_redactor() -> None:
    """When a run crashes, its message and its --debug traceback go through the run's
    redactor before they reach stderr."""
    from wsdoctor.cli import RunFailed

    try:
        raise ValueError(f"server said: {TOKEN}")
    except ValueError as exc:
        failed = RunFailed(exc, redactor())
    assert str(failed) == f"ValueError: server said: {REDACTED}"
    assert TOKEN not in failed.details() and "Traceback" in failed.details()


def test_credential_shapes_are_masked_and_plain_error_lines_kept() -> None:
    """Text whose secrets nobody named (an exec plugin's stderr): bearer credentials, JWTs,
    name=value secrets and known token prefixes are masked; ordinary errors stay whole."""
    from wsdoctor.redact import mask_credentials

    masked = {
        "Authorization: Bearer abcdef123456ghijkl": "Authorization: Bearer <redacted>",
        "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCY failed":
            "AWS_SECRET_ACCESS_KEY=<redacted> failed",
        'got {"token": "k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9u"}': 'got {"token": "<redacted>"}',
        "bad eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-part here": "bad <redacted> here",
        "key AKIAIOSFODNN7EXAMPLE and ya29.a0AfH6SMBx1234567890": "key <redacted> and <redacted>",
        "char: b'Cookie: sid=Ab3Cd5; theme=dark' ^": "char: b'Cookie: <redacted>' ^",
        'the line "X-Api-Key: k3y\\x01".': 'the line "X-Api-Key: <redacted>".',
    }
    for text, expected in masked.items():
        assert mask_credentials(text) == expected
    for plain in (
        "ERROR: (gcloud.auth) Reauthentication failed. cannot prompt during non-interactive "
        "execution.",
        'Unable to locate credentials. You can configure credentials by running "aws configure".',
        "error: executable gke-gcloud-auth-plugin not found at /usr/lib/google-cloud-sdk/bin",
        "no cookie: the browser sent none",
    ):
        assert mask_credentials(plain) == plain


def test_a_secret_is_found_whatever_escaped_its_punctuation() -> None:
    """``+``, ``/`` and ``=`` of a token echoed as HTML character references (Go's
    html/template, Handlebars), percent-encoding or JSON escapes, mixed: still the secret."""
    from wsdoctor.redact import Redactor

    redact = Redactor(header_secrets("Authorization", "Bearer tok+Zq8vN3xYp7Lw2Kd9+Ab/c="))
    for echoed in ("tok&#43;Zq8vN3xYp7Lw2Kd9&#43;Ab/c=", "tok&#x2B;Zq8vN3xYp7Lw2Kd9+Ab&#47;c&#x3D;",
                   "tok%2bZq8vN3xYp7Lw2Kd9+Ab%2Fc=", "tok\\u002bZq8vN3xYp7Lw2Kd9+Ab\\/c="):
        assert redact.text(f"page: {echoed}.") == f"page: {REDACTED}.", echoed
    assert redact.text("tok plus Zq8v") == "tok plus Zq8v"


def test_url_passwords_are_masked_by_every_redactor() -> None:
    """A URL's ``user:password@`` is masked even by a run with no secret; a user alone, a
    path or an address with ``@`` stay."""
    from wsdoctor.redact import Redactor

    redact = Redactor()
    assert redact.text("auth-url https://gate:p@ss@auth/x, redis://:pw@r:6379/0") == \
        f"auth-url https://{REDACTED}@auth/x, redis://{REDACTED}@r:6379/0"
    for kept in ("ssh://git@host/repo", "git@github.com:a/b", "wss://host/a@b:c", "a@b",
                 "--proxy socks5://USER:PASSWORD@proxy:port", "http://$USER:${PASS}@h"):
        assert redact.text(kept) == kept


def test_ordinary_words_after_a_credential_name_stay() -> None:
    """An exec plugin's "token: expired" says what went wrong, not a secret: words (and
    Go's <nil>, a NULL, a camelCase error code) after token:, password=, Bearer stay whole."""
    from wsdoctor.redact import mask_credentials

    for plain in (
        "error: token: expired", "token: invalid", "token: missing", "token: not found",
        "token=none", "token: null", 'got {"token": "NULL"}', "token: <nil>",
        "access token: expired.", "password: wrong", "session: invalidToken",
        "token verification failed", "Bearer invalidated", "basic authentication required",
    ):
        assert mask_credentials(plain) == plain


def test_token_shaped_values_after_a_credential_name_go() -> None:
    """Any value but the words of an error message is a credential, whatever word stands in
    front of it: digits, symbols, mixed case, and plain words such as a weak password."""
    from wsdoctor.redact import mask_credentials

    masked = {
        "token: s3cr3tvalue": "token: <redacted>",
        "token=hunter2 rejected": "token=<redacted> rejected",
        "password: correcthorsebatterystaple": "password: <redacted>",
        "token: wJalrXUtnFEMIKbPxRfiCY": "token: <redacted>",
        'client_secret="Zm9vYmFy/+=="': 'client_secret="<redacted>"',
        "Bearer 0a1b2c3d4e5f": "Bearer <redacted>",
        "token expired: sha256~AbCdEf0123456789": "token expired: <redacted>",
        # Plain lower-case words that are not an error message's are passwords too.
        "password: letmein": "password: <redacted>",
        "Bearer abcdefghij": "Bearer <redacted>",
        "token: hunter rejected": "token: <redacted> rejected",
        "api_key=Dragonfly": "api_key=<redacted>",
    }
    for text, expected in masked.items():
        assert mask_credentials(text) == expected
