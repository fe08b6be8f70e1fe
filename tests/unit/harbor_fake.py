"""A fake Harbor on 127.0.0.1: the parts of its REST API that playground
calls, and a registry API behind Harbor's anonymous bearer-token flow that
serves one small image from any proxy-cache project."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from playground.registry import MANIFEST_TYPES

API = "/api/v2.0"
TOKEN = "fake-token-1"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layer: bytes) -> bytes:
    """Return the JSON of an image manifest with one config and one layer."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPES[0],
        "config": {"digest": digest(config), "size": len(config)},
        "layers": [{"digest": digest(layer), "size": len(layer)}],
    }
    return json.dumps(manifest).encode()


@dataclass
class Request:
    method: str
    path: str
    authorization: str | None
    body: dict | None


@dataclass
class FakeHarbor:
    """State of the fake: what exists, the requests received, and which
    requests fail."""

    password: str = "Secret12345"
    port: int = 0
    health: str = "healthy"
    registries: list[dict] = field(default_factory=list)
    projects: list[dict] = field(default_factory=list)
    repositories: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    # (method, path prefix) -> (status, body) returned instead of the route's.
    failures: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.config = b'{"architecture": "amd64", "os": "linux"}'
        self.layer = b"fake layer " * 50
        self.manifest = image_manifest(self.config, self.layer)
        self.blobs = {digest(self.config): self.config, digest(self.layer): self.layer}

    def calls(self, method: str, prefix: str = "") -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    def is_admin(self, authorization: str | None) -> bool:
        expected = base64.b64encode(f"admin:{self.password}".encode()).decode()
        return authorization == f"Basic {expected}"

    # Routes: each returns (status, headers, body).

    def route(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        for (method, prefix), (status, body) in self.failures.items():
            if request.method == method and request.path.startswith(prefix):
                return status, {}, body.encode()
        parts = urlsplit(request.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        if parts.path.startswith("/v2/") or parts.path == "/service/token":
            return self.registry_route(request, parts.path, query)
        if parts.path == f"{API}/health":
            components = [{"name": "core", "status": self.health}]
            return _json(200, {"status": self.health, "components": components})
        if parts.path == f"{API}/registries":
            return self.registries_route(request, query)
        if parts.path == f"{API}/projects":
            return self.projects_route(request, query)
        if parts.path.startswith(f"{API}/projects/") and parts.path.endswith("/repositories"):
            project = parts.path.split("/")[4]
            names = self.repositories.get(project, [])
            start = (int(query.get("page", 1)) - 1) * int(query.get("page_size", 10))
            page = names[start : start + int(query.get("page_size", 10))]
            return _json(200, [{"name": name} for name in page])
        return _json(404, {"errors": [{"code": "NOT_FOUND", "message": "no route"}]})

    def registries_route(self, request: Request, query: dict) -> tuple[int, dict, bytes]:
        if not self.is_admin(request.authorization):
            return _json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
        if request.method == "GET":
            # Harbor's q=name=X matches exactly; returning every name that
            # contains X checks that the client filters exactly.
            wanted = query.get("q", "").removeprefix("name=")
            return _json(200, [r for r in self.registries if wanted in r["name"]])
        body = request.body or {}
        if any(r["name"] == body.get("name") for r in self.registries):
            return _json(409, {"errors": [{"code": "CONFLICT", "message": "name taken"}]})
        entry = {**body, "id": len(self.registries) + 1, "status": "healthy"}
        self.registries.append(entry)
        return 201, {"Location": f"{API}/registries/{entry['id']}"}, b""

    def projects_route(self, request: Request, query: dict) -> tuple[int, dict, bytes]:
        if request.method == "GET":
            admin = self.is_admin(request.authorization)
            visible = [
                p for p in self.projects
                if admin or p["metadata"].get("public") == "true"
            ]
            wanted = query.get("name", "")
            return _json(200, [p for p in visible if wanted in p["name"]])
        if not self.is_admin(request.authorization):
            return _json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]})
        body = request.body or {}
        if not any(r["id"] == body.get("registry_id") for r in self.registries):
            return _json(400, {"errors": [{"code": "BAD_REQUEST", "message": "no registry"}]})
        self.projects.append(
            {
                "project_id": len(self.projects) + 1,
                "name": body["project_name"],
                "registry_id": body["registry_id"],
                "metadata": body.get("metadata", {}),
            }
        )
        return 201, {}, b""

    def registry_route(self, request: Request, path: str, query: dict) -> tuple[int, dict, bytes]:
        if path == "/service/token":
            return _json(200, {"token": TOKEN, "expires_in": 1800})
        if request.authorization != f"Bearer {TOKEN}":
            repository = path[len("/v2/") :].split("/manifests/")[0].split("/blobs/")[0]
            challenge = (
                f'Bearer realm="http://127.0.0.1:{self.port}/service/token",'
                f'service="harbor-registry",scope="repository:{repository}:pull"'
            )
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "unauthorized"}]}
            status, _, text = _json(401, body)
            return status, {"WWW-Authenticate": challenge}, text
        project = path.split("/")[2]
        if not any(p["name"] == project for p in self.projects):
            return _json(404, {"errors": [{"code": "NOT_FOUND", "message": "no project"}]})
        if "/manifests/" in path:
            repository = path[len("/v2/") :].split("/manifests/")[0]
            names = self.repositories.setdefault(project, [])
            if repository not in names:
                names.append(repository)
            return 200, {"Content-Type": MANIFEST_TYPES[0]}, self.manifest
        blob = self.blobs.get(path.rsplit("/", 1)[1])
        if "/blobs/" in path and blob is not None:
            return 200, {}, blob
        return _json(404, {"errors": [{"code": "BLOB_UNKNOWN", "message": "unknown"}]})


def _json(status: int, document) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()


Route = Callable[[Request], tuple[int, dict[str, str], bytes]]


class LoopbackServer:
    """An HTTP server on 127.0.0.1 that records every request and sends
    what ``route`` returns for it, until ``stop``."""

    def __init__(self, route: Route) -> None:
        self.requests: list[Request] = []
        handler = type("Handler", (_Handler,), {"route": staticmethod(route), "log": self.requests})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, args=(0.05,), daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    route: Route
    log: list[Request]

    def do_GET(self):
        self._respond()

    def do_POST(self):
        self._respond()

    def _respond(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        request = Request(
            self.command,
            self.path,
            self.headers.get("Authorization"),
            json.loads(raw) if raw else None,
        )
        self.log.append(request)
        status, headers, body = self.route(request)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class RunningFake:
    """A FakeHarbor served on 127.0.0.1 until ``stop``."""

    def __init__(self) -> None:
        self.fake = FakeHarbor()
        self.server = LoopbackServer(self.fake.route)
        self.fake.port = self.server.port
        self.fake.requests = self.server.requests

    def stop(self) -> None:
        self.server.stop()
