"""The Swarm backend: one ``docker stack`` per stack, on a single-node swarm
that playground creates on request, or on the swarm the engine is in.

Swarm's ingress routing mesh needs IPVS in the engine's kernel. Where it
does not work, ports are published in host mode and services get DNS
round-robin endpoints, which need no IPVS. The verdict is stored as a label
on the node, so it is worked out once per swarm.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
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
    merged,
    prefixed,
    resource_name,
    worst_health,
)
from playground.compose_file import (
    declared_volumes,
    long_ports,
    render_base,
    write_document,
)
from playground.engine import (
    containers_publishing,
    docker_client,
    docker_errors,
    engine_host,
    existing_volumes,
    missing_images_error,
    read_retrying,
    stdout_silenced,
)
from playground.errors import PrerequisiteError, WaitTimeout
from playground.ports import HostBinding, ensure_free
from playground.translate import stack_phases, to_swarm

if TYPE_CHECKING:
    from python_on_whales import DockerClient, Service, Task

    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import Stack

log = logging.getLogger(__name__)

NAMESPACE_LABEL = "com.docker.stack.namespace"
CREATED_LABEL = "io.playground.swarm-created"
MESH_LABEL = "io.playground.routing-mesh"
HASH_LABEL = "io.playground.config-hash"
ADVERTISE_ADDRESS = "127.0.0.1"
TEARDOWN_TIMEOUT = 90.0
# Failed tasks of one service, since the deploy, after which waiting stops.
MAX_FAILED_TASKS = 2


@dataclass(frozen=True)
class SwarmInfo:
    node_id: str
    nodes: int
    created_here: bool


class SwarmBackend:
    name = "swarm"

    def __init__(
        self, settings: Settings, image_map: ImageMap, *, context: str | None = None
    ):
        """``context`` names the Docker context of an existing swarm. Without
        it, the current engine is used and put in a swarm if it is in none."""
        self.settings = settings
        self.image_map = image_map
        self.context = context
        # Tasks that existed before this backend's last deploy: their
        # failures belong to an earlier spec and do not fail the wait.
        self.earlier_tasks: frozenset[str] = frozenset()
        self._active = False

    def _client(self) -> DockerClient:
        if self.context is not None:
            # Reading the context raises UsageError for an unknown one, which
            # is clearer than the failure of the first Docker call.
            _ = self.remote_host
        return docker_client(context=self.context)

    @cached_property
    def remote_host(self) -> str | None:
        """The host name of an engine reached over the network, or None for
        one on a local socket, read once from the Docker context."""
        # NOTE: the remote case has run only with mocked hosts. The tests'
        # Docker context points at the local socket.
        return engine_host(self.context)

    def endpoint_host(self) -> str:
        """Return the address of the swarm's published ports: the remote
        engine's host, or 127.0.0.1 for an engine on a local socket (Docker
        Desktop forwards its VM's ports to localhost too)."""
        return self.remote_host or "127.0.0.1"

    @staticmethod
    def stack_name(stack: Stack) -> str:
        return resource_name(stack.name)

    # Rendering

    def render(
        self,
        stack: Stack,
        secret_files: dict[str, Path],
        *,
        routing_mesh: bool,
        held: frozenset[str] = frozenset(),
    ) -> tuple[dict[str, Any], list[str]]:
        """Return the stack file for ``docker stack deploy`` and the notes on
        what the translation from Compose changed."""
        document = render_base(stack, self.image_map, secret_files, self.name)
        for service, spec in document["services"].items():
            if "ports" in spec:
                spec["ports"] = long_ports(stack, service, host_ip=None)
        translation = to_swarm(
            document,
            routing_mesh=routing_mesh,
            bind_address=self.settings.bind_address,
            held=held,
        )
        return translation.document, translation.notes

    def phases(self, stack: Stack) -> list[list[str]]:
        """Return the services in start order: Swarm ignores ``depends_on``,
        so services that need others healthy are started in a later phase."""
        return stack_phases(stack)

    # Lifecycle

    def up(
        self,
        stack: Stack,
        secret_files: dict[str, Path],
        held: frozenset[str] = frozenset(),
    ) -> UpResult:
        """Deploy the stack; services in ``held`` get zero replicas for now,
        unless they already run (holding them would stop them)."""
        client = self._client()
        notes: list[str] = []
        swarm = self._ensure_swarm(client, stack, notes)
        routing_mesh = self._routing_mesh(client, swarm, notes)
        services = self._services(client, stack)
        states = self.states(stack) if services else {}
        held = frozenset(name for name in held if not (name in states and states[name].running))

        document, translation_notes = self.render(
            stack, secret_files, routing_mesh=routing_mesh, held=held
        )
        notes += translation_notes
        config_hash = _stamp_config_hash(document)
        path = write_document(self.settings.stack_state_dir(stack.name), "swarm.yaml", document)
        if self._is_current(stack, services, states, document, config_hash):
            return UpResult(changed=False, notes=notes)
        own_ports = {e.port for s in services for e in _service_endpoints(s, "")}
        if self.remote_host is None:
            ensure_free(
                _host_bindings(document),
                own_ports=own_ports,
                container_holders=lambda port: containers_publishing(client, port),
            )
        else:
            self._ensure_unpublished(client, document, own_ports)
        if swarm.nodes > 1:
            notes += self._local_only_images(client, document)

        if services:
            self.earlier_tasks = read_retrying(
                client, lambda: frozenset(task.id for task in client.service.ps(services))
            )
        from python_on_whales.exceptions import DockerException

        with docker_errors(client), stdout_silenced():
            try:
                client.stack.deploy(
                    self.stack_name(stack), [path], prune=True, resolve_image="never"
                )
            except DockerException as error:
                raise missing_images_error(client, document, error) or error
        return UpResult(changed=True, notes=notes)

    def _is_current(
        self,
        stack: Stack,
        services: list[Service],
        states: dict[str, ServiceState],
        document: dict[str, Any],
        config_hash: str,
    ) -> bool:
        """Return whether the deployed stack already matches ``document``
        with every task running, so deploying again would change nothing."""
        prefix = self.stack_name(stack) + "_"
        deployed = {s.spec.name.removeprefix(prefix): s for s in services}
        if set(deployed) != set(document["services"]):
            return False
        if any((s.spec.labels or {}).get(HASH_LABEL) != config_hash for s in services):
            return False
        return all(
            states[name].running and _desired_replicas(service) > 0
            for name, service in deployed.items()
        )

    def down(self, stack: Stack, *, volumes: bool, leave_swarm: bool = False) -> DownResult:
        """Remove the stack and wait until its containers and network are gone,
        so an immediate ``up`` can create them again."""
        client = self._client()
        name = self.stack_name(stack)
        if not self._in_swarm(client):
            return DownResult(was_up=False)

        was_up = bool(self._services(client, stack))
        if leave_swarm:
            self._check_can_leave(client, stack)
        if was_up:
            with docker_errors(client):
                client.stack.remove(name)
        self._wait_removed(client, name)

        removed = []
        if volumes:
            removed = self._volume_names(client, stack)
            if removed:
                with docker_errors(client):
                    client.volume.remove(removed)
        kept = self._declared_volumes(stack) if was_up and not volumes else []
        if leave_swarm:
            with docker_errors(client):
                client.swarm.leave(force=True)
        return DownResult(
            was_up=was_up, removed_volumes=removed, kept_volumes=kept, left_swarm=leave_swarm
        )

    def _wait_removed(self, client: DockerClient, name: str) -> None:
        """Poll until no container and no network of stack ``name`` is left,
        because ``docker stack rm`` returns before they are gone."""
        label = [("label", f"{NAMESPACE_LABEL}={name}")]
        deadline = time.monotonic() + TEARDOWN_TIMEOUT
        def remaining() -> tuple[list[str], list[str]]:
            containers = client.container.list(all=True, filters=label)
            networks = client.network.list(filters=label)
            return [c.name for c in containers], [n.name for n in networks]

        while True:
            containers, networks = read_retrying(client, remaining)
            if not containers and not networks:
                return
            if time.monotonic() > deadline:
                raise WaitTimeout(
                    f"timed out after {TEARDOWN_TIMEOUT:.0f} s waiting for stack {name} "
                    f"to be removed; still there: {', '.join(containers + networks)}",
                    hint="run the same down command again, or 'docker stack rm' by hand",
                )
            time.sleep(0.5)

    # Swarm membership and the routing mesh

    def _ensure_swarm(
        self, client: DockerClient, stack: Stack, notes: list[str]
    ) -> SwarmInfo:
        with docker_errors(client):
            info = client.info().swarm
        state = info.local_node_state
        if state == "inactive" and (self.context or self.remote_host):
            where = f"Docker context {self.context}" if self.context else self.remote_host
            raise PrerequisiteError(
                f"the engine of {where} is in no swarm; playground creates a swarm "
                "only on a local engine",
                hint="create or join one there ('docker swarm init' on that engine), "
                "or leave out --context to use a single-node swarm on this machine",
            )
        if state == "inactive":
            with docker_errors(client):
                client.swarm.init(advertise_address=ADVERTISE_ADDRESS)
                info = client.info().swarm
                client.node.update(info.node_id, labels_add={CREATED_LABEL: "true"})
            notes.append(
                f"initialised a single-node swarm advertising {ADVERTISE_ADDRESS}; "
                f"'playground down {stack.command_name} --on swarm --leave-swarm' "
                "leaves it again"
            )
            log.info("initialised a swarm, node %s", info.node_id)
            return SwarmInfo(info.node_id, 1, True)
        if state != "active":
            raise PrerequisiteError(
                f"the engine's swarm state is {state!r}"
                + (f": {info.error}" if info.error else ""),
                hint="check 'docker info'; 'docker swarm leave --force' resets a broken swarm",
            )
        if not info.control_available:
            raise PrerequisiteError(
                "this engine is a swarm worker; stacks are deployed through a manager",
                hint="switch to a manager with 'docker context use NAME'",
            )
        labels = self._node_labels(client, info.node_id)
        return SwarmInfo(info.node_id, info.nodes or 1, labels.get(CREATED_LABEL) == "true")

    def _ensure_unpublished(
        self, client: DockerClient, document: dict[str, Any], own_ports: set[int]
    ) -> None:
        """Raise PrerequisiteError naming the services of other stacks that
        publish a port this stack needs. On a remote engine only the swarm's
        own services can be seen, not other processes on its nodes."""
        needed = {b.port for b in _host_bindings(document)} - own_ports
        with docker_errors(client):
            services = client.service.list()
        conflicts = [
            f"port {endpoint.port} is already published by service {service.spec.name}"
            for service in services
            for endpoint in _service_endpoints(service, "")
            if endpoint.port in needed
        ]
        if conflicts:
            raise PrerequisiteError(
                "; ".join(conflicts),
                hint="remove that service, or change the host port in the stack file",
            )

    def _node_labels(self, client: DockerClient, node_id: str) -> dict[str, str]:
        with docker_errors(client):
            return client.node.inspect(node_id).spec.labels or {}

    def _routing_mesh(self, client: DockerClient, swarm: SwarmInfo, notes: list[str]) -> bool:
        """Return whether ingress publishing works on this swarm.

        A local engine whose kernel has no IPVS (no /proc/sys/net/ipv4/vs)
        cannot run the mesh. An engine elsewhere (a remote context, Docker
        Desktop's VM) is taken to have it.
        """
        known = self._node_labels(client, swarm.node_id).get(MESH_LABEL)
        if known in ("works", "broken"):
            return known == "works"

        works = ipvs_available(client, self.context)
        if swarm.created_here:
            # A swarm that playground did not create is left unchanged.
            with docker_errors(client):
                client.node.update(
                    swarm.node_id, labels_add={MESH_LABEL: "works" if works else "broken"}
                )
        if not works:
            notes.append(
                "the routing mesh does not work here: the engine's kernel has no IPVS "
                "(/proc/sys/net/ipv4/vs is missing)"
            )
        return works

    def _check_can_leave(self, client: DockerClient, stack: Stack) -> None:
        """Raise PrerequisiteError, before anything is removed, unless
        playground created the swarm and only this stack runs on it."""
        with docker_errors(client):
            info = client.info().swarm
            created = self._node_labels(client, info.node_id).get(CREATED_LABEL) == "true"
            services = [s.spec.name for s in client.service.list()]
        if not created:
            raise PrerequisiteError(
                "playground did not create this swarm, so it does not leave it; "
                "nothing was removed",
                hint="run down without --leave-swarm, and leave the swarm yourself with "
                "'docker swarm leave --force' if you mean to",
            )
        prefix = self.stack_name(stack) + "_"
        others = [name for name in services if not name.startswith(prefix)]
        if others:
            raise PrerequisiteError(
                "the swarm also runs " + ", ".join(sorted(others)) + "; nothing was removed",
                hint="remove those services first, or run down without --leave-swarm",
            )

    def _in_swarm(self, client: DockerClient) -> bool:
        with docker_errors(client):
            info = client.info().swarm
        return info.local_node_state == "active" and bool(info.control_available)

    def _local_only_images(self, client: DockerClient, document: dict[str, Any]) -> list[str]:
        notes = []
        for spec in document["services"].values():
            with docker_errors(client):
                if not client.image.exists(spec["image"]):
                    continue
                image = client.image.inspect(spec["image"])
            if not image.repo_digests:
                notes.append(
                    f"image {spec['image']} exists only on this node; other nodes of the "
                    "swarm cannot pull it"
                )
        return notes

    # Inspection

    def states(self, stack: Stack) -> dict[str, ServiceState]:
        """Return each service's state, read from its tasks and containers.

        Swarm removes old tasks while they are being listed, so a read that
        meets a vanished object is retried before the error is raised.
        """
        client = self._client()
        if not self._active:
            # An engine in no swarm has no stack: report none, not its error.
            self._active = self._in_swarm(client)
            if not self._active:
                return {}
        return read_retrying(client, lambda: self._read_states(stack.name))

    def _read_states(self, stack_name: str) -> dict[str, ServiceState]:
        namespace = resource_name(stack_name)
        client = self._client()
        services = client.service.list(
            filters=[("label", f"{NAMESPACE_LABEL}={namespace}")]
        )
        if not services:
            return {}
        # python-on-whales objects inspect again when read later, and a task
        # may be gone by then, so everything is copied out at once.
        tasks = [_TaskView.of(task) for task in client.service.ps(services)]
        containers = client.container.list(
            all=True, filters=[("label", f"{NAMESPACE_LABEL}={namespace}")]
        )
        health = {c.id: c.state.health for c in containers if c.state.health}

        prefix = namespace + "_"
        host = self.endpoint_host()
        states = {}
        for service in services:
            name = service.spec.name.removeprefix(prefix)
            own = [task for task in tasks if task.service_id == service.id]
            states[name] = self._service_state(name, service, own, health, host)
        return states

    def _service_state(
        self,
        name: str,
        service: Service,
        tasks: list[_TaskView],
        health: dict[str, Any],
        host: str,
    ) -> ServiceState:
        """Return the state of one service from its tasks; ``host`` is the
        address of its published ports."""
        desired = _desired_replicas(service)
        current = [t for t in tasks if t.desired_state == "running"]
        running = [t for t in current if t.state == "running"]
        failed = [
            t
            for t in tasks
            if t.state in ("failed", "rejected") and t.id not in self.earlier_tasks
        ]
        healths = [health[t.container_id] for t in current if t.container_id in health]
        state = ServiceState(
            service=name,
            status="running",
            health=worst_health([h.status for h in healths]),
            endpoints=_service_endpoints(service, host),
            instance_ids=[t.id for t in current],
            probe=last_probe(healths),
        )
        if desired == 0:
            state.status, state.detail = "stopped", "scaled to 0 replicas"
            # No task listens, so the published port leads nowhere.
            state.endpoints = []
        elif len(running) >= desired:
            pass
        elif failed and (len(failed) >= MAX_FAILED_TASKS or failed[0].state == "rejected"):
            latest = max(failed, key=lambda t: t.updated_at)
            state.status = "failed"
            state.detail = (
                f"{len(failed)} task(s) failed since the deploy, last: "
                f"{latest.state}: {latest.error}"
            )
        else:
            seen = sorted({t.state for t in current}) or ["pending"]
            state.status = "starting"
            state.detail = f"{len(running)}/{desired} tasks running ({', '.join(seen)})"
            if failed:
                state.detail += f"; a task failed: {failed[-1].error}"
        return state

    def logs(self, stack: Stack, service: str, tail: int) -> str:
        client = self._client()
        with docker_errors(client):
            return client.service.logs(f"{self.stack_name(stack)}_{service}", tail=tail)

    def stream_logs(
        self, stack: Stack, services: list[str], tail: int, follow: bool
    ) -> Iterator[str]:
        """Yield the services' log lines, each prefixed with its service;
        with ``follow``, until interrupted."""
        client = self._client()
        streams = [
            prefixed(
                service,
                (
                    content
                    for _source, content in client.service.logs(
                        f"{self.stack_name(stack)}_{service}",
                        tail=tail,
                        follow=follow,
                        stream=True,
                        task_ids=False,
                    )
                ),
            )
            for service in services
        ]
        with docker_errors(client):
            yield from merged(streams)

    def deployed(self) -> dict[str, dict[str, ServiceState]]:
        """Return every stack this backend runs, found by service label."""
        client = self._client()
        if not self._in_swarm(client):
            return {}
        with docker_errors(client):
            services = client.service.list(filters=[("label", f"{BACKEND_LABEL}=swarm")])
        names = sorted({s.spec.labels.get(STACK_LABEL, "?") for s in services})
        return {
            name: read_retrying(client, lambda name=name: self._read_states(name))
            for name in names
        }

    def _services(self, client: DockerClient, stack: Stack) -> list[Service]:
        with docker_errors(client):
            return client.service.list(
                filters=[("label", f"{NAMESPACE_LABEL}={self.stack_name(stack)}")]
            )

    def volumes(self, stack: Stack) -> list[str]:
        """Return the stack's volumes that exist, which ``down --volumes`` deletes."""
        return self._volume_names(self._client(), stack)

    def _volume_names(self, client: DockerClient, stack: Stack) -> list[str]:
        # Declared volumes count too: Compose may have created them.
        label = f"{NAMESPACE_LABEL}={self.stack_name(stack)}"
        return existing_volumes(client, label, self._declared_volumes(stack))

    def _declared_volumes(self, stack: Stack) -> list[str]:
        return declared_volumes(stack, self.stack_name(stack))


@dataclass(frozen=True)
class _TaskView:
    """The fields of a Swarm task that readiness needs, copied out once."""

    id: str
    service_id: str
    desired_state: str
    state: str
    error: str
    container_id: str | None
    updated_at: float

    @classmethod
    def of(cls, task: Task) -> _TaskView:
        status = task.status
        container = status.container_status
        return cls(
            id=task.id,
            service_id=task.service_id,
            desired_state=task.desired_state,
            state=status.state or "unknown",
            error=status.err or status.message or "",
            container_id=container.container_id if container else None,
            updated_at=task.updated_at.timestamp() if task.updated_at else 0.0,
        )


def _stamp_config_hash(document: dict[str, Any]) -> str:
    """Label every service with a hash of the whole document and return it."""
    import hashlib

    import yaml

    digest = hashlib.sha256(yaml.safe_dump(document, sort_keys=True).encode()).hexdigest()[:16]
    for spec in document["services"].values():
        spec["deploy"]["labels"][HASH_LABEL] = digest
    return digest


def _desired_replicas(service: Service) -> int:
    mode = service.spec.mode or {}
    if "Replicated" in mode:
        return int(mode["Replicated"].get("Replicas", 1))
    return 1


def _service_endpoints(service: Service, host: str) -> list[Endpoint]:
    ports = (service.endpoint.ports if service.endpoint else None) or []
    return [
        Endpoint(p.target_port, host, p.published_port, p.protocol or "tcp")
        for p in ports
        if p.published_port
    ]


def _host_bindings(document: dict[str, Any]) -> list[HostBinding]:
    """Swarm publishes on every interface, so ports are tested on 0.0.0.0."""
    return [
        HostBinding("0.0.0.0", int(port["published"]), port.get("protocol", "tcp"))
        for spec in document["services"].values()
        for port in spec.get("ports", [])
        if "published" in port
    ]


def ipvs_available(client: DockerClient, context: str | None = None) -> bool:
    """Return whether the engine's kernel can run Swarm's routing mesh: False
    for a local engine without /proc/sys/net/ipv4/vs. An engine elsewhere (a
    remote context, Docker Desktop's VM) is taken to have IPVS."""
    return not (
        _engine_is_local(client, context) and not Path("/proc/sys/net/ipv4/vs").exists()
    )


def _engine_is_local(client: DockerClient, context: str | None) -> bool:
    """Return whether the engine runs on this machine: it is reached through
    a local socket and its name is this host's name."""
    if engine_host(context) is not None:
        return False
    with docker_errors(client):
        return client.info().name == socket.gethostname()
