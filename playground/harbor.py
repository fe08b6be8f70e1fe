"""A client for Harbor's REST API (``/api/v2.0``): the calls that turn a
fresh Harbor into a pull-through cache of another registry.

A proxy-cache project in Harbor is bound to a registry endpoint, Harbor's
record of the upstream registry. ``ensure_proxy_cache`` creates both, or
finds them on a later run and reuses them. Every error status becomes an
HttpError carrying the method, path, status and response body.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from playground.errors import HttpError, PlaygroundError, UsageError

log = logging.getLogger(__name__)

API = "/api/v2.0"
PAGE_SIZE = 100
# Harbor's docker-hub adapter addresses Docker Hub by this URL; the
# registry API behind it is registry-1.docker.io.
DOCKER_HUB_ENDPOINT = "https://hub.docker.com"
_DOCKER_HUB_URLS = (
    "https://registry-1.docker.io",
    "https://index.docker.io",
    "https://docker.io",
    DOCKER_HUB_ENDPOINT,
)


@dataclass(frozen=True)
class RegistryEndpoint:
    """The Harbor registry endpoint that a proxy-cache project pulls from."""

    name: str
    type: str
    url: str

    @property
    def insecure(self) -> bool:
        """Whether Harbor may skip certificate checks: true for plain HTTP only."""
        return self.url.startswith("http://")


@dataclass(frozen=True)
class ProxyCache:
    """A proxy-cache project and its registry endpoint, as found or created."""

    project: str
    registry_id: int
    created_registry: bool
    created_project: bool


def endpoint_for(upstream: str | None, name: str) -> RegistryEndpoint:
    """Return the registry endpoint for ``upstream``: Harbor's docker-hub
    type for Docker Hub (also when ``upstream`` is None), its generic
    docker-registry type for any other registry."""
    url = (upstream or DOCKER_HUB_ENDPOINT).rstrip("/")
    if url in _DOCKER_HUB_URLS:
        return RegistryEndpoint(name, "docker-hub", DOCKER_HUB_ENDPOINT)
    return RegistryEndpoint(name, "docker-registry", url)


class HarborClient:
    """Calls to one Harbor's API at ``host:port`` over plain HTTP.

    With ``username`` and ``password`` every request carries basic
    authentication, which Harbor accepts for API calls without a CSRF
    token. ``timeout`` is in seconds, for connecting and for each read.
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._authorization = None
        if username is not None and password is not None:
            token = base64.b64encode(f"{username}:{password}".encode()).decode()
            self._authorization = f"Basic {token}"

    # Reading

    def health(self) -> dict[str, Any]:
        """Return Harbor's overall health: ``status`` and each component's."""
        return self._json("GET", f"{API}/health")

    def find_registry(self, name: str) -> dict[str, Any] | None:
        """Return the registry endpoint named ``name``, or None."""
        query = urlencode({"q": f"name={name}"})
        found = self._json("GET", f"{API}/registries?{query}") or []
        matches = [entry for entry in found if entry.get("name") == name]
        return matches[0] if matches else None

    def find_project(self, name: str) -> dict[str, Any] | None:
        """Return the project named ``name``, or None.

        Reads the project list, where anonymous callers see the public
        projects, because Harbor returns 401 to an anonymous request for one
        project that does not exist.
        """
        query = urlencode({"name": name, "page_size": PAGE_SIZE})
        found = self._json("GET", f"{API}/projects?{query}") or []
        matches = [entry for entry in found if entry.get("name") == name]
        return matches[0] if matches else None

    def repository_names(self, project: str) -> list[str]:
        """Return the full names (``PROJECT/REPOSITORY``) of every repository
        in ``project``, following pages. Anonymous callers see public
        projects only."""
        names: list[str] = []
        page = 1
        while True:
            query = urlencode({"page": page, "page_size": PAGE_SIZE})
            path = f"{API}/projects/{quote(project, safe='')}/repositories?{query}"
            entries = self._json("GET", path) or []
            names += [entry["name"] for entry in entries]
            if len(entries) < PAGE_SIZE:
                return names
            page += 1

    # Writing

    def create_registry(self, endpoint: RegistryEndpoint) -> int:
        """Create a registry endpoint without credentials and return its id."""
        body = {
            "name": endpoint.name,
            "type": endpoint.type,
            "url": endpoint.url,
            "insecure": endpoint.insecure,
            "description": "upstream of a playground proxy-cache project",
        }
        self._request("POST", f"{API}/registries", body)
        created = self.find_registry(endpoint.name)
        if created is None:
            raise PlaygroundError(
                f"Harbor accepted registry endpoint {endpoint.name} but does not list it",
                hint="run the same command again",
            )
        return int(created["id"])

    def create_proxy_project(self, name: str, registry_id: int) -> None:
        """Create a public proxy-cache project bound to the registry endpoint
        ``registry_id``, without a storage quota."""
        body = {
            "project_name": name,
            "registry_id": registry_id,
            "metadata": {"public": "true"},
            "storage_limit": -1,
        }
        self._request("POST", f"{API}/projects", body)

    # HTTP

    def _json(self, method: str, path: str) -> Any:
        body = self._request(method, path)
        return json.loads(body) if body.strip() else None

    def _request(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None = None,
    ) -> bytes:
        """Send one request and return the response body; raise HttpError
        for a status outside 2xx, PlaygroundError when Harbor is unreachable."""
        sent = {"Accept": "application/json"}
        data = None
        if payload is not None:
            data = json.dumps(payload).encode()
            sent["Content-Type"] = "application/json"
        if self._authorization:
            sent["Authorization"] = self._authorization
        log.debug("%s http://%s:%s%s", method, self.host, self.port, path)

        connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise PlaygroundError(
                f"{method} {path} failed: cannot connect to Harbor at "
                f"{self.host}:{self.port}: {error}",
                hint="check that the harbor stack is up: playground status",
            ) from error
        finally:
            connection.close()

        if not 200 <= response.status < 300:
            raise HttpError(
                method,
                path,
                response.status,
                body.decode(errors="replace"),
                hint=_hint_for(response.status),
            )
        return body


def _hint_for(status: int) -> str | None:
    if status == 401:
        return (
            "Harbor rejected the admin credentials; its database keeps the admin "
            "password of its first start, so 'playground down harbor --volumes' "
            "starts it afresh (and deletes its data)"
        )
    if status >= 500:
        return "read the log of Harbor core: docker compose -p playground-harbor logs core"
    return None


def ensure_proxy_cache(
    client: HarborClient, project: str, endpoint: RegistryEndpoint
) -> ProxyCache:
    """Create the registry endpoint and the proxy-cache project bound to it,
    reusing either one that exists already.

    Raises UsageError when an existing one does not match: an endpoint of
    that name pointing elsewhere, or a project of that name that is not a
    proxy cache of that endpoint.
    """
    registry = client.find_registry(endpoint.name)
    created_registry = registry is None
    if registry is None:
        registry_id = client.create_registry(endpoint)
    else:
        _require_same_endpoint(registry, endpoint)
        registry_id = int(registry["id"])

    found = client.find_project(project)
    created_project = found is None
    if found is None:
        client.create_proxy_project(project, registry_id)
    else:
        _require_bound(found, project, registry_id)
    return ProxyCache(project, registry_id, created_registry, created_project)


def _require_same_endpoint(registry: dict[str, Any], endpoint: RegistryEndpoint) -> None:
    seen = (registry.get("type"), str(registry.get("url", "")).rstrip("/"))
    if seen == (endpoint.type, endpoint.url):
        return
    raise UsageError(
        f"Harbor's registry endpoint {endpoint.name} is a {seen[0]} endpoint for "
        f"{seen[1]}, expected a {endpoint.type} endpoint for {endpoint.url}",
        hint="bring harbor up with its earlier upstream, or start it afresh "
        "with 'playground down harbor --volumes' (this deletes its cache)",
    )


def _require_bound(project: dict[str, Any], name: str, registry_id: int) -> None:
    bound = project.get("registry_id")
    if bound == registry_id:
        return
    what = "an ordinary project" if not bound else f"a proxy cache of endpoint {bound}"
    raise UsageError(
        f"Harbor's project {name} is {what}, expected a proxy cache of endpoint {registry_id}",
        hint="delete the project in Harbor's web interface, or start harbor afresh "
        "with 'playground down harbor --volumes'",
    )
