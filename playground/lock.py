"""One command at a time per stack: ``up`` and ``down`` of the same stack
from two terminals must not both act.

The lock is an advisory ``flock`` on a file in the state folder, so the
kernel releases it when the holder exits, also after a crash or kill -9,
and no lock is ever left stale. The file records the holder for the
message that the second command prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playground.errors import StackBusy


def lock_path(state_dir: Path, stack_name: str) -> Path:
    return state_dir / "locks" / f"{stack_name}.lock"


@contextmanager
def stack_lock(state_dir: Path, stack_name: str) -> Iterator[None]:
    """Hold the lock of ``stack_name`` for the duration of the block.

    Raises StackBusy, naming the process that holds it, without waiting.
    """
    path = lock_path(state_dir, stack_name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackBusy(
                f"stack {stack_name} is busy: {describe_holder(path)}",
                hint="wait for that command to finish, or stop it with Ctrl-C",
            ) from None
        _write_holder(descriptor)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
    finally:
        # Closing the descriptor releases the lock.
        os.close(descriptor)


def _write_holder(descriptor: int) -> None:
    holder = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(["playground", *sys.argv[1:]]),
        "since": time.time(),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, json.dumps(holder).encode(), 0)


def describe_holder(path: Path) -> str:
    """Return who holds the lock at ``path``, as recorded by the holder."""
    try:
        holder = json.loads(path.read_text())
        seconds = max(time.time() - float(holder["since"]), 0.0)
        return (
            f"'{holder['command']}' (process {holder['pid']} on {holder['host']}) "
            f"has been running it for {seconds:.0f} s"
        )
    except (OSError, ValueError, KeyError, TypeError):
        return "another playground command is working on it"
