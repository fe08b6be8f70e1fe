"""Generated credentials: created on a stack's first ``up``, reused after.

Each secret is one file, mode 0600, in a 0700 folder of the user's state
directory. Backends hand the files to the containers as Compose file
secrets or Swarm secrets. No other copy is kept.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

PASSWORD_BYTES = 24


def secrets_dir(stack_state_dir: Path) -> Path:
    return stack_state_dir / "secrets"


def ensure_secrets(stack_state_dir: Path, names: list[str]) -> dict[str, Path]:
    """Create the missing secret files and return the path of each one."""
    folder = secrets_dir(stack_state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(folder, 0o700)

    return {name: ensure_secret(stack_state_dir, name, generate_password) for name in names}


def ensure_secret(stack_state_dir: Path, name: str, generate: Callable[[], str]) -> Path:
    """Create the secret file ``name`` from ``generate()`` unless it exists,
    and return its path. For values whose form another program fixes, such
    as a key of exactly 16 characters or a PEM-encoded private key."""
    folder = secrets_dir(stack_state_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    if not path.exists():
        _write_private(path, generate())
    return path


def generate_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def read_secret(stack_state_dir: Path, name: str) -> str | None:
    """Return a stored secret, or None if it was never generated."""
    try:
        return (secrets_dir(stack_state_dir) / name).read_text().strip()
    except FileNotFoundError:
        return None


def _write_private(path: Path, value: str) -> None:
    # O_EXCL: a concurrent writer must not see a half-written file or replace it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(value)
