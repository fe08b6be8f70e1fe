"""Command actions, independent of the backend and of the terminal."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.backends import Backend, UpResult
from playground.credentials import ensure_secrets, read_secret
from playground.errors import Unhealthy
from playground.readiness import Progress, ServiceReport, check_stack, wait_until_ready
from playground.settings import Settings
from playground.setup import setup_action
from playground.stack import Stack


@dataclass
class StackReport:
    """A stack's services and verdicts on one backend."""

    stack: Stack
    backend: str
    services: list[ServiceReport] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    setup: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return bool(self.services) and all(service.ok for service in self.services)


def up(
    stack: Stack,
    backend: Backend,
    settings: Settings,
    progress: Progress | None = None,
    notify: Callable[[str], None] | None = None,
) -> tuple[UpResult, StackReport]:
    """Bring ``stack`` up and wait until every service is proven ready.

    Services start in the backend's phases: each phase is deployed, with
    later services held back, and must be ready before the next one starts.
    A stack's setup action (``x-playground.setup``) prepares files before
    the first phase and configures the stack once all are ready. The checks
    then run again, because they may prove what the setup configured.
    """
    stack.require_backend(
        backend.name, hint=f"run: playground up {stack.command_name} --on {stack.backends[0]}"
    )
    action = setup_action(stack)
    if action is not None:
        stack = action.prepare(stack, backend.name, settings)
    state_dir = settings.stack_state_dir(stack.name)
    secret_files = ensure_secrets(state_dir, stack.generated_secrets)
    known = passwords(stack, settings)
    deadline = time.monotonic() + settings.timeout

    total = UpResult(changed=False)
    started: list[str] = []
    for phase in backend.phases(stack):
        started += phase
        held = frozenset(s for s in stack.services if s not in started)
        result = backend.up(stack, secret_files, held=held)
        total.changed |= result.changed
        for note in result.notes:
            if note not in total.notes:
                total.notes.append(note)
                if notify:
                    notify(note)
        remaining = max(deadline - time.monotonic(), 0.0)
        reports = wait_until_ready(
            stack, backend, known, remaining, progress, list(started), limit=settings.timeout
        )

    setup_lines: list[str] = []
    if action is not None:
        setup_lines = action.configure(stack, backend, settings)
        remaining = max(deadline - time.monotonic(), 0.0)
        reports = wait_until_ready(
            stack, backend, known, remaining, progress, limit=settings.timeout
        )
    return total, StackReport(stack, backend.name, reports, total.notes, setup_lines)


def check(stack: Stack, backend: Backend, settings: Settings) -> StackReport:
    """Run the stack's checks once. Raises Unhealthy if it is not up at all."""
    reports = check_stack(stack, backend, passwords(stack, settings))
    if all(report.state is None for report in reports):
        raise Unhealthy(
            f"stack {stack.name} is not up on {backend.name}",
            hint=f"run 'playground up {stack.command_name} --on {backend.name}'",
        )
    return StackReport(stack, backend.name, reports)


def passwords(stack: Stack, settings: Settings) -> dict[str, str | None]:
    state_dir = settings.stack_state_dir(stack.name)
    return {name: read_secret(state_dir, name) for name in stack.generated_secrets}
