"""The registry client's anonymous bearer-token flow, against a fake
registry on 127.0.0.1 that demands a token the way Harbor does."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from playground.registry import RegistryClient, RegistryError, bearer_challenge
from tests.unit.harbor_fake import FakeHarbor, LoopbackServer, Request


class TokenRegistry:
    """Serves FakeHarbor's image as ``proj/library/busybox:1.37.0`` to
    requests with the token; others get ``challenge``."""

    def __init__(self) -> None:
        self.image = FakeHarbor()
        self.challenge = None
        self.token_status = 200
        self.token_queries: list[dict[str, list[str]]] = []
        self.authorizations: list[str | None] = []

    def route(self, request: Request) -> tuple[int, dict, bytes]:
        parts = urlsplit(request.path)
        if parts.path == "/token":
            self.token_queries.append(parse_qs(parts.query))
            if self.token_status != 200:
                return self.token_status, {}, b'{"errors": [{"code": "DENIED"}]}'
            return 200, {}, json.dumps({"access_token": "abc"}).encode()
        self.authorizations.append(request.authorization)
        if request.authorization != "Bearer abc":
            body = b'{"errors": [{"code": "UNAUTHORIZED"}]}'
            return 401, {"WWW-Authenticate": self.challenge}, body
        if "/manifests/" in parts.path:
            manifest_type = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
            return 200, manifest_type, self.image.manifest
        return 200, {}, self.image.blobs[parts.path.rsplit("/", 1)[1]]


@pytest.fixture
def registry():
    fake = TokenRegistry()
    server = LoopbackServer(fake.route)
    fake.port = server.port
    fake.challenge = (
        f'Bearer realm="http://127.0.0.1:{fake.port}/token",service="harbor-registry",'
        'scope="repository:proj/library/busybox:pull"'
    )
    yield fake
    server.stop()


def test_challenge_parsed():
    found = bearer_challenge(
        'Bearer realm="http://h:1/service/token",service="harbor-registry",scope="repository:a/b:pull"'
    )
    assert found == {
        "realm": "http://h:1/service/token",
        "service": "harbor-registry",
        "scope": "repository:a/b:pull",
    }


def test_other_challenges_ignored():
    assert bearer_challenge('Basic realm="harbor"') is None
    assert bearer_challenge('Bearer service="x"') is None
    assert bearer_challenge("") is None


def test_pull_with_token(registry):
    pulled = RegistryClient("127.0.0.1", registry.port).pull("proj/library/busybox", "1.37.0")

    assert pulled.blobs == 2
    assert registry.token_queries == [
        {"service": ["harbor-registry"], "scope": ["repository:proj/library/busybox:pull"]}
    ]
    # One challenged request, then the manifest and both blobs with the token.
    assert registry.authorizations == [None, "Bearer abc", "Bearer abc", "Bearer abc"]


def test_token_service_rejection(registry):
    registry.token_status = 403
    client = RegistryClient("127.0.0.1", registry.port)
    with pytest.raises(RegistryError) as raised:
        client.pull("proj/library/busybox", "1.37.0")
    assert raised.value.status == 403
    assert raised.value.path.startswith("/token?service=harbor-registry")


def test_realm_on_other_host_rejected(registry):
    registry.challenge = 'Bearer realm="http://auth.example.invalid/token",service="s"'
    client = RegistryClient("127.0.0.1", registry.port)
    with pytest.raises(ValueError) as raised:
        client.ping()
    assert "auth.example.invalid" in str(raised.value)
    assert registry.token_queries == []


def test_basic_challenge_reported(registry):
    registry.challenge = 'Basic realm="harbor"'
    with pytest.raises(RegistryError) as raised:
        RegistryClient("127.0.0.1", registry.port).catalog()
    assert raised.value.status == 401
    assert registry.token_queries == []
