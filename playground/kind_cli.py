"""The kind command line: every kind call in the project goes through ``run``."""

from __future__ import annotations

import logging
import shutil
import subprocess

from playground.errors import CommandError, PrerequisiteError

log = logging.getLogger(__name__)

KIND_INSTALL_HINT = (
    "install kind v0.32.0 or later: 'go install sigs.k8s.io/kind@v0.32.0', or download "
    "the release binary from https://kind.sigs.k8s.io/docs/user/quick-start/#installation "
    "and put it on PATH"
)
# Exit codes of a command stopped by SIGINT: 128 + 2 from the command
# itself, -2 as Python reports a child killed by the signal.
_INTERRUPTED = (130, -2)
# Creating a cluster pulls the node image on first use.
CREATE_TIMEOUT = 600.0
DEFAULT_TIMEOUT = 120.0


def require_kind() -> str:
    """Return the path of the kind binary; PrerequisiteError if it is not on PATH."""
    path = shutil.which("kind")
    if path is None:
        raise PrerequisiteError(
            "kind is not installed (no kind command on PATH)", hint=KIND_INSTALL_HINT
        )
    return path


def run(
    args: list[str], *, input_text: str | None = None, timeout: float = DEFAULT_TIMEOUT
) -> str:
    """Run ``kind ARGS`` and return its standard output.

    Raises PrerequisiteError when kind is missing, CommandError (command,
    exit code, output) when it fails or runs longer than ``timeout``
    seconds, and KeyboardInterrupt when Ctrl-C stopped it.
    """
    command = [require_kind(), *args]
    log.debug("running %s", " ".join(command))
    try:
        completed = subprocess.run(
            command,
            input=input_text,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as error:
        output = _text(error.stdout) + _text(error.stderr)
        raise CommandError(
            ["kind", *args], None, f"timed out after {timeout:.0f} s\n{output}"
        ) from error
    if completed.returncode in _INTERRUPTED:
        raise KeyboardInterrupt
    if completed.returncode != 0:
        raise CommandError(
            ["kind", *args], completed.returncode, completed.stdout + completed.stderr
        )
    return completed.stdout


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def clusters() -> list[str]:
    """Return the names of the kind clusters on the Docker engine."""
    return run(["get", "clusters"]).split()


def create_cluster(name: str, config_yaml: str) -> None:
    run(
        ["create", "cluster", "--name", name, "--config", "-", "--wait", "120s"],
        input_text=config_yaml,
        timeout=CREATE_TIMEOUT,
    )


def delete_cluster(name: str) -> None:
    run(["delete", "cluster", "--name", name])


def kubeconfig(name: str) -> str:
    """Return the kubeconfig of cluster ``name``, reaching its API on the host."""
    return run(["get", "kubeconfig", "--name", name])


def load_image(name: str, image: str) -> None:
    """Copy ``image`` from the local engine into every node of cluster ``name``."""
    run(["load", "docker-image", "--name", name, image], timeout=CREATE_TIMEOUT)
