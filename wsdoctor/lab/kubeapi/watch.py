"""``watch=true``: a chunked stream of watch events, one JSON object per line, as
kube-apiserver's watch cache sends them: ADDED/MODIFIED/DELETED filtered by namespace and
selectors (an object leaving the selector is DELETED), BOOKMARK when allowed, the initial
state when asked (``sendInitialEvents``), ERROR 410 for a version older than the history,
and the end of the stream at ``timeoutSeconds``."""

from __future__ import annotations

import json
import ssl
import time
from typing import TYPE_CHECKING, Any

from wsdoctor.lab.kubeapi.resources import ApiStatus, ResourceType, bad_request
from wsdoctor.lab.kubeapi.selectors import Selector
from wsdoctor.lab.kubeapi.store import Event

if TYPE_CHECKING:
    from wsdoctor.lab.kubeapi.handler import Handler

DEFAULT_TIMEOUT = 1800.0
"""kube-apiserver's ``--min-request-timeout``: a watch without ``timeoutSeconds`` ends then."""


def _event(kind: str, obj: dict[str, Any]) -> bytes:
    return json.dumps({"type": kind, "object": obj}).encode() + b"\n"


def translate(
    event: Event, rt: ResourceType, namespace: str | None, selector: Selector
) -> bytes | None:
    """The event a watcher of (rt, namespace, selector) sees, if any."""
    if event.rt is not rt or (namespace is not None and event.key[0] != namespace):
        return None
    now = selector.matches(event.obj)
    if event.type != "MODIFIED":
        return _event(event.type, event.obj) if now else None
    before = event.old is not None and selector.matches(event.old)
    if now:
        return _event("MODIFIED" if before else "ADDED", event.obj)
    if before and event.old is not None:
        gone = {
            **event.old,
            "metadata": {**event.old["metadata"], "resourceVersion": str(event.rv)},
        }
        return _event("DELETED", gone)
    return None


def _bookmark(rt: ResourceType, rv: int, initial_end: bool = False) -> bytes:
    meta: dict[str, Any] = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _event("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.group_version, "metadata": meta})


def _validate(query: dict[str, str]) -> tuple[bool, str | None, float]:
    """(allowWatchBookmarks, sendInitialEvents, timeout) or 400 as kube-apiserver validates."""
    from wsdoctor.lab.kubeapi.handler import truthy

    bookmarks = truthy(query.get("allowWatchBookmarks"))
    initial = query.get("sendInitialEvents")
    match = query.get("resourceVersionMatch", "")
    if initial is not None:
        initial = "true" if truthy(initial) else "false"
        if match != "NotOlderThan":
            raise bad_request(
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless "
                "resourceVersionMatch is set to NotOlderThan"
            )
        if initial == "true" and not bookmarks:
            raise bad_request(
                "allowWatchBookmarks: Forbidden: allowWatchBookmarks must be set to true when "
                "sendInitialEvents is specified"
            )
    elif match:
        raise bad_request(
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
            "unless sendInitialEvents is provided"
        )
    raw = query.get("timeoutSeconds")
    try:
        timeout = float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        raise bad_request(f'timeoutSeconds: Invalid value: "{raw}"') from None
    return bookmarks, initial, timeout if timeout > 0 else DEFAULT_TIMEOUT


def serve_watch(
    handler: Handler,
    rt: ResourceType,
    namespace: str | None,
    name: str | None,
    query: dict[str, str],
) -> None:
    """Stream events until the timeout, the client leaving or the server stopping."""
    api = handler.server.api
    selector = Selector.parse(query, rt)
    if name is not None:
        selector = Selector(selector.labels, (*selector.fields, ("metadata.name", False, name)))
    bookmarks, initial, timeout = _validate(query)
    rv_param = query.get("resourceVersion", "")
    if rv_param not in ("", "0"):
        try:
            int(rv_param)
        except ValueError:
            raise bad_request(f'resourceVersion: Invalid value: "{rv_param}"') from None
    deadline = time.monotonic() + timeout
    first: list[bytes] = []
    with api.lock:
        if initial == "true" or (initial is None and rv_param in ("", "0")):
            cursor, objs, _, _ = api.page(rt, None, namespace, "", None, selector.matches)
            first = [_event("ADDED", o) for o in objs]
            if initial == "true":
                first.append(_bookmark(rt, cursor, initial_end=True))
        else:
            cursor = int(rv_param) if rv_param not in ("", "0") else api.resource_version
        seen_requests = api._bookmark_requests
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    last_sent = time.monotonic()
    try:
        for data in first:
            _chunk(handler, data)
        while True:
            out: list[bytes] = []
            with api.lock:
                while True:
                    if handler.server.stopping.is_set():
                        return
                    try:
                        events = api.events_after(cursor)
                    except ApiStatus as exc:
                        _chunk(handler, _event("ERROR", exc.body))
                        _chunk(handler, b"")
                        return
                    now = time.monotonic()
                    due = bookmarks and (
                        api._bookmark_requests != seen_requests
                        or now - last_sent >= api.bookmark_interval
                    )
                    if events or due or now >= deadline:
                        break
                    wait = deadline - now
                    if bookmarks:
                        wait = min(wait, api.bookmark_interval - (now - last_sent))
                    api.lock.wait(timeout=max(0.01, min(wait, 1.0)))
                for event in events:
                    translated = translate(event, rt, namespace, selector)
                    if translated is not None:
                        out.append(translated)
                cursor = max(cursor, api.resource_version) if events else cursor
                if due:
                    seen_requests = api._bookmark_requests
                    cursor = max(cursor, api.resource_version)
                    out.append(_bookmark(rt, cursor))
            for data in out:
                _chunk(handler, data)
            if out:
                last_sent = time.monotonic()
            if time.monotonic() >= deadline:
                _chunk(handler, b"")
                return
    except (OSError, ssl.SSLError):
        handler.close_connection = True


def _chunk(handler: Handler, data: bytes) -> None:
    """One HTTP/1.1 chunk (an empty one ends the body)."""
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
    handler.wfile.flush()
