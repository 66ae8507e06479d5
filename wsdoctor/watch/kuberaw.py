"""The watch streams' plumbing: list functions the ``kubernetes`` client's ``watch.Watch``
streams from, on raw API paths, and one stream's state (the objects last seen, the version to
watch from, its thread).

The client's typed ``list_*`` methods deserialise into its models, whose first import costs
seconds; the watch needs only the JSON. These functions take the same arguments as the typed
methods (``watch``, ``label_selector``, ``resource_version``...), send the same query through
the same authenticated ``ApiClient``, and return the raw response, as the typed methods do
with ``_preload_content=False``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import field
from typing import Any

from wsdoctor.records import dataclass

_QUERY = (("label_selector", "labelSelector"), ("field_selector", "fieldSelector"),
          ("resource_version", "resourceVersion"), ("timeout_seconds", "timeoutSeconds"),
          ("allow_watch_bookmarks", "allowWatchBookmarks"))


class ListError(Exception):
    """A LIST refused by the API server: its status and the Status message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status} {message}")
        self.status = status
        self.message = message


def raw_lister(api: Any, path: str) -> Callable[..., object]:
    """A list (and watch) function for the collection at ``path``."""

    def list_objects(watch: bool = False, _preload_content: bool = True,
                     _request_timeout: float | None = None, **params: Any) -> object:
        query = [("watch", "true")] if watch else []
        for key, name in _QUERY:
            value = params.get(key)
            if value is not None:
                query.append((name, str(value).lower() if isinstance(value, bool)
                              else str(value)))
        headers = {"Accept": "application/json"}
        if hasattr(api, "param_serialize"):  # kubernetes >= 34
            method, url, headers, _, _ = api.param_serialize(
                "GET", path, query_params=query, header_params=headers,
                auth_settings=["BearerToken"])
            return api.call_api(method, url, header_params=headers,
                                _request_timeout=_request_timeout).response
        return api.call_api(path, "GET", query_params=query, header_params=headers,
                            auth_settings=["BearerToken"], _preload_content=False,
                            _return_http_data_only=True, _request_timeout=_request_timeout)

    list_objects.__doc__ = f"GET {path}"
    return list_objects


def list_body(response: Any) -> dict[str, Any]:
    """The JSON body of a LIST response; ListError for a refusal."""
    data = response.data
    if not 200 <= int(response.status) <= 299:
        text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
        try:
            text = json.loads(text).get("message") or text
        except (ValueError, AttributeError):
            pass
        raise ListError(int(response.status), " ".join(text.split())[:300])
    body = json.loads(data)
    return body if isinstance(body, dict) else {}


@dataclass
class Stream:
    """One list-then-watch loop in a thread."""

    describe: str
    kind: str
    list_fn: Callable[..., Any]
    kwargs: dict[str, Any]
    handle: Callable[[Stream, str, dict[str, Any] | None, dict[str, Any] | None], None]
    state: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    rv: str | None = None
    watcher: Any = None
    thread: threading.Thread | None = None
    stopping: bool = False
    fallback: Stream | None = None
    """A narrower stream to use when this one is forbidden (one namespace for all)."""

    @staticmethod
    def key(obj: dict[str, Any]) -> tuple[str, str]:
        meta = obj.get("metadata") or {}
        return str(meta.get("namespace") or ""), str(meta.get("name") or "")

    def list(self) -> list[dict[str, Any]]:
        """LIST: the current objects and the version to watch from."""
        body = list_body(self.list_fn(**self.kwargs, _preload_content=False,
                                      _request_timeout=30))
        self.rv = str((body.get("metadata") or {}).get("resourceVersion") or "") or None
        return [i for i in body.get("items") or [] if isinstance(i, dict)]

    def prime(self) -> None:
        """The first LIST: the state changes are compared with (nothing is reported)."""
        self.state = {self.key(obj): obj for obj in self.list()}


def halt(stream: Stream, limit: float = 2.0) -> None:
    """Shut the stream's socket until its thread ends: a thread that was just opening its
    watch request would otherwise block until the server's timeout."""
    thread = stream.thread
    deadline = time.monotonic() + limit
    while thread is not None and thread.is_alive() and time.monotonic() < deadline:
        if stream.watcher is not None:
            stream.watcher.stop()
        thread.join(0.05)


def why(exc: BaseException) -> str:
    """One line for a failed request: ``HTTP 403 pods is forbidden: ...``."""
    status = getattr(exc, "status", None)
    if status:
        reason = getattr(exc, "reason", "") or ""
        body = getattr(exc, "body", None)
        message = getattr(exc, "message", None)
        try:
            message = message or (json.loads(body).get("message") if body else None)
        except (TypeError, ValueError, AttributeError):
            message = None
        return f"HTTP {status} {message or reason}".strip()
    return f"{type(exc).__name__}: {exc}"
