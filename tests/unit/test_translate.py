from pathlib import Path
from dataclasses import replace
from types import SimpleNamespace

import pytest

from playground.backends import BACKEND_LABEL, STACK_LABEL
from playground.backends.swarm import SwarmBackend
from playground.imagemap import ImageMap
from playground.settings import Settings
from playground.stack import load_stack
from playground.translate import start_phases, to_swarm

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def document(**service_keys):
    return {
        "services": {
            "app": {
                "image": "app:1",
                "labels": {STACK_LABEL: "demo"},
                "ports": [{"target": 80, "published": "8080", "host_ip": "127.0.0.1"}],
                **service_keys,
            },
            "db": {"image": "db:1"},
        },
        "volumes": {"data": {"labels": {STACK_LABEL: "demo"}}},
    }


def translate(doc, mesh=False, held=frozenset()):
    return to_swarm(doc, routing_mesh=mesh, bind_address="127.0.0.1", held=held)


def test_unsupported_keys_dropped_with_note():
    result = translate(document(container_name="x", security_opt=["a"], build="."))
    app = result.document["services"]["app"]
    for key in ("container_name", "security_opt", "build"):
        assert key not in app
        assert any(note.startswith(f"app: dropped {key}") for note in result.notes)


def test_restart_becomes_restart_policy():
    result = translate(document(restart="unless-stopped"))
    app = result.document["services"]["app"]
    assert "restart" not in app
    assert app["deploy"]["restart_policy"] == {"condition": "any"}
    assert any("restart: unless-stopped" in note for note in result.notes)


def test_healthy_depends_on_noted_as_gated():
    doc = document(depends_on={"db": {"condition": "service_healthy"}})
    result = translate(doc)
    assert "depends_on" not in result.document["services"]["app"]
    assert any("starts app after db is healthy" in note for note in result.notes)


def test_without_mesh_host_mode_and_dnsrr():
    result = translate(document(), mesh=False)
    app = result.document["services"]["app"]
    assert app["ports"] == [{"target": 80, "published": 8080, "mode": "host"}]
    assert app["deploy"]["endpoint_mode"] == "dnsrr"
    assert any("routing mesh does not work" in note for note in result.notes)


def test_with_mesh_ingress_and_vip():
    result = translate(document(), mesh=True)
    app = result.document["services"]["app"]
    assert app["ports"][0]["mode"] == "ingress"
    assert "endpoint_mode" not in app["deploy"]
    assert any("all interfaces" in note for note in result.notes)


def test_services_and_volumes_labelled_for_swarm():
    result = translate(document())
    app = result.document["services"]["app"]
    assert app["deploy"]["labels"] == {STACK_LABEL: "demo", BACKEND_LABEL: "swarm"}
    assert app["labels"][BACKEND_LABEL] == "swarm"
    assert result.document["volumes"]["data"]["labels"][BACKEND_LABEL] == "swarm"


def test_held_services_get_zero_replicas():
    result = translate(document(), held=frozenset({"app"}))
    assert result.document["services"]["app"]["deploy"]["replicas"] == 0
    assert "replicas" not in result.document["services"]["db"]["deploy"]


def test_input_document_unchanged():
    doc = document(restart="always")
    translate(doc)
    assert doc["services"]["app"]["restart"] == "always"


def test_start_phases_follow_healthy_dependencies():
    services = {
        "web": {"depends_on": {"api": {"condition": "service_healthy"}}},
        "api": {"depends_on": {"db": {"condition": "service_healthy"}}},
        "db": {},
        "cache": {"depends_on": ["db"]},
    }
    assert start_phases(services) == [["db", "cache"], ["api"], ["web"]]


def test_start_phases_reject_cycle():
    services = {
        "a": {"depends_on": {"b": {"condition": "service_healthy"}}},
        "b": {"depends_on": {"a": {"condition": "service_healthy"}}},
    }
    with pytest.raises(ValueError, match="cycle"):
        start_phases(services)


def test_web_stack_renders_for_swarm(tmp_path):
    settings = Settings(tmp_path, STACKS, None, 5, "127.0.0.1")
    backend = SwarmBackend(settings, ImageMap())
    stack = load_stack("web", STACKS)
    files = {name: tmp_path / name for name in stack.generated_secrets}
    document, notes = backend.render(stack, files, routing_mesh=False)
    assert "name" not in document
    assert document["services"]["db"]["ports"] == [
        {"target": 3306, "protocol": "tcp", "published": 3306, "mode": "host"}
    ]
    assert document["secrets"]["db_password"] == {"file": str(tmp_path / "db_password")}
    assert any("security_opt" in note for note in notes)


class FakeService:
    def __init__(self, replicas):
        self.id = "svc"
        self.spec = type("Spec", (), {"mode": {"Replicated": {"Replicas": replicas}}})()
        self.endpoint = None


def task(state, desired="running", updated=100.0, error=""):
    from playground.backends.swarm import _TaskView

    return _TaskView("t-" + state, "svc", desired, state, error, "c1", updated)


def swarm_state(replicas, tasks, health=None):
    backend = SwarmBackend(Settings(Path("."), STACKS, None, 5, "127.0.0.1"), ImageMap())
    backend.earlier_tasks = frozenset({"t-earlier"})
    return backend._service_state(
        "db", FakeService(replicas), tasks, health or {}, "127.0.0.1"
    )


def test_swarm_state_running_with_health():
    health = SimpleNamespace(status="healthy", log=[])
    state = swarm_state(1, [task("running")], {"c1": health})
    assert state.status == "running"
    assert state.health == "healthy"


def test_swarm_state_scaled_to_zero(monkeypatch):
    from playground.backends import Endpoint

    published = [Endpoint(3306, "127.0.0.1", 3306)]
    monkeypatch.setattr("playground.backends.swarm._service_endpoints", lambda service, host: published)
    state = swarm_state(0, [])
    assert state.status == "stopped"
    assert state.detail == "scaled to 0 replicas"
    assert state.endpoints == []


def test_swarm_state_starting_counts_tasks():
    state = swarm_state(1, [task("starting")])
    assert state.status == "starting"
    assert state.detail == "0/1 tasks running (starting)"


def test_swarm_state_rejected_task_fails():
    tasks = [task("rejected", desired="shutdown", error="No such image: x:1"), task("pending")]
    state = swarm_state(1, tasks)
    assert state.status == "failed"
    assert "No such image: x:1" in state.detail


def test_swarm_state_ignores_failures_before_deploy():
    earlier = task("rejected", desired="shutdown", error="No such image: x:1")
    tasks = [replace(earlier, id="t-earlier"), task("starting")]
    state = swarm_state(1, tasks)
    assert state.status == "starting"
    assert "failed" not in state.detail


def test_read_only_file_binds_become_configs(tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\n")
    site = tmp_path / "site"
    site.mkdir()
    volumes = [
        f"{conf}:/etc/nginx/nginx.conf:ro",
        {"type": "bind", "source": str(conf), "target": "/copy.conf", "read_only": True},
        f"{conf}:/writable.conf",
        f"{site}:/usr/share/nginx/html:ro",
        "data:/var/lib/data",
    ]
    translation = to_swarm(
        document(volumes=volumes), routing_mesh=True, bind_address="0.0.0.0"
    )

    app = translation.document["services"]["app"]
    (key,) = translation.document["configs"]
    assert key.startswith("nginx.conf-")
    assert translation.document["configs"][key] == {"file": str(conf)}
    assert app["configs"] == [
        {"source": key, "target": "/etc/nginx/nginx.conf"},
        {"source": key, "target": "/copy.conf"},
    ]
    assert app["volumes"] == volumes[2:]
    assert any(f"became the Swarm config {key}" in note for note in translation.notes)
    assert any("folder" in note and str(site) in note for note in translation.notes)


def test_config_name_changes_with_content(tmp_path):
    conf = tmp_path / "fluent.conf"

    def config_key(text):
        conf.write_text(text)
        spec = document(volumes=[f"{conf}:/fluentd/etc/fluent.conf:ro"])
        translation = to_swarm(spec, routing_mesh=True, bind_address="0.0.0.0")
        return next(iter(translation.document["configs"]))

    assert config_key("<source>\n</source>\n") != config_key("<match **>\n</match>\n")


def test_missing_bind_source_is_left_to_swarm(tmp_path):
    volumes = [f"{tmp_path / 'absent.conf'}:/etc/app.conf:ro"]
    translation = to_swarm(document(volumes=volumes), routing_mesh=True, bind_address="0.0.0.0")
    assert translation.document["services"]["app"]["volumes"] == volumes
    assert "configs" not in translation.document


def context_backend(host):
    backend = SwarmBackend(
        Settings(Path("."), STACKS, None, 5, "127.0.0.1"), ImageMap(), context="lab"
    )
    backend.remote_host = host
    return backend


def inactive_client():
    swarm = SimpleNamespace(local_node_state="inactive", error="")
    return SimpleNamespace(info=lambda: SimpleNamespace(swarm=swarm))


@pytest.mark.parametrize("host", ["manager.lab", None])
def test_context_never_creates_swarm(host):
    from playground.errors import PrerequisiteError

    with pytest.raises(PrerequisiteError, match="Docker context lab is in no swarm"):
        context_backend(host)._ensure_swarm(inactive_client(), load_stack("web", STACKS), [])


def test_remote_endpoints_use_the_engine_host():
    backend = context_backend("manager.lab")
    assert backend.endpoint_host() == "manager.lab"
    assert context_backend(None).endpoint_host() == "127.0.0.1"


def test_remote_port_conflict_named():
    from playground.errors import PrerequisiteError

    port = SimpleNamespace(target_port=80, published_port=8080, protocol="tcp")
    other = SimpleNamespace(
        spec=SimpleNamespace(name="shop_front"), endpoint=SimpleNamespace(ports=[port])
    )
    client = SimpleNamespace(service=SimpleNamespace(list=lambda: [other]))
    rendered = to_swarm(document(), routing_mesh=True, bind_address="0.0.0.0").document

    with pytest.raises(PrerequisiteError, match="port 8080 is already published by service shop_front"):
        context_backend("manager.lab")._ensure_unpublished(client, rendered, set())
    context_backend("manager.lab")._ensure_unpublished(client, rendered, {8080})
