"""Doctor findings from engine data shaped like docker info, without an engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from playground import doctor
from playground.errors import PrerequisiteError, UsageError


def machine(**info) -> doctor.Machine:
    defaults = {
        "server_version": "20.10.24",
        "operating_system": "Debian GNU/Linux 12 (bookworm)",
        "driver": "overlay2",
        "driver_status": [["Backing Filesystem", "extfs"]],
        "swarm": SimpleNamespace(
            local_node_state="inactive", control_available=False, nodes=0, error=""
        ),
        "registry_config": {"Mirrors": []},
    }
    return doctor.Machine(client=object(), info=SimpleNamespace(**{**defaults, **info}))


def test_engine_down_fails_and_skips_dependents():
    down = doctor.Machine(engine_error=PrerequisiteError("no engine", hint="start dockerd"))
    assert doctor.engine_finding(down).verdict == doctor.FAILED
    assert doctor.engine_finding(down).fix == "start dockerd"
    for finding in (
        doctor.compose_finding(down),
        doctor.swarm_finding(down),
        doctor.mesh_finding(down),
        doctor.image_store_finding(down),
    ):
        assert finding.verdict == doctor.SKIPPED


@pytest.mark.parametrize(
    ("state", "control", "verdict"),
    [
        ("inactive", False, doctor.OK),
        ("active", True, doctor.OK),
        ("active", False, doctor.FAILED),
        ("error", False, doctor.FAILED),
    ],
)
def test_swarm_states(state, control, verdict):
    swarm = SimpleNamespace(local_node_state=state, control_available=control, nodes=1, error="")
    assert doctor.swarm_finding(machine(swarm=swarm)).verdict == verdict


def test_containerd_image_store_warns():
    status = [["driver-type", "io.containerd.snapshotter.v1"]]
    finding = doctor.image_store_finding(machine(driver_status=status))
    assert finding.verdict == doctor.WARNING
    assert "kind load docker-image" in finding.detail
    assert "containerd-snapshotter" in finding.fix


def test_mesh_without_ipvs_warns(monkeypatch):
    monkeypatch.setattr("playground.backends.swarm.ipvs_available", lambda client: False)
    finding = doctor.mesh_finding(machine())
    assert finding.verdict == doctor.WARNING
    assert finding.detail.startswith("not working")


def test_missing_tool_warns_with_fix(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    finding = doctor.tool_finding("kind", ["kind", "version"], doctor.KIND_FIX)
    assert finding.verdict == doctor.WARNING
    assert finding.fix == doctor.KIND_FIX


def test_failed_only_on_failed_findings():
    warning = doctor.Finding("kind", doctor.WARNING, "missing")
    assert not doctor.failed([warning])
    assert doctor.failed([warning, doctor.Finding("engine", doctor.FAILED, "down")])


def cluster_node(bindings: dict[str, list[tuple[str, str]]]):
    port_bindings = {
        key: [SimpleNamespace(host_ip=ip, host_port=port) for ip, port in found]
        for key, found in bindings.items()
    }
    return SimpleNamespace(host_config=SimpleNamespace(port_bindings=port_bindings))


def kind_machine(monkeypatch, node) -> doctor.Machine:
    from playground import kind_cli

    monkeypatch.setattr(doctor.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kind_cli, "clusters", lambda: ["playground"])
    client = SimpleNamespace(container=SimpleNamespace(inspect=lambda name: node))
    return doctor.Machine(client=client, info=SimpleNamespace())


def needed_bindings(settings) -> dict[str, list[tuple[str, str]]]:
    from playground.kind_config import port_mappings

    stacks = doctor._stacks(settings, mirrors=False)
    return {
        f"{m.node_port}/tcp": [(m.host_ip, str(m.host_port))]
        for m in port_mappings(stacks, settings.bind_address)
    }


def test_kind_cluster_with_every_mapping(monkeypatch, tmp_path):
    from playground.settings import Settings

    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    settings = Settings.resolve()
    machine = kind_machine(monkeypatch, cluster_node(needed_bindings(settings)))
    finding = doctor.kind_cluster_finding(machine, settings)
    assert finding.verdict == doctor.OK, finding.detail
    assert "127.0.0.1:8080" in finding.detail


def test_kind_cluster_missing_mapping_warns(monkeypatch, tmp_path):
    from playground.settings import Settings

    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    settings = Settings.resolve()
    bindings = {
        key: found for key, found in needed_bindings(settings).items()
        if found != [("127.0.0.1", "8081")]
    }
    machine = kind_machine(monkeypatch, cluster_node(bindings))
    finding = doctor.kind_cluster_finding(machine, settings)
    assert finding.verdict == doctor.WARNING
    assert "but not 127.0.0.1:8081" in finding.detail
    assert "--cluster" in finding.fix


def test_no_kind_cluster_yet(monkeypatch, tmp_path):
    from playground import kind_cli
    from playground.settings import Settings

    monkeypatch.setattr(doctor.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(kind_cli, "clusters", list)
    finding = doctor.kind_cluster_finding(doctor.Machine(), Settings.resolve())
    assert finding.verdict == doctor.OK
    assert "'up --on kind' creates it" in finding.detail


def test_mirror_configured_but_down_fails(monkeypatch, tmp_path):
    from playground.settings import Settings

    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    def no_mirror_stack(settings):
        raise UsageError("no registry mirror is up")

    monkeypatch.setattr("playground.mirror.find_mirror", no_mirror_stack)
    found = machine(registry_config={"Mirrors": ["http://127.0.0.1:1"]})
    finding = doctor.mirror_finding(found, Settings.resolve())
    assert finding.verdict == doctor.FAILED
    assert "http://127.0.0.1:1" in finding.detail
