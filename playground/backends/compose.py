"""The Compose backend: one ``docker compose`` project per stack.

The stack's Compose file is rendered into the state directory with images
relocated, ports bound to the configured address, playground labels and
secret files. It runs as project ``playground-STACK``. The stack's folder is
the project directory, so relative paths in the stack file keep working.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.backends import (
    BACKEND_LABEL,
    STACK_LABEL,
    DownResult,
    Endpoint,
    ServiceState,
    UpResult,
    last_probe,
    resource_name,
    worst_health,
)
from playground.compose_file import (
    declared_volumes,
    long_ports,
    render_base,
    write_document,
)
from playground.credentials import secrets_dir
from playground.engine import (
    containers_publishing,
    docker_client,
    docker_errors,
    existing_volumes,
    missing_images_error,
)
from playground.errors import Unhealthy
from playground.ports import HostBinding, ensure_free

if TYPE_CHECKING:
    from python_on_whales import Container, DockerClient

    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import Stack

log = logging.getLogger(__name__)

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# Restarts after which a container that is restarting again counts as
# failing for good rather than still starting.
CRASH_LOOP_RESTARTS = 3


class ComposeBackend:
    name = "compose"

    def __init__(self, settings: Settings, image_map: ImageMap):
        self.settings = settings
        self.image_map = image_map

    # Rendering

    @staticmethod
    def project_name(stack: Stack) -> str:
        return resource_name(stack.name)

    def render(self, stack: Stack, secret_files: dict[str, Path]) -> dict[str, Any]:
        """Return the Compose document that ``up`` runs for ``stack``."""
        document = render_base(stack, self.image_map, secret_files, self.name)
        document["name"] = self.project_name(stack)
        for service, spec in document["services"].items():
            if "ports" in spec:
                spec["ports"] = long_ports(stack, service, self.settings.bind_address)
        return document

    def _write(self, stack: Stack, document: dict[str, Any]) -> Path:
        return write_document(self.settings.stack_state_dir(stack.name), "compose.yaml", document)

    def _client(self, stack: Stack, compose_file: Path | None = None) -> DockerClient:
        return docker_client(
            project=self.project_name(stack),
            compose_file=compose_file,
            project_directory=stack.directory,
        )

    # Lifecycle

    def phases(self, stack: Stack) -> list[list[str]]:
        """Return one phase: Compose itself honours ``depends_on``."""
        return [stack.services]

    def up(
        self,
        stack: Stack,
        secret_files: dict[str, Path],
        held: frozenset[str] = frozenset(),
    ) -> UpResult:
        """Start the stack detached; readiness is gated by the caller.

        Raises PrerequisiteError, before anything starts, when a host port the
        stack publishes is taken by anything but this stack's own containers.
        """
        document = self.render(stack, secret_files)
        compose_file = self._write(stack, document)
        client = self._client(stack, compose_file)
        before = self._containers(client, stack)
        # python-on-whales re-inspects a container when an attribute is read
        # later, so the state before ``up`` is copied out now.
        before_state = [(c.id, _settled(c, stack)) for c in before]

        ensure_free(
            _host_bindings(document),
            own_ports={endpoint.port for endpoint in _endpoints(before)},
            container_holders=lambda port: containers_publishing(client, port),
        )
        from python_on_whales.exceptions import DockerException

        with docker_errors(client, compose=True):
            try:
                client.compose.up(detach=True, quiet=True, remove_orphans=True)
            except DockerException as error:
                raise (
                    missing_images_error(client, document, error)
                    or self._unhealthy_error(client, stack, error)
                    or error
                )

        after_ids = [c.id for c in self._containers(client, stack)]
        unchanged = (
            bool(before_state)
            and [container_id for container_id, _ in before_state] == after_ids
            and all(running for _, running in before_state)
        )
        return UpResult(changed=not unchanged)

    def down(self, stack: Stack, *, volumes: bool) -> DownResult:
        client = self._client(stack, self._compose_file(stack))
        was_up = self._project_exists(client, stack)
        removed = self._volume_names(client, stack) if volumes else []

        with docker_errors(client, compose=True):
            client.compose.down(volumes=volumes, remove_orphans=True, quiet=True)

        # Named volumes outlive their containers; after a stack that ran, the
        # declared ones exist, so no further engine call is spent to list them.
        kept = self._declared_volumes(stack) if was_up and not volumes else []
        return DownResult(was_up=was_up, removed_volumes=removed, kept_volumes=kept)

    def _compose_file(self, stack: Stack) -> Path:
        """Return the rendered Compose file, rendering it again if it is gone,
        so ``down`` uses the same volumes and networks as ``up``."""
        path = self.settings.stack_state_dir(stack.name) / "compose.yaml"
        if path.exists():
            return path
        folder = secrets_dir(self.settings.stack_state_dir(stack.name))
        files = {name: folder / name for name in stack.generated_secrets}
        return self._write(stack, self.render(stack, files))

    def _unhealthy_error(
        self, client: DockerClient, stack: Stack, error: Exception
    ) -> Unhealthy | None:
        """Return the error for an ``up`` that Compose stopped because a
        dependency reported unhealthy, naming the service and its last
        health probe; None if no container is unhealthy."""
        states = {
            service: _service_state(service, group)
            for service, group in self._by_service(client, stack).items()
        }
        sick = {name: state for name, state in states.items() if state.health == "unhealthy"}
        if not sick:
            return None
        return Unhealthy(
            "; ".join(
                f"service {name} reports unhealthy, so Compose started none of the "
                f"services that wait for it; last probe: {state.probe or 'none recorded'}"
                for name, state in sorted(sick.items())
            ),
            hint="fix the health check's test or what it tests, then run the same up "
            "command again",
            details=(getattr(error, "stderr", "") or "").strip(),
        )

    def _project_exists(self, client: DockerClient, stack: Stack) -> bool:
        """Return whether any container of the stack exists, running or not."""
        project = self.project_name(stack)
        with docker_errors(client, compose=True):
            projects = client.compose.ls(all=True, filters={"name": project})
        return any(p.name == project for p in projects)

    # Inspection

    def states(self, stack: Stack) -> dict[str, ServiceState]:
        client = self._client(stack)
        return {
            service: _service_state(service, group)
            for service, group in self._by_service(client, stack).items()
        }

    def _by_service(self, client: DockerClient, stack: Stack) -> dict[str, list[Container]]:
        by_service: dict[str, list[Container]] = {}
        for container in self._containers(client, stack):
            service = container.config.labels.get(SERVICE_LABEL, container.name)
            by_service.setdefault(service, []).append(container)
        return by_service

    def logs(self, stack: Stack, service: str, tail: int) -> str:
        client = self._client(stack)
        with docker_errors(client):
            return "\n".join(
                client.container.logs(container, tail=tail)
                for container in self._containers(client, stack)
                if container.config.labels.get(SERVICE_LABEL) == service
            )

    def stream_logs(
        self, stack: Stack, services: list[str], tail: int, follow: bool
    ) -> Iterator[str]:
        """Yield the services' log lines as Compose prints them, each with
        its container's name; with ``follow``, until the containers stop."""
        client = self._client(stack, self._compose_file(stack))
        with docker_errors(client, compose=True):
            output = client.compose.logs(
                services=services, tail=str(tail), follow=follow, stream=True
            )
            for _source, line in output:
                yield line.decode(errors="replace").rstrip("\n")

    def deployed(self) -> dict[str, dict[str, ServiceState]]:
        """Return every stack this backend runs, found by label."""
        client = docker_client()
        with docker_errors(client):
            containers = client.container.list(
                all=True, filters=[("label", f"{BACKEND_LABEL}={self.name}")]
            )
        groups: dict[str, dict[str, list[Container]]] = {}
        for container in containers:
            stack = container.config.labels.get(STACK_LABEL, "?")
            service = container.config.labels.get(SERVICE_LABEL, container.name)
            groups.setdefault(stack, {}).setdefault(service, []).append(container)
        return {
            stack: {name: _service_state(name, group) for name, group in services.items()}
            for stack, services in sorted(groups.items())
        }

    def _containers(self, client: DockerClient, stack: Stack) -> list[Container]:
        project = self.project_name(stack)
        with docker_errors(client):
            containers = client.container.list(
                all=True, filters=[("label", f"{PROJECT_LABEL}={project}")]
            )
        return sorted(containers, key=lambda c: c.name)

    def volumes(self, stack: Stack) -> list[str]:
        """Return the stack's volumes that exist, which ``down --volumes`` deletes."""
        return self._volume_names(self._client(stack), stack)

    def _volume_names(self, client: DockerClient, stack: Stack) -> list[str]:
        """Return the stack's volumes: those labelled with its project and the
        declared ones that exist, which Swarm may have created."""
        label = f"{PROJECT_LABEL}={self.project_name(stack)}"
        return existing_volumes(client, label, self._declared_volumes(stack))

    def _declared_volumes(self, stack: Stack) -> list[str]:
        return declared_volumes(stack, self.project_name(stack))

    # Preflight

def _host_bindings(document: dict[str, Any]) -> list[HostBinding]:
    bindings = []
    for spec in document["services"].values():
        for port in spec.get("ports", []):
            if "published" in port:
                bindings.append(
                    HostBinding(port["host_ip"], int(port["published"]), port["protocol"])
                )
    return bindings


def _service_state(service: str, containers: list[Container]) -> ServiceState:
    """Fold the containers of one service into one state: the worst wins."""
    statuses = [container.state.status or "unknown" for container in containers]
    status = "running" if all(s == "running" for s in statuses) else next(
        s for s in statuses if s != "running"
    )
    healths = [c.state.health.status for c in containers if c.state.health]
    health = worst_health(healths)

    detail = ""
    exit_code = None
    stopped = [c for c in containers if c.state.status != "running"]
    looping = [c for c in stopped if _crash_looping(c)]
    if looping:
        first = looping[0]
        status = "crash-looping"
        detail = (
            f"container {first.name} restarted {first.restart_count} times "
            f"(last exit code {first.state.exit_code})"
        )
    elif stopped:
        first = stopped[0]
        detail = f"container {first.name} is {first.state.status}"
        if first.state.status in ("exited", "dead"):
            exit_code = first.state.exit_code
            detail += f" (exit code {exit_code})"
        if first.state.error:
            detail += f": {first.state.error}"

    return ServiceState(
        service=service,
        status=status,
        health=health,
        detail=detail,
        endpoints=_endpoints(containers),
        instance_ids=[container.id for container in containers],
        exit_code=exit_code,
        probe=last_probe([container.state.health for container in containers]),
    )


def _settled(container: Container, stack: Stack) -> bool:
    """True for a container that runs, or that belongs to a one-shot service
    and exited with code 0, as it should."""
    if container.state.running:
        return True
    service = container.config.labels.get(SERVICE_LABEL)
    return (
        service in stack.one_shot_services
        and container.state.status == "exited"
        and container.state.exit_code == 0
    )


def _crash_looping(container: Container) -> bool:
    """True for a container that its restart policy keeps restarting: Docker
    shows it as restarting while it waits before the next attempt."""
    return (
        container.state.status == "restarting"
        and (container.restart_count or 0) >= CRASH_LOOP_RESTARTS
    )


def _endpoints(containers: list[Container]) -> list[Endpoint]:
    endpoints = []
    seen = set()
    for container in containers:
        for key, bindings in (container.network_settings.ports or {}).items():
            port, _, protocol = key.partition("/")
            for host, host_port in map(_host_address, bindings or []):
                if host_port is None:
                    continue
                endpoint = Endpoint(int(port), host, host_port, protocol or "tcp")
                if endpoint not in seen:
                    seen.add(endpoint)
                    endpoints.append(endpoint)
    return endpoints


def _host_address(binding: Any) -> tuple[str, int | None]:
    """Return (host to connect to, host port) of one published port, as found
    in ``docker inspect`` output (NetworkSettings.Ports)."""
    if isinstance(binding, dict):
        host, port = binding.get("HostIp"), binding.get("HostPort")
    else:
        host, port = binding.host_ip, binding.host_port
    if not host or host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return host, int(port) if port else None
