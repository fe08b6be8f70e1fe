import pytest
from python_on_whales.exceptions import DockerException

from playground.engine import docker_client, docker_errors, endpoint_host, engine_host
from playground.errors import UsageError


@pytest.mark.parametrize("code", [130, -2])
def test_interrupted_command_is_keyboard_interrupt(code):
    with pytest.raises(KeyboardInterrupt):
        with docker_errors(docker_client()):
            raise DockerException(["docker", "compose", "up"], code, b"", b"")


@pytest.mark.parametrize(
    "url, host",
    [
        ("tcp://10.0.0.5:2376", "10.0.0.5"),
        ("ssh://deploy@swarm-manager", "swarm-manager"),
        ("unix:///var/run/docker.sock", None),
        ("npipe:////./pipe/docker_engine", None),
        ("", None),
    ],
)
def test_endpoint_host(url, host):
    assert endpoint_host(url) == host


def test_engine_host_reads_docker_host(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://manager.lab:2376")
    assert engine_host() == "manager.lab"


def test_engine_host_missing_context(monkeypatch):
    def fail(self, reference=None):
        raise DockerException(["docker", "context", "inspect", reference], 1, b"", b"")

    monkeypatch.setattr(
        "python_on_whales.components.context.cli_wrapper.ContextCLI.inspect", fail
    )
    with pytest.raises(UsageError, match="no Docker context is named 'lab'"):
        engine_host("lab")
