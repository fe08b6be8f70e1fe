"""The kind backend with kind, the Docker engine and the Kubernetes API mocked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest
import yaml
from kubernetes import client as k
from typer.testing import CliRunner

from playground import kind_cli, lifecycle
from playground.backends import kind as kind_backend
from playground.cli import app
from playground.backends.kind import (
    KindBackend,
    connect_to_kind_network,
    registry_mirrors,
)
from playground.errors import CommandError, PrerequisiteError, UsageError
from playground.imagemap import ImageMap
from playground.kind_config import node_port_for
from playground.kubeclient import Apis, KubeClient
from playground.mirror import Mirror
from playground.settings import Settings
from playground.stack import load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
ROOT = STACKS.parent


class FakeKind:
    """Stands in for the kind command: records calls, keeps a cluster list."""

    def __init__(self, clusters=()):
        self.cluster_names = list(clusters)
        self.created_config: dict | None = None
        self.loaded: list[str] = []
        self.deleted: list[str] = []

    def install(self, monkeypatch):
        monkeypatch.setattr(kind_cli, "require_kind", lambda: "/usr/local/bin/kind")
        monkeypatch.setattr(kind_cli, "clusters", lambda: list(self.cluster_names))
        monkeypatch.setattr(kind_cli, "create_cluster", self.create)
        monkeypatch.setattr(kind_cli, "delete_cluster", self.deleted.append)
        monkeypatch.setattr(
            kind_cli, "load_image", lambda name, image: self.loaded.append(image)
        )
        monkeypatch.setattr(kind_cli, "kubeconfig", lambda name: "apiVersion: v1\n")

    def create(self, name, config_yaml):
        self.created_config = yaml.safe_load(config_yaml)
        self.cluster_names.append(name)


def fake_docker(port_bindings=None, networks=None, local_images=None):
    """A python-on-whales client whose containers and images are given."""
    docker = mock.Mock()
    node = SimpleNamespace(
        name="playground-mirror-registry-1",
        host_config=SimpleNamespace(port_bindings=port_bindings or {}),
        network_settings=SimpleNamespace(
            networks=networks if networks is not None else {"bridge": {}}
        ),
    )
    docker.container.inspect.return_value = node
    docker.container.list.return_value = []
    images = local_images or {}
    docker.image.exists.side_effect = lambda ref: ref in images
    docker.image.inspect.side_effect = lambda ref: SimpleNamespace(
        repo_digests=images[ref]
    )
    return docker


def binding(host_port, host_ip="127.0.0.1"):
    return SimpleNamespace(host_ip=host_ip, host_port=str(host_port))


def fake_apis():
    return Apis(
        mock.Mock(spec=k.CoreV1Api),
        mock.Mock(spec=k.AppsV1Api),
        mock.Mock(spec=k.RbacAuthorizationV1Api),
    )


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("PLAYGROUND_STACKS_DIR", str(STACKS))
    return Settings.resolve()


@pytest.fixture
def no_mirror(monkeypatch):
    def none_up(settings, stack_name=None):
        raise UsageError("no registry mirror is up")

    monkeypatch.setattr("playground.mirror.find_mirror", none_up)


def make_backend(
    settings, monkeypatch, kind, docker, image_map=None, nodes=None, taken=()
):
    """A kind backend on fakes; host ports in ``taken`` count as in use and
    all others as free, whatever runs on this machine."""
    kind.install(monkeypatch)
    monkeypatch.setattr(
        "playground.ports.is_free", lambda binding: binding.port not in taken
    )
    monkeypatch.setattr("playground.engine.docker_client", lambda **_: docker)
    monkeypatch.setattr("playground.backends.kind.load_apis", lambda *args: fake_apis())
    return KindBackend(settings, image_map or ImageMap(), nodes=nodes)


def test_up_without_kind_exits_2_fast(tmp_path):
    """Runs the real command with an empty PATH (so no kind) and no Docker
    engine to reach, so nothing outside the process is needed."""
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {
        **os.environ,
        "PATH": str(empty),
        "PLAYGROUND_STATE_DIR": str(tmp_path / "state"),
        "DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock",
    }
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "playground", "up", "web", "--on", "kind"],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    elapsed = time.monotonic() - started

    assert completed.returncode == 2
    assert "kind is not installed" in completed.stderr
    assert "go install sigs.k8s.io/kind@" in completed.stderr
    assert (
        "https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
        in completed.stderr
    )
    assert "Docker engine" not in completed.stderr
    assert "Traceback" not in completed.stderr
    assert elapsed < 10


def test_kind_run_reports_command_and_output(monkeypatch, tmp_path):
    script = tmp_path / "kind"
    script.write_text("#!/bin/sh\necho 'ERROR: node(s) already exist' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError) as raised:
        kind_cli.run(["create", "cluster", "--name", "playground"])
    assert raised.value.command == ["kind", "create", "cluster", "--name", "playground"]
    assert raised.value.returncode == 1
    assert "node(s) already exist" in raised.value.output


def test_new_cluster_maps_ports_of_shipped_stacks(settings, monkeypatch, no_mirror):
    kind = FakeKind()
    backend = make_backend(settings, monkeypatch, kind, fake_docker(), nodes=2)
    stack = load_stack("web", STACKS)
    notes: list[str] = []
    backend.prepare(stack, notes)

    config = kind.created_config
    assert [node["role"] for node in config["nodes"]] == ["control-plane", "worker"]
    mapped = {
        (m["hostPort"], m["containerPort"])
        for m in config["nodes"][0]["extraPortMappings"]
    }
    for host_port in (8080, 3306, 8081, 24224):
        assert (host_port, node_port_for(host_port)) in mapped
    assert 5000 not in {host for host, _ in mapped}, (
        "the mirror runs beside the cluster"
    )
    assert any("created kind cluster playground (2 node(s))" in note for note in notes)


def test_existing_cluster_missing_port_rejected(settings, monkeypatch, no_mirror):
    kind = FakeKind(clusters=["playground"])
    bindings = {f"{node_port_for(8081)}/tcp": [binding(8081)]}
    backend = make_backend(
        settings, monkeypatch, kind, fake_docker(port_bindings=bindings)
    )
    with pytest.raises(PrerequisiteError) as raised:
        backend.prepare(load_stack("web", STACKS), [])
    assert "127.0.0.1:8080" in raised.value.message
    assert "playground down web --on kind --cluster" in raised.value.hint
    assert kind.created_config is None


def test_existing_cluster_with_ports_reused(settings, monkeypatch, no_mirror):
    kind = FakeKind(clusters=["playground"])
    bindings = {f"{node_port_for(port)}/tcp": [binding(port)] for port in (8080, 3306)}
    backend = make_backend(
        settings, monkeypatch, kind, fake_docker(port_bindings=bindings)
    )
    backend.prepare(load_stack("web", STACKS), [])
    assert kind.created_config is None


def prepare_with_mirror(settings, monkeypatch, mirror):
    """Prepare the web stack on a new cluster while ``mirror`` is up; return
    the backend, the Docker client and the notes."""
    monkeypatch.setattr(
        "playground.mirror.find_mirror", lambda settings, stack_name=None: mirror
    )
    docker = fake_docker()
    backend = make_backend(settings, monkeypatch, FakeKind(), docker)
    notes: list[str] = []
    backend.prepare(load_stack("web", STACKS), notes)
    return backend, docker, notes


def test_mirror_joins_kind_network_and_hosts_written(settings, monkeypatch):
    mirror = Mirror("mirror", "compose", "127.0.0.1", 5000, "", "c0ffee")
    backend, docker, notes = prepare_with_mirror(settings, monkeypatch, mirror)

    docker.network.connect.assert_called_once_with("kind", "c0ffee")
    hosts = (backend.certs_dir / "docker.io" / "hosts.toml").read_text()
    assert '[host."http://playground-mirror-registry-1:5000"]' in hosts
    assert (backend.certs_dir / "127.0.0.1:5000" / "hosts.toml").exists()
    assert any("through the mirror at 127.0.0.1:5000" in note for note in notes)


def test_network_connect_skipped_when_connected():
    docker = fake_docker(networks={"bridge": {}, "kind": {}})
    assert connect_to_kind_network(docker, "c0ffee") is False
    docker.network.connect.assert_not_called()


def test_registry_mirrors_for_other_upstream():
    mirror = Mirror("mirror", "compose", "127.0.0.1", 5000)
    found = registry_mirrors(
        "registry", 5000, mirror, "https://registry.example.test:5443"
    )
    assert found[0].registry == "registry.example.test:5443"
    assert found[0].endpoint == "http://registry:5000"


def test_local_only_images_loaded(settings, monkeypatch, no_mirror):
    images = {
        "playground-offline/nginx:bookworm": [],
        "mysql:8.4.3": ["mysql@sha256:abc"],
    }
    image_map = ImageMap(
        {
            "docker.io/nginxinc/nginx-unprivileged:1.27.3-alpine": "playground-offline/nginx:bookworm"
        }
    )
    kind = FakeKind()
    backend = make_backend(
        settings, monkeypatch, kind, fake_docker(local_images=images), image_map
    )
    notes: list[str] = []
    backend.prepare(load_stack("web", STACKS), notes)
    assert kind.loaded == ["playground-offline/nginx:bookworm"]
    assert any(
        note.startswith("loaded playground-offline/nginx:bookworm") for note in notes
    )


class RecordingClient(KubeClient):
    """Applies nothing: records objects and rollouts awaited, in order."""

    def __init__(self):
        super().__init__(fake_apis(), "kind cluster playground")
        self.applied: list[str] = []
        self.awaited: list[list[tuple[str, str]]] = []
        self.pruned: list[tuple[str, frozenset]] = []

    def apply(self, obj):
        self.applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return True

    def wait_for_rollouts(self, namespace, workloads, timeout):
        self.awaited.append(list(workloads))

    def delete_labelled(self, namespace, selector, kinds, keep=frozenset()):
        self.pruned.append((selector, keep))
        return ["Deployment/old"]


def test_logging_applied_in_health_gated_order(settings, monkeypatch, no_mirror):
    backend = make_backend(settings, monkeypatch, FakeKind(), fake_docker())
    recording = RecordingClient()
    backend._client = recording
    stack = load_stack("logging", STACKS)
    monkeypatch.setattr(lifecycle, "wait_until_ready", lambda *args, **kwargs: [])

    result, _ = lifecycle.up(stack, backend, settings)

    assert backend.phases(stack) == [["fluentd"], ["web"]]
    assert recording.awaited[0] == [("DaemonSet", "fluentd")]
    assert recording.awaited[1] == [("DaemonSet", "fluentd"), ("Deployment", "web")]
    first_web = recording.applied.index("Deployment/web")
    assert recording.applied.index("DaemonSet/fluentd") < first_web
    assert recording.applied[0] == "Namespace/playground-logging"
    assert result.changed is True
    assert any("dropped logging" in note for note in result.notes)
    assert "web: healthcheck became a readiness probe" not in result.notes
    assert len(recording.pruned) == 1, "only the last phase prunes"
    selector, keep = recording.pruned[0]
    assert selector == "io.playground.stack=logging"
    assert {"DaemonSet/fluentd", "Deployment/web", "Service/web"} <= keep
    assert "deleted Deployment/old, which the stack no longer defines" in result.notes


def ready_deployment(name):
    """A Deployment of one replica whose pod is ready."""
    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name=name, generation=1),
        spec=k.V1DeploymentSpec(
            replicas=1,
            selector=k.V1LabelSelector(match_labels={"a": "b"}),
            template=k.V1PodTemplateSpec(),
        ),
        status=k.V1DeploymentStatus(
            ready_replicas=1, updated_replicas=1, observed_generation=1
        ),
    )


def test_states_give_mapped_host_ports(settings, monkeypatch, no_mirror):
    backend = make_backend(
        settings, monkeypatch, FakeKind(clusters=["playground"]), fake_docker()
    )
    client = KubeClient(fake_apis(), "kind cluster playground")
    backend._client = client
    client.apis.apps.read_namespaced_deployment.return_value = ready_deployment("web")
    client.apis.apps.read_namespaced_stateful_set.side_effect = (
        k.exceptions.ApiException(status=404)
    )
    client.apis.core.list_namespaced_pod.return_value = k.V1PodList(items=[])

    states = backend.states(load_stack("web", STACKS))

    assert set(states) == {"web"}
    assert states["web"].status == "running"
    assert states["web"].health == "healthy"
    endpoint = states["web"].endpoint(8080)
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 8080)


def backend_with_namespace(settings, monkeypatch, claims, kind=None):
    """A kind backend whose cluster has the stack's namespace with ``claims``."""
    backend = make_backend(
        settings, monkeypatch, kind or FakeKind(clusters=["playground"]), fake_docker()
    )
    client = mock.Mock(spec=KubeClient)
    client.namespace_exists.return_value = True
    client.claims.return_value = claims
    backend._client = client
    return backend, client


def test_down_deletes_namespace_without_claims(settings, monkeypatch):
    backend, client = backend_with_namespace(settings, monkeypatch, [])
    result = backend.down(load_stack("logging", STACKS), volumes=False)
    assert result.was_up is True
    client.delete_namespace.assert_called_once()
    assert client.delete_namespace.call_args.args[0] == "playground-logging"


def test_down_keeps_claims_without_volumes(settings, monkeypatch):
    backend, client = backend_with_namespace(settings, monkeypatch, ["db-data"])
    client.delete_labelled.return_value = ["StatefulSet/db", "Deployment/web"]
    result = backend.down(load_stack("web", STACKS), volumes=False)
    assert result.was_up is True
    assert result.kept_volumes == ["db-data"]
    client.delete_namespace.assert_not_called()
    kinds = client.delete_labelled.call_args.args[2]
    assert "PersistentVolumeClaim" not in kinds
    assert "StatefulSet" in kinds


def test_down_volumes_deletes_namespace_and_claims(settings, monkeypatch):
    backend, client = backend_with_namespace(settings, monkeypatch, ["db-data"])
    result = backend.down(load_stack("web", STACKS), volumes=True)
    assert result.removed_volumes == ["db-data"]
    client.delete_namespace.assert_called_once()


def test_down_cluster_deletes_cluster(settings, monkeypatch):
    kind = FakeKind(clusters=["playground"])
    backend = make_backend(settings, monkeypatch, kind, fake_docker())
    client = mock.Mock(spec=KubeClient)
    client.namespace_exists.return_value = False
    backend._client = client
    result = backend.down(load_stack("web", STACKS), volumes=False, delete_cluster=True)
    assert kind.deleted == ["playground"]
    assert result.deleted_cluster is True


def test_down_without_cluster_reports_not_up(settings, monkeypatch):
    backend = make_backend(settings, monkeypatch, FakeKind(), fake_docker())
    result = backend.down(load_stack("web", STACKS), volumes=False)
    assert result.was_up is False


def test_deployed_empty_without_cluster(settings, monkeypatch):
    backend = make_backend(settings, monkeypatch, FakeKind(), fake_docker())
    assert backend.deployed() == {}


def test_module_names_kind_network():
    assert kind_backend.KIND_NETWORK == "kind"


@pytest.mark.parametrize(
    "arguments, message",
    [
        (
            ["--on", "compose", "--context", "lab"],
            "--context goes with --on kubernetes",
        ),
        (["--on", "compose", "--nodes", "2"], "--nodes goes with --on kind"),
    ],
)
def test_cluster_options_need_their_backend(arguments, message, tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["up", "web", *arguments])
    assert result.exit_code == 2
    assert message in result.output


def test_unknown_kube_context_exits_2(tmp_path, monkeypatch):
    """The kubeconfig names no cluster address, so no request can leave."""
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n"
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = CliRunner().invoke(
        app, ["up", "web", "--on", "kubernetes", "--context", "lab"]
    )
    assert result.exit_code == 2
    assert "cannot use the kubeconfig for context lab" in result.output
    assert "Docker engine" not in result.output


def test_down_cluster_needs_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = CliRunner().invoke(app, ["down", "web", "--on", "swarm", "--cluster"])
    assert result.exit_code == 2
    assert "--cluster goes with --on kind" in result.output


def test_taken_port_of_other_stack_left_out(settings, monkeypatch, no_mirror):
    kind = FakeKind()
    backend = make_backend(settings, monkeypatch, kind, fake_docker(), taken={8081})
    notes: list[str] = []
    backend.prepare(load_stack("web", STACKS), notes)
    mapped = {
        m["hostPort"] for m in kind.created_config["nodes"][0]["extraPortMappings"]
    }
    assert mapped == {8080, 3306}
    assert any("does not map the ports of stack logging" in note for note in notes)


def test_taken_port_of_own_stack_rejected(settings, monkeypatch, no_mirror):
    kind = FakeKind()
    backend = make_backend(settings, monkeypatch, kind, fake_docker(), taken={8080})
    with pytest.raises(PrerequisiteError) as raised:
        backend.prepare(load_stack("web", STACKS), [])
    assert "port 127.0.0.1:8080/tcp is already in use" in raised.value.message
    assert kind.created_config is None


def test_states_empty_without_cluster(settings, monkeypatch):
    backend = make_backend(settings, monkeypatch, FakeKind(), fake_docker())
    assert backend.states(load_stack("web", STACKS)) == {}


def test_existing_cluster_notes_nodes_ignored(settings, monkeypatch, no_mirror):
    kind = FakeKind(clusters=["playground"])
    bindings = {f"{node_port_for(port)}/tcp": [binding(port)] for port in (8080, 3306)}
    docker = fake_docker(port_bindings=bindings)
    backend = make_backend(settings, monkeypatch, kind, docker, nodes=3)
    notes: list[str] = []
    backend.prepare(load_stack("web", STACKS), notes)
    assert (
        "kind cluster playground exists already; --nodes applies to a new one" in notes
    )


class FakeForward:
    """Stands in for PortForward: records the pod and port, opens nothing."""

    opened: list[tuple[str, str, int]] = []

    def __init__(self, core_api, namespace, pod, port):
        FakeForward.opened.append((namespace, pod, port))
        self.local_port = 40000 + port


def test_kubeconfig_cluster_reached_by_port_forward(settings, monkeypatch):
    from playground.backends.kubernetes import KubernetesBackend

    monkeypatch.setattr("playground.port_forward.PortForward", FakeForward)
    FakeForward.opened = []
    backend = KubernetesBackend(settings, ImageMap(), context="lab")
    client = KubeClient(fake_apis(), "context lab")
    backend._client = client
    running = k.V1Pod(
        metadata=k.V1ObjectMeta(name="web-5d8f"), status=k.V1PodStatus(phase="Running")
    )
    client.apis.apps.read_namespaced_deployment.return_value = ready_deployment("web")
    client.apis.apps.read_namespaced_stateful_set.side_effect = (
        k.exceptions.ApiException(status=404)
    )
    client.apis.core.list_namespaced_pod.return_value = k.V1PodList(items=[running])

    states = backend.states(load_stack("web", STACKS))

    endpoint = states["web"].endpoint(8080)
    assert (endpoint.host, endpoint.port) == ("127.0.0.1", 48080)
    assert FakeForward.opened == [("playground-web", "web-5d8f", 8080)]
    assert backend.where == "context lab"


def test_up_records_cluster_and_down_clears(settings, monkeypatch, no_mirror):
    from playground.backends.kind import CLUSTER_RECORD, recorded_on_kind

    kind = FakeKind()
    backend = make_backend(settings, monkeypatch, kind, fake_docker())
    backend._client = RecordingClient()
    stack = load_stack("logging", STACKS)
    backend.up(stack, {})
    assert recorded_on_kind(settings, "logging")
    assert (
        settings.stack_state_dir("logging") / CLUSTER_RECORD
    ).read_text() == "playground\n"

    backend._client = mock.Mock(spec=KubeClient)
    backend._client.namespace_exists.return_value = False
    backend.down(stack, volumes=False)
    assert not recorded_on_kind(settings, "logging")


def test_recorded_stack_found_on_kind(settings, monkeypatch):
    from playground import cli
    from playground.backends.kind import CLUSTER_RECORD

    FakeKind().install(monkeypatch)
    monkeypatch.setattr("playground.backends.find_backends", lambda name: [])
    record = settings.stack_state_dir("web") / CLUSTER_RECORD
    record.parent.mkdir(parents=True)
    record.write_text("playground\n")
    _, _, backend = cli._context("web", None)
    assert backend.name == "kind"


def test_unrecorded_stack_defaults_to_compose(settings, monkeypatch):
    from playground import cli

    monkeypatch.setattr("playground.backends.find_backends", lambda name: [])
    _, _, backend = cli._context("web", None)
    assert backend.name == "compose"


def test_mirror_on_swarm_not_used(settings, monkeypatch):
    mirror = Mirror("mirror", "swarm", "127.0.0.1", 5000, "", "task1")
    backend, docker, notes = prepare_with_mirror(settings, monkeypatch, mirror)
    docker.network.connect.assert_not_called()
    assert list(backend.certs_dir.glob("*/hosts.toml")) == []
    assert any("do not use the mirror of stack mirror on swarm" in n for n in notes)


def test_second_down_reports_not_up(settings, monkeypatch):
    backend, client = backend_with_namespace(settings, monkeypatch, ["db-data"])
    client.delete_labelled.return_value = []
    result = backend.down(load_stack("web", STACKS), volumes=False)
    assert result.was_up is False
    assert result.kept_volumes == ["db-data"]
