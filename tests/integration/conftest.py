"""Fixtures that run the real CLI against the real engine, and clean up."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest

from playground.imagemap import load_image_map
from playground.settings import Settings
from playground.stack import load_stack
from tests.conftest import skip_or_fail

COMMAND_TIMEOUT = 300
# Stacks the integration tests bring up; each test's runner removes them all.
TEST_STACKS = ("web", "logging", "mirror")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Playground:
    """Runs ``python -m playground`` with an isolated state directory."""

    def __init__(self, state_dir: Path):
        self.env = {**os.environ, "PLAYGROUND_STATE_DIR": str(state_dir), "COLUMNS": "200"}
        self.state_dir = state_dir

    def __call__(self, *args: str) -> Run:
        completed = subprocess.run(
            [sys.executable, "-m", "playground", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=COMMAND_TIMEOUT,
        )
        return Run(completed.returncode, completed.stdout, completed.stderr)

    def secret(self, stack: str, name: str) -> str:
        return (self.state_dir / "stacks" / stack / "secrets" / name).read_text().strip()

    def web_database(self) -> pymysql.connections.Connection:
        """Connect to the web stack's database as its application user."""
        return pymysql.connect(
            host="127.0.0.1",
            port=3306,
            user="app",
            password=self.secret("web", "db_password"),
            database="app",
            connect_timeout=5,
            autocommit=True,
        )


@pytest.fixture(scope="session")
def stack_images(docker_engine) -> None:
    """Require every image the tested stacks name, after the image map."""
    settings = Settings.resolve()
    image_map = load_image_map(settings.image_map)
    images = set()
    for name in TEST_STACKS:
        stack = load_stack(name, settings.stacks_dir)
        images.update(image_map.relocated(stack.images()).values())
    missing = []
    for image in sorted(images):
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if found.returncode != 0:
            missing.append(image)
    if missing:
        skip_or_fail(
            "stack images not on this machine: " + ", ".join(missing)
            + "; run scripts/build-offline-images and set PLAYGROUND_IMAGE_MAP"
        )


def project_resources(
    project: str, label_key: str = "com.docker.compose.project"
) -> dict[str, list[str]]:
    """Return the names of containers, networks and volumes of a Compose project
    (or, with ``label_key`` com.docker.stack.namespace, of a Swarm stack)."""
    label = f"label={label_key}={project}"
    commands = {
        "containers": ["docker", "ps", "-a", "--filter", label, "--format", "{{.Names}}"],
        "networks": ["docker", "network", "ls", "--filter", label, "--format", "{{.Name}}"],
        "volumes": ["docker", "volume", "ls", "--filter", label, "--format", "{{.Name}}"],
    }
    return {
        kind: subprocess.run(command, capture_output=True, text=True, check=True)
        .stdout.split()
        for kind, command in commands.items()
    }


def swarm_state() -> str:
    return subprocess.run(
        ["docker", "info", "--format", "{{.Swarm.LocalNodeState}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.fixture(scope="session")
def swarm_session(docker_engine):
    """Leave the swarm after the tests if the engine was in none before them."""
    was_active = swarm_state() == "active"
    yield
    if not was_active and swarm_state() == "active":
        subprocess.run(["docker", "swarm", "leave", "--force"], capture_output=True)


@pytest.fixture
def playground(tmp_path, stack_images):
    """A CLI runner; every stack it may have started is removed afterwards,
    volumes included, also when the test fails."""
    runner = Playground(tmp_path / "state")
    for stack in TEST_STACKS:
        leftover = project_resources(f"playground-{stack}")
        found = subprocess.run(
            ["docker", "volume", "ls", "-q", "--filter", f"name=^playground-{stack}_"],
            capture_output=True,
            text=True,
        )
        leftover["volumes"] += found.stdout.split()
        if any(leftover.values()):
            pytest.fail(
                f"a {stack} stack is already on this engine ({leftover}); take it down first"
            )
    yield runner
    for stack in TEST_STACKS:
        for backend in ("compose", "swarm"):
            runner("down", stack, "--volumes", "--yes", "--on", backend)
