"""playground logs on Compose and Swarm, with and without --follow."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from playground.cli import _child_processes

pytestmark = pytest.mark.docker



@pytest.fixture(params=["compose", pytest.param("swarm", marks=pytest.mark.swarm)])
def backend(request) -> str:
    """Each backend in turn; on Swarm the engine leaves the swarm at the end
    of the session if the tests created it."""
    if request.param == "swarm":
        request.getfixturevalue("swarm_session")
    return request.param


def follow_logs(playground, *arguments: str) -> subprocess.Popen:
    """Start ``playground logs ARGUMENTS -f --tail 0`` in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "playground", "logs", *arguments, "-f", "--tail", "0"],
        env=playground.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def request_marker() -> str:
    marker = f"logs-test-{uuid.uuid4().hex}"
    with urllib.request.urlopen(f"http://127.0.0.1:8080/?{marker}", timeout=5):
        pass
    return marker


def test_logs_of_one_service_and_all(playground, backend):
    assert playground("up", "web", "--on", backend).exit_code == 0
    marker = request_marker()

    web = playground("logs", "web", "web", "--tail", "50")
    assert web.exit_code == 0, web.output
    assert marker in web.stdout
    assert "db" not in {line.split("|")[0].strip()[:2] for line in web.stdout.splitlines()}

    everything = playground("logs", "web", "--tail", "200")
    assert everything.exit_code == 0, everything.output
    assert marker in everything.stdout
    assert "ready for connections" in everything.stdout

    unknown = playground("logs", "web", "cache")
    assert unknown.exit_code == 2
    assert "no service 'cache'" in unknown.stderr


def test_logs_follow_prints_new_lines(playground, backend):
    assert playground("up", "web", "--on", backend).exit_code == 0
    follower = follow_logs(playground, "web", "web")
    try:
        time.sleep(2.0)
        marker = request_marker()
        time.sleep(2.0)
    finally:
        follower.send_signal(signal.SIGINT)
        stdout, stderr = follower.communicate(timeout=30)
    assert follower.returncode == 130, stderr
    assert marker in stdout
    assert "run the same command again" not in stderr


def test_logs_of_stack_not_up(playground):
    run = playground("logs", "web")
    assert run.exit_code == 2
    assert "not up" in run.stderr


def test_logs_follow_sigterm_stops_children(playground, backend):
    """SIGTERM reaches only playground, which passes it on to every docker
    command that follows a service's log (one per service on Swarm)."""
    assert playground("up", "web", "--on", backend).exit_code == 0
    follower = follow_logs(playground, "web")
    try:
        time.sleep(2.0)
        followers = _child_processes(follower.pid)
        assert len(followers) == (2 if backend == "swarm" else 1), followers
    finally:
        follower.send_signal(signal.SIGTERM)
        _stdout, stderr = follower.communicate(timeout=30)
    assert follower.returncode == 143, stderr
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() for pid in followers):
        assert time.monotonic() < deadline, f"still running: {followers}"
        time.sleep(0.2)
