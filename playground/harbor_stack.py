"""The harbor stack's setup action.

Before ``up`` it writes the configuration Harbor's installer would generate
(playground.harbor_config) and points the stack file's ``generated/`` paths
at it. Once Harbor is healthy, it creates the proxy-cache project through
Harbor's API.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.credentials import read_secret
from playground.errors import PlaygroundError
from playground.harbor_config import (
    ADMIN_PASSWORD,
    GENERATED,
    ensure_harbor_secrets,
    write_generated,
)

if TYPE_CHECKING:
    from playground.backends import Backend
    from playground.settings import Settings
    from playground.stack import Stack

ADMIN_USER = "admin"


# The stack file


def with_generated_paths(stack: Stack, folder: Path) -> Stack:
    """Return ``stack`` with every ``generated/`` path of its services'
    ``env_file`` and bind mounts pointing into ``folder``."""
    compose = copy.deepcopy(stack.compose)
    for spec in compose["services"].values():
        if "env_file" in spec:
            spec["env_file"] = [_relocate(entry, folder) for entry in _as_list(spec["env_file"])]
        for volume in spec.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                volume["source"] = _relocate(volume.get("source", ""), folder)
    return dataclasses.replace(stack, compose=compose)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _relocate(path: Any, folder: Path) -> Any:
    prefix = GENERATED + "/"
    if isinstance(path, str) and path.startswith(prefix):
        return str(folder / path[len(prefix) :])
    return path


def external_url(stack: Stack, settings: Settings) -> str:
    """Return the URL clients on this machine reach Harbor at: the host
    port the mirror's service publishes, on the bind address (127.0.0.1
    for a wildcard address)."""
    spec = stack.mirror
    for port in stack.published_ports():
        if (port.service, port.container_port) == (spec.service, spec.port):
            host = port.host_ip or settings.bind_address
            if host in ("0.0.0.0", "::"):
                host = "127.0.0.1"
            return f"http://{host}:{port.host_port or spec.port}"
    raise PlaygroundError(f"stack {stack.name} does not publish {spec.service}:{spec.port}")


# The setup action


class HarborSetup:
    """Configuration files before ``up``; the proxy-cache project after."""

    def prepare(self, stack: Stack, backend_name: str, settings: Settings) -> Stack:
        """Generate the secrets and files and return the stack pointing at them.

        The stack declares ``x-playground.backends: [compose]``, since env
        files and single-file bind mounts from the state folder exist on
        this machine only.
        """
        state_dir = settings.stack_state_dir(stack.name)
        values = ensure_harbor_secrets(state_dir)
        folder = write_generated(state_dir, values, external_url(stack, settings))
        return with_generated_paths(stack, folder)

    def configure(self, stack: Stack, backend: Backend, settings: Settings) -> list[str]:
        """Create or find the registry endpoint and the proxy-cache project,
        and return lines for the user that name them."""
        from playground.harbor import HarborClient, endpoint_for, ensure_proxy_cache

        spec = stack.mirror
        state = backend.states(stack).get(spec.service)
        endpoint = state.endpoint(spec.port) if state else None
        if endpoint is None:
            raise PlaygroundError(
                f"service {spec.service} of stack {stack.name} publishes no port {spec.port}",
                hint=f"run 'playground check {stack.name}' to see its state",
            )
        password = read_secret(settings.stack_state_dir(stack.name), ADMIN_PASSWORD)
        client = HarborClient(endpoint.host, endpoint.port, ADMIN_USER, password)
        upstream = endpoint_for(settings.mirror_upstream, f"{spec.path}-upstream")
        cache = ensure_proxy_cache(client, spec.path, upstream)

        outcome = "created" if cache.created_project else "reused"
        password_file = settings.stack_state_dir(stack.name) / "secrets" / ADMIN_PASSWORD
        return [
            (
                f"{outcome} proxy-cache project {cache.project} for {upstream.url} "
                f"({upstream.type} endpoint {upstream.name})"
            ),
            (
                f"Harbor's web interface: http://{endpoint.address} "
                f"(user {ADMIN_USER}, password in {password_file})"
            ),
        ]
