"""The fake API server is faithful enough for the real client's typed APIs: discovery,
LIST with selectors, GET, Status bodies for 401/403/404, read-only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from wsdoctor.lab.kubeapi import FakeKubeAPI, Rule, RunningAPI, serve

CLUSTER = Path(__file__).resolve().parent.parent / "fixtures" / "k8s" / "cluster"


@pytest.fixture(scope="module")
def running() -> Iterator[RunningAPI]:
    api = FakeKubeAPI(tokens={"admin-token": (Rule(),), "chat-only": (Rule(namespaces=("chat",)),)})
    api.load(*sorted(CLUSTER.glob("*.yaml")))
    with serve(api) as server:
        yield server


def api_client(running: RunningAPI, tmp_path: Path, token: str = "admin-token") -> Any:
    configuration = client.Configuration()
    config.load_kube_config(
        config_file=str(running.kubeconfig(tmp_path / f"kc-{token}", token=token)),
        client_configuration=configuration,
    )
    return client.ApiClient(configuration)


def test_discovery_lists_groups_and_resources(running: RunningAPI, tmp_path: Path) -> None:
    """/apis lists the installed groups; a group version lists its resources."""
    with api_client(running, tmp_path) as api:
        groups = client.ApisApi(api).get_api_versions()
        names = {g.name for g in groups.groups}
        assert {"networking.k8s.io", "traefik.io", "networking.istio.io"} <= names
        resources = client.NetworkingV1Api(api).get_api_resources()
        assert {"ingresses", "ingressclasses"} <= {r.name for r in resources.resources}


def test_typed_list_with_label_and_field_selectors(running: RunningAPI, tmp_path: Path) -> None:
    """Typed LIST deserialises, and label/field selectors filter like kube-apiserver."""
    with api_client(running, tmp_path) as api:
        core = client.CoreV1Api(api)
        pods = core.list_pod_for_all_namespaces(label_selector="app=chat")
        assert sorted(p.metadata.name for p in pods.items) == ["chat-5f7d-aaaaa", "chat-5f7d-bbbbb"]
        assert pods.metadata.resource_version
        assert core.list_namespaced_pod("chat", label_selector="app in (down)").items == []
        named = core.list_namespaced_pod("chat", field_selector="metadata.name=chat-5f7d-aaaaa")
        assert [p.metadata.name for p in named.items] == ["chat-5f7d-aaaaa"]
        slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            "down", label_selector="kubernetes.io/service-name=down"
        )
        assert slices.items[0].endpoints[0].conditions.ready is False


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


def test_unknown_token_is_401_and_writes_are_refused(running: RunningAPI, tmp_path: Path) -> None:
    """An unknown bearer token is 401 Unauthorized; any write is 405 (read-only server)."""
    with api_client(running, tmp_path, token="stolen") as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).list_namespace()
    assert info.value.status == 401
    with api_client(running, tmp_path) as api, pytest.raises(ApiException) as info:
        client.CoreV1Api(api).delete_namespace("chat")
    assert info.value.status == 405
