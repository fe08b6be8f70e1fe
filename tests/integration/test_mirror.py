"""The mirror stack on Docker Compose, with a second local registry standing
in for Docker Hub as its upstream, so that nothing leaves the machine."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import urllib.request
import uuid

import pytest

from playground.imagemap import load_image_map
from playground.settings import Settings
from playground.stack import load_stack

pytestmark = pytest.mark.docker

UPSTREAM_CONTAINER = "playground-test-upstream"
UPSTREAM_PORT = 5001
MIRROR = "127.0.0.1:5000"
CACHE_VOLUME = "playground-mirror_cache"
PROBE = "library/busybox:1.37.0"


def docker(*args: str) -> str:
    completed = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, f"docker {' '.join(args)}: {completed.stderr}"
    return completed.stdout.strip()


def catalog() -> list[str]:
    with urllib.request.urlopen(f"http://{MIRROR}/v2/_catalog", timeout=5) as response:
        return json.load(response)["repositories"]


class Upstream:
    """A registry container on the default bridge network, holding images
    under their Docker Hub names. Every tag it creates is removed again."""

    def __init__(self) -> None:
        self.tags: list[str] = []
        docker(
            "run", "-d", "--name", UPSTREAM_CONTAINER,
            "-p", f"127.0.0.1:{UPSTREAM_PORT}:5000",
            self.registry_image(),
        )
        address = docker(
            "inspect", "-f", "{{.NetworkSettings.IPAddress}}", UPSTREAM_CONTAINER
        )
        self.url = f"http://{address}:5000"

    @staticmethod
    def registry_image() -> str:
        settings = Settings.resolve()
        stack = load_stack("mirror", settings.stacks_dir)
        return load_image_map(settings.image_map).relocate(stack.images()["registry"])

    def push(self, local_image: str, repository: str) -> None:
        """Push ``local_image`` as ``repository`` (a Docker Hub path) and
        drop the local tag, so that a pull through the mirror must fetch it."""
        tag = f"127.0.0.1:{UPSTREAM_PORT}/{repository}"
        docker("tag", local_image, tag)
        self.tags.append(tag)
        docker("push", tag)
        docker("rmi", tag)
        self.tags.remove(tag)

    def push_new_image(self, repository: str) -> None:
        """Push a tiny image of one unique file, which no engine has seen."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            content = uuid.uuid4().hex.encode()
            member = tarfile.TarInfo("marker.txt")
            member.size = len(content)
            tar.addfile(member, io.BytesIO(content))
        local = f"playground-test/new-{uuid.uuid4().hex[:12]}:1"
        subprocess.run(
            ["docker", "import", "-", local], input=archive.getvalue(),
            capture_output=True, check=True, timeout=60,
        )
        try:
            self.push(local, repository)
        finally:
            docker("rmi", local)

    def push_copy(self, local_image: str, repository: str, directory) -> None:
        """Push a copy of ``local_image`` with a new image config (one label
        more), so the engine has its layers but must pull the config."""
        (directory / "Dockerfile").write_text(
            f"FROM {local_image}\nLABEL io.playground.test=upstream-copy\n"
        )
        local = f"playground-test/copy-{uuid.uuid4().hex[:12]}:1"
        subprocess.run(
            ["docker", "build", "-q", "-t", local, str(directory)],
            capture_output=True, check=True, timeout=120,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
        try:
            self.push(local, repository)
        finally:
            docker("rmi", local)

    def stop(self) -> None:
        docker("stop", "-t", "1", UPSTREAM_CONTAINER)

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "-f", "-v", UPSTREAM_CONTAINER], capture_output=True)
        for tag in self.tags:
            subprocess.run(["docker", "rmi", tag], capture_output=True)


@pytest.fixture
def upstream():
    leftover = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"name=^{UPSTREAM_CONTAINER}$"],
        capture_output=True, text=True,
    ).stdout.strip()
    if leftover:
        pytest.fail(f"a container {UPSTREAM_CONTAINER} exists already; remove it first")
    registry = Upstream()
    try:
        registry.push_new_image(PROBE)
        yield registry
    finally:
        registry.remove()


@pytest.fixture
def relocated_images(playground):
    """Removes the images pulled through the mirror, also when a test fails,
    after the stacks that use them."""
    pulled: list[str] = []
    yield pulled
    for stack in ("web", "mirror"):
        playground("down", stack, "--volumes", "--yes")
    for image in pulled:
        subprocess.run(["docker", "rmi", image], capture_output=True)


def test_mirror_serves_cached_image_after_upstream_stops(
    playground, upstream, relocated_images
):
    up = playground("up", "mirror", "--upstream", upstream.url)
    assert up.exit_code == 0, up.output
    assert f"http://{MIRROR}" in up.stdout
    assert f"pulled {PROBE}" in up.stdout
    assert f"caches one upstream, {upstream.url}" in up.stderr

    doctor = playground("doctor", "--json")
    mirror = {f["check"]: f for f in json.loads(doctor.stdout)}["mirror"]
    assert mirror["verdict"] == "ok", mirror
    assert mirror["detail"] == "reachable: mirror stack"

    upstream.push_new_image("library/hello:1")
    image = f"{MIRROR}/library/hello:1"
    relocated_images.append(image)
    docker("pull", image)
    assert "library/hello" in catalog()

    docker("rmi", image)
    upstream.stop()
    # The mirror first tries the stopped upstream, whose address is gone,
    # and then serves its copy, so this pull takes up to about 30 s.
    docker("pull", image)
    assert docker("image", "inspect", "-f", "{{.Id}}", image).startswith("sha256:")

    check = playground("check", "mirror")
    assert check.exit_code == 0, check.output


def test_down_keeps_cache_until_volumes(playground, upstream, relocated_images):
    assert playground("up", "mirror", "--upstream", upstream.url).exit_code == 0
    upstream.push_new_image("library/hello:1")
    relocated_images.append(f"{MIRROR}/library/hello:1")
    docker("pull", f"{MIRROR}/library/hello:1")

    down = playground("down", "mirror")
    assert down.exit_code == 0, down.output
    assert CACHE_VOLUME in down.stderr
    assert docker("volume", "ls", "-q", "--filter", f"name={CACHE_VOLUME}") == CACHE_VOLUME

    # Coming up pulls only the probe image, so library/hello in the catalog
    # is the copy kept on the volume.
    again = playground("up", "mirror", "--upstream", upstream.url)
    assert again.exit_code == 0, again.output
    assert "library/hello" in catalog()

    removed = playground("down", "mirror", "--volumes", "--yes")
    assert removed.exit_code == 0, removed.output
    assert docker("volume", "ls", "-q", "--filter", f"name={CACHE_VOLUME}") == ""


def test_mirror_start_fails_fast_without_upstream(playground, upstream):
    upstream.stop()
    up = playground("up", "mirror", "--upstream", upstream.url, "--timeout", "120")
    assert up.exit_code == 1, up.output
    assert "restarted" in up.stderr
    assert upstream.url.removeprefix("http://") in up.stderr


def test_web_through_mirror_reports_served_images(
    playground, upstream, relocated_images, tmp_path
):
    settings = Settings.resolve()
    image_map = load_image_map(settings.image_map)
    web = load_stack("web", settings.stacks_dir)
    for image in web.images().values():
        hub_path = image if "/" in image else f"library/{image}"
        upstream.push_copy(image_map.relocate(image), hub_path, tmp_path)
        relocated_images.append(f"{MIRROR}/{hub_path}")
    assert playground("up", "mirror", "--upstream", upstream.url).exit_code == 0

    up = playground("up", "web", "--mirror", "--json")
    assert up.exit_code == 0, up.output
    report = json.loads(up.stdout)
    assert report["healthy"] is True
    served = {row["image"]: row for row in report["mirror"]["images"]}
    assert set(served) == set(relocated_images)
    for row in served.values():
        assert row["served"] is True, row
        assert row["source"] == "served by the mirror, which fetched it from its upstream"
        assert row["blobs"] >= 1, row

    assert playground("down", "web").exit_code == 0
    for image in relocated_images:
        docker("rmi", image)
    again = playground("up", "web", "--mirror")
    assert again.exit_code == 0, again.output
    assert "served by the mirror from its cache" in again.stdout


def test_mirror_flag_without_mirror_exits_2(playground):
    up = playground("up", "web", "--mirror")
    assert up.exit_code == 2, up.output
    assert "no registry mirror is up" in up.stderr
    assert "playground up mirror" in up.stderr
