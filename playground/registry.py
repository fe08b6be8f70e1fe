"""A client for the registry HTTP API (the OCI distribution specification,
which Docker's registry API v2 became): the calls that prove a registry
mirror works and report what it holds.

Plain HTTP only, since playground's registries listen on the host's loopback
address. Anonymous access only. A registry may return 401 with a bearer
challenge (``WWW-Authenticate: Bearer realm=...,service=...,scope=...``), as
Harbor does even for public projects. The client then requests an anonymous
token from the realm and sends the request again with that token. Any other
401 is reported as it is.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import platform
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
CATALOG_PAGE = 1000
_CHUNK = 1 << 16
_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}
_CHALLENGE_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """An error status returned by a registry.

    ``code`` is the first error code of the body (``MANIFEST_UNKNOWN``, for
    example) when the body follows the specification's error format.
    """

    def __init__(self, method: str, path: str, status: int, body: bytes):
        self.status = status
        self.code, message = _error_code(body)
        self.path = path
        shown = f"{self.code}: {message}" if self.code else body[:200].decode(errors="replace")
        super().__init__(f"{method} {path} returned HTTP {status}: {shown}".rstrip(": "))


def _error_code(body: bytes) -> tuple[str | None, str]:
    try:
        errors = json.loads(body).get("errors") or []
        first = errors[0]
        return str(first.get("code")), str(first.get("message", ""))
    except (ValueError, AttributeError, IndexError, TypeError):
        return None, ""


@dataclass(frozen=True)
class PullResult:
    """The transfer of one image pulled through the API."""

    reference: str
    digest: str
    blobs: int
    size: int
    seconds: float


@dataclass(frozen=True)
class _Response:
    status: int
    headers: dict[str, str]
    body: bytes


def format_size(size: int) -> str:
    """Return a byte count in kB or MB (powers of ten, as registries report)."""
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


def host_platform() -> tuple[str, str]:
    """Return the (os, architecture) pair that picks an image index's entry."""
    machine = platform.machine().lower()
    return "linux", _ARCHITECTURES.get(machine, machine)


class RegistryClient:
    """Anonymous calls to one registry at ``host:port``.

    ``timeout`` is in seconds, for connecting and for each read.
    Raises RegistryError for an error status, and OSError or
    http.client.HTTPException when the registry cannot be reached.
    """

    def __init__(self, host: str, port: int, timeout: float = 20.0):
        self.host = host
        self.port = port
        self.timeout = timeout
        self._token: str | None = None

    def ping(self) -> None:
        """Require the API base endpoint, ``GET /v2/``, to return 200."""
        self._get("/v2/")

    def catalog(self) -> list[str]:
        """Return every repository name the registry stores, following pages."""
        repositories: list[str] = []
        path: str | None = f"/v2/_catalog?n={CATALOG_PAGE}"
        while path:
            response = self._get(path)
            repositories += json.loads(response.body).get("repositories") or []
            path = _next_page(response.headers.get("link", ""))
        return repositories

    def tags(self, repository: str) -> list[str]:
        """Return the tags of ``repository``; none when it is unknown."""
        try:
            response = self._get(f"/v2/{repository}/tags/list")
        except RegistryError as error:
            if error.status == 404:
                return []
            raise
        return json.loads(response.body).get("tags") or []

    def pull(self, repository: str, tag: str) -> PullResult:
        """Download an image's manifest, config and layers, verifying every
        blob's digest, as ``docker pull`` would. An image index resolves to
        the entry for this host's platform."""
        started = time.monotonic()
        digest, manifest = self._manifest(repository, tag)
        blobs = [manifest["config"]] + list(manifest.get("layers") or [])

        size = 0
        for blob in blobs:
            size += self._download_blob(repository, blob["digest"])
        seconds = time.monotonic() - started
        return PullResult(f"{repository}:{tag}", digest, len(blobs), size, seconds)

    def _manifest(self, repository: str, reference: str) -> tuple[str, dict[str, Any]]:
        accept = ", ".join(INDEX_TYPES + MANIFEST_TYPES)
        response = self._get(f"/v2/{repository}/manifests/{reference}", accept=accept)
        document = json.loads(response.body)
        media_type = response.headers.get("content-type", "").split(";")[0]
        if media_type in INDEX_TYPES or "manifests" in document:
            entry = _platform_entry(document, *host_platform())
            return self._manifest(repository, entry["digest"])
        digest = response.headers.get("docker-content-digest") or _sha256(response.body)
        return digest, document

    def _download_blob(self, repository: str, digest: str) -> int:
        """Stream one blob, check it against its digest, return its size."""
        algorithm, _, expected = digest.partition(":")
        if algorithm != "sha256":
            raise ValueError(f"unsupported digest algorithm in {digest}")
        path = f"/v2/{repository}/blobs/{digest}"
        connection, response = self._open(path)
        try:
            if response.status != 200:
                raise RegistryError("GET", path, response.status, response.read())
            hasher = hashlib.sha256()
            size = 0
            while chunk := response.read(_CHUNK):
                hasher.update(chunk)
                size += len(chunk)
        finally:
            connection.close()
        if hasher.hexdigest() != expected:
            raise ValueError(f"blob {digest} arrived with digest sha256:{hasher.hexdigest()}")
        return size

    def _get(self, path: str, accept: str | None = None) -> _Response:
        connection, response = self._open(path, accept)
        try:
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RegistryError("GET", path, response.status, body)
        lowered = {key.lower(): value for key, value in response.getheaders()}
        return _Response(response.status, lowered, body)

    def _open(
        self, path: str, accept: str | None = None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send ``GET path`` and return the open connection and response.

        After a 401 with a bearer challenge, the request is sent once more
        with a token for the challenge's scope. The caller reads the response
        and closes the connection.
        """
        connection, response = self._send(path, accept)
        if response.status != 401:
            return connection, response
        challenge = bearer_challenge(response.getheader("WWW-Authenticate", ""))
        if challenge is None:
            return connection, response

        response.read()
        connection.close()
        self._token = self._fetch_token(challenge)
        return self._send(path, accept)

    def _send(
        self, path: str, accept: str | None
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        headers = {"Accept": accept} if accept else {}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        connection = self._connection()
        try:
            connection.request("GET", path, headers=headers)
            return connection, connection.getresponse()
        except BaseException:
            connection.close()
            raise

    def _fetch_token(self, challenge: dict[str, str]) -> str:
        """Request an anonymous token from the challenge's realm.

        The realm must be a plain-HTTP URL on this registry's own host, so
        no request leaves for another machine. Raises ValueError for any
        other realm and RegistryError when the token service rejects the
        request.
        """
        realm = urlsplit(challenge["realm"])
        if realm.scheme != "http" or realm.hostname != self.host:
            raise ValueError(
                f"the registry at {self.host}:{self.port} sends token requests to "
                f"{challenge['realm']}; only a plain-HTTP realm on {self.host} is supported"
            )
        query = {key: challenge[key] for key in ("service", "scope") if key in challenge}
        path = realm.path + ("?" + urlencode(query) if query else "")
        connection = http.client.HTTPConnection(
            realm.hostname, realm.port or 80, timeout=self.timeout
        )
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RegistryError("GET", path, response.status, body)
        document = json.loads(body)
        token = document.get("token") or document.get("access_token")
        if not token:
            raise ValueError(f"the token service at {challenge['realm']} returned no token")
        return str(token)

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)


def bearer_challenge(header: str) -> dict[str, str] | None:
    """Return the parameters of a ``WWW-Authenticate: Bearer ...`` header
    (``realm``, and ``service`` and ``scope`` where given), or None for any
    other scheme or a challenge without a realm."""
    scheme, _, parameters = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    found = dict(_CHALLENGE_PARAMETER.findall(parameters))
    return found if "realm" in found else None


def _platform_entry(index: dict[str, Any], os_name: str, architecture: str) -> dict:
    entries = index.get("manifests") or []
    for entry in entries:
        wanted = entry.get("platform") or {}
        if wanted.get("os") == os_name and wanted.get("architecture") == architecture:
            return entry
    available = sorted(
        f"{(e.get('platform') or {}).get('os')}/{(e.get('platform') or {}).get('architecture')}"
        for e in entries
    )
    raise ValueError(
        f"the image index has no entry for {os_name}/{architecture}; it has: "
        + (", ".join(available) or "none")
    )


def _next_page(link: str) -> str | None:
    """Return the path of a ``Link: <...>; rel="next"`` header, if any."""
    if 'rel="next"' not in link:
        return None
    target = link.split(";", 1)[0].strip().strip("<>")
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _sha256(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()
