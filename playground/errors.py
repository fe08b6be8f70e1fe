"""Project exceptions; each carries the exit code the CLI returns for it."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# 128 + SIGTERM, as shells report a process ended by it.
EXIT_TERMINATED = 143


class PlaygroundError(Exception):
    """A foreseeable failure, shown to the user without a traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None, details: str = ""):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details


class UsageError(PlaygroundError):
    """An unknown stack or backend, or arguments that do not fit together."""

    exit_code = EXIT_USAGE


class ConfigError(PlaygroundError):
    """A malformed stack definition, Compose file or image map."""

    exit_code = EXIT_USAGE


class PrerequisiteError(PlaygroundError):
    """Something the machine must provide first: an engine, a plugin, a free port."""

    exit_code = EXIT_USAGE


class CommandError(PlaygroundError):
    """An outside command that failed, with its command line, exit code and output."""

    def __init__(
        self,
        command: list[str],
        exit_code: int | None,
        output: str,
        *,
        hint: str | None = None,
    ):
        message = f"command failed with exit code {exit_code}: {' '.join(command)}"
        super().__init__(message, hint=hint, details=output.strip())
        self.command = command
        self.returncode = exit_code
        self.output = output


class WaitTimeout(PlaygroundError):
    """A wait that ran out of time, with what it awaited and the state seen last."""


class Unhealthy(PlaygroundError):
    """A stack whose services or health checks failed."""


class HttpError(PlaygroundError):
    """An HTTP API that returned an error status, with the request's method
    and path, the status and the start of the response body."""

    def __init__(
        self, method: str, path: str, status: int, body: str, *, hint: str | None = None
    ):
        message = f"{method} {path} returned HTTP {status}"
        super().__init__(message, hint=hint, details=body[:500].strip())
        self.method = method
        self.path = path
        self.status = status
        self.body = body


class StackBusy(PlaygroundError):
    """Another playground command is bringing the same stack up or down."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that the same clean-up runs: child
    processes are stopped and the next command finishes the job."""
