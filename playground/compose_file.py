"""Compose documents rendered from a stack: the part both Docker backends share.

The render relocates every image through the image map, labels services,
named volumes and the default network so playground finds them again, and
points generated secrets at their files.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from playground.backends import BACKEND_LABEL, FILE_LABEL, STACK_LABEL
from playground.stack import parse_port

if TYPE_CHECKING:
    from playground.imagemap import ImageMap
    from playground.stack import Stack


def render_base(
    stack: Stack, image_map: ImageMap, secret_files: dict[str, Path], backend: str
) -> dict[str, Any]:
    """Return a copy of the stack's Compose document with images relocated,
    playground labels added and generated secrets bound to their files."""
    document = copy.deepcopy(stack.compose)
    document.pop("x-playground", None)
    labels = {STACK_LABEL: stack.name, BACKEND_LABEL: backend}
    # Only containers carry the file label, which records the file a user's
    # stack came from.
    own_file = {FILE_LABEL: str(stack.file)} if stack.argument else {}

    for spec in document["services"].values():
        spec["image"] = image_map.relocate(spec["image"])
        spec["labels"] = {**label_dict(spec.get("labels")), **labels, **own_file}
        if "volumes" in spec:
            spec["volumes"] = [_absolute_bind(entry, stack.directory) for entry in spec["volumes"]]

    for name in list(document.get("volumes") or {}):
        volume = document["volumes"][name] or {}
        if not volume.get("external"):
            volume["labels"] = {**label_dict(volume.get("labels")), **labels}
        document["volumes"][name] = volume

    networks = document.setdefault("networks", {})
    default = networks.get("default") or {}
    if not default.get("external"):
        default["labels"] = {**label_dict(default.get("labels")), **labels}
    networks["default"] = default

    for name in stack.generated_secrets:
        document["secrets"][name] = {"file": str(secret_files[name])}
    return document


def _absolute_bind(entry: Any, directory: Path) -> Any:
    """Resolve a relative bind-mount source against the stack's folder, since
    the rendered file lives elsewhere and ``docker stack deploy`` resolves
    relative paths against the file."""
    if isinstance(entry, str):
        source, separator, rest = entry.partition(":")
        if separator and source.startswith((".", "~")):
            return f"{_resolve(source, directory)}:{rest}"
        return entry
    if isinstance(entry, dict) and entry.get("type") == "bind":
        source = str(entry.get("source", ""))
        if source.startswith((".", "~")):
            return {**entry, "source": _resolve(source, directory)}
    return entry


def _resolve(source: str, directory: Path) -> str:
    return str((directory / Path(source).expanduser()).resolve())


def declared_volumes(stack: Stack, prefix: str) -> list[str]:
    """Return the engine names of the stack's own named volumes (not the
    external ones): ``name`` if set, else ``PREFIX_KEY`` as both backends
    name them."""
    return [
        (spec or {}).get("name") or f"{prefix}_{key}"
        for key, spec in (stack.compose.get("volumes") or {}).items()
        if not (spec or {}).get("external")
    ]


def long_ports(stack: Stack, service: str, host_ip: str | None) -> list[dict[str, Any]]:
    """Return the service's ``ports`` in Compose's long syntax.

    ``host_ip`` applies to ports that name no address of their own; None
    leaves the address out (Swarm accepts none).
    """
    ports = []
    entries = stack.compose["services"][service].get("ports", [])
    for index, entry in enumerate(entries):
        port = parse_port(entry, service, stack.file, f"services.{service}.ports[{index}]")
        rendered: dict[str, Any] = {"target": port.container_port, "protocol": port.protocol}
        if host_ip is not None:
            rendered["host_ip"] = port.host_ip or host_ip
        if port.host_port is not None:
            rendered["published"] = str(port.host_port)
        ports.append(rendered)
    return ports


def label_dict(labels: Any) -> dict[str, str]:
    """Return Compose labels, given as a mapping or a ``KEY=VALUE`` list, as a dict."""
    if isinstance(labels, dict):
        return {str(key): str(value) for key, value in labels.items()}
    result = {}
    for item in labels or []:
        key, _, value = str(item).partition("=")
        result[key] = value
    return result


def write_document(folder: Path, name: str, document: dict[str, Any]) -> Path:
    """Write a rendered document into a private state folder and return its path."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path
