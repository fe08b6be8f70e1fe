"""Preflight checks of the machine, one finding each, with the fix for each
problem.

A finding is ``ok``, ``warning`` (a backend or feature is unavailable or
degraded, and playground works around it or does not need it for Compose) or
``failed`` (a command would fail). Checks that depend on an earlier one
(the plugin and swarm checks on the engine, the cluster on kind) are
``skipped`` when that one failed.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.errors import PlaygroundError

if TYPE_CHECKING:
    from python_on_whales import DockerClient

    from playground.settings import Settings

OK = "ok"
WARNING = "warning"
FAILED = "failed"
SKIPPED = "skipped"
TOOL_TIMEOUT = 10.0
IPVS_PATH = Path("/proc/sys/net/ipv4/vs")
# docker info's DriverStatus entry that the containerd image store adds.
CONTAINERD_SNAPSHOTTER = "io.containerd.snapshotter.v1"


@dataclass(frozen=True)
class Finding:
    """The verdict of one check, what was found, and the fix for a problem."""

    check: str
    verdict: str
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Machine:
    """The engine client and its ``docker info``, read once for all checks,
    or the error that prevented reading them."""

    client: DockerClient | None = None
    info: Any = None
    engine_error: PlaygroundError | None = None


def examine(settings: Settings) -> list[Finding]:
    """Run every check and return the findings in a fixed order."""
    machine = _connect()
    findings = [engine_finding(machine)]
    checks: list[Callable[[], Finding | list[Finding]]] = [
        lambda: compose_finding(machine),
        lambda: swarm_finding(machine),
        lambda: mesh_finding(machine),
        lambda: image_store_finding(machine),
        lambda: tool_finding("kind", ["kind", "version"], KIND_FIX),
        lambda: tool_finding("kubectl", ["kubectl", "version", "--client"], KUBECTL_FIX),
        lambda: kind_cluster_finding(machine, settings),
        lambda: port_findings(machine, settings),
        lambda: mirror_finding(machine, settings),
    ]
    for check in checks:
        found = check()
        findings += found if isinstance(found, list) else [found]
    return findings


def _connect() -> Machine:
    from playground.engine import docker_client, docker_errors

    client = docker_client()
    try:
        with docker_errors(client):
            info = client.system.info()
    except PlaygroundError as error:
        return Machine(client, None, error)
    return Machine(client, info)


# The Docker engine


def engine_finding(machine: Machine) -> Finding:
    if machine.engine_error is not None:
        return Finding(
            "engine",
            FAILED,
            machine.engine_error.message,
            machine.engine_error.hint
            or "start the Docker engine (dockerd, or Docker Desktop); on Debian "
            "scripts/setup-machine installs and starts one",
        )
    info = machine.info
    return Finding(
        "engine",
        OK,
        f"Docker engine {info.server_version} on {info.operating_system}, "
        f"storage driver {info.driver}",
    )


def compose_finding(machine: Machine) -> Finding:
    from python_on_whales.exceptions import DockerException

    from playground.engine import COMPOSE_INSTALL_HINT

    if machine.engine_error is not None:
        return Finding("compose", SKIPPED, "needs the engine")
    try:
        version = machine.client.compose.version()
    except DockerException:
        return Finding("compose", FAILED, "the Compose v2 plugin is missing", COMPOSE_INSTALL_HINT)
    return Finding("compose", OK, str(version).strip())


def swarm_finding(machine: Machine) -> Finding:
    if machine.engine_error is not None:
        return Finding("swarm", SKIPPED, "needs the engine")
    swarm = machine.info.swarm
    state = swarm.local_node_state
    if state == "inactive":
        return Finding(
            "swarm", OK, "not in a swarm; 'up --on swarm' initialises a single-node one"
        )
    if state == "active":
        role = "manager" if swarm.control_available else "worker"
        detail = f"active, {swarm.nodes} node(s), this node is a {role}"
        if not swarm.control_available:
            return Finding(
                "swarm",
                FAILED,
                detail,
                "run playground against a manager node (a Docker context of a manager)",
            )
        return Finding("swarm", OK, detail)
    return Finding(
        "swarm",
        FAILED,
        f"swarm state {state}: {swarm.error or 'no error reported'}",
        "leave the swarm ('docker swarm leave --force') or repair it",
    )


def mesh_finding(machine: Machine) -> Finding:
    """Report whether Swarm's ingress routing mesh can work on this engine."""
    from playground.backends.swarm import ipvs_available

    if machine.engine_error is not None:
        return Finding("routing mesh", SKIPPED, "needs the engine")
    if ipvs_available(machine.client):
        return Finding("routing mesh", OK, "working: ingress-mode ports can be used")
    return Finding(
        "routing mesh",
        WARNING,
        f"not working: the engine's kernel has no IPVS ({IPVS_PATH} is missing); "
        "on Swarm, playground publishes ports in host mode instead",
        "load the kernel module with 'modprobe ip_vs' if the kernel has it",
    )


def image_store_finding(machine: Machine) -> Finding:
    if machine.engine_error is not None:
        return Finding("image store", SKIPPED, "needs the engine")
    status = [tuple(entry) for entry in machine.info.driver_status or []]
    if any(CONTAINERD_SNAPSHOTTER in str(value) for _, value in status):
        return Finding(
            "image store",
            WARNING,
            "the containerd image store is on; 'kind load docker-image' fails with it, "
            "so locally built images cannot reach kind nodes",
            "turn it off: Docker Desktop > Settings > General > 'Use containerd for "
            'pulling and storing images\', or "features": {"containerd-snapshotter": '
            "false} in /etc/docker/daemon.json, then restart the engine",
        )
    return Finding("image store", OK, f"the engine's own ({machine.info.driver})")


# kind and kubectl

KIND_FIX = (
    "only --on kind needs it: go install sigs.k8s.io/kind@v0.32.0, or the "
    "release binary from https://kind.sigs.k8s.io/docs/user/quick-start/"
)
KUBECTL_FIX = (
    "optional, to look inside clusters yourself: "
    "https://kubernetes.io/docs/tasks/tools/"
)


def tool_finding(name: str, command: list[str], fix: str) -> Finding:
    """Report whether a command-line tool is on PATH, with its version."""
    if shutil.which(command[0]) is None:
        return Finding(name, WARNING, f"{name} is not installed (not on PATH)", fix)
    try:
        completed = subprocess.run(
            command, check=False, capture_output=True, text=True, timeout=TOOL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return Finding(name, WARNING, f"'{' '.join(command)}' failed: {error}", fix)
    first_line = (completed.stdout or completed.stderr).strip().splitlines()[:1]
    if completed.returncode != 0:
        return Finding(
            name,
            WARNING,
            f"'{' '.join(command)}' exited with {completed.returncode}: "
            + (first_line[0] if first_line else "no output"),
            fix,
        )
    return Finding(name, OK, first_line[0] if first_line else "installed")


def kind_cluster_finding(machine: Machine, settings: Settings) -> Finding:
    """Report playground's kind cluster and whether it maps every port that
    the shipped stacks publish."""
    from playground import kind_cli
    from playground.kind_config import CLUSTER_NAME, missing_mappings, port_mappings

    if shutil.which("kind") is None:
        return Finding("kind cluster", SKIPPED, "needs kind")
    try:
        clusters = kind_cli.clusters()
    except PlaygroundError as error:
        return Finding("kind cluster", WARNING, f"'kind get clusters' failed: {error.message}")
    if CLUSTER_NAME not in clusters:
        return Finding(
            "kind cluster",
            OK,
            f"no cluster {CLUSTER_NAME} yet; 'up --on kind' creates it",
        )
    if machine.engine_error is not None:
        return Finding("kind cluster", SKIPPED, "needs the engine")

    node = machine.client.container.inspect(f"{CLUSTER_NAME}-control-plane")
    bindings = {
        key: [(binding.host_ip, int(binding.host_port)) for binding in (found or [])]
        for key, found in (node.host_config.port_bindings or {}).items()
    }
    needed = port_mappings(_stacks(settings, mirrors=False), settings.bind_address)
    missing = missing_mappings(needed, bindings)
    mapped = ", ".join(f"{m.host_ip}:{m.host_port}" for m in needed if m not in missing)
    if missing:
        shown = ", ".join(f"{m.host_ip}:{m.host_port}" for m in missing)
        return Finding(
            "kind cluster",
            WARNING,
            f"cluster {CLUSTER_NAME} maps {mapped or 'no stack port'} but not {shown}",
            "stacks that publish those ports need a new cluster: playground down STACK "
            "--on kind --cluster, then up again (this deletes every stack in it)",
        )
    return Finding("kind cluster", OK, f"cluster {CLUSTER_NAME} maps {mapped}")


# Ports and the mirror


def port_findings(machine: Machine, settings: Settings) -> list[Finding]:
    """Report, per shipped stack, whether its host ports are free or held by
    the stack itself; anything else holding one is a failure."""
    from playground.ports import HostBinding, is_free, listening_process

    findings = []
    own = _ports_of_running_stacks(machine)
    for stack in _stacks(settings, mirrors=True):
        held = []
        for port in stack.published_ports():
            if port.host_port is None:
                continue
            binding = HostBinding(
                port.host_ip or settings.bind_address, port.host_port, port.protocol
            )
            if own.get(port.host_port) == stack.name or is_free(binding):
                continue
            holder = own.get(port.host_port) or listening_process(port.host_port)
            held.append(f"{binding} (held by {holder or 'an unknown process'})")
        name = f"ports of {stack.name}"
        if held:
            findings.append(
                Finding(
                    name,
                    FAILED,
                    "taken: " + ", ".join(held),
                    "stop what holds them, or take down the stack that does",
                )
            )
        else:
            findings.append(Finding(name, OK, "free or held by the stack itself"))
    return findings


def _ports_of_running_stacks(machine: Machine) -> dict[int, str]:
    """Return the host ports that playground's own containers publish, by stack."""
    from playground.backends import STACK_LABEL

    if machine.engine_error is not None:
        return {}
    ports = {}
    for container in machine.client.container.list(filters=[("label", STACK_LABEL)]):
        stack = container.config.labels.get(STACK_LABEL, "")
        for bindings in (container.network_settings.ports or {}).values():
            for binding in bindings or []:
                if binding.get("HostPort"):
                    ports[int(binding["HostPort"])] = stack
    return ports


def mirror_finding(machine: Machine, settings: Settings) -> Finding:
    """Report the engine's registry mirrors and playground's mirror stack:
    each must respond to the registry API."""
    from playground.errors import UsageError
    from playground.mirror import find_mirror

    if machine.engine_error is not None:
        return Finding("mirror", SKIPPED, "needs the engine")
    configured = list((machine.info.registry_config or {}).get("Mirrors") or [])
    try:
        stack_mirror = find_mirror(settings)
    except UsageError:
        stack_mirror = None

    targets = [(url, url) for url in configured]
    if stack_mirror is not None:
        targets.append((f"{stack_mirror.stack} stack", f"http://{stack_mirror.address}"))
    if not targets:
        return Finding(
            "mirror",
            OK,
            "none configured in the engine and no mirror stack up; "
            "'playground up mirror' starts one",
        )

    down = []
    for label, url in targets:
        problem = _registry_problem(url)
        if problem:
            down.append(f"{label}: {problem}")
    shown = ", ".join(label for label, _ in targets)
    if down:
        return Finding(
            "mirror",
            FAILED,
            "not answering: " + "; ".join(down),
            "start it (playground up mirror), or remove it from the engine's "
            "registry-mirrors and restart the engine",
        )
    return Finding("mirror", OK, f"reachable: {shown}")


def _registry_problem(url: str) -> str | None:
    """Return why ``url`` is not a registry API base, or None when it is.

    A 401 response counts: a registry that requires a token is still there.
    """
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/v2/", timeout=3.0):
            return None
    except urllib.error.HTTPError as error:
        return None if error.code == 401 else f"HTTP {error.code}"
    except (OSError, ValueError) as error:
        return str(getattr(error, "reason", error))


def _stacks(settings: Settings, *, mirrors: bool) -> list:
    from playground.stack import list_stacks, load_stack

    stacks = [load_stack(name, settings.stacks_dir) for name in list_stacks(settings.stacks_dir)]
    return [stack for stack in stacks if mirrors or stack.mirror is None]


def failed(findings: list[Finding]) -> bool:
    return any(finding.verdict == FAILED for finding in findings)

