"""The web and logging stacks on a real kind cluster.

These tests need kind on PATH and a Docker engine that can pull the kind
node image and the stacks' images. They skip, saying which is missing,
unless PLAYGROUND_REQUIRE_KIND=1 turns the skip into a failure. The cluster
``playground`` is deleted afterwards if these tests created it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.integration.conftest import Playground

pytestmark = pytest.mark.kind

REQUIRE_KIND = os.environ.get("PLAYGROUND_REQUIRE_KIND") == "1"
CLUSTER = "playground"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_KIND:
        pytest.fail(f"{reason} (PLAYGROUND_REQUIRE_KIND=1 makes this a failure)")
    pytest.skip(reason)


def kind_clusters() -> list[str]:
    found = subprocess.run(
        ["kind", "get", "clusters"], check=False, capture_output=True, text=True
    )
    return found.stdout.split()


@pytest.fixture(scope="session")
def kind_session():
    """Require kind and a Docker engine; delete the cluster afterwards if
    it did not exist before."""
    if shutil.which("kind") is None:
        skip_or_fail(
            "kind is not installed (no kind on PATH); these tests need kind and "
            "a Docker engine with registry access"
        )
    engine = subprocess.run(
        ["docker", "version"], check=False, capture_output=True, text=True
    )
    if engine.returncode != 0:
        skip_or_fail(f"no Docker engine reachable for kind: {engine.stderr.strip()}")
    existed = CLUSTER in kind_clusters()
    yield
    if not existed and CLUSTER in kind_clusters():
        subprocess.run(
            ["kind", "delete", "cluster", "--name", CLUSTER],
            check=False,
            capture_output=True,
        )


@pytest.fixture
def on_kind(tmp_path, kind_session):
    runner = Playground(tmp_path / "state")
    yield runner
    for stack in ("web", "logging"):
        runner("down", stack, "--on", "kind", "--volumes", "--yes")


def test_logging_marker_reaches_fluentd(on_kind):
    up = on_kind("up", "logging", "--on", "kind")
    assert up.exit_code == 0, up.output
    assert "http://127.0.0.1:8081" in up.stdout

    check = on_kind("check", "logging", "--on", "kind", "--json")
    assert check.exit_code == 0, check.output
    report = json.loads(check.stdout)
    assert report["healthy"] is True

    again = on_kind("up", "logging", "--on", "kind")
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stderr


def test_web_keeps_data_across_down(on_kind):
    up = on_kind("up", "web", "--on", "kind")
    assert up.exit_code == 0, up.output

    down = on_kind("down", "web", "--on", "kind", "--json")
    assert down.exit_code == 0, down.output
    assert json.loads(down.stdout)["kept_volumes"] == ["db-data"]

    again = on_kind("up", "web", "--on", "kind")
    assert again.exit_code == 0, again.output


def test_down_when_not_up_exits_0(on_kind):
    down = on_kind("down", "logging", "--on", "kind")
    assert down.exit_code == 0, down.output
    assert "not up" in down.stderr
