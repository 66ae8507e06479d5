"""The fake API's state: objects per resource type, a global ``resourceVersion``, the event
history that watches and paged lists read, and the faults tests inject.

Every method is thread-safe: tests create, update and delete objects while the server's
threads serve lists and stream watches."""

from __future__ import annotations

import bisect
import copy
import threading
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from wsdoctor.lab.kubeapi.resources import BUILTIN, CRDS, READ_ALL, ResourceType, Rule, gone

Key = tuple[str, str]
"""(namespace, name); namespace is "" for cluster-scoped objects. Sorted as etcd keys are."""


@dataclass(frozen=True)
class Event:
    """One change: the object after it (before it, for DELETED) and the state it replaced."""

    rv: int
    type: str
    """ADDED, MODIFIED or DELETED."""
    rt: ResourceType
    key: Key
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or before) answering a request."""

    status: int | None = None
    """Answer this HTTP status (429, 500, 503, 999...)."""
    retry_after: int | None = None
    """``Retry-After`` header, seconds."""
    delay: float = 0.0
    """Wait this long first (then answer normally, unless ``status`` is set)."""
    reset: bool = False
    """Close the connection with a TCP RST instead of answering."""
    body: bytes | None = None
    """Raw body (default: a ``Status`` for 5xx, APF's plain text for 429)."""
    trickle: float = 0.0
    """Answer normally, but send the body a few bytes at a time, this many seconds apart (a
    large list over a slow link: every read gets bytes, so no read timeout fires)."""

    @classmethod
    def throttle(cls, retry_after: int = 1) -> Fault:
        """429 Too Many Requests, as API Priority and Fairness answers."""
        return cls(status=429, retry_after=retry_after)

    @classmethod
    def error(cls, code: int = 500, retry_after: int | None = None) -> Fault:
        return cls(status=code, retry_after=retry_after)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def trickling(cls, seconds: float) -> Fault:
        return cls(trickle=seconds)

    @classmethod
    def connection_reset(cls) -> Fault:
        return cls(reset=True)


@dataclass
class Injection:
    """A fault on the requests whose path matches ``path`` (a glob), ``times`` times."""

    path: str
    fault: Fault
    times: int | None = None
    """None: every matching request."""
    watch: bool | None = None
    """None: lists, gets and watches alike; True/False: only watches / only the others."""
    hits: int = 0


def _sort_key(key: Key) -> str:
    """The etcd key suffix: objects are listed in this order."""
    return f"{key[0]}/{key[1]}" if key[0] else key[1]


@dataclass
class FakeKubeAPI:
    """State of the fake API server: resource types, objects, tokens and the request log."""

    crds: Iterable[str] = ("gateway", "traefik", "traefik-legacy", "istio", "linkerd")
    tokens: dict[str, tuple[Rule, ...]] = field(default_factory=lambda: {"admin-token": READ_ALL})
    requests: list[tuple[str, str]] = field(default_factory=list)
    resource_version: int = 1000
    history: int = 100_000
    """Events kept: a list ``continue`` or a watch from an older version gets 410 Expired."""
    bookmark_interval: float = 60.0
    """Seconds between BOOKMARK events on watches that allow them (kube-apiserver: ~1 min)."""
    server_version: str = "v1.35.0"
    pod_ports: dict[tuple[str, str, int], tuple[str, int]] = field(default_factory=dict)
    """Port-forward targets: (namespace, pod, port) → the lab server standing for that port
    of that pod (see :meth:`forward_pod`)."""

    def __post_init__(self) -> None:
        self.types = list(BUILTIN) + [rt for name in self.crds for rt in CRDS[name]]
        self.lock = threading.Condition()
        self._store: dict[ResourceType, dict[Key, dict[str, Any]]] = {t: {} for t in self.types}
        self._sorted: dict[ResourceType, list[str]] = {}
        self._events: deque[Event] = deque(maxlen=self.history)
        self._compacted = self.resource_version
        self._injections: list[Injection] = []
        self._generation = 0  # bumped to wake watches (bookmark requests, shutdown)
        self._bookmark_requests = 0

    # -- reading -------------------------------------------------------------------------

    @property
    def objects(self) -> list[dict[str, Any]]:
        """Every stored object (copies)."""
        with self.lock:
            return [copy.deepcopy(o) for objs in self._store.values() for o in objs.values()]

    def type_of(self, api_version: str, kind: str) -> ResourceType | None:
        return next(
            (t for t in self.types if t.group_version == api_version and t.kind == kind), None
        )

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> dict[str, Any] | None:
        with self.lock:
            return self._store[rt].get((namespace or "", name))

    def page(
        self,
        rt: ResourceType,
        at: int | None,
        namespace: str | None,
        start: str,
        limit: int | None,
        keep: Any,
    ) -> tuple[int, list[dict[str, Any]], str | None, int]:
        """A consistent list: (resourceVersion, items from ``start`` on, the key to continue
        after or None, how many remain). ``at`` None: the newest state; else exactly that
        version (410 Expired if it is older than the history kept). ``keep``: a predicate."""
        with self.lock:
            rv = self.resource_version if at is None else at
            if rv < self._compacted:
                raise gone(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
            objs = self._store[rt] if rv == self.resource_version else self._state_at(rt, rv)
            keys = self._sorted.get(rt) if objs is self._store[rt] else None
            if keys is None:
                keys = sorted(_sort_key(k) for k in objs)
                if objs is self._store[rt]:
                    self._sorted[rt] = keys
            by_sort = {_sort_key(k): k for k in objs} if objs is not self._store[rt] else None
            prefix = f"{namespace}/" if namespace and rt.namespaced else ""
            index = bisect.bisect_left(keys, max(start, prefix))
            items: list[dict[str, Any]] = []
            last: str | None = None
            while index < len(keys) and (not prefix or keys[index].startswith(prefix)):
                sk = keys[index]
                index += 1
                key = by_sort[sk] if by_sort is not None else _key_of(sk, rt)
                obj = objs[key]
                if keep(obj):
                    items.append(obj)
                    last = sk
                    if limit is not None and len(items) >= limit:
                        break
            more = index < len(keys) and (not prefix or keys[index].startswith(prefix))
            remaining = 0
            if more:
                end = bisect.bisect_left(keys, prefix + "\U0010ffff") if prefix else len(keys)
                remaining = end - index
            return rv, items, (last if more else None), remaining

    def _state_at(self, rt: ResourceType, rv: int) -> dict[Key, dict[str, Any]]:
        """The objects of ``rt`` as they were at ``rv`` (newer events undone)."""
        state = dict(self._store[rt])
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            if event.rt is not rt:
                continue
            if event.old is None:
                state.pop(event.key, None)
            else:
                state[event.key] = event.old
        return state

    def events_after(self, rv: int) -> list[Event]:
        """Events newer than ``rv`` (call with the lock held); 410 if history lost them."""
        if rv < self._compacted:
            raise gone(f"too old resource version: {rv} ({self._compacted})")
        if not self._events or self._events[-1].rv <= rv:
            return []
        # Every change takes the next version, so event i has version first + i.
        return list(islice(self._events, max(0, rv + 1 - self._events[0].rv), None))

    # -- writing -------------------------------------------------------------------------

    def _record(
        self, rt: ResourceType, kind: str, key: Key, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        if len(self._events) == self._events.maxlen:
            self._compacted = self._events[0].rv
        self._events.append(Event(self.resource_version, kind, rt, key, obj, old))
        self.lock.notify_all()

    def _prepare(
        self, obj: dict[str, Any], share: bool = False
    ) -> tuple[ResourceType, Key, dict[str, Any]] | None:
        rt = self.type_of(str(obj.get("apiVersion")), str(obj.get("kind")))
        if rt is None:
            return None  # a kind this server does not serve (its CRD is not installed)
        # Shared: the server's metadata is its own, the rest is the caller's.
        obj = {**obj, "metadata": dict(obj.get("metadata") or {})} if share else copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        return rt, (str(meta.get("namespace") or ""), str(meta.get("name") or "")), obj

    def _put(
        self, obj: dict[str, Any], must_exist: bool | None, share: bool = False
    ) -> dict[str, Any] | None:
        prepared = self._prepare(obj, share)
        if prepared is None:
            return None
        rt, key, obj = prepared
        with self.lock:
            old = self._store[rt].get(key)
            if must_exist is True and old is None:
                raise KeyError(f"{rt.qualified} {key} not found")
            if must_exist is False and old is not None:
                raise KeyError(f"{rt.qualified} {key} already exists")
            self.resource_version += 1
            meta = obj["metadata"]
            meta["resourceVersion"] = str(self.resource_version)
            if old is None:
                meta.setdefault("uid", str(uuid.uuid4()))
                meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
                self._sorted.pop(rt, None)
            else:
                meta["uid"] = old["metadata"].get("uid")
                meta["creationTimestamp"] = old["metadata"].get("creationTimestamp")
            self._store[rt][key] = obj
            self._record(rt, "ADDED" if old is None else "MODIFIED", key, obj, old)
            return obj if share else copy.deepcopy(obj)

    def create(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Store a new object (KeyError if it exists); None for a kind not served."""
        return self._put(obj, must_exist=False)

    def update(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Replace an existing object (KeyError if absent): watches see MODIFIED."""
        return self._put(obj, must_exist=True)

    def apply(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """Create or replace."""
        return self._put(obj, must_exist=None)

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
        """Remove an object (KeyError if absent): watches see DELETED."""
        rt = self.type_of(api_version, kind)
        if rt is None:
            raise KeyError(f"{kind} is not served")
        key = ((namespace or "default") if rt.namespaced else "", name)
        with self.lock:
            old = self._store[rt].pop(key)
            self._sorted.pop(rt, None)
            self.resource_version += 1
            gone_obj = copy.deepcopy(old)
            gone_obj["metadata"]["resourceVersion"] = str(self.resource_version)
            self._record(rt, "DELETED", key, gone_obj, old)

    def add(self, *objs: dict[str, Any], share: bool = False) -> None:
        """Store objects (create or replace; namespace defaults to ``default``). ``share``:
        keep the caller's spec/status/data instead of copies (large generated clusters whose
        objects share their bodies; the caller must not change them afterwards)."""
        for obj in objs:
            self._put(obj, must_exist=None, share=share)

    def load(self, *paths: Path) -> None:
        """Objects from YAML files (multi-document, ``List`` kinds)."""
        for path in paths:
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List"):
                    self.add(*doc.get("items") or [])
                elif isinstance(doc, dict):
                    self.add(doc)

    def bookmark(self) -> None:
        """Make every open watch that allows bookmarks send one now."""
        with self.lock:
            self._bookmark_requests += 1
            self.lock.notify_all()

    # -- faults --------------------------------------------------------------------------

    def inject(
        self, path: str, fault: Fault, times: int | None = None, watch: bool | None = None
    ) -> Injection:
        """Apply ``fault`` to requests whose URL path matches the glob ``path``."""
        injection = Injection(path, fault, times, watch)
        with self.lock:
            self._injections.append(injection)
        return injection

    def clear_faults(self) -> None:
        with self.lock:
            self._injections.clear()

    def forward_pod(self, namespace: str, pod: str, port: int, to: tuple[str, int]) -> None:
        """``pods/portforward`` to ``port`` of ``namespace/pod`` reaches ``to`` (host, port)."""
        with self.lock:
            self.pod_ports[(namespace, pod, port)] = to

    def pod_target(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        """Where a port-forward to ``namespace/pod:port`` goes (None: nothing listens)."""
        with self.lock:
            return self.pod_ports.get((namespace, pod, port))

    def fault_for(self, path: str, watch: bool) -> Fault | None:
        """The fault to apply to this request, counting it."""
        with self.lock:
            for inj in self._injections:
                if inj.times is not None and inj.hits >= inj.times:
                    continue
                if inj.watch is not None and inj.watch != watch:
                    continue
                if fnmatchcase(path, inj.path):
                    inj.hits += 1
                    return inj.fault
        return None

    def wake(self) -> None:
        """Wake every waiting watch (the server is stopping)."""
        with self.lock:
            self._generation += 1
            self.lock.notify_all()


def _key_of(sort_key: str, rt: ResourceType) -> Key:
    if not rt.namespaced:
        return ("", sort_key)
    namespace, _, name = sort_key.partition("/")
    return (namespace, name)
