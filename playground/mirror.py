"""Registry mirrors: the stack that serves one, relocating other stacks'
images to it, what the Docker engine needs to pull from it, and which images
it served.

A mirror stack declares ``x-playground.mirror`` (the ``mirror`` stack does).
playground never edits the engine's configuration: where the engine needs a
setting, the message names the setting and the file it belongs in.
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from playground.errors import PrerequisiteError, UsageError

if TYPE_CHECKING:
    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import Stack

DOCKER_HUB_URL = "https://registry-1.docker.io"
DAEMON_CONFIG = "/etc/docker/daemon.json (Docker Desktop: Settings > Docker Engine)"


@dataclass(frozen=True)
class Mirror:
    """A registry mirror that is up: where the host reaches its API, and the
    id of the container that serves it (which other Docker networks can join)."""

    stack: str
    backend: str
    host: str
    port: int
    path: str = ""
    container: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def prefix(self) -> str:
        """The registry address and path that relocated references start with."""
        return f"{self.address}/{self.path}" if self.path else self.address


@dataclass(frozen=True)
class ServedImage:
    """The source of one relocated image during ``up``, with the count and
    total size in bytes of the blobs the mirror sent for it."""

    reference: str
    source: str
    blobs: int = 0
    size: int = 0

    @property
    def served(self) -> bool:
        return self.source in (FROM_UPSTREAM, FROM_CACHE, MANIFEST_ONLY)


FROM_UPSTREAM = "served by the mirror, which fetched it from its upstream"
FROM_CACHE = "served by the mirror from its cache"
MANIFEST_ONLY = "manifest served by the mirror; the engine had every blob already"
ALREADY_LOCAL = "already on this engine, not pulled"
NOT_SERVED = "not requested from the mirror"


# The mirror stack itself


def check_upstream_url(url: str) -> str:
    """Return ``url`` without a trailing slash, or raise UsageError unless it
    is an http or https URL of a registry's root."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid upstream URL {url!r}: expected http://HOST[:PORT] or https://HOST[:PORT]"
        )
    if parts.path.strip("/") or parts.query or parts.fragment:
        raise UsageError(
            f"invalid upstream URL {url!r}: a registry's root has no path or query"
        )
    return url.rstrip("/")


def with_upstream(stack: Stack, url: str | None) -> Stack:
    """Return ``stack`` with its mirror pointed at the upstream ``url``.

    None keeps the stack's own upstream. A mirror without an upstream
    variable whose stack has a setup action (harbor) gets the upstream from
    that action, which reads it from the settings, so the stack is returned
    as it is. Raises UsageError for a stack that serves no mirror with a
    configurable upstream.
    """
    if url is None:
        return stack
    spec = stack.mirror
    if spec is not None and spec.upstream_variable is None and stack.setup is not None:
        check_upstream_url(url)
        return stack
    if spec is None or spec.upstream_variable is None:
        raise UsageError(
            f"stack {stack.name} serves no registry mirror with a configurable upstream",
            hint="--upstream applies to mirror stacks, such as: playground up mirror "
            "--upstream URL",
        )
    compose = copy.deepcopy(stack.compose)
    service = compose["services"][spec.service]
    service["environment"] = {
        **_environment_dict(service.get("environment")),
        spec.upstream_variable: check_upstream_url(url),
    }
    return dataclasses.replace(stack, compose=compose)


def upstream_of(stack: Stack) -> str | None:
    """Return the upstream URL a mirror stack is configured with, if any."""
    spec = stack.mirror
    if spec is None or spec.upstream_variable is None:
        return None
    service = stack.compose["services"][spec.service]
    return _environment_dict(service.get("environment")).get(spec.upstream_variable)


def running_upstream(stack: Stack) -> str | None:
    """Return the upstream URL that a container of the mirror stack runs
    with, on any local backend, or None when none runs (or the stack's
    upstream is not a variable)."""
    from playground.backends import STACK_LABEL
    from playground.engine import docker_client, docker_errors

    spec = stack.mirror
    if spec is None or spec.upstream_variable is None:
        return None
    client = docker_client()
    with docker_errors(client):
        containers = client.container.list(
            all=True, filters=[("label", f"{STACK_LABEL}={stack.name}")]
        )
    for container in containers:
        url = _environment_dict(container.config.env).get(spec.upstream_variable)
        if url:
            return url
    return None


def _environment_dict(environment: Any) -> dict[str, str]:
    if isinstance(environment, dict):
        return {str(key): "" if value is None else str(value) for key, value in environment.items()}
    result = {}
    for item in environment or []:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


# Finding the mirror that is up


def mirror_stacks(settings: Settings) -> list[Stack]:
    """Return the shipped stacks that serve a registry mirror."""
    from playground.stack import list_stacks, load_stack

    stacks = (load_stack(name, settings.stacks_dir) for name in list_stacks(settings.stacks_dir))
    return [stack for stack in stacks if stack.mirror is not None]


def find_mirror(settings: Settings, stack_name: str | None = None) -> Mirror:
    """Return the registry mirror that is up, on any backend.

    ``stack_name`` picks one mirror stack; without it exactly one must be up.
    Raises UsageError when none is up (or several are, and none was picked).
    """
    from playground.backends import find_backends, get_backend
    from playground.imagemap import ImageMap

    candidates = mirror_stacks(settings)
    if stack_name is not None:
        candidates = [stack for stack in candidates if stack.name == stack_name]
        if not candidates:
            known = ", ".join(stack.name for stack in mirror_stacks(settings)) or "none"
            raise UsageError(
                f"stack {stack_name!r} serves no registry mirror; mirror stacks: {known}"
            )
    running = [(stack, backend) for stack in candidates for backend in find_backends(stack.name)]
    if not running:
        if stack_name:
            message = f"the mirror stack {stack_name} is not up"
        else:
            message = "no registry mirror is up"
        raise UsageError(
            message, hint=f"start it first: playground up {stack_name or 'mirror'} [--upstream URL]"
        )
    if len(running) > 1:
        shown = ", ".join(f"{stack.name} on {backend}" for stack, backend in running)
        raise UsageError(
            f"several registry mirrors are up ({shown})",
            hint="pick one with --mirror-stack NAME",
        )

    stack, backend_name = running[0]
    spec = stack.mirror
    state = get_backend(backend_name, settings, ImageMap()).states(stack).get(spec.service)
    endpoint = state.endpoint(spec.port) if state and state.running else None
    if endpoint is None:
        raise UsageError(
            f"the registry of stack {stack.name} on {backend_name} is not running",
            hint=f"run 'playground check {stack.command_name}' to see why, or "
            f"'playground up {stack.command_name} --on {backend_name}' to start it",
        )
    container = state.instance_ids[0] if state.instance_ids else None
    return Mirror(stack.name, backend_name, endpoint.host, endpoint.port, spec.path, container)


# What the engine needs


def require_pull_access(mirror: Mirror, registry_config: dict[str, Any]) -> None:
    """Raise PrerequisiteError unless the engine may pull from the mirror's
    plain-HTTP address: loopback addresses are allowed by default, others
    need an ``insecure-registries`` entry.

    ``registry_config`` is ``docker info``'s RegistryConfig.
    """
    if _insecure_allowed(mirror.address, mirror.host, registry_config):
        return
    raise PrerequisiteError(
        f"the Docker engine pulls from {mirror.address} over HTTPS only, and the "
        "mirror answers plain HTTP",
        hint=f'add "insecure-registries": ["{mirror.address}"] to {DAEMON_CONFIG} and '
        "restart the engine; playground does not change the engine's configuration",
    )


def _insecure_allowed(address: str, host: str, registry_config: dict[str, Any]) -> bool:
    index = (registry_config.get("IndexConfigs") or {}).get(address) or {}
    if index.get("Secure") is False:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    for cidr in registry_config.get("InsecureRegistryCIDRs") or []:
        if ip in ipaddress.ip_network(cidr, strict=False):
            return True
    return False


def engine_advice(
    mirror: Mirror, upstream: str | None, registry_config: dict[str, Any]
) -> list[str]:
    """Return what to tell the user about the engine and a mirror just up.

    The engine's ``registry-mirrors`` setting applies to Docker Hub pulls
    only, and takes a registry's root, so it is suggested only for a mirror
    of Docker Hub that serves at its root (not for Harbor's project path).
    """
    upstream = upstream or DOCKER_HUB_URL
    lines = [
        (
            f"the mirror caches one upstream, {upstream}; images from other "
            "registries do not pass through it"
        ),
        "pull a stack's images through it with: playground up STACK --mirror",
    ]
    if upstream.rstrip("/") != DOCKER_HUB_URL:
        return lines
    if mirror.path:
        lines.append(
            f"the engine's registry-mirrors setting cannot use it, since it serves under "
            f"{mirror.prefix}/ rather than at a registry's root"
        )
        return lines

    url = f"http://{mirror.address}"
    configured = [entry.rstrip("/") for entry in registry_config.get("Mirrors") or []]
    if url in configured:
        lines.append(f"the engine already sends its Docker Hub pulls through {url}")
        return lines
    now = ", ".join(configured) or "none"
    lines.append(
        f'to send every Docker Hub pull of this engine through it, add "registry-mirrors": '
        f'["{url}"] to {DAEMON_CONFIG} and restart the engine (registry-mirrors now: {now})'
    )
    return lines


def registry_config() -> dict[str, Any]:
    """Return the engine's registry settings (``docker info``'s RegistryConfig)."""
    from playground.engine import docker_client, docker_errors

    client = docker_client()
    with docker_errors(client):
        info = client.system.info()
    return dict(info.registry_config or {})


# Which images the mirror served

# One access-log line of the Distribution registry (Apache combined format).
_ACCESS_LINE = re.compile(
    r'\[(?P<time>[^\]]+)\] "(?P<method>GET|HEAD) /v2/(?P<path>\S+) HTTP/[0-9.]+" '
    r"(?P<status>\d{3}) (?P<size>\d+|-)"
)
_LOG_TIME = "%d/%b/%Y:%H:%M:%S %z"


@dataclass
class RepositoryTraffic:
    """Successful requests for one repository in a registry's access log."""

    manifests: int = 0
    blobs: int = 0
    size: int = 0


def traffic_since(log: str, since: datetime) -> dict[str, RepositoryTraffic]:
    """Count the successful manifest and blob requests per repository in a
    registry's access log, from ``since`` (an aware datetime) on."""
    traffic: dict[str, RepositoryTraffic] = {}
    for match in _ACCESS_LINE.finditer(log):
        if match["status"] != "200":
            continue
        try:
            when = datetime.strptime(match["time"], _LOG_TIME)
        except ValueError:
            continue
        if when < since:
            continue
        for kind in ("manifests", "blobs"):
            repository, found, _ = match["path"].partition(f"/{kind}/")
            if not found:
                continue
            entry = traffic.setdefault(repository, RepositoryTraffic())
            if kind == "manifests":
                entry.manifests += 1
            elif match["method"] == "GET":
                entry.blobs += 1
                entry.size += int(match["size"]) if match["size"].isdigit() else 0
    return traffic


@dataclass
class PullRecord:
    """The mirror's catalog and the engine's images before ``up``, kept so
    that afterwards the mirror's access log and catalog tell, per relocated
    image, whether the mirror served it and from where.

    ``read_log`` returns the mirror's recent log output.
    """

    mirror: Mirror
    references: list[str]
    read_log: Callable[[], str]
    catalog: set[str] = dataclasses.field(default_factory=set)
    local: dict[str, bool] = dataclasses.field(default_factory=dict)
    started: datetime | None = None

    def take_before(self) -> None:
        from playground.engine import docker_client, docker_errors

        client = docker_client()
        with docker_errors(client):
            self.local = {ref: client.image.exists(ref) for ref in self.references}
        self.catalog = self._catalog()
        # The access log has whole seconds.
        self.started = datetime.now(UTC).replace(microsecond=0)

    def served(self) -> list[ServedImage]:
        """Return one row per relocated reference, in ``references`` order.

        A repository missing from the catalog before ``up`` was fetched from
        the upstream; one listed before was served from the cache.
        NOTE: the catalog lists repositories, not tags, so a tag fetched
        fresh looks like a cache hit when another tag was cached earlier.
        """
        traffic = traffic_since(self.read_log(), self.started or datetime.now(UTC))
        rows = []
        for reference in self.references:
            repository, _ = split_reference(reference, self.mirror.address)
            seen = traffic.get(repository, RepositoryTraffic())
            if not seen.manifests:
                source = ALREADY_LOCAL if self.local.get(reference) else NOT_SERVED
            elif not seen.blobs:
                source = MANIFEST_ONLY
            elif repository in self.catalog:
                source = FROM_CACHE
            else:
                source = FROM_UPSTREAM
            rows.append(ServedImage(reference, source, seen.blobs, seen.size))
        return rows

    def _catalog(self) -> set[str]:
        if self.mirror.path:
            # A mirror under a path is a Harbor project: Harbor serves
            # /v2/_catalog to administrators only, and lists a public
            # project's repositories to anyone through its own API.
            from playground.harbor import HarborClient

            client = HarborClient(self.mirror.host, self.mirror.port)
            return set(client.repository_names(self.mirror.path))

        from playground.registry import RegistryClient

        return set(RegistryClient(self.mirror.host, self.mirror.port).catalog())


def relocated_references(stack: Stack, image_map: ImageMap, mirror: Mirror) -> list[str]:
    """Return the stack's image references that ``image_map`` sends to the mirror."""
    references = (image_map.relocate(image) for image in stack.images().values())
    return sorted({ref for ref in references if ref.startswith(mirror.prefix + "/")})


def split_reference(reference: str, address: str) -> tuple[str, str | None]:
    """Split ``ADDRESS/REPOSITORY:TAG`` into the repository and the tag
    (None for a digest reference)."""
    remainder = reference[len(address) + 1 :]
    if "@" in remainder:
        return remainder.split("@", 1)[0], None
    repository, _, tag = remainder.rpartition(":")
    return repository, tag
