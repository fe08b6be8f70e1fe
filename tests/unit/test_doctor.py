"""Doctor findings from engine data shaped like docker info, without an engine."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from playground import doctor
from playground.errors import PrerequisiteError


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
