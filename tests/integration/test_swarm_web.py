"""The web stack on a real single-node Docker Swarm."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.request

import pytest

from tests.integration.conftest import project_resources

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("swarm_session")]

STACK = "playground-web"
NAMESPACE = "com.docker.stack.namespace"


def stack_resources() -> dict[str, list[str]]:
    return project_resources(STACK, NAMESPACE)


def test_up_check_down_cycle(playground):
    up = playground("up", "web", "--on", "swarm")
    assert up.exit_code == 0, up.output
    assert "http://127.0.0.1:8080" in up.stdout
    assert "routing mesh" in up.stderr or "host mode" in up.stderr

    with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5) as response:
        assert response.status == 200

    check = playground("check", "web", "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["backend"] == "swarm"
    assert report["healthy"] is True

    again = playground("up", "web", "--on", "swarm")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stderr

    status = json.loads(playground("status", "--json").stdout)
    assert [(row["stack"], row["backend"]) for row in status] == [("web", "swarm")]

    down = playground("down", "web", "--on", "swarm")
    assert down.exit_code == 0, down.output
    resources = stack_resources()
    assert resources["containers"] == []
    assert resources["networks"] == []

    immediate = playground("up", "web", "--on", "swarm")
    assert immediate.exit_code == 0, immediate.output

    assert playground("down", "web", "--on", "swarm").exit_code == 0
    second = playground("down", "web", "--on", "swarm")
    assert second.exit_code == 0, second.output
    assert "not up" in second.stderr


def test_data_survives_down_on_swarm(playground):
    assert playground("up", "web", "--on", "swarm").exit_code == 0
    with playground.web_database() as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE notes (body VARCHAR(64))")
        cursor.execute("INSERT INTO notes VALUES ('kept on swarm')")

    assert playground("down", "web", "--on", "swarm").exit_code == 0
    assert stack_resources()["volumes"] == [f"{STACK}_db-data"]
    assert playground("up", "web", "--on", "swarm").exit_code == 0
    with playground.web_database() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT body FROM notes")
        assert cursor.fetchall() == (("kept on swarm",),)

    down = playground("down", "web", "--on", "swarm", "--volumes", "--yes")
    assert down.exit_code == 0, down.output
    assert stack_resources() == {"containers": [], "networks": [], "volumes": []}


def test_check_names_scaled_down_database(playground):
    assert playground("up", "web", "--on", "swarm").exit_code == 0
    subprocess.run(
        ["docker", "service", "scale", "--detach", f"{STACK}_db=0"],
        check=True,
        capture_output=True,
    )

    check = playground("check", "web", "--on", "swarm", "--json")
    assert check.exit_code == 1, check.output
    report = json.loads(check.stdout)
    failed = {s["service"]: s["summary"] for s in report["services"] if not s["ok"]}
    assert list(failed) == ["db"]
    assert "scaled to 0" in failed["db"]

    restored = playground("up", "web", "--on", "swarm")
    assert restored.exit_code == 0, restored.output


def test_taken_port_fails_before_deploy(playground):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 3306))
        holder.listen()
        up = playground("up", "web", "--on", "swarm")

    assert up.exit_code == 2, up.output
    assert "3306/tcp is already in use" in up.stderr
    assert stack_resources()["containers"] == []
