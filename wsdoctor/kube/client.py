"""Talking to kube-apiserver like client-go does, read-only, within the check's time limit.

Each GET runs in a thread (the ``kubernetes`` client is synchronous) with a per-request
timeout that never passes the access's deadline. 429 and 5xx answers that carry
``Retry-After`` (API Priority and Fairness, an overloaded server) are retried after the time
the server asks for, at most five times and only while the deadline allows; a reset
connection is retried twice. Lists are
paged (``limit``/``continue``, a full relist when the continue token expired). Every
failure is an :class:`ApiError` whose message says precisely what happened: unreachable
(which URL), certificate rejected, slow (which request, how long), throttled, an odd
status or a body that is not JSON."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from wsdoctor.kube.config import ClusterAccess
from wsdoctor.kube.failures import Cause
from wsdoctor.redact import mask_userinfo

PAGE_SIZE = 500
"""Items per LIST page: what kubectl and client-go informers ask for."""
MAX_RETRIES = 5
T = TypeVar("T")


class ApiError(Exception):
    """A failed request: HTTP status (0 when there was no answer), cause and message."""

    def __init__(self, status: int, message: str, cause: Cause = "http", path: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status
        self.message = message
        self.cause: Cause = cause
        self.path = path


def _short(exc: BaseException) -> str:
    """The useful part of a urllib3/ssl message (no object reprs, no ``_ssl.c`` lines)."""
    text = str(exc)
    for marker in ("Failed to establish a new connection: ", "Caused by "):
        if marker in text:
            text = text.split(marker, 1)[1]
    text = re.sub(r"\s*\(_ssl\.c:\d+\)", "", text)
    text = re.sub(r"<[^>]*object at 0x[0-9a-f]+>:?\s*", "", text)
    return " ".join(text.strip("()'\" ").split())[:300]


def classify(exc: BaseException, access: ClusterAccess, path: str, timeout: float) -> ApiError:
    """An ApiError that names what failed for a transport exception."""
    import urllib3

    errors = urllib3.exceptions
    reason: BaseException = exc
    if isinstance(exc, errors.MaxRetryError) and exc.reason is not None:
        reason = exc.reason
    server = access.server or str(access.api_client.configuration.host)
    if isinstance(reason, errors.NewConnectionError):  # a ConnectTimeoutError subclass
        text = _short(reason)
        conn = getattr(reason, "conn", None)
        if "socks" in type(conn).__name__.lower() or "socks" in text.lower():
            proxy = mask_userinfo(str(access.api_client.configuration.proxy))
            return ApiError(
                0, f"cannot reach {server} through the SOCKS proxy {proxy}: {text}", "proxy", path
            )
        return ApiError(0, f"cannot connect to {server}: {text}", "unreachable", path)
    if isinstance(reason, errors.ConnectTimeoutError):
        return ApiError(
            0,
            f"unreachable: connecting to {server} timed out after {timeout:g} s",
            "unreachable",
            path,
        )
    if isinstance(reason, errors.ReadTimeoutError):
        return ApiError(
            0,
            f"GET {path} got no answer within {timeout:g} s: the server at {server} accepted "
            "the connection but is slow (overloaded, or throttling this client)",
            "timeout",
            path,
        )
    if isinstance(reason, errors.SSLError):
        text = _short(reason)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            detail = text.split("certificate verify failed:", 1)[-1].strip()
            return ApiError(
                0,
                f"the certificate of {server} was rejected ({detail}): check the kubeconfig's "
                "certificate-authority",
                "tls",
                path,
            )
        return ApiError(0, f"TLS with {server} failed: {text}", "tls", path)
    if isinstance(reason, errors.ProxyError):
        return ApiError(0, f"the proxy to {server} failed: {_short(reason)}", "proxy", path)
    if isinstance(reason, errors.ProtocolError):
        # ProtocolError('Connection aborted.', RemoteDisconnected('Remote end closed ...')):
        # the inner error says what happened; the pair's repr is not for people.
        last = reason.args[-1] if reason.args else None
        inner = last if isinstance(last, BaseException) else reason
        return ApiError(
            0, f"{server} closed the connection during GET {path} ({_short(inner)})", "reset", path
        )
    return ApiError(0, f"cannot connect to {server}: {_short(reason)}", "unreachable", path)


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def _once(
    access: ClusterAccess, path: str, query: list[tuple[str, str]], timeout: float
) -> tuple[int, bytes, Any]:
    """One GET: (status, body, headers); transport exceptions propagate."""
    from kubernetes.client.exceptions import ApiException

    api = access.api_client
    headers = {"Accept": "application/json", **access.headers}
    request_timeout = (timeout, timeout)
    try:
        if hasattr(api, "param_serialize"):
            method, url, headers, _, _ = api.param_serialize(
                "GET",
                path,
                query_params=query,
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            response = api.call_api(
                method, url, header_params=headers, _request_timeout=request_timeout
            )
            data = _read_body(response.response, access.deadline, path)
            return int(response.status), data, response.headers
        response = api.call_api(
            path,
            "GET",
            query_params=query,
            header_params=headers,
            auth_settings=["BearerToken"],
            _preload_content=False,
            _return_http_data_only=True,
            _request_timeout=request_timeout,
        )
        return int(response.status), response.data or b"", response.headers
    except ApiException as exc:
        body = exc.body if isinstance(exc.body, bytes) else str(exc.body or exc.reason).encode()
        return int(exc.status or 0), body, exc.headers


class StillArriving(Exception):
    """The check's time limit ran out while an answer's body was still arriving."""

    def __init__(self, received: int, seconds: float) -> None:
        super().__init__(f"{received} bytes in {seconds:.1f} s")
        self.received = received
        self.seconds = seconds


def _read_body(raw: Any, deadline: float, path: str) -> bytes:
    """The whole body, read a socket read at a time so that an answer still trickling in
    (a large list over a slow link: every read gets bytes, no read timeout fires) ends at
    the deadline instead of holding the thread, and the process, past the check's limit."""
    chunks: list[bytes] = []
    received = 0
    start = time.monotonic()
    try:
        while chunk := raw.read1(1 << 16):
            chunks.append(chunk)
            received += len(chunk)
            if time.monotonic() >= deadline:
                raise StillArriving(received, time.monotonic() - start)
    except BaseException:
        raw.close()  # half read: the connection cannot serve another request
        raise
    raw.release_conn()
    return b"".join(chunks)


def _message(status: int, data: bytes) -> str:
    """The Status message of an error body, or the start of the body."""
    text = data.decode(errors="replace")
    try:
        body = json.loads(text)
        if isinstance(body, dict) and body.get("message"):
            return " ".join(str(body["message"]).split())[:500]
    except ValueError:
        pass
    text = " ".join(text.split())
    return text[:200] or "(empty body)"


def get(access: ClusterAccess, path: str, query: list[tuple[str, str]] | None = None) -> Any:
    """GET and parse JSON; retried as client-go retries; ApiError when it cannot succeed,
    its message free of the credentials sent (a proxy may echo them in an error page)."""
    try:
        return _get(access, path, query)
    except ApiError as exc:
        if access.secrets:
            from wsdoctor.redact import Redactor

            exc.message = Redactor(access.secrets).text(exc.message)
            exc.args = (f"HTTP {exc.status}: {exc.message}" if exc.status else exc.message,)
        raise


def _get(access: ClusterAccess, path: str, query: list[tuple[str, str]] | None) -> Any:
    import urllib3

    query = query or []
    shown = path + (
        "?" + "&".join(f"{k}={v}" for k, v in query if k != "continue") if query else ""
    )
    attempt = 0
    while True:
        left = access.deadline - time.monotonic()
        if left <= 0.05:
            raise ApiError(
                0, f"GET {shown} was not sent: the check's time limit had run out", "deadline",
                shown,
            )
        timeout = min(access.timeout, left)
        try:
            status, data, headers = _once(access, path, query, timeout)
        except StillArriving as exc:
            raise ApiError(
                0,
                f"GET {shown} was still arriving when the check's time limit ran out "
                f"({exc}): the list is large or the link to the API server slow",
                "deadline",
                shown,
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            error = classify(exc, access, shown, timeout)
            if error.cause == "reset" and attempt < 2:
                attempt += 1
                time.sleep(min(0.2 * attempt, max(0.0, left - 0.1)))
                continue
            raise error from None
        if 200 <= status <= 299:
            try:
                return json.loads(data)
            except ValueError:
                raise ApiError(
                    status,
                    f"GET {shown} answered a body that is not JSON: {_message(status, data)}",
                    "bad-response",
                    shown,
                ) from None
        wait = _retry_after(headers)
        # client-go's rule: 429 and 5xx are retried when the server says when (Retry-After).
        retryable = wait is not None and (status == 429 or 500 <= status <= 599)
        if retryable and wait is not None and attempt < MAX_RETRIES and wait < left - 0.1:
            attempt += 1
            time.sleep(wait)
            continue
        raise _status_error(status, data, shown, attempt, wait)


def _status_error(
    status: int, data: bytes, shown: str, attempt: int, wait: float | None
) -> ApiError:
    message = _message(status, data)
    tried = f" (tried {attempt + 1} times" + (
        f", the server asked to wait {wait:g} s more)" if wait is not None else ")"
    )
    if attempt == 0 and wait is None:
        tried = ""
    if status == 429:
        return ApiError(status, f"GET {shown} throttled: {message}{tried}", "throttled", shown)
    if 500 <= status <= 599:
        return ApiError(
            status, f"GET {shown}: HTTP {status} {message}{tried}", "server-error", shown
        )
    if status == 401:
        return ApiError(status, message, "unauthorized", shown)
    if status in (400, 403, 404, 405, 409, 410, 422):
        return ApiError(status, message, "http", shown)
    return ApiError(
        status,
        f"GET {shown} answered an unexpected HTTP {status}: {message}",
        "bad-response",
        shown,
    )


def list_items(
    access: ClusterAccess,
    path: str,
    query: list[tuple[str, str]] | None,
    convert: Callable[[dict[str, Any]], T | None],
) -> list[T]:
    """Every item of a LIST, page by page (``limit``/``continue``), each converted as it
    arrives (``None``: dropped) so only one page of raw JSON is held at a time. One full
    relist when the continue token expired midway (410), as client-go's pager does."""
    base = list(query or [])
    token = ""
    relisted = False
    found: list[T] = []
    tokens: set[str] = set()
    while True:
        params = [*base, ("limit", str(PAGE_SIZE))] + ([("continue", token)] if token else [])
        try:
            page = get(access, path, params)
        except ApiError as exc:
            if exc.status == 410 and token and not relisted:
                relisted, token, found = True, "", []
                tokens.clear()
                continue
            raise
        items = page.get("items") if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise ApiError(
                200, f"GET {path} answered something that is not a list", "bad-response", path
            )
        for item in items:
            if isinstance(item, dict):
                converted = convert(item)
                if converted is not None:
                    found.append(converted)
        del items
        token = str((page.get("metadata") or {}).get("continue") or "")
        del page
        if not token:
            return found
        if token in tokens:  # a server (or proxy) paging in a circle: the list never ends
            raise ApiError(200, f"GET {path} answered a continue token it had already "
                           "answered: its pages go round in a circle", "bad-response", path)
        tokens.add(token)
