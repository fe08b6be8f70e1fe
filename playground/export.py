"""The rendering of a stack for a backend, printed without running anything.

The result is the document a backend would deploy (a Compose file, a Swarm
stack file, or Kubernetes objects) and the changes the translation made,
grouped as dropped, converted and added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from playground.errors import UsageError

if TYPE_CHECKING:
    from playground.imagemap import ImageMap
    from playground.settings import Settings
    from playground.stack import Stack

TARGETS = ("kubernetes", "swarm", "compose")
CHANGE_GROUPS = ("dropped", "converted", "added")


@dataclass
class Export:
    """Rendered documents and the changes, each group a list of notes."""

    target: str
    documents: list[dict[str, Any]]
    changes: dict[str, list[str]] = field(default_factory=dict)

    def yaml_text(self) -> str:
        """Return the changes as YAML comments, then the documents."""
        lines = []
        for group in CHANGE_GROUPS:
            notes = self.changes.get(group, [])
            if notes:
                lines.append(f"# {group}:")
                lines += [f"#   - {note}" for note in notes]
        body = yaml.dump_all(self.documents, Dumper=_BlockDumper, sort_keys=False)
        return "\n".join(lines) + ("\n" if lines else "") + body


class _BlockDumper(yaml.SafeDumper):
    """Writes text of several lines (configuration files) as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _text)


def group_changes(notes: list[str]) -> dict[str, list[str]]:
    """Sort notes into dropped, added and converted (every other change)."""
    groups: dict[str, list[str]] = {group: [] for group in CHANGE_GROUPS}
    for note in notes:
        words = note.split()
        if "dropped" in words[:3]:
            groups["dropped"].append(note)
        elif "added" in words[:3]:
            groups["added"].append(note)
        else:
            groups["converted"].append(note)
    return groups


def export_stack(
    stack: Stack, target: str, settings: Settings, image_map: ImageMap
) -> Export:
    """Render ``stack`` for ``target``; UsageError for an unknown target.

    Generated passwords are never printed: secrets point at the files
    ``up`` would create, or hold a placeholder in the Kubernetes Secret.
    A stack limited to other backends (``x-playground.backends``) is refused
    as ``up`` refuses it.
    """
    if target in TARGETS:
        stack.require_backend(
            # kind and an existing cluster get the same objects.
            "kind" if target == "kubernetes" and "kind" in stack.backends else target,
            hint=f"export it to a backend it runs on: {', '.join(stack.backends)}",
        )
    if target == "kubernetes":
        return _kubernetes(stack, settings, image_map)
    if target in ("swarm", "compose"):
        return _docker(stack, target, settings, image_map)
    raise UsageError(
        f"unknown export target {target!r}; expected one of: {', '.join(TARGETS)}"
    )


def _kubernetes(stack: Stack, settings: Settings, image_map: ImageMap) -> Export:
    """Render the objects as the kind backend applies them, with nodePorts
    pinned to the published ports."""
    from playground.kind_config import node_ports, port_mappings
    from playground.manifests import render_objects

    pinned = node_ports(port_mappings([stack], settings.bind_address), stack.name)
    objects = render_objects(stack, image_map, backend="kind", node_ports=pinned)
    notes = list(objects.notes)
    host_ports = {(p.service, p.container_port): p.host_port for p in stack.published_ports()}
    for (service, container_port), node_port in sorted(pinned.items()):
        notes.append(
            f"{service}: port {container_port}, published on host port "
            f"{host_ports.get((service, container_port))}, became a NodePort Service on "
            f"nodePort {node_port}, which the kind cluster maps to that host port"
        )
    if stack.generated_secrets:
        notes.append(
            "secret: the generated passwords are shown as placeholders; up puts "
            "the real ones in the Secret"
        )
    return Export("kubernetes", objects.objects, group_changes(notes))


def _docker(
    stack: Stack, target: str, settings: Settings, image_map: ImageMap
) -> Export:
    from playground.credentials import secrets_dir

    folder = secrets_dir(settings.stack_state_dir(stack.name))
    files = {name: folder / name for name in stack.generated_secrets}
    if target == "compose":
        from playground.backends.compose import ComposeBackend

        document = ComposeBackend(settings, image_map).render(stack, files)
        notes = [
            f"secret {name}: converted to the file {files[name]} that up generates"
            for name in stack.generated_secrets
        ]
        return Export("compose", [document], group_changes(notes))

    from playground.backends.swarm import SwarmBackend

    document, notes = SwarmBackend(settings, image_map).render(
        stack, files, routing_mesh=True
    )
    return Export("swarm", [document], group_changes(notes))
