"""Kubernetes objects derived from the shipped stacks, validated against the
official schemas of the Kubernetes version that the pinned kind node image runs."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from playground.backends import BACKEND_LABEL, STACK_LABEL
from playground.cli import app
from playground.errors import ConfigError
from playground.imagemap import ImageMap
from playground.kind_config import KUBERNETES_VERSION, node_ports, port_mappings
from playground.manifests import SECRET_PLACEHOLDER, render_objects
from playground.pod_template import readiness_probe
from playground.stack import list_stacks, load_stack, parse_duration

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SHIPPED = list_stacks(STACKS)
ON_KIND = [name for name in SHIPPED if "kind" in load_stack(name, STACKS).backends]


def render(name: str, backend: str = "kind", secret_values=None):
    stack = load_stack(name, STACKS)
    pinned = node_ports(port_mappings([stack], "127.0.0.1"), stack.name)
    return render_objects(
        stack,
        ImageMap(),
        backend=backend,
        secret_values=secret_values,
        node_ports=pinned,
    )


def by_kind(objects, kind):
    return {
        obj["metadata"]["name"]: obj for obj in objects.objects if obj["kind"] == kind
    }


def container(workload):
    return workload["spec"]["template"]["spec"]["containers"][0]


def validate_all(documents):
    for document in documents:
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("backend", ["kind", "kubernetes"])
def test_every_object_validates(name, backend):
    objects = render(name, backend)
    assert objects.objects
    validate_all(objects.objects)


def test_shipped_stacks_include_web_and_logging():
    assert {"web", "logging"} <= set(SHIPPED)


@pytest.mark.parametrize("name", ON_KIND)
def test_export_output_validates(name, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["export", name, "--to", "kubernetes"])
    assert result.exit_code == 0, result.output
    documents = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert documents[0]["kind"] == "Namespace"
    validate_all(documents)
    assert "# converted:" in result.stdout or "# added:" in result.stdout


@pytest.mark.parametrize("target", ["kubernetes", "swarm"])
def test_export_unsupported_backend_rejected(target, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["export", "harbor", "--to", target])
    assert result.exit_code == 2, result.output
    assert f"runs on compose only, not on {target}" in result.output


@pytest.mark.parametrize("target", ["swarm", "compose"])
def test_export_docker_targets(target, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["export", "web", "--to", target, "--json"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["target"] == target
    assert set(data["documents"][0]["services"]) == {"web", "db"}
    assert not (tmp_path / "stacks").exists()


def test_export_unknown_target_exits_2():
    result = CliRunner().invoke(app, ["export", "web", "--to", "nomad"])
    assert result.exit_code == 2
    assert "unknown export target 'nomad'" in result.output


def test_export_prints_no_password(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["export", "web"])
    secret = next(
        doc
        for doc in yaml.safe_load_all(result.stdout)
        if doc and doc["kind"] == "Secret"
    )
    assert set(secret["stringData"].values()) == {SECRET_PLACEHOLDER}


def test_web_database_is_statefulset_with_claim():
    objects = render("web")
    assert objects.workloads == {"web": "Deployment", "db": "StatefulSet"}
    db = by_kind(objects, "StatefulSet")["db"]
    volumes = {v["name"]: v for v in db["spec"]["template"]["spec"]["volumes"]}
    assert volumes["db-data"]["persistentVolumeClaim"] == {"claimName": "db-data"}
    assert "db-data" in by_kind(objects, "PersistentVolumeClaim")


def test_secrets_mounted_where_compose_puts_them():
    objects = render(
        "web", secret_values={"db_password": "p1", "db_root_password": "p2"}
    )
    secret = by_kind(objects, "Secret")["generated-secrets"]
    assert secret["stringData"] == {"db_password": "p1", "db_root_password": "p2"}
    mounts = {
        m["mountPath"]: m
        for m in container(by_kind(objects, "StatefulSet")["db"])["volumeMounts"]
    }
    assert mounts["/run/secrets/db_password"]["subPath"] == "db_password"
    assert mounts["/run/secrets/db_root_password"]["readOnly"] is True


def test_healthcheck_becomes_readiness_probe():
    db = container(by_kind(render("web"), "StatefulSet")["db"])
    probe = db["readinessProbe"]
    assert probe["exec"]["command"][:2] == ["/bin/sh", "-c"]
    assert '"$(cat /run/secrets/db_password)"' in probe["exec"]["command"][2]
    assert "$$" not in probe["exec"]["command"][2]
    assert probe["periodSeconds"] == 1
    assert probe["failureThreshold"] == 10


def test_security_options_become_security_context():
    web = container(by_kind(render("web"), "Deployment")["web"])
    assert web["securityContext"] == {
        "capabilities": {"drop": ["ALL"]},
        "allowPrivilegeEscalation": False,
    }


def test_published_ports_get_pinned_node_ports():
    objects = render("web")
    services = by_kind(objects, "Service")
    assert services["web"]["spec"]["type"] == "NodePort"
    assert services["web"]["spec"]["ports"][0]["port"] == 8080
    assert services["web"]["spec"]["ports"][0]["nodePort"] == 30000 + 8080 % 2768
    assert services["db"]["spec"]["ports"][0]["nodePort"] == 30000 + 3306 % 2768


def test_kubernetes_backend_services_are_cluster_ip():
    stack = load_stack("web", STACKS)
    objects = render_objects(stack, ImageMap(), backend="kubernetes")
    for service in by_kind(objects, "Service").values():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert "nodePort" not in service["spec"]["ports"][0]


def test_statefulset_governed_by_headless_service():
    objects = render("web")
    services = by_kind(objects, "Service")
    governing = by_kind(objects, "StatefulSet")["db"]["spec"]["serviceName"]
    assert governing == "db-headless"
    assert services[governing]["spec"]["clusterIP"] == "None"
    assert services[governing]["metadata"]["annotations"] == {"io.playground.governs": "db"}
    assert services["db"]["spec"]["type"] == "NodePort"


def test_portless_service_gets_headless_service(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  front:\n    image: nginx:1\n    ports: ['8080:80']\n"
        "  backend:\n    image: nginx:1\n"
    )
    objects = render_objects(load_stack(str(path), STACKS), ImageMap(), backend="kind")
    backend = by_kind(objects, "Service")["backend"]
    assert backend["spec"]["clusterIP"] == "None"
    assert "ports" not in backend["spec"]
    assert any("headless Service backend" in note for note in objects.notes)
    validate_all(objects.objects)


def test_every_object_labelled_with_stack_and_backend():
    for obj in render("logging").objects:
        assert obj["metadata"]["labels"][STACK_LABEL] == "logging"
        assert obj["metadata"]["labels"][BACKEND_LABEL] == "kind"


def test_images_relocated_through_image_map():
    stack = load_stack("web", STACKS)
    image_map = ImageMap({"docker.io/library/mysql:8.4.3": "local/mariadb:1"})
    objects = render_objects(stack, image_map, backend="kind")
    assert container(objects.workload("db"))["image"] == "local/mariadb:1"


def test_logging_fluentd_is_daemonset_reading_node_logs():
    objects = render("logging")
    fluentd = by_kind(objects, "DaemonSet")["fluentd"]
    pod = fluentd["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["node-logs"]["hostPath"]["path"] == "/var/log"
    mounts = {m["name"]: m for m in container(fluentd)["volumeMounts"]}
    assert mounts["node-logs"]["readOnly"] is True
    assert pod["serviceAccountName"] == "fluentd-node-logs"
    assert "replicas" not in fluentd["spec"]


def test_logging_fluentd_rbac_bound_to_its_account():
    objects = render("logging")
    role = by_kind(objects, "Role")["fluentd-node-logs"]
    assert role["rules"][0]["resources"] == ["pods"]
    assert set(role["rules"][0]["verbs"]) == {"get", "list", "watch"}
    binding = by_kind(objects, "RoleBinding")["fluentd-node-logs"]
    assert binding["subjects"][0]["name"] == "fluentd-node-logs"
    assert "fluentd-node-logs" in by_kind(objects, "ServiceAccount")


def test_logging_fluentd_gets_kubernetes_config():
    objects = render("logging")
    data = by_kind(objects, "ConfigMap")["fluentd-config"]["data"]
    text = data["fluent-kubernetes.conf"]
    assert "@type tail" in text
    assert "/var/log/containers/*_#{ENV['STACK_NAMESPACE']}_web-*.log" in text
    mounts = container(by_kind(objects, "DaemonSet")["fluentd"])["volumeMounts"]
    config = next(m for m in mounts if m["mountPath"] == "/fluentd/etc/fluent.conf")
    assert config["subPath"] == "fluent-kubernetes.conf"


def test_logging_notes_dropped_log_driver():
    notes = render("logging").notes
    assert any(
        note.startswith("web: dropped logging (driver fluentd") for note in notes
    )
    assert any("web is applied once fluentd is ready" in note for note in notes)


def test_objects_in_apply_order():
    kinds = [obj["kind"] for obj in render("logging").objects]
    assert kinds[0] == "Namespace"
    first_workload = min(kinds.index(kind) for kind in ("Deployment", "DaemonSet"))
    assert all(kind in ("Deployment", "DaemonSet") for kind in kinds[first_workload:])


def test_unknown_compose_key_noted_as_dropped(tmp_path):
    file = tmp_path / "compose.yaml"
    file.write_text("services:\n  app:\n    image: app:1\n    stop_signal: SIGINT\n")
    stack = load_stack(str(file), STACKS)
    objects = render_objects(stack, ImageMap(), backend="kind")
    assert "app: dropped stop_signal (not translated to Kubernetes)" in objects.notes
    validate_all(objects.objects)


def test_bad_kubernetes_section_names_key(tmp_path):
    file = tmp_path / "compose.yaml"
    file.write_text(
        "x-playground:\n  kubernetes:\n    app:\n      workload: Job\n"
        "services:\n  app:\n    image: app:1\n"
    )
    stack = load_stack(str(file), STACKS)
    with pytest.raises(Exception) as raised:
        render_objects(stack, ImageMap(), backend="kind")
    assert "x-playground.kubernetes.app.workload" in str(raised.value)


@pytest.mark.parametrize(
    "text, seconds", [("1s", 1), ("500ms", 0.5), ("1m30s", 90), ("2h", 7200)]
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_parse_duration_rejects_garbage():
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_disabled_healthcheck_gives_no_probe():
    assert readiness_probe({"disable": True}) is None
    assert readiness_probe({"test": ["NONE"]}) is None


def test_bind_mounted_folder_becomes_config_map(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<p>hello</p>\n")
    (site / "about.html").write_text("<p>about</p>\n")
    file = tmp_path / "compose.yaml"
    file.write_text(
        "services:\n  app:\n    image: nginx:1\n    volumes:\n"
        "      - ./site:/usr/share/nginx/html:ro\n"
    )
    objects = render_objects(load_stack(str(file), STACKS), ImageMap(), backend="kind")
    data = by_kind(objects, "ConfigMap")["app-config"]["data"]
    assert data == {"about.html": "<p>about</p>\n", "index.html": "<p>hello</p>\n"}
    pod = objects.workload("app")["spec"]["template"]["spec"]
    mount = container(objects.workload("app"))["volumeMounts"][0]
    assert mount["mountPath"] == "/usr/share/nginx/html"
    assert "subPath" not in mount
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert [item["path"] for item in volume["configMap"]["items"]] == [
        "about.html",
        "index.html",
    ]
    validate_all(objects.objects)


def test_missing_bind_source_becomes_empty_dir(tmp_path):
    file = tmp_path / "compose.yaml"
    file.write_text(
        "services:\n  app:\n    image: nginx:1\n    volumes:\n      - ./nothing:/data\n"
    )
    objects = render_objects(load_stack(str(file), STACKS), ImageMap(), backend="kind")
    pod = objects.workload("app")["spec"]["template"]["spec"]
    assert pod["volumes"] == [{"name": "scratch-0", "emptyDir": {}}]
    assert any("nothing does not exist" in note for note in objects.notes)
    validate_all(objects.objects)


def test_socket_bind_source_rejected(tmp_path):
    import socket

    path = tmp_path / "engine.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(path))
    file = tmp_path / "compose.yaml"
    file.write_text(
        "services:\n  app:\n    image: nginx:1\n    volumes:\n"
        "      - ./engine.sock:/var/run/docker.sock\n"
    )
    try:
        with pytest.raises(ConfigError) as raised:
            render_objects(load_stack(str(file), STACKS), ImageMap(), backend="kind")
    finally:
        listener.close()
    assert "services.app.volumes" in raised.value.message
    assert "neither a file nor a folder" in raised.value.message


def test_conversions_noted():
    notes = render("web").notes
    assert "web: healthcheck became a readiness probe" in notes
    assert "web: cap_drop, security_opt became the securityContext" in notes
    assert "db: volume db-data became the PersistentVolumeClaim db-data" in notes


def test_kubernetes_config_replacement_noted():
    notes = render("logging").notes
    expected = (
        "fluentd: /fluentd/etc/fluent.conf comes from fluent-kubernetes.conf, "
        "as x-playground.kubernetes sets for Kubernetes"
    )
    assert expected in notes


def test_shared_kubernetes_name_rejected(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(
        "services:\n  db:\n    image: mysql:8.4.3\n    ports: ['3306:3306']\n"
        "    volumes: [data:/var/lib/mysql]\n  db-headless:\n    image: nginx:1\n"
        "volumes:\n  data: {}\n"
    )
    with pytest.raises(ConfigError, match="two services become the Service 'db-headless'"):
        render_objects(load_stack(str(path), STACKS), ImageMap(), backend="kind")
