"""Host ports: find the ones already taken before anything starts, and by what."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playground.errors import PrerequisiteError

_LISTEN = "0A"


@dataclass(frozen=True)
class HostBinding:
    host_ip: str
    port: int
    protocol: str = "tcp"

    def __str__(self) -> str:
        return f"{self.host_ip}:{self.port}/{self.protocol}"


def is_free(binding: HostBinding) -> bool:
    """Return whether ``binding`` can be bound now.

    SO_REUSEADDR matches what Docker's port proxy sets, so a port that only
    has connections in TIME_WAIT counts as free.
    """
    family = socket.AF_INET6 if ":" in binding.host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if binding.protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((binding.host_ip, binding.port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            if error.errno == errno.EADDRNOTAVAIL:
                raise PrerequisiteError(
                    f"cannot publish on {binding.host_ip}: no interface of this machine "
                    "has that address",
                    hint="use 127.0.0.1, 0.0.0.0 or an address that 'ip addr' lists",
                ) from error
            raise
    return True


def busy(bindings: list[HostBinding]) -> list[HostBinding]:
    return [binding for binding in bindings if not is_free(binding)]


def ensure_free(
    bindings: list[HostBinding],
    own_ports: set[int],
    container_holders: Callable[[int], list[str]],
) -> None:
    """Raise PrerequisiteError naming every binding that is taken, and by what,
    unless the stack's own containers (``own_ports``) hold it."""
    taken = [binding for binding in busy(bindings) if binding.port not in own_ports]
    if not taken:
        return

    lines = []
    for binding in taken:
        holders = container_holders(binding.port)
        if holders:
            holder = "container " + ", ".join(holders)
        else:
            holder = listening_process(binding.port) or "a process outside Docker"
        lines.append(f"port {binding} is already in use by {holder}")
    raise PrerequisiteError(
        "; ".join(lines),
        hint="stop what holds the port, or change the host port in the stack file",
    )


def listening_process(port: int, proc: Path = Path("/proc")) -> str | None:
    """Return "NAME (pid N)" of a local process listening on TCP ``port``.

    Reads /proc, so it finds only processes this user may inspect (all of
    them as root) and returns None elsewhere.
    """
    inodes = _listening_inodes(port, proc)
    if not inodes:
        return None
    for pid_dir in proc.glob("[0-9]*"):
        try:
            for fd in (pid_dir / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    name = (pid_dir / "comm").read_text().strip()
                    return f"{name} (pid {pid_dir.name})"
        except OSError:
            continue
    return None


def _listening_inodes(port: int, proc: Path) -> set[str]:
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == _LISTEN:
                inodes.add(fields[9])
    return inodes
