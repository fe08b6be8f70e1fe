"""Translation of a rendered Compose document for ``docker stack deploy``.

Swarm services reject or ignore some Compose keys. Each one is dropped or
converted here with a note that names it, so ``up`` can warn and ``export``
can list what changed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.backends import BACKEND_LABEL, STACK_LABEL
from playground.errors import PrerequisiteError

if TYPE_CHECKING:
    from playground.stack import Stack

# Keys that `docker stack deploy` does not support, with the reason shown.
UNSUPPORTED_BY_SWARM = {
    "build": "Swarm deploys images only",
    "cgroup_parent": "Swarm services do not support it",
    "container_name": "Swarm names containers after the service and task",
    "devices": "Swarm services do not support it",
    "external_links": "Swarm services do not support it",
    "links": "services reach each other by name on the stack network",
    "network_mode": "Swarm services do not support it",
    "privileged": "Swarm services do not support it",
    "security_opt": "Swarm services do not support it",
    "userns_mode": "Swarm services do not support it",
}
# Swarm refuses configs larger than this.
MAX_CONFIG_BYTES = 500 * 1024
RESTART_TO_CONDITION = {
    "no": "none",
    "always": "any",
    "unless-stopped": "any",
    "on-failure": "on-failure",
}


@dataclass
class Translation:
    """A translated document and what changed, one note per change."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)


def healthy_dependencies(services: dict[str, Any]) -> dict[str, list[str]]:
    """Return, per service, the services it needs healthy before it starts
    (``depends_on`` entries with ``condition: service_healthy``)."""
    needs = {}
    for name, spec in services.items():
        depends_on = spec.get("depends_on") or {}
        if isinstance(depends_on, dict):
            needs[name] = [
                dependency
                for dependency, options in depends_on.items()
                if (options or {}).get("condition") == "service_healthy"
            ]
        else:
            needs[name] = []
    return needs


def start_phases(services: dict[str, Any]) -> list[list[str]]:
    """Group services into phases: each phase starts once every service of the
    earlier phases is ready. Raises ValueError on a dependency cycle."""
    needs = healthy_dependencies(services)
    phases: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(needs):
        phase = [
            name
            for name in needs
            if name not in placed and all(d in placed or d not in needs for d in needs[name])
        ]
        if not phase:
            cycle = sorted(set(needs) - placed)
            raise ValueError("depends_on forms a cycle among: " + ", ".join(cycle))
        phases.append(phase)
        placed.update(phase)
    return phases


def stack_phases(stack: Stack) -> list[list[str]]:
    """Return the start phases of ``stack``'s services (see ``start_phases``);
    PrerequisiteError, naming the file, for a dependency cycle."""
    try:
        return start_phases(stack.compose["services"])
    except ValueError as error:
        raise PrerequisiteError(f"{stack.file}: {error}") from error


def to_swarm(
    document: dict[str, Any],
    *,
    routing_mesh: bool,
    bind_address: str,
    held: frozenset[str] = frozenset(),
) -> Translation:
    """Translate a rendered Compose document for a Swarm stack.

    ``routing_mesh`` False publishes ports in host mode and gives services
    DNS round-robin endpoints, which work without IPVS. Services in ``held``
    get zero replicas, so they wait for their dependencies.
    """
    document = copy.deepcopy(document)
    document.pop("name", None)
    notes: list[str] = []
    published = False

    for name, spec in document["services"].items():
        _drop_unsupported(name, spec, notes)
        _convert_restart(name, spec, notes)
        deploy = spec.setdefault("deploy", {})
        labels = spec.get("labels") or {}
        deploy["labels"] = {
            **(deploy.get("labels") or {}),
            STACK_LABEL: labels.get(STACK_LABEL, ""),
            BACKEND_LABEL: "swarm",
        }
        labels[BACKEND_LABEL] = "swarm"
        if not routing_mesh:
            deploy["endpoint_mode"] = "dnsrr"
        if name in held:
            deploy["replicas"] = 0
        if spec.get("volumes"):
            _configs_from_files(name, spec, document, notes)
        if spec.get("ports"):
            published = True
            spec["ports"] = [_swarm_port(entry, routing_mesh) for entry in spec["ports"]]

    for section in ("volumes", "networks"):
        for spec in (document.get(section) or {}).values():
            if spec and STACK_LABEL in (spec.get("labels") or {}):
                spec["labels"][BACKEND_LABEL] = "swarm"

    if published and not routing_mesh:
        notes.append(
            "ports are published in host mode and services use DNS round-robin "
            "endpoints, because the routing mesh does not work on this engine"
        )
    if published and bind_address in ("127.0.0.1", "localhost", "::1"):
        notes.append(
            "Swarm publishes ports on all interfaces; it cannot bind them to "
            f"{bind_address} only"
        )
    return Translation(document, notes)


def _drop_unsupported(name: str, spec: dict[str, Any], notes: list[str]) -> None:
    for key, reason in UNSUPPORTED_BY_SWARM.items():
        if key in spec:
            del spec[key]
            notes.append(f"{name}: dropped {key} ({reason})")
    if "depends_on" in spec:
        depends_on = spec.pop("depends_on")
        healthy = healthy_dependencies({name: {"depends_on": depends_on}})[name]
        if healthy:
            notes.append(
                f"{name}: depends_on is ignored by Swarm; playground starts {name} "
                f"after {', '.join(healthy)} is healthy"
            )
        else:
            notes.append(f"{name}: dropped depends_on (Swarm starts services in any order)")


def _configs_from_files(
    name: str, spec: dict[str, Any], document: dict[str, Any], notes: list[str]
) -> None:
    """Turn the service's read-only bind mounts of files into Swarm configs,
    which Swarm copies to whichever node runs the task. A config's content
    cannot change, so its name carries a hash of the content."""
    import hashlib

    volumes = []
    for entry in spec["volumes"]:
        bind = _read_only_bind(entry)
        source = Path(bind[0]) if bind else None
        if source is not None and source.is_dir():
            notes.append(
                f"{name}: bind mount of the folder {source} is kept, but on a swarm of "
                "several nodes only this machine's node has it"
            )
        if source is None or not source.is_file() or source.stat().st_size > MAX_CONFIG_BYTES:
            volumes.append(entry)
            continue
        content = source.read_bytes()
        key = f"{_config_key(source.name)}-{hashlib.sha256(content).hexdigest()[:10]}"
        document.setdefault("configs", {})[key] = {"file": str(source)}
        spec.setdefault("configs", []).append({"source": key, "target": bind[1]})
        notes.append(
            f"{name}: bind mount of {source.name} became the Swarm config {key}, "
            "which reaches every node"
        )
    if volumes:
        spec["volumes"] = volumes
    else:
        del spec["volumes"]


def _read_only_bind(entry: Any) -> tuple[str, str] | None:
    """Return (source, target) of a read-only bind mount with an absolute
    source, in short or long syntax; None for anything else."""
    if isinstance(entry, str):
        parts = entry.split(":")
        if len(parts) == 3 and parts[0].startswith("/") and "ro" in parts[2].split(","):
            return parts[0], parts[1]
        return None
    if isinstance(entry, dict) and entry.get("type") == "bind" and entry.get("read_only"):
        source = str(entry.get("source", ""))
        if source.startswith("/") and entry.get("target"):
            return source, str(entry["target"])
    return None


def _config_key(file_name: str) -> str:
    """Return a config name made of the characters Swarm accepts."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]", "-", file_name).strip(".-_")[:40] or "file"


def _convert_restart(name: str, spec: dict[str, Any], notes: list[str]) -> None:
    if "restart" not in spec:
        return
    policy = str(spec.pop("restart")).split(":")[0]
    condition = RESTART_TO_CONDITION.get(policy, "any")
    deploy = spec.setdefault("deploy", {})
    deploy.setdefault("restart_policy", {})["condition"] = condition
    notes.append(f"{name}: restart: {policy} became deploy.restart_policy.condition: {condition}")


def _swarm_port(entry: dict[str, Any], routing_mesh: bool) -> dict[str, Any]:
    port = {key: value for key, value in entry.items() if key != "host_ip"}
    port["mode"] = "ingress" if routing_mesh else "host"
    if "published" in port:
        port["published"] = int(port["published"])
    return port
