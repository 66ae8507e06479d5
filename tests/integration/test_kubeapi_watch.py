"""Watches on the fake API, read by the real client's ``watch.Watch``: the events objects
changed by a test while the stream is open, in order, filtered by selectors, with bookmarks,
the initial state when asked, 410 for a version too old, and the end at timeoutSeconds."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.kubeapi_support import raw_get
from wsdoctor.lab.kubeapi import FakeKubeAPI, RunningAPI, serve


def cm(name: str, value: str = "1", **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "w", "labels": labels},
        "data": {"v": value},
    }


@pytest.fixture
def running() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(bookmark_interval=0.3)
    api.add(cm("before", team="a"))
    with serve(api) as server:
        yield server


@pytest.fixture
def core(running: RunningAPI, tmp_path: Path) -> Iterator[Any]:
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=str(running.kubeconfig(tmp_path / "kc")), client_configuration=configuration
    )
    with client.ApiClient(configuration) as api:
        yield client.CoreV1Api(api)


def later(action: Any, delay: float = 0.2) -> threading.Thread:
    """Run ``action`` in a thread after ``delay`` (while the watch is open)."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_watch_streams_changes_made_while_open(running: RunningAPI, core: Any) -> None:
    """ADDED, MODIFIED, DELETED arrive in order with increasing resourceVersions, from the
    list's version on (the object listed before is not repeated)."""
    api = running.api
    listed = core.list_namespaced_config_map("w")
    rv = listed.metadata.resource_version

    def changes() -> None:
        api.create(cm("new"))
        api.update(cm("new", "2"))
        api.delete("v1", "ConfigMap", "new", "w")

    later(changes)
    seen: list[tuple[str, str, int]] = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map, "w", resource_version=rv, timeout_seconds=5
    ):
        obj = event["object"]
        seen.append((event["type"], obj.metadata.name, int(obj.metadata.resource_version)))
        if event["type"] == "DELETED":
            stream.stop()
    assert [(t, n) for t, n, _ in seen] == [("ADDED", "new"), ("MODIFIED", "new"),
                                           ("DELETED", "new")]
    versions = [v for _, _, v in seen]
    assert versions == sorted(versions) and versions[0] > int(rv)


def test_watch_without_version_starts_with_the_current_state(
    running: RunningAPI, core: Any
) -> None:
    """No resourceVersion: synthetic ADDED events for what exists, then the changes."""
    later(lambda: running.api.create(cm("after")))
    names = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_config_map, "w", timeout_seconds=5):
        names.append((event["type"], event["object"].metadata.name))
        if len(names) == 2:
            stream.stop()
    assert names == [("ADDED", "before"), ("ADDED", "after")]


def test_leaving_the_selector_is_a_delete(running: RunningAPI, core: Any) -> None:
    """With a label selector, an update that makes the object stop matching is DELETED and
    one that makes it match is ADDED; other objects are not seen."""
    api = running.api
    rv = core.list_namespaced_config_map("w").metadata.resource_version

    def changes() -> None:
        api.create(cm("other", team="b"))
        api.update(cm("before", "2", team="b"))
        api.update(cm("other", "2", team="a"))

    later(changes)
    seen = []
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map,
        "w",
        label_selector="team=a",
        resource_version=rv,
        timeout_seconds=5,
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 2:
            stream.stop()
    assert seen == [("DELETED", "before"), ("ADDED", "other")]


def test_bookmarks_and_timeout(running: RunningAPI) -> None:
    """allowWatchBookmarks brings BOOKMARK events carrying the current version; the stream
    ends by itself at timeoutSeconds."""
    start = time.monotonic()
    code, _, body = raw_get(
        running,
        "/api/v1/namespaces/w/configmaps?watch=true&allowWatchBookmarks=true"
        f"&resourceVersion={running.api.resource_version}&timeoutSeconds=1",
    )
    elapsed = time.monotonic() - start
    events = [json.loads(line) for line in body.splitlines()]
    assert code == 200 and 0.9 <= elapsed < 3
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["metadata"]["resourceVersion"] == str(running.api.resource_version)


def test_send_initial_events_ends_with_a_marked_bookmark(running: RunningAPI) -> None:
    """sendInitialEvents (client-go's WatchList): the state as ADDED, then a BOOKMARK
    annotated k8s.io/initial-events-end; without resourceVersionMatch it is 400."""
    code, _, body = raw_get(
        running,
        "/api/v1/namespaces/w/configmaps?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
        "&resourceVersionMatch=NotOlderThan&resourceVersion=&timeoutSeconds=1",
    )
    events = [json.loads(line) for line in body.splitlines()]
    assert code == 200
    assert (events[0]["type"], events[0]["object"]["metadata"]["name"]) == ("ADDED", "before")
    marker = events[1]["object"]["metadata"]
    assert events[1]["type"] == "BOOKMARK"
    assert marker["annotations"] == {"k8s.io/initial-events-end": "true"}
    bad = raw_get(running, "/api/v1/configmaps?watch=1&sendInitialEvents=true")
    assert bad[0] == 400


def test_a_version_older_than_the_history_is_410() -> None:
    """A watch from a compacted version gets an ERROR event with a 410 Status; the client
    raises it as ApiException 410 (a reflector relists then)."""
    api = FakeKubeAPI(history=2)
    api.add(cm("a"), cm("b"), cm("c"), cm("d"))
    with serve(api) as running:
        code, _, body = raw_get(running, "/api/v1/configmaps?watch=true&resourceVersion=1001")
    event = json.loads(body.splitlines()[0])
    assert code == 200 and event["type"] == "ERROR"
    assert (event["object"]["code"], event["object"]["reason"]) == (410, "Expired")


def test_watch_on_one_object(running: RunningAPI, core: Any) -> None:
    """fieldSelector=metadata.name=X (how kubectl watches one object) sees only it."""
    api = running.api
    rv = core.list_namespaced_config_map("w").metadata.resource_version

    def changes() -> None:
        api.create(cm("noise"))
        api.update(cm("before", "3", team="a"))

    later(changes)
    stream = watch.Watch()
    for event in stream.stream(
        core.list_namespaced_config_map,
        "w",
        field_selector="metadata.name=before",
        resource_version=rv,
        timeout_seconds=5,
    ):
        assert (event["type"], event["object"].metadata.name) == ("MODIFIED", "before")
        assert event["object"].data == {"v": "3"}
        stream.stop()
        break
    else:
        pytest.fail("no event")


def test_watch_forbidden_without_the_verb(tmp_path: Path) -> None:
    """RBAC applies to watch as its own verb."""
    from wsdoctor.lab.kubeapi import Rule

    api = FakeKubeAPI(tokens={"lister": (Rule(verbs=("list",)),)})
    with serve(api) as running:
        configuration = client.Configuration()
        config.load_kube_config(
            config_file=str(running.kubeconfig(tmp_path / "kc", token="lister")),
            client_configuration=configuration,
        )
        with client.ApiClient(configuration) as kube, pytest.raises(ApiException) as info:
            client.CoreV1Api(kube).list_config_map_for_all_namespaces(watch=True)
    assert info.value.status == 403 and "cannot watch" in info.value.body
