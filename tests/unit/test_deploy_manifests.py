"""docs/deploy: every manifest parses, and the fields that matter agree with each other and with
wsdoctor (image and version, ports, selectors, config mount, read-only RBAC, alert metrics)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from wsdoctor import __version__
from wsdoctor.commands.options import build_parser
from wsdoctor.exporter.config import load_config
from wsdoctor.exporter.schema import BUILTIN_MODULES, DEFAULT_PORT

DEPLOY = Path(__file__).resolve().parents[2] / "docs" / "deploy"
IMAGE = f"ghcr.io/wsdoctor/wsdoctor:{__version__}"
WORKLOADS = ("exporter.yaml", "daemonset.yaml", "cronjob.yaml")
READ_ONLY = {"get", "list", "watch"}
ENV = {"NODE_NAME": "node-a", "CHAT_PROBE_TOKEN": "t0ken"}

Doc = dict[str, Any]


def docs(name: str) -> list[Doc]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d is not None]


def by_kind(name: str, kind: str) -> list[Doc]:
    return [d for d in docs(name) if d["kind"] == kind]


def pod_spec(workload: Doc) -> Doc:
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def workloads() -> list[Doc]:
    kinds = {"Deployment", "DaemonSet", "CronJob"}
    return [d for name in WORKLOADS for d in docs(name) if d["kind"] in kinds]


def test_every_manifest_is_a_kubernetes_object() -> None:
    """Each document of each manifest has apiVersion, kind, name and the monitoring namespace
    (cluster-scoped RBAC aside)."""
    for name in (*WORKLOADS, "rbac.yaml", "alerts.yaml"):
        for doc in docs(name):
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            assert doc["metadata"]["name"].startswith("wsdoctor"), name
            if not doc["kind"].startswith("Cluster"):
                assert doc["metadata"]["namespace"] == "monitoring", (name, doc["kind"])


def test_images_are_pinned_to_this_version() -> None:
    """Every container runs wsdoctor's image at the package's version, never :latest."""
    images = [c["image"] for w in workloads() for c in pod_spec(w)["containers"]]
    assert len(images) == 3
    assert set(images) == {IMAGE}


@pytest.mark.parametrize("workload", workloads(), ids=lambda w: w["kind"])
def test_workloads_run_unprivileged_and_read_only(workload: Doc) -> None:
    """Non-root, no privilege escalation, read-only root, all capabilities dropped, and the
    read-only ServiceAccount of rbac.yaml."""
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] != 0
    assert spec["serviceAccountName"] == by_kind("rbac.yaml", "ServiceAccount")[0]["metadata"][
        "name"]
    for container in spec["containers"]:
        context = container["securityContext"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["readOnlyRootFilesystem"] is True
        assert context["capabilities"]["drop"] == ["ALL"]
        assert "memory" in container["resources"]["limits"]


@pytest.mark.parametrize("name", ["exporter.yaml", "daemonset.yaml"])
def test_exporters_mount_a_valid_config_and_expose_the_port(name: str, tmp_path: Path) -> None:
    """The args point at the mounted ConfigMap key, whose config is valid with the env the
    container sets; the container port is wsdoctor's default and /healthz is probed."""
    [config_map] = by_kind(name, "ConfigMap")
    [workload] = [d for d in docs(name) if d["kind"] in ("Deployment", "DaemonSet")]
    spec = pod_spec(workload)
    [container] = spec["containers"]
    args = container["args"]
    assert args[:2] == ["probe", "--config"]
    mount = container["volumeMounts"][0]
    volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    key = Path(args[2]).name
    assert str(Path(mount["mountPath"]) / key) == args[2]
    text = config_map["data"][key]
    env_names = {e["name"] for e in container.get("env", [])}
    assert set(re.findall(r"\$\{(\w+)\}", text)) <= env_names
    path = tmp_path / key
    path.write_text(text)
    config = load_config(path, ENV)
    assert config.targets
    assert container["ports"] == [
        {"name": "http-metrics", "containerPort": DEFAULT_PORT, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}
    labels = workload["spec"]["template"]["metadata"]["labels"]
    assert workload["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_daemonset_labels_metrics_with_the_node_name() -> None:
    """NODE_NAME comes from spec.nodeName and the config turns it into a `node` label."""
    [daemonset] = by_kind("daemonset.yaml", "DaemonSet")
    [container] = pod_spec(daemonset)["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    [config_map] = by_kind("daemonset.yaml", "ConfigMap")
    config = yaml.safe_load(config_map["data"]["probe.yaml"])
    assert config["labels"] == {"node": "${NODE_NAME}"}
    assert pod_spec(daemonset)["tolerations"] == [{"operator": "Exists"}]
    [monitor] = by_kind("daemonset.yaml", "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "http-metrics"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        daemonset["spec"]["template"]["metadata"]["labels"].items()


def test_service_and_service_monitor_reach_the_exporter() -> None:
    """Service selects the pods and targets the named port; the ServiceMonitor scrapes
    /metrics on it and selects the Service."""
    [deployment] = by_kind("exporter.yaml", "Deployment")
    [service] = by_kind("exporter.yaml", "Service")
    [monitor] = by_kind("exporter.yaml", "ServiceMonitor")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"], port["name"]) == (DEFAULT_PORT, "http-metrics",
                                                                 "http-metrics")
    [endpoint] = monitor["spec"]["endpoints"]
    assert (endpoint["port"], endpoint["path"]) == ("http-metrics", "/metrics")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()


def test_cronjob_runs_a_valid_one_shot_command() -> None:
    """The CronJob's args parse with wsdoctor's own parser, push to a Pushgateway and print
    JSON; a Job never restarts or overlaps the previous one."""
    [cronjob] = by_kind("cronjob.yaml", "CronJob")
    spec = pod_spec(cronjob)
    args = build_parser().parse_args(spec["containers"][0]["args"])
    assert args.format == "json"
    assert args.pushgateway.startswith("http://")
    assert args.push_job == "wsdoctor"
    assert spec["restartPolicy"] == "Never"
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0


def test_rbac_is_read_only_and_never_reads_secrets() -> None:
    """Only get/list/watch; no Secrets, no wildcards; the binding ties role and account."""
    [role] = by_kind("rbac.yaml", "ClusterRole")
    [binding] = by_kind("rbac.yaml", "ClusterRoleBinding")
    [account] = by_kind("rbac.yaml", "ServiceAccount")
    for rule in role["rules"]:
        assert set(rule["verbs"]) <= READ_ONLY, rule
        assert "secrets" not in rule["resources"] and "*" not in rule["resources"], rule
        assert "*" not in rule["apiGroups"], rule
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert {"ingresses", "services", "endpointslices", "pods", "configmaps"} <= resources
    shipped = yaml.safe_load((DEPLOY.parent / "rbac.yaml").read_text())
    assert role["metadata"]["name"] == shipped["metadata"]["name"]
    assert role["rules"] == shipped["rules"], "keep docs/deploy/rbac.yaml equal to docs/rbac.yaml"
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"],
                                    "namespace": account["metadata"]["namespace"]}]


def test_portforward_role_grants_port_forward_only() -> None:
    """The optional role of `wsdoctor bisect --port-forward`: get and create on
    pods/portforward (what kube-apiserver asks of a WebSocket port-forward), nothing else,
    bound per namespace (no ClusterRoleBinding shipped)."""
    [role] = docs("rbac-portforward.yaml")
    assert role["kind"] == "ClusterRole" and role["metadata"]["name"] == "wsdoctor-portforward"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods/portforward"],
                              "verbs": ["get", "create"]}]
    from wsdoctor.lab.chain import FORWARD_RULE

    assert set(FORWARD_RULE.verbs) == set(role["rules"][0]["verbs"])
    assert FORWARD_RULE.resources == tuple(role["rules"][0]["resources"])


def _emitted_names() -> set[str]:
    """Metric names wsdoctor's exporter code emits (string literals of its modules)."""
    source = "".join(p.read_text() for p in (DEPLOY.parents[1] / "wsdoctor" / "exporter")
                     .glob("*.py"))
    return set(re.findall(r"\"((?:probe|wsdoctor)_[a-z_]+)\"", source))


def test_alerts_cover_the_issue_and_use_metrics_wsdoctor_emits() -> None:
    """Probe failing, idle timeout below expected, certificate within 14 days and affinity
    lost are alerted on; every metric an expression reads is one wsdoctor emits."""
    [rule] = by_kind("alerts.yaml", "PrometheusRule")
    alerts = {r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"WebSocketProbeFailing", "WebSocketIdleTimeoutBelowExpected",
            "WebSocketCertificateExpiringSoon", "WebSocketAffinityLost"} <= set(alerts)
    assert "14 * 86400" in alerts["WebSocketCertificateExpiringSoon"]["expr"]
    emitted = _emitted_names()
    for name, alert in alerts.items():
        expr = alert["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), name
        for metric in re.findall(r"\b((?:probe|wsdoctor)_[a-z_]+)", expr):
            assert metric.removesuffix("_total") in emitted, (name, metric)
        assert alert["annotations"]["summary"], name


def test_every_emitted_metric_is_documented() -> None:
    """docs/deploy/README.md names every metric the exporter's code emits."""
    text = (DEPLOY / "README.md").read_text()
    missing = sorted(n for n in _emitted_names() if f"`{n}" not in text)
    assert not missing, f"document in docs/deploy/README.md: {missing}"


def test_blackbox_style_scrape_config_points_at_probe() -> None:
    """The scrape_config is blackbox's shape: /probe, a module wsdoctor knows, the target as
    a parameter and wsdoctor's port as the address."""
    [job] = yaml.safe_load((DEPLOY / "scrape-config.yaml").read_text())["scrape_configs"]
    assert job["metrics_path"] == "/probe"
    assert job["params"]["module"][0] in BUILTIN_MODULES
    relabel = job["relabel_configs"]
    assert relabel[0] == {"source_labels": ["__address__"], "target_label": "__param_target"}
    assert relabel[-1]["target_label"] == "__address__"
    assert relabel[-1]["replacement"].endswith(f":{DEFAULT_PORT}")


def test_the_example_config_is_valid() -> None:
    """docs/deploy/probe.yaml passes the exporter's own validation."""
    config = load_config(DEPLOY / "probe.yaml", ENV)
    assert config.listen == f":{DEFAULT_PORT}"
    assert [t.name for t in config.targets] == ["chat", "chat-ingress-a", "chat-lifetime",
                                                "chat-drops"]
    assert config.targets[3].watch is not None and config.targets[3].watch.heartbeat == 25
    assert config.targets[1].settings.only == ["dns", "tcp", "tls", "handshake", "messages"]
    assert "cluster" in config.targets[0].settings.only
    assert config.targets[2].long and config.targets[2].settings.expect_idle == 3600


def _dockerfile() -> list[tuple[str, str]]:
    """(instruction, argument) pairs of the Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#")]


def test_dockerfile_runs_wsdoctor_unprivileged_on_the_exporter_port() -> None:
    """Final stage on Python 3.11, a non-root USER, EXPOSE 9120, ENTRYPOINT wsdoctor (exec form)
    and a default command that reads the config where the manifests mount it."""
    instructions = _dockerfile()
    final = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    stage = instructions[final:]
    assert stage[0][1].startswith("python:3.11")
    values = {op: arg for op, arg in stage}
    user = values["USER"].split(":")[0]
    assert user not in ("root", "0") and user.isdigit()
    [workload] = by_kind("exporter.yaml", "Deployment")
    assert int(user) == pod_spec(workload)["securityContext"]["runAsUser"]
    assert values["EXPOSE"] == str(DEFAULT_PORT)
    assert json.loads(values["ENTRYPOINT"]) == ["wsdoctor"]
    assert json.loads(values["CMD"]) == pod_spec(workload)["containers"][0]["args"]
    assert any("pip install" in arg for op, arg in stage if op == "RUN")
    assert shlex.split(instructions[0][1])[0].startswith("python:3.11")


def test_probe_yaml_and_readme_agree_on_long_modules() -> None:
    """The example configuration's comment and the deploy README name the same checks as what
    makes a module long, and they are the exporter's own (LONG_CHECKS)."""
    from wsdoctor.exporter.schema import LONG_CHECKS

    yaml_line = next(line for line in (DEPLOY / "probe.yaml").read_text().splitlines()
                     if line.startswith("long_concurrency:"))
    in_yaml = set(re.findall(r"\w+", yaml_line.split("(", 1)[1].split(")", 1)[0]))
    readme = (DEPLOY / "README.md").read_text()
    in_readme = set(re.findall(r"`(\w+)`", readme.split("long modules (", 1)[1].split(":", 1)[0]))
    assert in_yaml == in_readme == set(LONG_CHECKS)
