"""The kind cluster configuration that playground generates.

Each published port of a stack becomes an ``extraPortMappings`` entry on the
control-plane node: the host port, bound to the bind address, forwards to a
nodePort, and the stack's Service pins that same nodePort. A random nodePort
would leave the mapping pointing at nothing.

Every node mounts a host folder at containerd's registry configuration path
(``config_path``). A ``hosts.toml`` per registry in that folder sends pulls
to a mirror. containerd needs no restart to see such a file, as kind's own
local-registry example (site/static/examples/kind-with-registry.sh) shows
by writing it into running nodes. So a mirror started after the cluster
still takes effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.errors import ConfigError

if TYPE_CHECKING:
    from playground.stack import Stack

# kind v0.32.0's default node image (pkg/apis/config/defaults/image.go).
NODE_IMAGE = (
    "kindest/node:v1.36.1"
    "@sha256:3489c7674813ba5d8b1a9977baea8a6e553784dab7b84759d1014dbd78f7ebd5"
)
KUBERNETES_VERSION = "1.36.1"
CLUSTER_NAME = "playground"
# The API server's default --service-node-port-range.
NODE_PORT_MIN = 30000
NODE_PORT_COUNT = 2768
CERTS_DIR = "/etc/containerd/certs.d"
# The node image's containerd reads a version 2 configuration file.
CONTAINERD_PATCH = (
    f'[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "{CERTS_DIR}"\n'
)
DOCKER_HUB_SERVER = "https://registry-1.docker.io"


@dataclass(frozen=True)
class PortMapping:
    """A host port forwarded to a nodePort, for one published container port."""

    stack: str
    service: str
    container_port: int
    host_ip: str
    host_port: int
    node_port: int


@dataclass(frozen=True)
class RegistryMirror:
    """The mirror that the nodes pull images of ``registry`` from instead.

    ``endpoint`` is the mirror's URL as the nodes reach it, which on the
    kind network is ``http://CONTAINER:PORT``. ``path`` is the repository
    path that the mirror serves the registry under. It is empty for a mirror
    that serves it at its root, as the Distribution registry does. ``server`` is the
    registry's own URL, which containerd falls back to; empty means
    ``https://REGISTRY`` (Docker Hub's API host for docker.io).
    """

    registry: str
    endpoint: str
    path: str = ""
    server: str = ""


def node_port_for(host_port: int) -> int:
    """Return the nodePort paired with ``host_port``: the default nodePort
    range, 30000-32767, wrapped around the host port number."""
    return NODE_PORT_MIN + host_port % NODE_PORT_COUNT


def port_mappings(stacks: list[Stack], bind_address: str) -> list[PortMapping]:
    """Return a mapping for every TCP port the stacks publish.

    Raises ConfigError for a port published without a host port (kind
    cannot map a random one) and for two host ports that wrap onto the
    same nodePort.
    """
    mappings: list[PortMapping] = []
    for stack in stacks:
        for port in stack.published_ports():
            if port.protocol != "tcp":
                continue
            if port.host_port is None:
                raise ConfigError(
                    f"{stack.file}: services.{port.service}.ports: container port "
                    f"{port.container_port} has no host port; kind maps fixed host "
                    "ports only",
                    hint=f'publish it as "HOST:{port.container_port}"',
                )
            mappings.append(
                PortMapping(
                    stack.name,
                    port.service,
                    port.container_port,
                    port.host_ip or bind_address,
                    port.host_port,
                    node_port_for(port.host_port),
                )
            )
    _check_pairs(mappings)
    return mappings


def _check_pairs(mappings: list[PortMapping]) -> None:
    by_node_port: dict[int, int] = {}
    for mapping in mappings:
        other = by_node_port.setdefault(mapping.node_port, mapping.host_port)
        if other != mapping.host_port:
            raise ConfigError(
                f"host ports {other} and {mapping.host_port} both pair with nodePort "
                f"{mapping.node_port} ({NODE_PORT_MIN} + host port modulo "
                f"{NODE_PORT_COUNT})",
                hint="change one of the host ports in its stack file",
            )


def node_ports(
    mappings: list[PortMapping], stack_name: str
) -> dict[tuple[str, int], int]:
    """Return the nodePort of each (service, container port) of one stack."""
    return {
        (m.service, m.container_port): m.node_port
        for m in mappings
        if m.stack == stack_name
    }


def unique_bindings(mappings: list[PortMapping]) -> list[PortMapping]:
    """Return the mappings with each host address and port once."""
    seen: set[tuple[str, int]] = set()
    result = []
    for mapping in mappings:
        if (mapping.host_ip, mapping.host_port) not in seen:
            seen.add((mapping.host_ip, mapping.host_port))
            result.append(mapping)
    return result


def cluster_config(
    mappings: list[PortMapping],
    *,
    nodes: int,
    certs_host_dir: Path,
    image: str = NODE_IMAGE,
) -> dict[str, Any]:
    """Return a kind cluster configuration: one control-plane node that maps
    the ports, ``nodes - 1`` workers, and containerd's registry folder
    mounted from ``certs_host_dir`` on every node."""
    if nodes < 1:
        raise ConfigError(f"invalid node count {nodes}: expected 1 or more")
    mount = {
        "hostPath": str(certs_host_dir),
        "containerPath": CERTS_DIR,
        "readOnly": True,
    }
    control_plane: dict[str, Any] = {"role": "control-plane", "image": image}
    control_plane["extraMounts"] = [mount]
    control_plane["extraPortMappings"] = [
        {
            "containerPort": m.node_port,
            "hostPort": m.host_port,
            "listenAddress": m.host_ip,
            "protocol": "TCP",
        }
        for m in unique_bindings(mappings)
    ]
    workers = [
        {"role": "worker", "image": image, "extraMounts": [dict(mount)]}
        for _ in range(nodes - 1)
    ]
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "nodes": [control_plane, *workers],
        "containerdConfigPatches": [CONTAINERD_PATCH],
    }


def hosts_toml(mirror: RegistryMirror) -> str:
    """Return containerd's ``hosts.toml`` that sends pulls of the mirror's
    registry to the mirror, falling back to the registry itself."""
    server = mirror.server or (
        DOCKER_HUB_SERVER
        if mirror.registry == "docker.io"
        else f"https://{mirror.registry}"
    )
    endpoint = mirror.endpoint.rstrip("/")
    lines = [f'server = "{server}"', ""]
    if mirror.path:
        # override_path: the URL carries the API root, /v2 included.
        lines.append(f'[host."{endpoint}/v2/{mirror.path.strip("/")}"]')
        lines.append('  capabilities = ["pull", "resolve"]')
        lines.append("  override_path = true")
    else:
        lines.append(f'[host."{endpoint}"]')
        lines.append('  capabilities = ["pull", "resolve"]')
    return "\n".join(lines) + "\n"


def write_registry_hosts(
    certs_host_dir: Path, mirrors: list[RegistryMirror]
) -> list[Path]:
    """Write one ``REGISTRY/hosts.toml`` per mirror and remove those of
    registries that have no mirror now. Returns the files written."""
    certs_host_dir.mkdir(parents=True, exist_ok=True)
    wanted = {mirror.registry for mirror in mirrors}
    for stale in certs_host_dir.glob("*/hosts.toml"):
        if stale.parent.name not in wanted:
            stale.unlink()
    written = []
    for mirror in mirrors:
        path = certs_host_dir / mirror.registry / "hosts.toml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(hosts_toml(mirror))
        written.append(path)
    return written


def missing_mappings(
    needed: list[PortMapping], bindings: dict[str, list[tuple[str, int]]]
) -> list[PortMapping]:
    """Return the mappings a running control-plane node lacks.

    ``bindings`` is the node container's port bindings, as in ``docker
    inspect`` (HostConfig.PortBindings): "NODEPORT/tcp" to a list of
    (host address, host port).
    """
    missing = []
    for mapping in needed:
        found = bindings.get(f"{mapping.node_port}/tcp") or []
        if (mapping.host_ip, mapping.host_port) not in found:
            missing.append(mapping)
    return missing
