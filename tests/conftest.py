"""Engine probing shared by the integration tests.

Tests marked ``docker`` need a running Docker engine with the Compose v2
plugin and the stack images. They skip with the reason where those are
missing, unless PLAYGROUND_REQUIRE_DOCKER=1 (set by CI), which turns the
skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

REQUIRE_DOCKER = os.environ.get("PLAYGROUND_REQUIRE_DOCKER") == "1"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_DOCKER:
        pytest.fail(f"{reason} (PLAYGROUND_REQUIRE_DOCKER=1 makes this a failure)")
    pytest.skip(reason)


def _probe(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """Require a reachable engine and the Compose v2 plugin."""
    if shutil.which("docker") is None:
        skip_or_fail("no docker client on PATH")
    version = _probe(["docker", "version", "--format", "{{.Server.Version}}"])
    if version.returncode != 0:
        skip_or_fail(f"no Docker engine reachable: {version.stderr.strip()}")
    compose = _probe(["docker", "compose", "version"])
    if compose.returncode != 0:
        skip_or_fail("the Docker Compose v2 plugin is missing")


@pytest.fixture(autouse=True)
def _engine_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("docker"):
        request.getfixturevalue("docker_engine")
