"""Backends: where a stack runs. Each one deploys, inspects and removes a stack;
readiness and health checks are shared (``playground.readiness``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from playground.errors import UsageError

if TYPE_CHECKING:
    from pathlib import Path

    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import Stack

STACK_LABEL = "io.playground.stack"
BACKEND_LABEL = "io.playground.backend"
# The absolute path of a user's Compose file, on the containers of its stack.
FILE_LABEL = "io.playground.file"

KNOWN_BACKENDS = ("compose", "swarm", "kind", "kubernetes")
_HEALTH_ORDER = ("unhealthy", "starting", "healthy")


def resource_name(stack_name: str) -> str:
    """Return the Compose project or Swarm stack name of a playground stack."""
    return f"playground-{stack_name}"


def worst_health(healths: list[str]) -> str | None:
    """Return the worst of several container health statuses, or None."""
    return next((health for health in _HEALTH_ORDER if health in healths), None)


def last_probe(healths: list[Any]) -> str:
    """Return the newest result of Docker's health probe among containers
    (python-on-whales ContainerHealth objects), a failing one first, as
    ``pass, N s ago`` or ``fail, N s ago: OUTPUT``; empty without a probe."""
    from datetime import UTC, datetime

    results = [health.log[-1] for health in healths if health is not None and health.log]
    if not results:
        return ""
    failing = [result for result in results if result.exit_code != 0]
    latest = max(failing or results, key=lambda result: result.end or result.start)
    when = latest.end or latest.start
    age = max((datetime.now(UTC) - when).total_seconds(), 0.0)
    if latest.exit_code == 0:
        return f"pass, {age:.0f} s ago"
    output = (latest.output or "").strip().splitlines()
    return f"fail, {age:.0f} s ago: {output[-1][:160] if output else 'no output'}"


@dataclass(frozen=True)
class Endpoint:
    """A container port reachable from the host."""

    container_port: int
    host: str
    port: int
    protocol: str = "tcp"

    @property
    def address(self) -> str:
        suffix = "" if self.protocol == "tcp" else f"/{self.protocol}"
        return f"{self.host}:{self.port}{suffix}"


@dataclass
class ServiceState:
    """A backend's report on one service of a deployed stack."""

    service: str
    status: str
    health: str | None = None
    detail: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)
    instance_ids: list[str] = field(default_factory=list)
    probe: str = ""
    # The exit code of a stopped container, where the backend reports one.
    exit_code: int | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def stopped_for_good(self) -> bool:
        """True when the service will not come back by itself."""
        return self.status in (
            "exited", "dead", "missing", "failed", "stopped", "crash-looping"
        )

    def endpoint(self, container_port: int) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.container_port == container_port:
                return endpoint
        return None


@dataclass
class UpResult:
    changed: bool
    notes: list[str] = field(default_factory=list)


@dataclass
class DownResult:
    was_up: bool
    removed_volumes: list[str] = field(default_factory=list)
    kept_volumes: list[str] = field(default_factory=list)
    left_swarm: bool = False
    deleted_cluster: bool = False


class Backend(Protocol):
    name: str

    def phases(self, stack: Stack) -> list[list[str]]: ...

    def up(
        self, stack: Stack, secret_files: dict[str, Path], held: frozenset[str] = ...
    ) -> UpResult: ...

    def down(self, stack: Stack, *, volumes: bool) -> DownResult: ...

    def states(self, stack: Stack) -> dict[str, ServiceState]: ...

    def logs(self, stack: Stack, service: str, tail: int) -> str: ...

    def volumes(self, stack: Stack) -> list[str]: ...

    def stream_logs(
        self, stack: Stack, services: list[str], tail: int, follow: bool
    ) -> Iterator[str]: ...

    def deployed(self) -> dict[str, dict[str, ServiceState]]: ...


def find_backends(stack_name: str) -> list[str]:
    """Return the backends that have containers of stack ``stack_name`` on
    this engine, found by the labels every backend puts on them."""
    return sorted({labels.get(BACKEND_LABEL, "compose") for labels in _labels(stack_name)})


def source_files(stack_name: str | None = None) -> dict[str, str]:
    """Return, by stack name, the user's Compose file that the containers of
    a stack on this engine came from; shipped stacks have none. Without
    ``stack_name``, for every stack."""
    return {
        labels.get(STACK_LABEL, ""): labels[FILE_LABEL]
        for labels in _labels(stack_name, FILE_LABEL)
        if FILE_LABEL in labels
    }


def _labels(stack_name: str | None, key: str = STACK_LABEL) -> list[dict[str, str]]:
    """Return the labels of every container, running or not, that carries
    the label ``key`` (with the value ``stack_name``, if given)."""
    from playground.engine import docker_client, docker_errors

    wanted = f"{STACK_LABEL}={stack_name}" if stack_name is not None else key
    client = docker_client()
    with docker_errors(client):
        containers = client.container.list(all=True, filters=[("label", wanted)])
    return [container.config.labels or {} for container in containers]


def check_backend_name(name: str) -> None:
    """Raise UsageError, listing the known backends, for an unknown name, and
    PrerequisiteError when the backend's command-line tool (kind) is missing,
    so both fail before any engine call."""
    if name not in KNOWN_BACKENDS:
        raise UsageError(
            f"unknown backend {name!r}; known backends: {', '.join(KNOWN_BACKENDS)}"
        )
    if name == "kind":
        from playground.kind_cli import require_kind

        require_kind()


def local_backends() -> list[str]:
    """Return the backends that run on this machine's Docker engine and
    whose tools are installed: compose, swarm, and kind if it is on PATH."""
    import shutil

    return ["compose", "swarm"] + (["kind"] if shutil.which("kind") else [])


def get_backend(
    name: str,
    settings: Settings,
    image_map: ImageMap,
    *,
    context: str | None = None,
    nodes: int | None = None,
) -> Backend:
    """Return the backend called ``name``; UsageError lists the known ones.

    ``context`` names the kubeconfig context of the kubernetes backend, or
    the Docker context of the swarm backend;
    ``nodes`` is the node count of a cluster the kind backend creates.
    """
    check_backend_name(name)
    if name == "kind":
        from playground.backends.kind import KindBackend

        return KindBackend(settings, image_map, nodes=nodes)
    if name == "kubernetes":
        from playground.backends.kubernetes import KubernetesBackend

        return KubernetesBackend(settings, image_map, context=context)
    if name == "compose":
        from playground.backends.compose import ComposeBackend

        return ComposeBackend(settings, image_map)
    if name == "swarm":
        from playground.backends.swarm import SwarmBackend

        return SwarmBackend(settings, image_map, context=context)
    raise UsageError(
        f"unknown backend {name!r}; known backends: {', '.join(KNOWN_BACKENDS)}"
    )


def prefixed(service: str, lines: Iterable[str | bytes]) -> Iterator[str]:
    """Yield each line of one service's output as ``SERVICE | LINE``."""
    for line in lines:
        text = line.decode(errors="replace") if isinstance(line, bytes) else line
        for part in text.rstrip("\n").split("\n"):
            yield f"{service} | {part}"


def merged(streams: list[Iterator[str]]) -> Iterator[str]:
    """Yield the lines of several streams as they arrive, one thread each;
    the iterator ends when every stream has ended. A stream's exception is
    raised again here."""
    import queue
    import threading

    if len(streams) == 1:
        yield from streams[0]
        return
    lines: queue.Queue = queue.Queue(maxsize=1000)
    done = object()

    def pump(stream: Iterator[str]) -> None:
        try:
            for line in stream:
                lines.put(line)
        except Exception as error:  # noqa: BLE001 (raised again by the consumer)
            lines.put(error)
        finally:
            lines.put(done)

    for stream in streams:
        threading.Thread(target=pump, args=(stream,), daemon=True).start()
    remaining = len(streams)
    while remaining:
        item = lines.get()
        if item is done:
            remaining -= 1
        elif isinstance(item, Exception):
            raise item
        else:
            yield item
