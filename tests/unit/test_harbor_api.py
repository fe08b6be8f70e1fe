"""Harbor's API client, the proxy-cache setup and the harbor check, against
a fake Harbor on 127.0.0.1."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from playground import lifecycle
from playground.backends import Endpoint, ServiceState, UpResult
from playground.check import probe_harbor
from playground.credentials import read_secret
from playground.errors import HttpError, PlaygroundError, UsageError
from playground.harbor import (
    DOCKER_HUB_ENDPOINT,
    HarborClient,
    RegistryEndpoint,
    endpoint_for,
    ensure_proxy_cache,
)
from playground.harbor_config import ADMIN_PASSWORD
from playground.harbor_stack import HarborSetup
from playground.mirror import FROM_UPSTREAM, Mirror, PullRecord, ServedImage
from playground.settings import Settings
from playground.stack import HealthCheck, load_stack
from tests.unit.harbor_fake import API, RunningFake

HUB = RegistryEndpoint("dockerhub-upstream", "docker-hub", DOCKER_HUB_ENDPOINT)


@pytest.fixture
def harbor():
    running = RunningFake()
    yield running.fake
    running.stop()


def admin(harbor) -> HarborClient:
    return HarborClient("127.0.0.1", harbor.port, "admin", harbor.password)


def test_endpoint_for_docker_hub():
    for upstream in (None, "https://registry-1.docker.io", "https://hub.docker.com/"):
        endpoint = endpoint_for(upstream, "up")
        assert endpoint.type == "docker-hub"
        assert endpoint.url == DOCKER_HUB_ENDPOINT
        assert not endpoint.insecure


def test_endpoint_for_other_registry():
    endpoint = endpoint_for("http://172.17.0.5:5000", "up")
    assert endpoint.type == "docker-registry"
    assert endpoint.url == "http://172.17.0.5:5000"
    assert endpoint.insecure


def test_proxy_cache_created(harbor):
    cache = ensure_proxy_cache(admin(harbor), "dockerhub", HUB)

    assert cache.created_registry
    assert cache.created_project
    assert harbor.registries[0]["type"] == "docker-hub"
    assert harbor.registries[0]["url"] == DOCKER_HUB_ENDPOINT
    assert harbor.registries[0]["insecure"] is False
    assert "credential" not in harbor.registries[0]
    project = harbor.projects[0]
    assert project["name"] == "dockerhub"
    assert project["registry_id"] == cache.registry_id
    assert project["metadata"] == {"public": "true"}
    posts = harbor.calls("POST")
    assert [r.path for r in posts] == [f"{API}/registries", f"{API}/projects"]
    assert all(r.authorization.startswith("Basic ") for r in posts)


def test_proxy_cache_reused(harbor):
    first = ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    harbor.requests.clear()

    second = ensure_proxy_cache(admin(harbor), "dockerhub", HUB)

    assert not second.created_registry
    assert not second.created_project
    assert second.registry_id == first.registry_id
    assert harbor.calls("POST") == []
    assert len(harbor.registries) == 1
    assert len(harbor.projects) == 1


def test_similar_names_not_taken(harbor):
    harbor.registries.append(
        {"id": 7, "name": "dockerhub-upstream-old", "type": "docker-hub",
         "url": DOCKER_HUB_ENDPOINT}
    )
    harbor.projects.append(
        {"project_id": 1, "name": "dockerhub2", "registry_id": 7,
         "metadata": {"public": "true"}}
    )
    cache = ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    assert cache.created_registry
    assert cache.created_project
    assert cache.registry_id != 7


def test_endpoint_elsewhere_rejected(harbor):
    ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    other = RegistryEndpoint("dockerhub-upstream", "docker-registry", "http://10.0.0.9:5000")
    with pytest.raises(UsageError) as raised:
        ensure_proxy_cache(admin(harbor), "dockerhub", other)
    assert "docker-hub endpoint for https://hub.docker.com" in raised.value.message
    assert "expected a docker-registry endpoint for http://10.0.0.9:5000" in raised.value.message


def test_ordinary_project_rejected(harbor):
    harbor.registries.append(
        {"id": 1, "name": HUB.name, "type": HUB.type, "url": HUB.url}
    )
    harbor.projects.append(
        {"project_id": 1, "name": "dockerhub", "registry_id": None,
         "metadata": {"public": "true"}}
    )
    with pytest.raises(UsageError) as raised:
        ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    assert "dockerhub is an ordinary project" in raised.value.message


def test_error_status_becomes_http_error(harbor):
    harbor.failures[("POST", f"{API}/projects")] = (500, '{"errors": [{"code": "BOOM"}]}')
    with pytest.raises(HttpError) as raised:
        ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    error = raised.value
    assert error.method == "POST"
    assert error.path == f"{API}/projects"
    assert error.status == 500
    assert "BOOM" in error.body
    assert "BOOM" in error.details
    assert error.message == f"POST {API}/projects returned HTTP 500"
    assert "logs core" in error.hint


def test_wrong_password_hint(harbor):
    client = HarborClient("127.0.0.1", harbor.port, "admin", "wrong")
    with pytest.raises(HttpError) as raised:
        client.find_registry("dockerhub-upstream")
    assert raised.value.status == 401
    assert "--volumes" in raised.value.hint


def test_unreachable_harbor_error():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    client = HarborClient("127.0.0.1", port, timeout=2)
    with pytest.raises(PlaygroundError) as raised:
        client.health()
    assert f"cannot connect to Harbor at 127.0.0.1:{port}" in raised.value.message


def test_repository_names_follow_pages(harbor, monkeypatch):
    monkeypatch.setattr("playground.harbor.PAGE_SIZE", 2)
    harbor.repositories["dockerhub"] = [f"dockerhub/library/r{i}" for i in range(5)]
    names = HarborClient("127.0.0.1", harbor.port).repository_names("dockerhub")
    assert names == harbor.repositories["dockerhub"]


# The harbor check


CHECK = HealthCheck("proxy", "harbor", 8080, probe="library/busybox:1.37.0", project="dockerhub")


def test_check_before_project_exists(harbor):
    verdict = probe_harbor(CHECK, "127.0.0.1", harbor.port, 5)
    assert verdict.ok
    assert "project dockerhub not created yet" in verdict.detail


def test_check_pulls_through_project(harbor):
    ensure_proxy_cache(admin(harbor), "dockerhub", HUB)

    verdict = probe_harbor(CHECK, "127.0.0.1", harbor.port, 5)

    assert verdict.ok, verdict.detail
    assert "pulled dockerhub/library/busybox:1.37.0 (2 blobs" in verdict.detail
    assert harbor.calls("GET", "/service/token")
    pulls = [r for r in harbor.calls("GET", "/v2/dockerhub/") if r.authorization]
    assert pulls
    assert all(r.authorization == "Bearer fake-token-1" for r in pulls)


def test_check_unhealthy_harbor_fails(harbor):
    harbor.health = "unhealthy"
    verdict = probe_harbor(CHECK, "127.0.0.1", harbor.port, 5)
    assert not verdict.ok
    assert "Harbor reports unhealthy; components not healthy: core" in verdict.detail


def test_check_private_project_looks_absent(harbor):
    ensure_proxy_cache(admin(harbor), "dockerhub", HUB)
    harbor.projects[0]["metadata"]["public"] = "false"
    verdict = probe_harbor(CHECK, "127.0.0.1", harbor.port, 5)
    assert verdict.ok
    assert "not created yet" in verdict.detail


# The setup action's configure step


class OneServiceBackend:
    name = "compose"

    def __init__(self, port: int):
        self.port = port

    def states(self, stack):
        endpoint = Endpoint(8080, "127.0.0.1", self.port)
        return {"proxy": ServiceState("proxy", "running", endpoints=[endpoint])}


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PLAYGROUND_MIRROR_UPSTREAM", raising=False)
    return Settings.resolve()


def store_admin_password(settings, password):
    folder = settings.stack_state_dir("harbor") / "secrets"
    folder.mkdir(parents=True, mode=0o700)
    (folder / ADMIN_PASSWORD).write_text(password)


def test_configure_creates_then_reuses(harbor, settings):
    stack = load_stack("harbor", settings.stacks_dir)
    store_admin_password(settings, harbor.password)
    backend = OneServiceBackend(harbor.port)

    first = HarborSetup().configure(stack, backend, settings)
    second = HarborSetup().configure(stack, backend, settings)

    assert first[0] == (
        "created proxy-cache project dockerhub for https://hub.docker.com "
        "(docker-hub endpoint dockerhub-upstream)"
    )
    assert second[0].startswith("reused proxy-cache project dockerhub")
    assert read_secret(settings.stack_state_dir("harbor"), ADMIN_PASSWORD) == harbor.password
    assert len(harbor.projects) == 1


def test_configure_other_upstream(harbor, settings):
    stack = load_stack("harbor", settings.stacks_dir)
    store_admin_password(settings, harbor.password)
    local = replace(settings, mirror_upstream="http://127.0.0.1:5001")

    lines = HarborSetup().configure(stack, OneServiceBackend(harbor.port), local)

    assert harbor.registries[0]["type"] == "docker-registry"
    assert harbor.registries[0]["url"] == "http://127.0.0.1:5001"
    assert harbor.registries[0]["insecure"] is True
    assert "for http://127.0.0.1:5001 (docker-registry endpoint" in lines[0]


# What the proxy cache served during `up --mirror --mirror-stack harbor`


def test_pull_record_reads_project(harbor):
    harbor.repositories["dockerhub"] = ["dockerhub/library/nginx"]
    mirror = Mirror("harbor", "compose", "127.0.0.1", harbor.port, "dockerhub")
    record = PullRecord(mirror, [], read_log=lambda: "")
    assert record._catalog() == {"dockerhub/library/nginx"}
    assert harbor.calls("GET", "/v2/") == []


def test_pull_record_reads_proxy_log():
    mirror = Mirror("harbor", "compose", "127.0.0.1", 8082, "dockerhub")
    reference = "127.0.0.1:8082/dockerhub/library/nginx:1.27"
    # nginx's combined format, as the proxy service writes it.
    log = (
        '172.18.0.1 - - [04/Dec/2026:14:00:01 +0000] "GET /v2/ HTTP/1.1" 401 76 "-" "docker/28"\n'
        '172.18.0.1 - - [04/Dec/2026:14:00:02 +0000] '
        '"HEAD /v2/dockerhub/library/nginx/manifests/1.27 HTTP/1.1" 200 0 "-" "docker/28"\n'
        '172.18.0.1 - - [04/Dec/2026:14:00:03 +0000] '
        '"GET /v2/dockerhub/library/nginx/blobs/sha256:ab HTTP/1.1" 200 5000 "-" "docker/28"\n'
    )
    record = PullRecord(mirror, [reference], read_log=lambda: log)
    record.started = datetime(2026, 12, 4, 14, 0, 0, tzinfo=UTC)

    rows = record.served()

    assert rows == [ServedImage(reference, FROM_UPSTREAM, 1, 5000)]


# The whole `up` of the harbor stack, with a fake backend in front of the fake Harbor


class FakeComposeBackend:
    """Reports every harbor service as healthy, the one-shot volume-owner as
    completed, and the proxy's port as the fake Harbor's."""

    name = "compose"

    def __init__(self, harbor, settings):
        self.harbor = harbor
        self.settings = settings
        self.started = None

    def phases(self, stack):
        return [stack.services]

    def up(self, stack, secret_files, held=frozenset()):
        self.started = stack
        # Harbor's database keeps the admin password of its first start.
        state_dir = self.settings.stack_state_dir(stack.name)
        self.harbor.password = read_secret(state_dir, ADMIN_PASSWORD)
        return UpResult(changed=True)

    def states(self, stack):
        found = {}
        for service in stack.services:
            if service == "volume-owner":
                found[service] = ServiceState(service, "exited", exit_code=0)
                continue
            found[service] = ServiceState(service, "running", health="healthy")
        found["proxy"].endpoints = [Endpoint(8080, "127.0.0.1", self.harbor.port)]
        return found

    def logs(self, stack, service, tail):
        return ""


def test_up_configures_and_proves_harbor(harbor, settings, monkeypatch):
    # A small key keeps the test fast; its size changes none of the calls.
    monkeypatch.setattr("playground.harbor_config.KEY_BITS", 1024)
    stack = load_stack("harbor", settings.stacks_dir)
    backend = FakeComposeBackend(harbor, settings)

    _result, report = lifecycle.up(stack, backend, settings)

    assert report.healthy
    assert report.setup[0].startswith("created proxy-cache project dockerhub")
    proxy = next(service for service in report.services if service.service == "proxy")
    assert "pulled dockerhub/library/busybox:1.37.0" in proxy.verdicts[0].detail
    core = backend.started.compose["services"]["core"]
    assert core["env_file"] == [str(settings.stack_state_dir("harbor") / "generated/core.env")]

    _result, again = lifecycle.up(stack, backend, settings)

    assert again.setup[0].startswith("reused proxy-cache project dockerhub")
    assert len(harbor.projects) == 1
