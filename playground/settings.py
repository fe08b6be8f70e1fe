"""One settings object: each value from the command line, then the environment,
then a default."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from playground.errors import ConfigError

DEFAULT_TIMEOUT = 180.0
DEFAULT_BIND_ADDRESS = "127.0.0.1"


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "playground"


def _default_stacks_dir() -> Path:
    package_dir = Path(__file__).resolve().parent
    installed = package_dir / "stacks"
    if installed.is_dir():
        return installed
    return package_dir.parent / "stacks"


def _parse_seconds(text: str | None, default: float) -> float:
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if seconds <= 0:
        raise ConfigError(
            f"invalid PLAYGROUND_TIMEOUT {text!r}: expected a positive number of seconds"
        )
    return seconds


def _check_bind_address(address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise ConfigError(
            f"invalid bind address {address!r}: expected an IP address such as "
            "127.0.0.1 or 0.0.0.0 (from --bind or PLAYGROUND_BIND_ADDRESS)"
        ) from None


@dataclass(frozen=True)
class Settings:
    """Resolved configuration shared by every command."""

    state_dir: Path
    stacks_dir: Path
    image_map: Path | None
    timeout: float
    bind_address: str
    mirror_upstream: str | None = None

    @classmethod
    def resolve(
        cls,
        *,
        image_map: Path | None = None,
        timeout: float | None = None,
        bind_address: str | None = None,
        mirror_upstream: str | None = None,
    ) -> Settings:
        """Build the settings from command-line values, falling back to
        PLAYGROUND_* environment variables and then to defaults."""
        env = os.environ
        if image_map is None and env.get("PLAYGROUND_IMAGE_MAP"):
            image_map = Path(env["PLAYGROUND_IMAGE_MAP"])
        if timeout is None:
            timeout = _parse_seconds(env.get("PLAYGROUND_TIMEOUT"), DEFAULT_TIMEOUT)
        if bind_address is None:
            bind_address = env.get("PLAYGROUND_BIND_ADDRESS", DEFAULT_BIND_ADDRESS)
        if mirror_upstream is None:
            mirror_upstream = env.get("PLAYGROUND_MIRROR_UPSTREAM") or None

        state_dir = Path(env.get("PLAYGROUND_STATE_DIR") or _default_state_dir())
        stacks_dir = Path(env.get("PLAYGROUND_STACKS_DIR") or _default_stacks_dir())
        if state_dir.exists() and not state_dir.is_dir():
            raise ConfigError(
                f"the state directory {state_dir} is not a directory",
                hint="point PLAYGROUND_STATE_DIR at a directory, or remove the file",
            )
        if env.get("PLAYGROUND_STACKS_DIR") and not stacks_dir.expanduser().is_dir():
            raise ConfigError(
                f"PLAYGROUND_STACKS_DIR {stacks_dir} is not a directory",
                hint="point it at a folder of stacks (STACK/compose.yaml), or unset it "
                "to use the stacks shipped with playground",
            )
        _check_bind_address(bind_address)
        return cls(
            state_dir=state_dir.expanduser(),
            stacks_dir=stacks_dir.expanduser(),
            image_map=image_map.expanduser() if image_map else None,
            timeout=timeout,
            bind_address=bind_address,
            mirror_upstream=mirror_upstream,
        )

    def stack_state_dir(self, stack_name: str) -> Path:
        """Return the per-stack folder for credentials and rendered files."""
        return self.state_dir / "stacks" / stack_name
