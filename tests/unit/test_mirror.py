"""Mirror logic that needs no engine: upstream settings, engine advice,
and telling which images a mirror served."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from playground.errors import PrerequisiteError, UsageError
from playground.imagemap import ImageMap
from playground.mirror import (
    ALREADY_LOCAL,
    FROM_CACHE,
    FROM_UPSTREAM,
    MANIFEST_ONLY,
    NOT_SERVED,
    Mirror,
    PullRecord,
    check_upstream_url,
    engine_advice,
    relocated_references,
    require_pull_access,
    split_reference,
    traffic_since,
    upstream_of,
    with_upstream,
)
from playground.stack import load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
MIRROR = Mirror("mirror", "compose", "127.0.0.1", 5000)
# RegistryConfig of `docker info` on an engine with default settings.
DEFAULT_REGISTRY_CONFIG = {
    "IndexConfigs": {
        "docker.io": {"Mirrors": [], "Name": "docker.io", "Official": True, "Secure": True}
    },
    "InsecureRegistryCIDRs": ["127.0.0.0/8"],
    "Mirrors": [],
}
# Access-log lines as the Distribution registry 2.8.2 wrote them.
ACCESS_LOG = """\
172.17.0.1 - - [04/Dec/2026:13:50:39 +0000] "HEAD /v2/library/mysql/manifests/8.4.3 HTTP/1.1" 200 529 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:10 +0000] "HEAD /v2/library/mysql/manifests/8.4.3 HTTP/1.1" 200 529 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:10 +0000] "GET /v2/library/mysql/manifests/sha256:b7ba HTTP/1.1" 200 529 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:11 +0000] "GET /v2/library/mysql/blobs/sha256:f723 HTTP/1.1" 200 3120 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:11 +0000] "GET /v2/library/mysql/blobs/sha256:a1b2 HTTP/1.1" 200 1000000 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:12 +0000] "HEAD /v2/nginxinc/nginx-unprivileged/manifests/1.27.3-alpine HTTP/1.1" 200 529 "" "docker/20.10.24"
172.17.0.1 - - [04/Dec/2026:13:52:12 +0000] "GET /v2/library/redis/manifests/7 HTTP/1.1" 404 96 "" "docker/20.10.24"
"""


def mirror_stack():
    return load_stack("mirror", STACKS)


def test_upstream_url_checked():
    assert check_upstream_url("http://172.17.0.2:5000/") == "http://172.17.0.2:5000"
    for bad in ("172.17.0.2:5000", "ftp://host", "http://host/v2/", "https://"):
        with pytest.raises(UsageError):
            check_upstream_url(bad)


def test_with_upstream_sets_variable():
    stack = with_upstream(mirror_stack(), "http://172.17.0.2:5000")
    environment = stack.compose["services"]["registry"]["environment"]
    assert environment["REGISTRY_PROXY_REMOTEURL"] == "http://172.17.0.2:5000"
    assert upstream_of(stack) == "http://172.17.0.2:5000"
    assert upstream_of(mirror_stack()) == "https://registry-1.docker.io"


def test_with_upstream_rejects_other_stacks():
    with pytest.raises(UsageError, match="serves no registry mirror"):
        with_upstream(load_stack("web", STACKS), "http://172.17.0.2:5000")
    assert with_upstream(load_stack("web", STACKS), None).name == "web"


def test_loopback_mirror_needs_no_setting():
    require_pull_access(MIRROR, DEFAULT_REGISTRY_CONFIG)


def test_other_address_needs_insecure_registries():
    mirror = Mirror("mirror", "compose", "192.168.1.5", 5000)
    with pytest.raises(PrerequisiteError) as error:
        require_pull_access(mirror, DEFAULT_REGISTRY_CONFIG)
    assert '"insecure-registries": ["192.168.1.5:5000"]' in error.value.hint
    assert "/etc/docker/daemon.json" in error.value.hint


@pytest.mark.parametrize(
    "config",
    [
        {"InsecureRegistryCIDRs": ["192.168.0.0/16"]},
        {"IndexConfigs": {"192.168.1.5:5000": {"Secure": False}}},
    ],
)
def test_insecure_settings_accepted(config):
    require_pull_access(Mirror("mirror", "compose", "192.168.1.5", 5000), config)


def test_advice_for_docker_hub_mirror():
    lines = engine_advice(MIRROR, None, DEFAULT_REGISTRY_CONFIG)
    assert "caches one upstream, https://registry-1.docker.io" in lines[0]
    assert '"registry-mirrors": ["http://127.0.0.1:5000"]' in lines[-1]
    assert "registry-mirrors now: none" in lines[-1]


def test_advice_when_engine_uses_mirror():
    config = {**DEFAULT_REGISTRY_CONFIG, "Mirrors": ["http://127.0.0.1:5000/"]}
    lines = engine_advice(MIRROR, None, config)
    assert lines[-1] == "the engine already sends its Docker Hub pulls through http://127.0.0.1:5000"


def test_no_registry_mirrors_advice_for_other_upstream():
    lines = engine_advice(MIRROR, "http://172.17.0.2:5000", DEFAULT_REGISTRY_CONFIG)
    assert "caches one upstream, http://172.17.0.2:5000" in lines[0]
    assert not any("registry-mirrors" in line for line in lines)


def test_traffic_counts_successes_since():
    since = datetime(2026, 12, 4, 13, 52, 0, tzinfo=UTC)
    traffic = traffic_since(ACCESS_LOG, since)
    assert set(traffic) == {"library/mysql", "nginxinc/nginx-unprivileged"}
    assert traffic["library/mysql"].manifests == 2
    assert traffic["library/mysql"].blobs == 2
    assert traffic["library/mysql"].size == 1_003_120
    assert traffic["nginxinc/nginx-unprivileged"].blobs == 0


def test_split_reference():
    assert split_reference("127.0.0.1:5000/library/mysql:8.4.3", "127.0.0.1:5000") == (
        "library/mysql",
        "8.4.3",
    )
    digest = "127.0.0.1:5000/library/nginx@sha256:" + "a" * 64
    assert split_reference(digest, "127.0.0.1:5000") == ("library/nginx", None)


def test_relocated_references_of_web():
    web = load_stack("web", STACKS)
    references = relocated_references(web, ImageMap().with_mirror(MIRROR.prefix), MIRROR)
    assert references == [
        "127.0.0.1:5000/library/mysql:8.4.3",
        "127.0.0.1:5000/nginxinc/nginx-unprivileged:1.27.3-alpine",
    ]


def test_served_tells_sources_apart(monkeypatch):
    references = [
        "127.0.0.1:5000/library/mysql:8.4.3",
        "127.0.0.1:5000/nginxinc/nginx-unprivileged:1.27.3-alpine",
        "127.0.0.1:5000/library/redis:7",
        "127.0.0.1:5000/library/postgres:17",
    ]
    record = PullRecord(MIRROR, references, read_log=lambda: ACCESS_LOG)
    record.local = {references[3]: True}
    record.catalog = set()
    record.started = datetime(2026, 12, 4, 13, 52, 0, tzinfo=UTC)
    rows = {row.reference: row for row in record.served()}
    assert rows[references[0]].source == FROM_UPSTREAM
    assert rows[references[0]].blobs == 2
    assert rows[references[1]].source == MANIFEST_ONLY
    assert rows[references[2]].source == NOT_SERVED
    assert rows[references[3]].source == ALREADY_LOCAL
    assert [row.served for row in rows.values()] == [True, True, False, False]

    record.catalog = {"library/mysql"}
    assert record.served()[0].source == FROM_CACHE
