"""playground doctor against the real engine of this machine."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker


def findings(run) -> dict[str, dict]:
    return {finding["check"]: finding for finding in json.loads(run.stdout)}


def test_doctor_reports_each_check(playground):
    run = playground("doctor", "--json")
    assert run.exit_code == 0, run.output
    found = findings(run)

    assert found["engine"]["verdict"] == "ok"
    assert "Docker engine" in found["engine"]["detail"]
    assert found["compose"]["verdict"] == "ok"
    assert "v2." in found["compose"]["detail"]
    assert found["swarm"]["verdict"] == "ok"
    assert found["image store"]["verdict"] == "ok"
    for stack in ("web", "logging", "mirror"):
        assert found[f"ports of {stack}"]["verdict"] == "ok"
    assert found["mirror"]["verdict"] == "ok"

    if shutil.which("kind") is None:
        assert found["kind"]["verdict"] == "warning"
        assert "not installed" in found["kind"]["detail"]
        assert "go install sigs.k8s.io/kind" in found["kind"]["fix"]
        assert found["kind cluster"]["verdict"] == "skipped"
    kubectl = "ok" if shutil.which("kubectl") else "warning"
    assert found["kubectl"]["verdict"] == kubectl


@pytest.mark.skipif(
    Path("/proc/sys/net/ipv4/vs").exists(), reason="this kernel has IPVS"
)
def test_doctor_routing_mesh_not_working_without_ipvs(playground):
    found = findings(playground("doctor", "--json"))
    assert found["routing mesh"]["verdict"] == "warning"
    assert found["routing mesh"]["detail"].startswith("not working")
    assert "ip_vs" in found["routing mesh"]["fix"]


def test_doctor_fails_on_taken_port(playground):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 8080))
        holder.listen()
        run = playground("doctor", "--json")
        text = playground("doctor")

    assert run.exit_code == 1, run.output
    web = findings(run)["ports of web"]
    assert web["verdict"] == "failed"
    assert "127.0.0.1:8080/tcp" in web["detail"]
    assert "python" in web["detail"]
    assert text.exit_code == 1
    assert "fix: stop what holds them" in text.stdout


def test_doctor_accepts_ports_of_running_stack(playground):
    assert playground("up", "web").exit_code == 0
    found = findings(playground("doctor", "--json"))
    assert found["ports of web"]["verdict"] == "ok"
