"""A stack on a swarm named by a Docker context. The context points at the
local engine's own socket, so the remote path runs and nothing leaves the
machine."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.integration.conftest import project_resources, swarm_state

pytestmark = [pytest.mark.docker, pytest.mark.swarm, pytest.mark.usefixtures("swarm_session")]

CONTEXT = "playground-test-context"
NAMESPACE = "com.docker.stack.namespace"


def docker(*args: str) -> str:
    completed = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, f"docker {' '.join(args)}: {completed.stderr}"
    return completed.stdout.strip()


@pytest.fixture
def docker_context():
    """A Docker context for this engine's socket, on an active swarm (the
    session fixture leaves a swarm that the tests created)."""
    if swarm_state() == "inactive":
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    socket = docker("context", "inspect", "-f", "{{.Endpoints.docker.Host}}")
    subprocess.run(["docker", "context", "rm", "-f", CONTEXT], capture_output=True, check=False)
    docker("context", "create", CONTEXT, "--docker", f"host={socket}")
    yield CONTEXT
    subprocess.run(["docker", "context", "rm", "-f", CONTEXT], capture_output=True, check=False)


def stack_configs() -> list[str]:
    return docker(
        "config", "ls", "--filter", f"label={NAMESPACE}=playground-logging",
        "--format", "{{.Name}}",
    ).split()


def test_logging_through_docker_context(playground, docker_context):
    on = ("--on", "swarm", "--context", docker_context)

    up = playground("up", "logging", *on)
    assert up.exit_code == 0, up.output
    assert "http://127.0.0.1:8081" in up.stdout
    assert "became the Swarm config" in up.stderr
    configs = stack_configs()
    assert sorted(
        name.removeprefix("playground-logging_").rsplit("-", 1)[0] for name in configs
    ) == ["default.conf", "fluent.conf"]

    check = playground("check", "logging", *on, "--json")
    assert check.exit_code == 0, check.output
    assert json.loads(check.stdout)["healthy"] is True

    logs = playground("logs", "logging", "fluentd", *on, "--tail", "5")
    assert logs.exit_code == 0, logs.output

    down = playground("down", "logging", *on)
    assert down.exit_code == 0, down.output
    resources = project_resources("playground-logging", NAMESPACE)
    assert resources["containers"] == []
    assert resources["networks"] == []
    assert stack_configs() == []


def test_unknown_context_exits_2(playground):
    result = playground("up", "web", "--on", "swarm", "--context", "no-such-context")
    assert result.exit_code == 2, result.output
    assert "no Docker context is named 'no-such-context'" in result.stderr
