"""The registry API client against a fake registry on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from playground.check import probe_registry
from playground.registry import (
    INDEX_TYPES,
    MANIFEST_TYPES,
    RegistryClient,
    RegistryError,
    format_size,
    host_platform,
)
from playground.stack import HealthCheck
from tests.unit.harbor_fake import digest, image_manifest


class FakeRegistry:
    """Serves one image, ``library/busybox:1.37.0``, behind an image index,
    and a catalog in two pages."""

    def __init__(self) -> None:
        self.config = b'{"architecture": "amd64"}'
        self.layer = b"layer bytes" * 100
        self.manifest = image_manifest(self.config, self.layer)
        os_name, architecture = host_platform()
        index = {
            "schemaVersion": 2,
            "mediaType": INDEX_TYPES[0],
            "manifests": [
                {"digest": "sha256:" + "0" * 64, "platform": {"os": "windows",
                                                              "architecture": "amd64"}},
                {"digest": digest(self.manifest),
                 "platform": {"os": os_name, "architecture": architecture}},
            ],
        }
        self.index = json.dumps(index).encode()
        self.blobs = {digest(self.config): self.config, digest(self.layer): self.layer}
        self.corrupt = False

    def route(self, path: str) -> tuple[int, dict[str, str], bytes]:
        repository = "/v2/library/busybox"
        if path == "/v2/":
            return 200, {}, b"{}"
        if path == "/v2/_catalog?n=1000":
            link = '</v2/_catalog?last=library%2Fbusybox&n=1000>; rel="next"'
            return 200, {"Link": link}, b'{"repositories": ["library/busybox"]}'
        if path.startswith("/v2/_catalog?last="):
            return 200, {}, b'{"repositories": ["library/hello"]}'
        if path == f"{repository}/tags/list":
            return 200, {}, b'{"name": "library/busybox", "tags": ["1.37.0"]}'
        if path == f"{repository}/manifests/1.37.0":
            return 200, {"Content-Type": INDEX_TYPES[0]}, self.index
        if path == f"{repository}/manifests/{digest(self.manifest)}":
            return 200, {"Content-Type": MANIFEST_TYPES[0]}, self.manifest
        if path.startswith(f"{repository}/blobs/"):
            blob = self.blobs.get(path.rsplit("/", 1)[1])
            if blob is not None:
                return 200, {}, (b"x" + blob[1:]) if self.corrupt else blob
        unknown = {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}
        return 404, {}, json.dumps(unknown).encode()


@pytest.fixture
def registry():
    fake = FakeRegistry()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            status, headers, body = fake.route(self.path)
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    fake.port = server.server_address[1]
    yield fake
    server.shutdown()
    server.server_close()


def test_catalog_follows_pages(registry):
    client = RegistryClient("127.0.0.1", registry.port)
    assert client.catalog() == ["library/busybox", "library/hello"]


def test_tags_of_unknown_repository_empty(registry):
    client = RegistryClient("127.0.0.1", registry.port)
    assert client.tags("library/busybox") == ["1.37.0"]
    assert client.tags("library/nothing") == []


def test_pull_resolves_index_and_checks_digests(registry):
    pulled = RegistryClient("127.0.0.1", registry.port).pull("library/busybox", "1.37.0")
    assert pulled.digest == digest(registry.manifest)
    assert pulled.blobs == 2
    assert pulled.size == len(registry.config) + len(registry.layer)


def test_pull_rejects_corrupt_blob(registry):
    registry.corrupt = True
    with pytest.raises(ValueError, match="arrived with digest"):
        RegistryClient("127.0.0.1", registry.port).pull("library/busybox", "1.37.0")


def test_error_carries_registry_code(registry):
    with pytest.raises(RegistryError) as error:
        RegistryClient("127.0.0.1", registry.port).pull("library/busybox", "9.9")
    assert error.value.status == 404
    assert error.value.code == "MANIFEST_UNKNOWN"
    assert "MANIFEST_UNKNOWN: manifest unknown" in str(error.value)


def test_registry_check_passes(registry):
    check = HealthCheck("registry", "registry", 5000, probe="library/busybox:1.37.0")
    verdict = probe_registry(check, "127.0.0.1", registry.port, 5.0)
    assert verdict.ok, verdict.detail
    assert "2 blobs" in verdict.detail
    assert "library/busybox is in the catalog" in verdict.detail


def test_registry_check_unknown_probe_is_fatal(registry):
    check = HealthCheck("registry", "registry", 5000, probe="library/busybox:9.9")
    verdict = probe_registry(check, "127.0.0.1", registry.port, 5.0)
    assert not verdict.ok
    assert verdict.fatal
    assert "its upstream did not serve one" in verdict.detail


def test_registry_check_without_server():
    check = HealthCheck("registry", "registry", 5000, probe="library/busybox:1.37.0")
    verdict = probe_registry(check, "127.0.0.1", 1, 1.0)
    assert not verdict.ok
    assert not verdict.fatal
    assert verdict.detail.startswith("no registry API on 127.0.0.1:1")


@pytest.mark.parametrize(("size", "text"), [(999, "1.0 kB"), (35_239_848, "35.2 MB")])
def test_format_size(size, text):
    assert format_size(size) == text
