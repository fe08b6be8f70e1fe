import pytest
from python_on_whales.exceptions import DockerException

from playground.engine import docker_client, docker_errors


@pytest.mark.parametrize("code", [130, -2])
def test_interrupted_command_is_keyboard_interrupt(code):
    with pytest.raises(KeyboardInterrupt):
        with docker_errors(docker_client()):
            raise DockerException(["docker", "compose", "up"], code, b"", b"")
