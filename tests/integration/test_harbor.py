"""The harbor stack on Docker Compose with Harbor's real images, its
proxy-cache project pointed at a local registry so that nothing leaves the
machine.

Harbor's images cannot be built from Debian packages, so these tests run
only where the goharbor images were loaded into the engine (for example
from Harbor's offline installer) and skip elsewhere, saying which images
are missing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from playground.settings import Settings
from playground.stack import load_stack
from tests.integration.conftest import Playground

# The mirror tests' local registry holding the probe image; Harbor reaches it
# by its container name once it joins Harbor's network.
from tests.integration.test_mirror import UPSTREAM_CONTAINER, docker, upstream  # noqa: F401

pytestmark = [pytest.mark.docker, pytest.mark.harbor]

HARBOR_NETWORK = "playground-harbor_default"
REQUIRE_HARBOR = os.environ.get("PLAYGROUND_REQUIRE_HARBOR") == "1"


@pytest.fixture(scope="module")
def harbor_images(docker_engine) -> None:
    """Require every goharbor image the stack names on the engine."""
    settings = Settings.resolve()
    images = sorted(set(load_stack("harbor", settings.stacks_dir).images().values()))
    missing = [
        image
        for image in images
        if subprocess.run(
            ["docker", "image", "inspect", image], capture_output=True, check=False
        ).returncode
    ]
    if not missing:
        return
    reason = (
        "the goharbor images are not on this engine and no registry is reachable to "
        f"pull them: {', '.join(missing)}; load them from Harbor's offline installer "
        "with 'docker load'"
    )
    if REQUIRE_HARBOR:
        pytest.fail(f"{reason} (PLAYGROUND_REQUIRE_HARBOR=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture
def harbor(tmp_path, harbor_images):
    """A runner whose harbor stack, and its volumes, go away afterwards."""
    runner = Playground(tmp_path / "state")
    yield runner
    runner("down", "harbor", "--volumes", "--yes")


def join_when_created(container: str, network: str, limit: float = 120.0) -> threading.Thread:
    """Connect ``container`` to ``network`` as soon as Compose creates it."""

    def join() -> None:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            found = subprocess.run(
                ["docker", "network", "inspect", network], capture_output=True, check=False
            )
            if found.returncode == 0:
                docker("network", "connect", network, container)
                return
            time.sleep(0.5)

    thread = threading.Thread(target=join, daemon=True)
    thread.start()
    return thread


def up_harbor(runner: Playground, upstream_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "playground", "up", "harbor", "--upstream", upstream_url,
         "--timeout", "600", "--json"],
        capture_output=True, text=True, env=runner.env, timeout=900, check=False,
    )


@pytest.mark.usefixtures("upstream")
def test_harbor_proxy_cache(harbor):
    url = f"http://{UPSTREAM_CONTAINER}:5000"
    joined = join_when_created(UPSTREAM_CONTAINER, HARBOR_NETWORK)

    first = up_harbor(harbor, url)
    joined.join()

    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["healthy"]
    assert report["setup"][0].startswith("created proxy-cache project dockerhub")
    check = report["services"][-1]["checks"][0]
    assert "pulled dockerhub/library/busybox:1.37.0" in check["detail"]

    second = up_harbor(harbor, url)

    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["setup"][0].startswith("reused proxy-cache project")


@pytest.mark.usefixtures("upstream")
def test_harbor_keeps_volumes(harbor):
    joined = join_when_created(UPSTREAM_CONTAINER, HARBOR_NETWORK)
    assert up_harbor(harbor, f"http://{UPSTREAM_CONTAINER}:5000").returncode == 0
    joined.join()

    down = harbor("down", "harbor", "--json")

    assert down.exit_code == 0, down.output
    assert "playground-harbor_registry" in json.loads(down.stdout)["kept_volumes"]
