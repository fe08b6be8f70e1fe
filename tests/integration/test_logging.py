"""The logging stack on Compose and Swarm: nginx's access log reaching Fluentd."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.integration.conftest import project_resources

pytestmark = pytest.mark.docker

PROJECT = "playground-logging"
# Fluentd's retries are bounded (fluentd-max-retries), so down must not hang.
DOWN_LIMIT = 30.0


def docker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True)


def web_summary(report: dict) -> str:
    return next(s["summary"] for s in report["services"] if s["service"] == "web")


def test_marker_reaches_fluentd_on_compose(playground):
    up = playground("up", "logging")
    assert up.exit_code == 0, up.output
    assert "http://127.0.0.1:8081" in up.stdout

    check = playground("check", "logging", "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["healthy"] is True
    assert "record reached fluentd" in web_summary(report)


def test_stopped_fluentd_fails_check_and_down_completes(playground):
    assert playground("up", "logging").exit_code == 0
    docker("stop", f"{PROJECT}-fluentd-1")

    check = playground("check", "logging", "--json")
    assert check.exit_code == 1, check.output
    report = json.loads(check.stdout)
    failed = {s["service"] for s in report["services"] if not s["ok"]}
    assert failed == {"fluentd", "web"}
    assert "no record with marker" in web_summary(report)

    plain = playground("check", "logging")
    assert "last lines of fluentd" in plain.stderr

    started = time.monotonic()
    down = playground("down", "logging")
    elapsed = time.monotonic() - started
    assert down.exit_code == 0, down.output
    assert elapsed < DOWN_LIMIT
    assert project_resources(PROJECT)["containers"] == []


def test_nginx_survives_fluentd_starting_later(playground):
    assert playground("up", "logging").exit_code == 0
    docker("stop", f"{PROJECT}-fluentd-1")

    # With Fluentd gone, nginx must still start: the log driver connects
    # asynchronously instead of failing the container's start.
    docker("restart", f"{PROJECT}-web-1")
    state = docker("inspect", "--format", "{{.State.Status}}", f"{PROJECT}-web-1")
    assert state.stdout.strip() == "running"

    docker("start", f"{PROJECT}-fluentd-1")
    check = playground("check", "logging", "--json")
    for _ in range(3):
        if check.exit_code == 0:
            break
        check = playground("check", "logging", "--json")
    assert check.exit_code == 0, check.output


@pytest.mark.swarm
@pytest.mark.usefixtures("swarm_session")
def test_marker_reaches_fluentd_on_swarm(playground):
    up = playground("up", "logging", "--on", "swarm")
    assert up.exit_code == 0, up.output
    assert "starts web after fluentd is healthy" in up.stderr

    check = playground("check", "logging", "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["backend"] == "swarm"
    assert "record reached fluentd" in web_summary(report)

    # A second up must not hold nginx back again: that would stop it.
    again = playground("up", "logging", "--on", "swarm")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stderr

    down = playground("down", "logging")
    assert down.exit_code == 0, down.output
    resources = project_resources(PROJECT, "com.docker.stack.namespace")
    assert resources["containers"] == []
    assert resources["networks"] == []
