"""The HTTP side of the fake API: authentication (bearer tokens, scheme case-insensitive),
request info and RBAC *before* routing (a forbidden path is 403 even where nothing is
served, as kube-apiserver answers), injected faults, discovery, GET and paged LIST."""

from __future__ import annotations

import base64
import binascii
import json
import socket
import struct
import time
from dataclasses import dataclass
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from wsdoctor.lab.kubeapi.resources import (
    BUILTIN,
    DISCOVERY_PATHS,
    ApiStatus,
    ResourceType,
    Rule,
    bad_request,
    not_found,
    status,
)
from wsdoctor.lab.kubeapi.selectors import Selector
from wsdoctor.lab.kubeapi.store import Fault

if TYPE_CHECKING:
    from wsdoctor.lab.kubeapi.server import APIServer

_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def truthy(value: str | None) -> bool:
    """Go's ``strconv.ParseBool`` true values (how ``watch=1`` is read)."""
    return value in ("1", "t", "T", "true", "TRUE", "True")


@dataclass
class RequestInfo:
    """What kube-apiserver's RequestInfoFactory makes of a URL: verb, resource, scope."""

    path: str
    verb: str
    resource_request: bool = False
    group: str = ""
    version: str = ""
    namespace: str | None = None
    resource: str = ""
    name: str | None = None
    sub: str = ""

    @classmethod
    def parse(cls, method: str, path: str, query: dict[str, str]) -> RequestInfo:
        parts = [unquote(p) for p in path.strip("/").split("/") if p]
        verb = _VERBS.get(method, "get")
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return cls(path, verb)
        watch = truthy(query.get("watch"))
        if rest[0] == "watch":
            watch, rest = True, rest[1:]
        namespace = None
        if rest and rest[0] == "namespaces" and len(rest) >= 2:
            namespace = rest[1]
            if len(rest) >= 3:
                rest = rest[2:]
        if not rest:
            return cls(path, verb)
        name = rest[1] if len(rest) >= 2 else None
        if method in ("GET", "HEAD"):
            verb = "watch" if watch else ("get" if name else "list")
        elif method == "DELETE" and name is None:
            verb = "deletecollection"
        sub = "/".join(rest[2:])
        return cls(path, verb, True, group, version, namespace, rest[0], name, sub)


class Handler(BaseHTTPRequestHandler):
    server: APIServer
    protocol_version = "HTTP/1.1"
    trickle = 0.0
    """Seconds between the small writes of the current answer's body (a trickle fault)."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- answering -----------------------------------------------------------------------

    def send_body(
        self,
        code: int,
        data: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        pause = self.trickle
        if not pause:
            self.wfile.write(data)
            return
        for start in range(0, len(data), 64):
            self.wfile.write(data[start : start + 64])
            self.wfile.flush()
            time.sleep(pause)

    def send_json(self, code: int, body: dict[str, Any]) -> None:
        self.send_body(code, json.dumps(body).encode())

    def _apply_fault(self, fault: Fault) -> bool:
        """Carry out a fault; True when it replaced the answer."""
        if fault.delay:
            time.sleep(fault.delay)
        self.trickle = fault.trickle
        if fault.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return True
        if fault.status is None:
            return False
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        if fault.body is not None:
            self.send_body(fault.status, fault.body, "text/plain", headers)
        elif fault.status == 429:  # API Priority and Fairness answers in plain text
            message = b"Too many requests, please try again later.\n"
            self.send_body(429, message, "text/plain; charset=utf-8", headers)
        else:
            reason = {500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
            body = status(
                fault.status,
                reason.get(fault.status, "Unknown"),
                f"injected fault: HTTP {fault.status}",
                {"retryAfterSeconds": fault.retry_after} if fault.retry_after else None,
            )
            self.send_body(fault.status, json.dumps(body).encode(), headers=headers)
        return True

    # -- dispatch ------------------------------------------------------------------------

    def _handle(self) -> None:
        api = self.server.api
        with api.lock:
            api.requests.append((self.command, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        fault = api.fault_for(url.path, truthy(query.get("watch")))
        self.trickle = 0.0  # one handler serves every request of a kept-alive connection
        if fault is not None and self._apply_fault(fault):
            return
        token = self._token()
        if token is None or token not in api.tokens:
            self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
            return
        info = RequestInfo.parse(self.command, url.path, query)
        try:
            self._authorize(info, api.tokens[token], token)
            self._route(info, query)
        except ApiStatus as exc:
            self.send_json(exc.code, exc.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def _token(self) -> str | None:
        """The bearer token (``<scheme> <token>``, scheme compared case-insensitively), else
        the CN of a client certificate the server's CA signed."""
        parts = self.headers.get("Authorization", "").split(" ", 2)
        if len(parts) >= 2 and parts[0].lower() == "bearer" and parts[1]:
            return parts[1]
        if self.headers.get("Authorization"):
            return None
        peer = getattr(self.connection, "getpeercert", lambda: None)()
        for rdn in (peer or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None

    def _authorize(self, info: RequestInfo, rules: tuple[Rule, ...], token: str) -> None:
        user = f"system:serviceaccount:test:{token}"
        if not info.resource_request:
            if info.verb == "get" and any(fnmatchcase(info.path, p) for p in DISCOVERY_PATHS):
                return
            if any(rule.allows_path(info.verb, info.path) for rule in rules):
                return
            message = f'forbidden: User "{user}" cannot {info.verb} path "{info.path}"'
            raise ApiStatus(403, "Forbidden", message, {})
        if any(
            rule.allows(info.verb, info.group, info.resource, info.namespace, info.sub)
            for rule in rules
        ):
            return
        resource = f"{info.resource}/{info.sub}" if info.sub else info.resource
        what = f'resource "{info.resource}"' if not info.sub else f'resource "{resource}"'
        scope = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
        qualified = f"{info.resource}.{info.group}" if info.group else info.resource
        subject = f'{qualified} "{info.name}"' if info.name else qualified
        message = (
            f'{subject} is forbidden: User "{user}" cannot {info.verb} {what} '
            f'in API group "{info.group}" {scope}'
        )
        details: dict[str, Any] = {"group": info.group, "kind": info.resource}
        if info.name:
            details["name"] = info.name
        raise ApiStatus(403, "Forbidden", message, details)

    def _route(self, info: RequestInfo, query: dict[str, str]) -> None:
        from wsdoctor.lab.kubeapi import discovery

        if not info.resource_request:
            body = discovery.answer(self.server.api, info.path)
            if body is None:
                raise not_found()
            if isinstance(body, str):
                self.send_body(200, body.encode(), "text/plain; charset=utf-8")
            else:
                self.send_json(200, body)
            return
        api = self.server.api
        rt = next(
            (
                t
                for t in api.types
                if (t.group, t.version, t.plural) == (info.group, info.version, info.resource)
            ),
            None,
        )
        if rt is None:
            raise not_found()
        namespace = info.namespace
        if rt.plural == "namespaces":
            namespace = None
        elif namespace is not None and not rt.namespaced:
            raise not_found()
        handler = self.server.subresources.get(info.sub) if info.sub else None
        if handler is not None:  # connect subresources (portforward) check their own verbs
            handler(self, rt, info, query)
            return
        if info.verb not in ("get", "list", "watch"):
            raise ApiStatus(405, "MethodNotAllowed", "the fake API server is read-only")
        if info.sub and info.sub != "status":
            raise not_found()
        if info.verb == "watch":
            from wsdoctor.lab.kubeapi.watch import serve_watch

            serve_watch(self, rt, namespace, info.name, query)
        elif info.name is not None:
            self._get(rt, namespace, info.name)
        else:
            self._list(rt, namespace, query)

    def _get(self, rt: ResourceType, namespace: str | None, name: str) -> None:
        found = self.server.api.get(rt, namespace, name)
        if found is None:
            raise ApiStatus(
                404,
                "NotFound",
                f'{rt.qualified} "{name}" not found',
                {"name": name, "group": rt.group, "kind": rt.plural},
            )
        self.send_json(200, found)

    def _list(self, rt: ResourceType, namespace: str | None, query: dict[str, str]) -> None:
        api = self.server.api
        selector = Selector.parse(query, rt)
        limit = _int_param(query, "limit")
        at, start, limit = list_version(query, limit, api.resource_version)
        rv, objs, last, remaining = api.page(rt, at, namespace, start, limit, selector.matches)
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if last is not None:
            meta["continue"] = encode_continue(rv, last)
            if selector.empty:
                meta["remainingItemCount"] = remaining
        builtin = rt in BUILTIN
        items = [
            {k: v for k, v in o.items() if k not in ("kind", "apiVersion")} if builtin else o
            for o in objs
        ]
        body = {"kind": f"{rt.kind}List", "apiVersion": rt.group_version, "metadata": meta}
        # Serialised here, outside the store's lock, from the objects the page selected.
        data = json.dumps({**body, "items": items}).encode()
        self.send_body(200, data)


def _int_param(query: dict[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{name}: Invalid value: {raw!r}") from None
    return value if value > 0 else None


def encode_continue(rv: int, last: str) -> str:
    """The continue token kube-apiserver hands out: base64 of the version and next key."""
    token = {"v": "meta.k8s.io/v1", "rv": rv, "start": last + "\x00"}
    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode().rstrip("=")


def list_version(
    query: dict[str, str], limit: int | None, current: int
) -> tuple[int | None, str, int | None]:
    """(version to read or None for the newest, key to start at, limit) for a LIST, with the
    ``resourceVersion``/``resourceVersionMatch``/``continue`` rules of kube-apiserver."""
    rv_param = query.get("resourceVersion", "")
    match = query.get("resourceVersionMatch", "")
    if match and match not in ("Exact", "NotOlderThan"):
        raise bad_request(f'resourceVersionMatch: Unsupported value: "{match}"')
    if match and not rv_param:
        raise bad_request("resourceVersionMatch is forbidden unless resourceVersion is provided")
    token = query.get("continue", "")
    if token:
        if rv_param or match:
            raise bad_request("specifying resource version is not allowed when using continue")
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            return int(decoded["rv"]), str(decoded["start"]), limit
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise bad_request("continue key is not valid: incorrect encoded start") from None
    if not rv_param:
        return None, "", limit
    if rv_param == "0":
        if match == "Exact":
            raise bad_request('resourceVersionMatch "Exact" is forbidden for resourceVersion "0"')
        return None, "", None  # served from the watch cache: the limit is ignored
    try:
        wanted = int(rv_param)
    except ValueError:
        raise bad_request(f'resourceVersion: Invalid value: "{rv_param}"') from None
    if wanted > current:
        raise ApiStatus(
            504,
            "Timeout",
            f"Too large resource version: {wanted}, current: {current}",
            {
                "causes": [
                    {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
                ],
                "retryAfterSeconds": 1,
            },
        )
    exact = match == "Exact" or (not match and limit is not None)
    return (wanted if exact else None), "", limit
