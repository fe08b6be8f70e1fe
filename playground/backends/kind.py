"""The kind backend: the Kubernetes backend on a local kind cluster that
playground creates with a generated configuration, or reuses.

The cluster maps the published ports of the shipped stacks (except mirror
stacks, which run beside the cluster) and those of the stack being brought
up, so several stacks share one cluster. Health checks reach services
through those host ports. Images that exist only in the local engine are
loaded into the nodes; a registry mirror that is up serves the nodes' pulls.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml

from playground.backends import DownResult, Endpoint, ServiceState, UpResult
from playground.backends.kubernetes import KubernetesBackend
from playground.errors import PrerequisiteError, UsageError
from playground.kind_config import (
    CLUSTER_NAME,
    PortMapping,
    RegistryMirror,
    cluster_config,
    missing_mappings,
    node_ports,
    port_mappings,
    unique_bindings,
    write_registry_hosts,
)
from playground.kubeclient import KubeClient, load_apis

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from playground.imagemap import ImageMap
    from playground.mirror import Mirror
    from playground.settings import Settings
    from playground.stack import Stack

log = logging.getLogger(__name__)

KIND_NETWORK = "kind"
# A file in the stack's state folder that names the kind cluster the stack
# was brought up in, so check and down find it without --on kind.
CLUSTER_RECORD = "kind-cluster"


def recorded_on_kind(settings: Settings, stack_name: str) -> bool:
    """Return whether ``up --on kind`` recorded the stack and no down since."""
    return (settings.stack_state_dir(stack_name) / CLUSTER_RECORD).exists()


class KindBackend(KubernetesBackend):
    name = "kind"

    def __init__(
        self,
        settings: Settings,
        image_map: ImageMap,
        nodes: int | None = None,
        cluster: str = CLUSTER_NAME,
    ):
        from playground.kind_cli import require_kind

        require_kind()
        super().__init__(settings, image_map)
        self.nodes = nodes
        self.cluster = cluster

    @property
    def where(self) -> str:
        return f"kind cluster {self.cluster}"

    @property
    def certs_dir(self) -> Path:
        """The host folder every node mounts as containerd's registry folder.

        NOTE: kind mounts it from the machine the Docker engine runs on, so
        an engine on another machine (DOCKER_HOST=tcp://...) finds no such
        folder and the nodes use no mirror.
        """
        return self.settings.state_dir / "kind" / self.cluster / "certs.d"

    def client(self) -> KubeClient:
        from playground import kind_cli

        if self._client is None:
            kubeconfig = yaml.safe_load(kind_cli.kubeconfig(self.cluster))
            self._client = KubeClient(
                load_apis(kubeconfig, None, self.where), self.where
            )
        return self._client

    # The cluster

    def mappings(self, stack: Stack, notes: list[str]) -> list[PortMapping]:
        """Return the port mappings a new cluster gets: those of ``stack``,
        and those of the other shipped stacks that run in a cluster (mirror
        stacks run beside it) whose host ports are free now."""
        from playground.ports import HostBinding, is_free
        from playground.stack import list_stacks, load_stack

        others = [
            load_stack(name, self.settings.stacks_dir)
            for name in list_stacks(self.settings.stacks_dir)
            if name != stack.name
        ]
        others = [other for other in others if other.mirror is None]
        own = port_mappings([stack], self.settings.bind_address)
        mappings = port_mappings([*others, stack], self.settings.bind_address)
        taken = {
            (m.host_ip, m.host_port)
            for m in unique_bindings(mappings)
            if m not in own and not is_free(HostBinding(m.host_ip, m.host_port))
        }
        for stack_name in sorted(
            {m.stack for m in mappings if (m.host_ip, m.host_port) in taken}
        ):
            notes.append(
                f"the new cluster does not map the ports of stack {stack_name}, some of "
                "which are in use; that stack needs the cluster created again"
            )
        skipped = {m.stack for m in mappings if (m.host_ip, m.host_port) in taken}
        return [m for m in mappings if m.stack not in skipped]

    def node_ports(self, stack: Stack) -> dict[tuple[str, int], int]:
        return node_ports(
            port_mappings([stack], self.settings.bind_address), stack.name
        )

    def prepare(self, stack: Stack, notes: list[str]) -> None:
        """Create the cluster, or check that the existing one maps the
        stack's ports. Then point the nodes at a mirror that is up, and load
        the images that exist only in the local engine."""
        from playground import kind_cli
        from playground.engine import docker_client

        docker = docker_client()
        mirror = self._mirror(notes)
        write_registry_hosts(self.certs_dir, self._registry_mirrors(docker, mirror))
        if self.cluster in kind_cli.clusters():
            self._check_existing(docker, stack, notes)
        else:
            self._create(docker, stack, notes)
        if mirror is not None:
            connect_to_kind_network(docker, mirror.container)
            notes.append(
                f"the kind nodes pull images through the mirror at {mirror.address}"
            )
        notes += self._load_local_images(docker, stack)

    def _create(self, docker: DockerClient, stack: Stack, notes: list[str]) -> None:
        from playground import kind_cli
        from playground.engine import containers_publishing
        from playground.ports import HostBinding, ensure_free

        mappings = self.mappings(stack, notes)
        bindings = [
            HostBinding(m.host_ip, m.host_port) for m in unique_bindings(mappings)
        ]
        ensure_free(bindings, set(), lambda port: containers_publishing(docker, port))
        nodes = self.nodes or 1
        config = cluster_config(mappings, nodes=nodes, certs_host_dir=self.certs_dir)
        log.info("creating kind cluster %s with %d node(s)", self.cluster, nodes)
        kind_cli.create_cluster(self.cluster, yaml.safe_dump(config, sort_keys=False))
        notes.append(
            f"created kind cluster {self.cluster} ({nodes} node(s)); "
            f"'playground down {stack.command_name} --on kind --cluster' deletes it"
        )

    def _check_existing(
        self, docker: DockerClient, stack: Stack, notes: list[str]
    ) -> None:
        """Raise PrerequisiteError when the running cluster lacks a port
        mapping of ``stack``, which only a new cluster can add."""
        from playground.engine import docker_errors

        with docker_errors(docker):
            node = docker.container.inspect(f"{self.cluster}-control-plane")
        bindings = {
            key: [(b.host_ip, int(b.host_port)) for b in (found or [])]
            for key, found in (node.host_config.port_bindings or {}).items()
        }
        needed = port_mappings([stack], self.settings.bind_address)
        missing = missing_mappings(needed, bindings)
        if missing:
            shown = ", ".join(f"{m.host_ip}:{m.host_port}" for m in missing)
            raise PrerequisiteError(
                f"kind cluster {self.cluster} does not map port(s) {shown} that stack "
                f"{stack.name} publishes; kind sets port mappings only when it creates a cluster",
                hint=f"recreate it: playground down {stack.command_name} --on kind --cluster, then "
                f"playground up {stack.command_name} --on kind (this deletes every stack in it)",
            )
        if self.nodes is not None:
            notes.append(
                f"kind cluster {self.cluster} exists already; --nodes applies to a new one"
            )

    # Images and the registry mirror

    def _mirror(self, notes: list[str]) -> Mirror | None:
        """Return the mirror the nodes can use: one up on Compose, whose
        container can join the kind network (a Swarm task's cannot)."""
        from playground.mirror import find_mirror

        try:
            mirror = find_mirror(self.settings)
        except UsageError as error:
            log.debug("the kind nodes use no registry mirror: %s", error.message)
            return None
        if mirror.backend != "compose" or mirror.container is None:
            notes.append(
                f"the kind nodes do not use the mirror of stack {mirror.stack} on "
                f"{mirror.backend}; they reach a mirror that runs on compose only"
            )
            return None
        return mirror

    def _registry_mirrors(
        self, docker: DockerClient, mirror: Mirror | None
    ) -> list[RegistryMirror]:
        if mirror is None or mirror.container is None:
            return []
        from playground.engine import docker_errors
        from playground.mirror import upstream_of
        from playground.stack import load_stack

        stack = load_stack(mirror.stack, self.settings.stacks_dir)
        with docker_errors(docker):
            name = docker.container.inspect(mirror.container).name
        return registry_mirrors(name, stack.mirror.port, mirror, upstream_of(stack))

    def _load_local_images(self, docker: DockerClient, stack: Stack) -> list[str]:
        """Load every image of ``stack`` that the local engine has but no
        registry serves (built or imported here) into the nodes."""
        from playground import kind_cli
        from playground.engine import docker_errors

        notes = []
        for image in sorted(set(self.image_map.relocated(stack.images()).values())):
            with docker_errors(docker):
                if (
                    not docker.image.exists(image)
                    or docker.image.inspect(image).repo_digests
                ):
                    continue
            kind_cli.load_image(self.cluster, image)
            notes.append(
                f"loaded {image} into the kind nodes, which kind skips for nodes "
                "that have it (it exists only in the local engine)"
            )
        return notes

    # Removal and endpoints

    def down(
        self, stack: Stack, *, volumes: bool, delete_cluster: bool = False
    ) -> DownResult:
        """Delete the stack's namespace (see KubernetesBackend.down); with
        ``delete_cluster``, then the whole cluster and every stack in it."""
        from playground import kind_cli

        record = self.settings.stack_state_dir(stack.name) / CLUSTER_RECORD
        record.unlink(missing_ok=True)
        if self.cluster not in kind_cli.clusters():
            return DownResult(was_up=False)
        result = super().down(stack, volumes=volumes)
        if delete_cluster:
            kind_cli.delete_cluster(self.cluster)
            result.removed_volumes += result.kept_volumes
            result.kept_volumes = []
            result.deleted_cluster = True
        return result

    def up(
        self,
        stack: Stack,
        secret_files: dict[str, Path],
        held: frozenset[str] = frozenset(),
    ) -> UpResult:
        """Bring the stack up (see KubernetesBackend.up) and record the cluster."""
        result = super().up(stack, secret_files, held)
        record = self.settings.stack_state_dir(stack.name) / CLUSTER_RECORD
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(self.cluster + "\n")
        return result

    def volumes(self, stack: Stack) -> list[str]:
        """Return the stack's PersistentVolumeClaims; none without a cluster."""
        from playground import kind_cli

        if self.cluster not in kind_cli.clusters():
            return []
        return super().volumes(stack)

    def states(self, stack: Stack) -> dict[str, ServiceState]:
        """Return the states of the stack's services; none without a cluster."""
        from playground import kind_cli

        if self.cluster not in kind_cli.clusters():
            return {}
        return super().states(stack)

    def endpoints(self, stack: Stack, service: str) -> list[Endpoint]:
        """Return the host ports that the cluster maps to the service's nodePorts."""
        return [
            Endpoint(m.container_port, _connect_host(m.host_ip), m.host_port)
            for m in port_mappings([stack], self.settings.bind_address)
            if m.service == service
        ]

    def deployed(self):
        from playground import kind_cli

        try:
            if self.cluster not in kind_cli.clusters():
                return {}
        except PrerequisiteError:
            return {}
        return super().deployed()


def registry_mirrors(
    container_name: str, container_port: int, mirror: Mirror, upstream: str | None
) -> list[RegistryMirror]:
    """Return what the nodes' containerd needs to pull through ``mirror``:
    the upstream registry's pulls, and references that name the mirror's
    host address, both sent to the mirror container on the kind network."""
    endpoint = f"http://{container_name}:{container_port}"
    registry = urlsplit(upstream).netloc if upstream else "docker.io"
    if registry in ("registry-1.docker.io", "index.docker.io"):
        registry = "docker.io"
    return [
        RegistryMirror(registry, endpoint, mirror.path),
        RegistryMirror(mirror.address, endpoint, "", server=f"http://{mirror.address}"),
    ]


def connect_to_kind_network(docker: DockerClient, container: str | None) -> bool:
    """Connect a container to the kind network unless it is on it already,
    so the nodes reach it by name. Returns whether it was connected now."""
    from playground.engine import docker_errors

    if container is None:
        return False
    with docker_errors(docker):
        networks = docker.container.inspect(container).network_settings.networks or {}
        if KIND_NETWORK in networks:
            return False
        docker.network.connect(KIND_NETWORK, container)
    return True


def _connect_host(host_ip: str) -> str:
    return "127.0.0.1" if host_ip in ("0.0.0.0", "::") else host_ip
