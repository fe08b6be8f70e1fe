"""Readiness: decide from backend state and health checks whether a stack works.

A service is ready when it runs, its container health check (if any) does not
report unhealthy, and every playground check of the service passes through its
published port. Services without playground checks are ready once their
container health check reports healthy, or once they run if they have none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from playground.backends import Backend, ServiceState
from playground.check import LogReader, Verdict, describe, probe
from playground.errors import Unhealthy, WaitTimeout
from playground.stack import HealthCheck, Stack

POLL_INTERVAL = 0.25
LOG_TAIL = 20
# Lines of a sink's output searched for a log_pipeline check's marker.
LOG_SEARCH_LINES = 200


@dataclass
class ServiceReport:
    """One service's state and check verdicts at one moment."""

    service: str
    state: ServiceState | None
    verdicts: list[Verdict] = field(default_factory=list)
    ok: bool = False
    fatal: bool = False
    summary: str = ""


Progress = Callable[[list[ServiceReport], float], None]


def evaluate(
    stack: Stack,
    states: dict[str, ServiceState],
    passwords: dict[str, str | None],
    passed: dict[tuple[str, str], Verdict] | None = None,
    services: list[str] | None = None,
    read_logs: LogReader | None = None,
) -> list[ServiceReport]:
    """Probe every service in ``services`` (default: all) once; checks already
    in ``passed`` are not re-run. Other services are reported as waiting."""
    reports = []
    for service in stack.services:
        if services is None or service in services:
            reports.append(
                _evaluate_service(
                    stack, service, states.get(service), passwords, passed, read_logs
                )
            )
        else:
            reports.append(
                ServiceReport(
                    service,
                    states.get(service),
                    summary="waiting until the services it depends on are healthy",
                )
            )
    return reports


def _evaluate_service(
    stack: Stack,
    service: str,
    state: ServiceState | None,
    passwords: dict[str, str | None],
    passed: dict[tuple[str, str], Verdict] | None,
    read_logs: LogReader | None,
) -> ServiceReport:
    report = ServiceReport(service, state)
    if state is None or state.status == "missing":
        report.summary = "no container"
        report.fatal = True
        return report
    if service in stack.one_shot_services:
        return _one_shot_report(report, state)
    if not state.running:
        report.summary = state.detail or state.status
        report.fatal = state.stopped_for_good
        if state.status == "starting":
            _find_fatal_while_starting(stack, service, state, passwords, report, read_logs)
        return report
    if state.health == "unhealthy":
        report.summary = "container health check reports unhealthy" + _probe_text(state)
        report.fatal = True
        return report

    checks = stack.checks_for(service)
    for check in checks:
        report.verdicts.append(_run_check(check, state, passwords, passed, read_logs))
    failed = [verdict for verdict in report.verdicts if not verdict.ok]

    if failed:
        report.summary = failed[0].detail
        report.fatal = any(verdict.fatal for verdict in failed)
    elif not checks and state.health not in (None, "healthy"):
        report.summary = f"container health: {state.health}" + _probe_text(state)
    else:
        report.ok = True
        report.summary = "; ".join(v.detail for v in report.verdicts) or _running(state)
    return report


def _probe_text(state: ServiceState) -> str:
    """Return the last result of Docker's health probe, to follow a summary."""
    return f"; last probe: {state.probe}" if state.probe else ""


def _one_shot_report(report: ServiceReport, state: ServiceState) -> ServiceReport:
    """Judge a service that runs once: ready when it exited with code 0."""
    if state.status != "exited":
        report.summary = state.detail or f"{state.status}, runs once"
        report.fatal = state.status in ("dead", "crash-looping")
        return report
    if state.exit_code != 0:
        report.summary = f"{state.detail}; it runs once and must exit with code 0"
        report.fatal = True
        return report
    report.ok = True
    report.summary = "completed (exit code 0)"
    return report


def _find_fatal_while_starting(
    stack: Stack,
    service: str,
    state: ServiceState,
    passwords: dict[str, str | None],
    report: ServiceReport,
    read_logs: LogReader | None,
) -> None:
    """Probe a service whose container runs but is not yet reported healthy,
    so a failure that waiting cannot cure (a rejected password) ends the wait
    now instead of at the timeout."""
    for check in stack.checks_for(service):
        if check.kind == "log_pipeline":
            continue
        verdict = _run_check(check, state, passwords, None, read_logs)
        if verdict.fatal:
            report.summary = verdict.detail
            report.fatal = True
            return


def _running(state: ServiceState) -> str:
    return "running, healthy" if state.health == "healthy" else "running"


def _run_check(
    check: HealthCheck,
    state: ServiceState,
    passwords: dict[str, str | None],
    passed: dict[tuple[str, str], Verdict] | None,
    read_logs: LogReader | None,
) -> Verdict:
    key = (check.service, describe(check))
    if passed is not None and key in passed:
        return passed[key]

    endpoint = state.endpoint(check.port)
    if endpoint is None:
        return Verdict(
            check.service,
            describe(check),
            False,
            f"container port {check.port} is not published on the host",
            fatal=True,
        )
    password = passwords.get(check.password_secret) if check.password_secret else None
    verdict = probe(check, endpoint.host, endpoint.port, password, read_logs=read_logs)
    if verdict.ok and passed is not None:
        passed[key] = verdict
    return verdict


def check_stack(
    stack: Stack, backend: Backend, passwords: dict[str, str | None]
) -> list[ServiceReport]:
    """Run every check once, without waiting."""
    return evaluate(
        stack, backend.states(stack), passwords, read_logs=_log_reader(stack, backend)
    )


def wait_until_ready(
    stack: Stack,
    backend: Backend,
    passwords: dict[str, str | None],
    timeout: float,
    progress: Progress | None = None,
    services: list[str] | None = None,
    limit: float | None = None,
) -> list[ServiceReport]:
    """Poll until every service in ``services`` (default: all) is ready.

    Raises Unhealthy as soon as a failure cannot cure itself, such as a
    container that exited or a rejected password. Raises WaitTimeout after
    ``timeout`` seconds. Both carry the last log lines of the services
    concerned.
    """
    started = time.monotonic()
    passed: dict[tuple[str, str], Verdict] = {}
    while True:
        reports = evaluate(
            stack, backend.states(stack), passwords, passed, services, _log_reader(stack, backend)
        )
        elapsed = time.monotonic() - started
        if progress:
            progress(reports, elapsed)
        gated = [r for r in reports if services is None or r.service in services]
        if all(report.ok for report in gated):
            return reports

        fatal = [report for report in gated if report.fatal]
        if fatal:
            raise Unhealthy(
                _failure_message(stack, fatal),
                hint="after fixing the cause, run the same up command again",
                details=_log_tails(stack, backend, fatal),
            )
        if elapsed >= timeout:
            pending = [report for report in gated if not report.ok]
            raise WaitTimeout(
                f"timed out after {limit or timeout:.0f} s waiting for {stack.name} to be "
                "ready; "
                + _failure_message(stack, pending),
                hint="raise the limit with --timeout or PLAYGROUND_TIMEOUT if the "
                "machine is slow, or read the log lines above",
                details=_log_tails(stack, backend, pending),
            )
        time.sleep(POLL_INTERVAL)


def _log_reader(stack: Stack, backend: Backend) -> LogReader:
    return lambda service: backend.logs(stack, service, LOG_SEARCH_LINES)


def _failure_message(stack: Stack, reports: list[ServiceReport]) -> str:
    parts = []
    for report in reports:
        state = report.state
        seen = f"{state.status}, health {state.health}" if state and state.health else (
            state.status if state else "no container"
        )
        parts.append(f"service {report.service} ({seen}): {report.summary}")
    return "; ".join(parts)


def _log_tails(stack: Stack, backend: Backend, reports: list[ServiceReport]) -> str:
    sections = []
    for report in reports:
        if report.state is None:
            continue
        lines = backend.logs(stack, report.service, LOG_TAIL).rstrip()
        sections.append(f"last {LOG_TAIL} log lines of {report.service}:\n{lines or '(none)'}")
        sections += [v.evidence for v in report.verdicts if v.evidence and not v.ok]
    return "\n\n".join(sections)
