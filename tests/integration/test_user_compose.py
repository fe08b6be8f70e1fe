"""A user's own Compose file (two services, one health check) on Compose
and on Swarm: the same readiness gate, and dropped keys named."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker

# The stand-in image map relocates this image on machines without a registry.
IMAGE = "nginxinc/nginx-unprivileged:1.27.3-alpine"
COMPOSE_FILE = f"""
services:
  api:
    image: {IMAGE}
    ports:
      - "18090:8080"
    healthcheck:
      test: ["CMD", "sh", "-c", "sleep 2; wget -q -O /dev/null http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 5s
      retries: 10
    depends_on:
      - worker
  worker:
    image: {IMAGE}
    container_name: userapp-worker
"""


@pytest.fixture
def user_file(tmp_path, playground):
    folder = tmp_path / "userapp"
    folder.mkdir()
    path = folder / "compose.yaml"
    path.write_text(COMPOSE_FILE)
    yield str(path)
    for backend in ("compose", "swarm"):
        playground("down", str(path), "--on", backend, "--volumes", "--yes")


@pytest.fixture(params=["compose", pytest.param("swarm", marks=pytest.mark.swarm)])
def backend(request) -> str:
    if request.param == "swarm":
        request.getfixturevalue("swarm_session")
    return request.param


def test_user_file_up_check_down(playground, user_file, backend):
    up = playground("up", user_file, "--on", backend, "--json")
    assert up.exit_code == 0, up.output
    report = json.loads(up.stdout)
    assert report["stack"] == "userapp"
    services = {s["service"]: s for s in report["services"]}
    assert set(services) == {"api", "worker"}
    # The health check gates readiness: api is ready only once Docker reports it healthy.
    assert services["api"]["health"] == "healthy"
    if backend == "swarm":
        assert "worker: dropped container_name" in up.stderr
        assert "api: dropped depends_on" in up.stderr

    with urllib.request.urlopen("http://127.0.0.1:18090/", timeout=5) as response:
        assert response.status == 200

    check = playground("check", user_file, "--on", backend)
    assert check.exit_code == 0, check.output

    down = playground("down", user_file, "--on", backend)
    assert down.exit_code == 0, down.output
    left = subprocess.run(
        ["docker", "ps", "-aq", "--filter", "label=io.playground.stack=userapp"],
        capture_output=True, text=True, check=True,
    )
    assert left.stdout.strip() == ""


@pytest.mark.swarm
@pytest.mark.usefixtures("swarm_session")
def test_swarm_up_after_failed_deploy(playground, user_file):
    """Tasks rejected under the earlier spec do not fail the next up."""
    path = Path(user_file)
    # No registry listens there, so the pull fails at once and goes nowhere else.
    path.write_text(COMPOSE_FILE.replace(
        f"image: {IMAGE}\n    container_name", "image: 127.0.0.1:5999/absent:1\n    container_name"
    ))
    failed = playground("up", user_file, "--on", "swarm", "--timeout", "90")
    assert failed.exit_code == 1, failed.output
    assert "worker" in failed.stderr

    path.write_text(COMPOSE_FILE)
    fixed = playground("up", user_file, "--on", "swarm", "--timeout", "120")
    assert fixed.exit_code == 0, fixed.output


def test_same_name_other_file_rejected(playground, user_file, tmp_path):
    up = playground("up", user_file)
    assert up.exit_code == 0, up.output

    other = tmp_path / "elsewhere" / "userapp.yaml"
    other.parent.mkdir()
    other.write_text(COMPOSE_FILE.replace("18090", "18091"))
    refused = playground("up", str(other))
    assert refused.exit_code == 2, refused.output
    assert f"stack userapp is up from another file, {user_file}" in refused.stderr
    # down through the other file would remove this file's stack and data.
    kept = playground("down", str(other), "--volumes", "--yes")
    assert kept.exit_code == 2, kept.output
    assert "is up from another file" in kept.stderr

    status = playground("status", "--check", "--json")
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)
    assert row["stack"] == "userapp"
    assert row["argument"] == user_file
    assert row["healthy"] is True
    endpoints = [e for service in row["services"] for e in service["endpoints"]]
    assert any(endpoint.endswith("127.0.0.1:18090") for endpoint in endpoints), endpoints


def test_unhealthy_dependency_names_probe(playground, tmp_path):
    path = tmp_path / "sick" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(f"""
services:
  app:
    image: {IMAGE}
    healthcheck:
      test: ["CMD", "sh", "-c", "echo no answer from the app; exit 1"]
      interval: 1s
      retries: 2
  side:
    image: {IMAGE}
    depends_on:
      app:
        condition: service_healthy
""")
    try:
        up = playground("up", str(path), "--timeout", "60")
        assert up.exit_code == 1, up.output
        assert "service app reports unhealthy" in up.stderr
        assert "no answer from the app" in up.stderr
    finally:
        playground("down", str(path))


def test_deleted_file_stack_taken_down(playground, tmp_path):
    path = tmp_path / "gone" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(COMPOSE_FILE)
    try:
        assert playground("up", str(path)).exit_code == 0
        path.unlink()

        status = playground("status", "--json")
        assert [row["argument"] for row in json.loads(status.stdout)] == [str(path)]
        down = playground("down", str(path))
        assert down.exit_code == 0, down.output
        assert "no longer loads" in down.stderr
        assert "gone is down on compose" in down.stderr
    finally:
        playground("down", "gone")
