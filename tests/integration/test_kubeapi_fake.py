"""The fake API server is faithful enough for the real client's typed APIs: discovery,
/version, LIST with selectors (400 when malformed), paged lists with consistent snapshots,
GET, Status bodies for 401/403/404/405, authentication and authorization as kube-apiserver
does them, and faults injected per path."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.integration.kubeapi_support import raw_get, raw_json
from wsdoctor.lab.kubeapi import ADMIN, FakeKubeAPI, Fault, Rule, RunningAPI, serve

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(
        tokens={
            "admin-token": (Rule(),),
            "chat-only": (Rule(namespaces=("chat",)),),
            "root": ADMIN,
        }
    )
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as server:
        yield server


def api_client(running: RunningAPI, tmp_path: Path, token: str = "admin-token") -> Any:
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=str(running.kubeconfig(tmp_path / f"kc-{token}", token=token)),
        client_configuration=configuration,
    )
    configuration.retries = 0
    return client.ApiClient(configuration)


def pod(name: str, namespace: str = "paging", **spec: Any) -> dict[str, Any]:
    phase = spec.pop("phase", "Running")
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "p"}},
        "spec": {"containers": [{"name": "c", "image": "x"}], **spec},
        "status": {"phase": phase},
    }


def test_discovery_lists_groups_and_resources(running: RunningAPI, tmp_path: Path) -> None:
    """/apis lists the installed groups; a group version lists its resources."""
    with api_client(running, tmp_path) as api:
        groups = client.ApisApi(api).get_api_versions()
        names = {g.name for g in groups.groups}
        assert {"networking.k8s.io", "traefik.io", "networking.istio.io"} <= names
        resources = client.NetworkingV1Api(api).get_api_resources()
        assert {"ingresses", "ingressclasses"} <= {r.name for r in resources.resources}


def test_version_is_served(running: RunningAPI, tmp_path: Path) -> None:
    """/version answers the server's version info, as `kubectl version` reads it."""
    with api_client(running, tmp_path) as api:
        info = client.VersionApi(api).get_code()
    assert info.git_version == running.api.server_version and info.major == "1"


def test_typed_list_with_label_and_field_selectors(running: RunningAPI, tmp_path: Path) -> None:
    """Typed LIST deserialises, and label/field selectors filter like kube-apiserver."""
    with api_client(running, tmp_path) as api:
        core = client.CoreV1Api(api)
        pods = core.list_pod_for_all_namespaces(label_selector="app=chat")
        assert sorted(p.metadata.name for p in pods.items) == ["chat-5f7d-aaaaa", "chat-5f7d-bbbbb"]
        assert pods.metadata.resource_version
        assert core.list_namespaced_pod("chat", label_selector="app in (down)").items == []
        assert core.list_namespaced_pod("chat", label_selector="!app").items == []
        named = core.list_namespaced_pod("chat", field_selector="metadata.name=chat-5f7d-aaaaa")
        assert [p.metadata.name for p in named.items] == ["chat-5f7d-aaaaa"]
        slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            "down", label_selector="kubernetes.io/service-name=down"
        )
        assert slices.items[0].endpoints[0].conditions.ready is False


def test_pod_field_selectors_phase_and_node(running: RunningAPI, tmp_path: Path) -> None:
    """Pods are selectable by status.phase and spec.nodeName, as real servers index them."""
    running.api.add(
        pod("on-a", "fields", nodeName="node-a"),
        pod("on-b", "fields", nodeName="node-b"),
        pod("pending", "fields", phase="Pending"),
    )
    with api_client(running, tmp_path) as api:
        core = client.CoreV1Api(api)
        names = lambda sel: sorted(  # noqa: E731
            p.metadata.name for p in core.list_namespaced_pod("fields", field_selector=sel).items
        )
        assert names("spec.nodeName=node-a") == ["on-a"]
        assert names("status.phase!=Running") == ["pending"]
        assert names("status.phase=Running,spec.nodeName!=node-a") == ["on-b"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("labelSelector=app%3D%3Dchat%2C", "expected: identifier after ','"),
        ("labelSelector=app+in+chat", "expected: '('"),
        ("labelSelector=-bad-key%3Dx", "Invalid value"),
        ("labelSelector=app%3Dnot%20valid", "expected: ',' or 'end of string'"),
        ("fieldSelector=spec.nodeName", "can't understand"),
        ("fieldSelector=spec.foo%3Dbar", "field label not supported: spec.foo"),
    ],
)
def test_malformed_selectors_are_400(running: RunningAPI, query: str, message: str) -> None:
    """A selector kube-apiserver cannot parse, or a field it does not index, is 400."""
    code, body = raw_json(running, f"/api/v1/pods?{query}")
    assert (code, body["reason"]) == (400, "BadRequest")
    assert message in body["message"]


def test_services_do_not_index_pod_fields(running: RunningAPI) -> None:
    """status.phase is a Pod field: on Services it is 400."""
    code, body = raw_json(running, "/api/v1/services?fieldSelector=status.phase%3DRunning")
    assert code == 400 and "field label not supported" in body["message"]


def test_paged_list_is_a_consistent_snapshot(running: RunningAPI, tmp_path: Path) -> None:
    """limit/continue pages through the list as it was at the first page's version, even when
    objects change in between; remainingItemCount counts what is left."""
    running.api.add(*(pod(f"p-{i:02d}") for i in range(7)))
    with api_client(running, tmp_path) as api:
        core = client.CoreV1Api(api)
        first = core.list_namespaced_pod("paging", limit=3)
        assert [p.metadata.name for p in first.items] == ["p-00", "p-01", "p-02"]
        assert first.metadata.remaining_item_count == 4 and first.metadata._continue
        running.api.create(pod("p-03a"))
        running.api.delete("v1", "Pod", "p-05", "paging")
        names = [p.metadata.name for p in first.items]
        token = first.metadata._continue
        while token:
            page = core.list_namespaced_pod("paging", limit=3, _continue=token)
            assert page.metadata.resource_version == first.metadata.resource_version
            names += [p.metadata.name for p in page.items]
            token = page.metadata._continue
        assert names == [f"p-{i:02d}" for i in range(7)]
        fresh = [p.metadata.name for p in core.list_namespaced_pod("paging").items]
        assert "p-03a" in fresh and "p-05" not in fresh


def test_continue_after_compaction_is_410(tmp_path: Path) -> None:
    """A continue token older than the history kept is 410 Expired, as after etcd compaction."""
    api = FakeKubeAPI(history=3)
    api.add(*(pod(f"p-{i}") for i in range(4)))
    with serve(api) as running, api_client(running, tmp_path) as kube:
        core = client.CoreV1Api(kube)
        first = core.list_namespaced_pod("paging", limit=2)
        for i in range(4):
            api.create(pod(f"q-{i}"))
        with pytest.raises(ApiException) as info:
            core.list_namespaced_pod("paging", limit=2, _continue=first.metadata._continue)
    assert info.value.status == 410 and "Expired" in info.value.body


def test_resource_version_rules(running: RunningAPI) -> None:
    """Continue with a resourceVersion is 400, a version from the future is 504, rv=0
    ignores the limit (served from the watch cache)."""
    code, body = raw_json(running, "/api/v1/pods?limit=1")
    token, rv = body["metadata"]["continue"], int(body["metadata"]["resourceVersion"])
    assert raw_json(running, f"/api/v1/pods?continue={token}&resourceVersion={rv}")[0] == 400
    assert raw_json(running, f"/api/v1/pods?resourceVersion={rv + 10**6}")[0] == 504
    code, full = raw_json(running, "/api/v1/pods?resourceVersion=0&limit=1")
    assert code == 200 and len(full["items"]) > 1 and "continue" not in full["metadata"]
    assert raw_json(running, "/api/v1/pods?continue=garbage")[0] == 400


def test_get_and_404_status(running: RunningAPI, tmp_path: Path) -> None:
    """GET returns the object; a missing one is a 404 with a NotFound Status body."""
    with api_client(running, tmp_path) as api:
        core = client.CoreV1Api(api)
        cm = core.read_namespaced_config_map("ingress-nginx-controller", "ingress-nginx")
        assert cm.data == {"proxy-read-timeout": "120"}
        with pytest.raises(ApiException) as info:
            core.read_namespaced_config_map("nope", "ingress-nginx")
        assert info.value.status == 404 and '"reason": "NotFound"' in info.value.body


def test_rbac_forbids_with_a_403_status(running: RunningAPI, tmp_path: Path) -> None:
    """A token limited to one namespace gets 403 Forbidden cluster-wide, 200 inside it."""
    with api_client(running, tmp_path, token="chat-only") as api:
        core = client.CoreV1Api(api)
        assert core.list_namespaced_service("chat").items
        with pytest.raises(ApiException) as info:
            core.list_service_for_all_namespaces()
        assert info.value.status == 403
        assert 'cannot list resource \\"services\\"' in info.value.body


def test_authorization_comes_before_routing(running: RunningAPI) -> None:
    """A resource that does not exist is 403 for a user who may not read it there, 404 for one
    who may; a named GET's 403 names the object; unknown paths are 403 without a grant."""
    code, body = raw_json(running, "/api/v1/widgets", token="chat-only")
    assert code == 403 and 'cannot list resource "widgets"' in body["message"]
    assert raw_json(running, "/api/v1/widgets")[0] == 404
    assert raw_json(running, "/apis/nope.example.com/v1/things")[0] == 404
    code, body = raw_json(running, "/api/v1/namespaces/down/pods/down-1", token="chat-only")
    assert code == 403 and body["message"].startswith('pods "down-1" is forbidden')
    assert raw_json(running, "/metrics")[0] == 403
    assert raw_json(running, "/metrics", token="root")[0] == 404


@pytest.mark.parametrize(
    ("authorization", "expected"),
    [
        ("Bearer admin-token", 200),
        ("bearer admin-token", 200),  # what the in-cluster loader sends
        ("BEARER admin-token", 200),
        ("Basic YWRtaW46YWRtaW4=", 401),
        ("Bearer  admin-token", 401),
        ("Bearer", 401),
        (None, 401),
    ],
)
def test_bearer_scheme_is_case_insensitive(
    running: RunningAPI, authorization: str | None, expected: int
) -> None:
    """The token scheme matches case-insensitively; anything else is 401 Unauthorized."""
    code, _, body = raw_get(running, "/api/v1/namespaces", authorization)
    assert code == expected, body


def test_unknown_token_is_401_and_writes_are_refused(running: RunningAPI, tmp_path: Path) -> None:
    """An unknown bearer token is 401; a write is 403 without the verb, 405 with it (the fake
    is read-only over HTTP)."""
    with api_client(running, tmp_path, token="stolen") as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).list_namespace()
    assert info.value.status == 401
    with api_client(running, tmp_path) as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).delete_namespace("chat")
    assert info.value.status == 403 and "cannot delete" in info.value.body
    with api_client(running, tmp_path, token="root") as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).delete_namespace("chat")
    assert info.value.status == 405


def test_faults_per_path(tmp_path: Path) -> None:
    """Injected faults: 429 with Retry-After (APF's plain text), 500 Status, an odd status,
    a delay, a reset connection; each for as many requests as asked, on its path only."""
    api = FakeKubeAPI()
    with serve(api) as running:
        throttled = api.inject("/api/v1/pods", Fault.throttle(retry_after=2), times=1)
        code, headers, body = raw_get(running, "/api/v1/pods")
        assert (code, headers["Retry-After"]) == (429, "2") and b"Too many requests" in body
        assert raw_get(running, "/api/v1/pods")[0] == 200 and throttled.hits == 1
        api.inject("/api/v1/services", Fault.error(500))
        code, body_json = raw_json(running, "/api/v1/services")
        assert (code, body_json["reason"]) == (500, "InternalError")
        assert raw_get(running, "/api/v1/configmaps")[0] == 200
        api.inject("/apis/*/v1/ingresses", Fault(status=999))
        assert raw_get(running, "/apis/networking.k8s.io/v1/ingresses")[0] == 999
        api.inject("/api/v1/namespaces", Fault.slow(0.5), times=1)
        start = time.monotonic()
        assert raw_get(running, "/api/v1/namespaces")[0] == 200
        assert time.monotonic() - start >= 0.5
        api.inject("/api/v1/endpoints", Fault.connection_reset())
        pool = urllib3.HTTPSConnectionPool(
            "127.0.0.1",
            int(running.url.rsplit(":", 1)[1]),
            cert_reqs="CERT_REQUIRED",
            ca_cert_data=running.ca_pem.decode(),
            retries=False,
        )
        with pytest.raises(urllib3.exceptions.ProtocolError):
            pool.request("GET", "/api/v1/endpoints", headers={"Authorization": "Bearer x"})
        api.clear_faults()
        assert raw_get(running, "/api/v1/endpoints")[0] == 200


def test_client_certificates_authenticate_by_common_name(
    running: RunningAPI, tmp_path: Path
) -> None:
    """A client certificate signed by the server's CA authenticates as its CN (looked up
    like a token); a request with neither is 401."""
    import base64

    pair = running.client_certificate("chat-only")
    config_dict = running.kubeconfig_dict()
    config_dict["users"][0]["user"] = {
        "client-certificate-data": base64.b64encode(pair.cert_pem).decode(),
        "client-key-data": base64.b64encode(pair.key_pem).decode(),
    }
    import yaml

    path = tmp_path / "kc-cert"
    path.write_text(yaml.safe_dump(config_dict))
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    with client.ApiClient(configuration) as api:
        core = client.CoreV1Api(api)
        assert core.list_namespaced_service("chat").items
        with pytest.raises(ApiException) as info:
            core.list_service_for_all_namespaces()
    assert info.value.status == 403
    assert raw_get(running, "/api/v1/namespaces", None)[0] == 401
