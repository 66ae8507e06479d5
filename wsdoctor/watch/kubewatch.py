"""Watch streams on the cluster objects behind the target's route, read-only, with the real
``kubernetes`` client's ``watch.Watch`` in threads (one per stream):

- the backend pods (the Service's selector) and their EndpointSlices;
- the Deployments, ReplicaSets, HPAs and Events of the backend namespace (those about the
  backend's pods and workloads);
- the Ingresses of the route's class (any of them makes ingress-nginx reload), or the route
  itself for other kinds; the controller's ConfigMap, and the controller namespace's Events.

Each stream lists first (the state to compare with), then watches from the list's
``resourceVersion``; a 410 (expired) lists again; other errors are retried with backoff. Every
change that can cut a WebSocket is delivered as a :class:`~wsdoctor.watch.model.ClusterEvent`
stamped with the time wsdoctor received it (the same clock as the drops).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from wsdoctor.kube import backends
from wsdoctor.watch.kubediff import (
    Change,
    config_changes,
    endpoint_changes,
    event_change,
    hpa_changes,
    pod_changes,
    workload_changes,
)
from wsdoctor.watch.kubeplan import ClusterWatchError, WatchPlan, watch_plan
from wsdoctor.watch.kuberaw import Stream, halt, raw_lister, why
from wsdoctor.watch.model import ClusterEvent

if TYPE_CHECKING:
    from wsdoctor.checks.cluster import ClusterObservation
    from wsdoctor.settings import Settings

#: Server-side end of each watch request (it is then reopened from the last version).
WATCH_TIMEOUT_S = 240
#: Longest wait between attempts of a failing stream.
RETRY_MAX_S = 30.0


def _labels(obj: dict[str, Any], template: bool = False) -> dict[str, str]:
    source = ((obj.get("spec") or {}).get("template") or {}) if template else obj
    return dict((source.get("metadata") or {}).get("labels") or {})


class ClusterWatch:
    """The watch streams of one target; :meth:`start` opens them, :meth:`stop` ends them."""

    def __init__(self, settings: Settings, obs: ClusterObservation,
                 deliver: Callable[[ClusterEvent], None], now: Callable[[], float],
                 note: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self.obs = obs
        self.deliver = deliver
        self.now = now
        self.note = note or (lambda text: None)
        self.streams: list[Stream] = []
        self.pods: set[str] = set()
        self.workloads: set[str] = set()
        self.lock = threading.Lock()
        self.api: Any = None
        self.plan: WatchPlan | None = None

    async def start(self) -> list[str]:
        """List everything, then open the watch streams; the streams opened (descriptions).
        ClusterWatchError when none could be."""
        plan = self.plan = watch_plan(self.obs)
        from wsdoctor.kube.config import NoClusterConfig, load_access

        try:
            access = await asyncio.to_thread(load_access, self.settings)
        except NoClusterConfig as exc:
            raise ClusterWatchError(str(exc)) from None
        from kubernetes import client

        configuration = access.api_client.configuration
        configuration.connection_pool_maxsize = 32
        access.api_client.close()
        self.api = client.ApiClient(configuration)
        candidates = list(self._streams(plan))
        results = await asyncio.gather(*(asyncio.to_thread(self._prime, s) for s in candidates),
                                       return_exceptions=True)
        failed = []
        for stream, result in zip(candidates, results, strict=True):
            if isinstance(result, BaseException):
                failed.append(f"{stream.describe}: {why(result)}")
            else:
                self.streams.append(result)
        for stream in self.streams:
            self._seed(stream)
            stream.thread = threading.Thread(target=self._run, args=(stream,), daemon=True,
                                             name=f"wsdoctor-kubewatch:{stream.kind}")
            stream.thread.start()
        for text in failed:
            self.note(f"not watched: {text}")
        if not self.streams:
            raise ClusterWatchError("; ".join(failed) or "nothing to watch")
        return [s.describe for s in self.streams] + [f"not watched: {t}" for t in failed]

    @staticmethod
    def _prime(stream: Stream) -> Stream:
        """The first LIST of a stream, or of its fallback when it is forbidden."""
        try:
            stream.prime()
            return stream
        except Exception as exc:
            if stream.fallback is None or getattr(exc, "status", None) != 403:
                raise
        stream.fallback.prime()
        return stream.fallback

    async def stop(self) -> None:
        """End every stream and wait (about a second at most) for its thread."""
        for stream in self.streams:
            stream.stopping = True
        await asyncio.gather(*(asyncio.to_thread(halt, s) for s in self.streams))
        if self.api is not None:
            self.api.close()

    def _streams(self, plan: WatchPlan) -> Iterator[Stream]:
        def on(path: str) -> Callable[..., object]:
            return raw_lister(self.api, path)

        ns = plan.namespace
        core, scoped = "/api/v1", f"/api/v1/namespaces/{ns}"
        selector = ",".join(f"{k}={v}" for k, v in sorted(plan.selectors[0].items())) \
            if plan.selectors else None
        if selector:
            yield Stream(f"Pods in {ns} ({selector})", "Pod", on(f"{scoped}/pods"),
                          {"label_selector": selector}, self._pod)
        for service in plan.services:
            yield Stream(f"EndpointSlices of Service {ns}/{service}", "EndpointSlice",
                          on(f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices"),
                          {"label_selector": f"kubernetes.io/service-name={service}"},
                          self._generic(endpoint_changes))
        apps = f"/apis/apps/v1/namespaces/{ns}"
        yield Stream(f"Deployments in {ns}", "Deployment", on(f"{apps}/deployments"), {},
                      self._workload)
        yield Stream(f"ReplicaSets in {ns}", "ReplicaSet", on(f"{apps}/replicasets"), {},
                      self._workload)
        yield Stream(f"HorizontalPodAutoscalers in {ns}", "HorizontalPodAutoscaler",
                      on(f"/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers"), {},
                      self._hpa)
        yield Stream(f"Events in {ns}", "Event", on(f"{scoped}/events"), {}, self._event)
        for cm_ns, cm_name in plan.configmaps:
            yield Stream(f"ConfigMap {cm_ns}/{cm_name} (the controller's)", "ConfigMap",
                          on(f"{core}/namespaces/{cm_ns}/configmaps"),
                          {"field_selector": f"metadata.name={cm_name}"},
                          self._generic(config_changes))
            if cm_ns != ns:
                yield Stream(f"Events in {cm_ns} (the controller's)", "Event",
                              on(f"{core}/namespaces/{cm_ns}/events"), {}, self._event)
        if plan.route is None:
            return
        api_version, kind, route_ns, name = plan.route
        if kind == "Ingress":  # ingress-nginx reloads on a change to any Ingress of its class
            networking = "/apis/networking.k8s.io/v1"
            of_class = f" (class {plan.route_class})" if plan.route_class else ""
            one = Stream(f"Ingresses in {route_ns}{of_class}", "Ingress",
                          on(f"{networking}/namespaces/{route_ns}/ingresses"), {},
                          self._ingress(plan))
            if self.settings.namespace is not None:
                yield one
            else:
                yield Stream(f"Ingresses in all namespaces{of_class}", "Ingress",
                              on(f"{networking}/ingresses"), {}, self._ingress(plan),
                              fallback=one)
        else:
            group, _, version = api_version.rpartition("/")
            plural = next((k.plural for k in _kinds() if k.kind == kind and k.group == group),
                          None)
            if plural:
                yield Stream(f"{kind} {route_ns}/{name}", kind,
                              on(f"/apis/{group}/{version}/namespaces/{route_ns}/{plural}"),
                              {"field_selector": f"metadata.name={name}"},
                              self._generic(config_changes))

    # -- per-kind handling (on the stream's thread) ------------------------------------------

    def _emit(self, stream: Stream, obj: dict[str, Any], change: Change) -> None:
        meta = obj.get("metadata") or {}
        kind, namespace, name = change.subject or (stream.kind, meta.get("namespace"),
                                                   str(meta.get("name") or ""))
        self.deliver(ClusterEvent(
            at=round(self.now(), 3), kind=kind or stream.kind, namespace=namespace, name=name,
            change=change.change, detail=change.detail, pods=list(change.pods),
            reason=change.reason, grace_s=change.grace_s))

    def _generic(self, differ: Callable[[dict[str, Any] | None, dict[str, Any] | None],
                                        Iterator[Change]]
                 ) -> Callable[[Stream, str, dict[str, Any] | None, dict[str, Any] | None],
                               None]:
        def handle(stream: Stream, kind: str, old: dict[str, Any] | None,
                   new: dict[str, Any] | None) -> None:
            for change in differ(old, new):
                self._emit(stream, new or old or {}, change)

        return handle

    def _seed(self, stream: Stream) -> None:
        """Learn the backend's pods and workloads from a stream's first list."""
        for obj in stream.state.values():
            if stream.kind == "Pod":
                self.pods.add(Stream.key(obj)[1])
            elif stream.kind in ("Deployment", "ReplicaSet") and self._ours(obj):
                self.workloads.add(Stream.key(obj)[1])

    def _ours(self, workload: dict[str, Any]) -> bool:
        labels = _labels(workload, template=True)
        selectors = self.plan.selectors if self.plan is not None else ()
        return any(backends.selector_matches(sel, labels) for sel in selectors)

    def _pod(self, stream: Stream, kind: str, old: dict[str, Any] | None,
             new: dict[str, Any] | None) -> None:
        with self.lock:
            self.pods.add(Stream.key(new or old or {})[1])
        for change in pod_changes(old, new):
            self._emit(stream, new or old or {}, change)

    def _workload(self, stream: Stream, kind: str, old: dict[str, Any] | None,
                  new: dict[str, Any] | None) -> None:
        obj = new or old or {}
        if not self._ours(obj):
            return
        with self.lock:
            self.workloads.add(Stream.key(obj)[1])
        for change in workload_changes(old, new):
            self._emit(stream, obj, change)

    def _hpa(self, stream: Stream, kind: str, old: dict[str, Any] | None,
             new: dict[str, Any] | None) -> None:
        obj = new or old or {}
        target = ((obj.get("spec") or {}).get("scaleTargetRef") or {}).get("name")
        if target in self.workloads:
            for change in hpa_changes(old, new):
                self._emit(stream, obj, change)

    def _event(self, stream: Stream, kind: str, old: dict[str, Any] | None,
               new: dict[str, Any] | None) -> None:
        if new is None:
            return
        change = event_change(new, old)
        if change is None or change.subject is None:
            return
        subject_kind, _, name = change.subject
        route = self.plan.route if self.plan is not None else None
        ours = (subject_kind == "Pod" and name in self.pods) or name in self.workloads or \
            change.reason == "RELOAD" or (route is not None and (subject_kind, name) ==
                                          (route[1], route[3]))
        if ours:
            self._emit(stream, new, change)

    def _ingress(self, plan: WatchPlan) -> Callable[[Stream, str, dict[str, Any] | None,
                                                     dict[str, Any] | None], None]:
        def handle(stream: Stream, kind: str, old: dict[str, Any] | None,
                   new: dict[str, Any] | None) -> None:
            obj = new or old or {}
            spec = obj.get("spec") or {}
            same_class = plan.route_class is not None and \
                spec.get("ingressClassName") == plan.route_class
            is_route = plan.route is not None and Stream.key(obj) == (plan.route[2],
                                                                       plan.route[3])
            if same_class or is_route:
                for change in config_changes(old, new):
                    self._emit(stream, obj, change)

        return handle

    # -- the loop -----------------------------------------------------------------------------

    def _run(self, stream: Stream) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        delay = 1.0
        while not stream.stopping:
            stream.watcher = watch.Watch()  # type: ignore[no-untyped-call]
            try:
                for event in stream.watcher.stream(
                        stream.list_fn, **stream.kwargs,
                        resource_version=stream.rv, timeout_seconds=WATCH_TIMEOUT_S,
                        allow_watch_bookmarks=True, deserialize=False):
                    if stream.stopping:
                        break
                    self._take(stream, event)
                    delay = 1.0
            except ApiException as exc:
                if stream.stopping:
                    break
                if exc.status == 410:
                    self._relist(stream)
                    continue
                if exc.status in (401, 403):
                    self.note(f"{stream.describe}: {why(exc)} (the watch verb is needed)")
                    return
                self._wait(stream, delay)
                delay = min(delay * 2, RETRY_MAX_S)
            except Exception:  # a reset, a timeout, the socket shut by stop()
                if stream.stopping:
                    break
                self._wait(stream, delay)
                delay = min(delay * 2, RETRY_MAX_S)

    def _wait(self, stream: Stream, seconds: float) -> None:
        end = self.now() + seconds
        while not stream.stopping and self.now() < end:
            threading.Event().wait(0.1)

    def _take(self, stream: Stream, event: dict[str, Any]) -> None:
        kind = str(event.get("type") or "")
        obj = event.get("object")
        if not isinstance(obj, dict):
            return
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            stream.rv = str(rv)
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return
        key = Stream.key(obj)
        old = stream.state.get(key)
        if kind == "DELETED":
            stream.state.pop(key, None)
            stream.handle(stream, kind, old, None)
        else:
            stream.state[key] = obj
            stream.handle(stream, kind, old, obj)

    def _relist(self, stream: Stream) -> None:
        """After a 410: list again and report what changed meanwhile."""
        try:
            fresh = {Stream.key(o): o for o in stream.list()}
        except Exception:
            self._wait(stream, 1.0)
            return
        for key, obj in fresh.items():
            if stream.state.get(key) != obj:
                stream.handle(stream, "MODIFIED", stream.state.get(key), obj)
        for key, obj in list(stream.state.items()):
            if key not in fresh:
                stream.handle(stream, "DELETED", obj, None)
        stream.state = fresh


def _kinds() -> tuple[Any, ...]:
    from wsdoctor.kube.kinds import KINDS

    return KINDS
