"""The web stack on Docker Compose, end to end, on a real engine."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.integration.conftest import project_resources

pytestmark = pytest.mark.docker

PROJECT = "playground-web"


def test_up_check_and_down(playground):
    up = playground("up", "web")
    assert up.exit_code == 0, up.output
    assert "http://127.0.0.1:8080" in up.stdout
    assert "127.0.0.1:3306" in up.stdout

    with urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5) as response:
        assert response.status == 200

    check = playground("check", "web", "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["healthy"] is True
    assert {s["service"]: s["ok"] for s in report["services"]} == {"web": True, "db": True}

    again = playground("up", "web")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stderr

    status = playground("status", "--json")
    rows = json.loads(status.stdout)
    assert {"stack": "web", "backend": "compose"}.items() <= rows[0].items()

    down = playground("down", "web", "--volumes", "--yes")
    assert down.exit_code == 0, down.output
    assert f"{PROJECT}_db-data" in down.stderr
    assert project_resources(PROJECT) == {"containers": [], "networks": [], "volumes": []}

    second_down = playground("down", "web")
    assert second_down.exit_code == 0, second_down.output
    assert "not up" in second_down.stderr


def test_data_survives_down_until_volumes_removed(playground):
    assert playground("up", "web").exit_code == 0
    with playground.web_database() as connection, connection.cursor() as cursor:
        cursor.execute("CREATE TABLE notes (body VARCHAR(64))")
        cursor.execute("INSERT INTO notes VALUES ('kept across down')")

    down = playground("down", "web")
    assert down.exit_code == 0, down.output
    assert "kept volumes" in down.stderr
    assert project_resources(PROJECT)["volumes"] == [f"{PROJECT}_db-data"]

    assert playground("up", "web").exit_code == 0
    with playground.web_database() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT body FROM notes")
        assert cursor.fetchall() == (("kept across down",),)

    # Swarm names the volume alike; the stack on Compose keeps it.
    wrong_backend = playground("down", "web", "--on", "swarm", "--volumes", "--yes")
    assert wrong_backend.exit_code == 2, wrong_backend.output
    assert "is up on compose, not on swarm" in wrong_backend.stderr
    assert project_resources(PROJECT)["volumes"] == [f"{PROJECT}_db-data"]

    assert playground("down", "web", "--volumes", "--yes").exit_code == 0
    assert playground("up", "web").exit_code == 0
    with playground.web_database() as connection, connection.cursor() as cursor:
        cursor.execute("SHOW TABLES LIKE 'notes'")
        assert cursor.fetchall() == ()


def test_check_names_stopped_database(playground):
    assert playground("up", "web").exit_code == 0
    subprocess.run(["docker", "stop", f"{PROJECT}-db-1"], check=True, capture_output=True)

    check = playground("check", "web")
    assert check.exit_code == 1, check.output
    assert "db" in check.stderr.split("unhealthy:")[-1]
    assert "web" not in check.stderr.split("unhealthy:")[-1]

    report = json.loads(playground("check", "web", "--json").stdout)
    failed = [s["service"] for s in report["services"] if not s["ok"]]
    assert failed == ["db"]

    status = playground("status", "--check", "--json")
    assert status.exit_code == 1, status.output
    rows = json.loads(status.stdout)
    assert rows[0]["healthy"] is False
    services = {s["service"]: s for s in rows[0]["services"]}
    assert services["db"]["check"].startswith("FAIL")
    assert services["web"]["check"] == "pass"
    assert services["web"]["last_probe"].startswith("pass")
    assert services["web"]["endpoints"] == ["http://127.0.0.1:8080"]


def test_taken_port_fails_before_start(playground):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 8080))
        holder.listen()
        up = playground("up", "web")

    assert up.exit_code == 2, up.output
    assert "127.0.0.1:8080/tcp is already in use" in up.stderr
    assert "python" in up.stderr
    assert project_resources(PROJECT)["containers"] == []


def test_unknown_stack_exits_2(playground):
    up = playground("up", "nosuchstack")
    assert up.exit_code == 2
    assert "known stacks: " in up.stderr
    for name in ("logging", "mirror", "web"):
        assert name in up.stderr.split("known stacks: ", 1)[1]


def test_interrupted_up_is_finished_by_next_up(playground):
    command = [sys.executable, "-m", "playground", "up", "web"]
    process = subprocess.Popen(
        command,
        env=playground.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr

    # Depending on where the interrupt landed, this up starts containers or
    # finds them running; either way it must end healthy.
    up = playground("up", "web")
    assert up.exit_code == 0, up.output
    assert playground("check", "web").exit_code == 0

    down = playground("down", "web", "--volumes", "--yes")
    assert down.exit_code == 0, down.output
    assert project_resources(PROJECT) == {"containers": [], "networks": [], "volumes": []}


def test_concurrent_up_names_holder(playground):
    first = subprocess.Popen(
        [sys.executable, "-m", "playground", "up", "web"],
        env=playground.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = playground.state_dir / "locks" / "web.lock"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.05)

    second = playground("up", "web")
    _, first_stderr = first.communicate(timeout=300)
    assert first.returncode == 0, first_stderr
    assert second.exit_code == 1, second.output
    assert "stack web is busy" in second.stderr
    assert f"process {first.pid}" in second.stderr
    assert "'playground up web'" in second.stderr

    assert playground("up", "web").exit_code == 0


def test_down_volumes_without_yes_keeps_data(playground):
    assert playground("up", "web").exit_code == 0

    refused = playground("down", "web", "--volumes")
    assert refused.exit_code == 2, refused.output
    assert f"volume {PROJECT}_db-data" in refused.stderr
    assert project_resources(PROJECT)["volumes"] == [f"{PROJECT}_db-data"]
    assert len(project_resources(PROJECT)["containers"]) == 2
