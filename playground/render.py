"""All terminal output: progress and messages on stderr, tables and JSON on stdout.

Rich is imported on first use, so commands that print nothing stay fast.
"""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from typing import TYPE_CHECKING, Any

PIPE_WIDTH = 120

if TYPE_CHECKING:
    from rich.console import Console

    from playground.backends import Endpoint, ServiceState
    from playground.errors import PlaygroundError
    from playground.lifecycle import StackReport
    from playground.mirror import Mirror, ServedImage
    from playground.readiness import ServiceReport
    from playground.stack import Stack


@cache
def _console(stderr: bool) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Rich assumes 80 columns when output is not a terminal; tables of
    # endpoints and verdicts need more, and COLUMNS still wins if set.
    width = None if stream.isatty() or "COLUMNS" in os.environ else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=width)


def info(message: str) -> None:
    # Plain text on purpose: loading Rich for one line would cost more than
    # a fast command such as ``down`` spends on its own work.
    print(message, file=sys.stderr, flush=True)


def warning(message: str) -> None:
    _console(True).print(f"[yellow]warning:[/] {message}")


def error(failure: PlaygroundError) -> None:
    from rich.markup import escape

    console = _console(True)
    console.print(f"[bold red]error:[/] {escape(failure.message)}")
    if failure.details:
        console.print(escape(failure.details), style="dim")
    if failure.hint:
        console.print(f"[cyan]hint:[/] {escape(failure.hint)}")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")
    sys.stdout.flush()


def print_text(text: str) -> None:
    """Print a document (``export``'s YAML) on stdout as it is."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    sys.stdout.flush()


class WaitDisplay:
    """Progress while a stack comes up: a live status line on a terminal, one
    line per change of a service's state elsewhere."""

    def __init__(self, stack_name: str):
        self.stack_name = stack_name
        self.console = _console(True)
        self.status = None
        self.last_seen: dict[str, str] = {}

    def __enter__(self) -> WaitDisplay:
        if self.console.is_terminal:
            self.status = self.console.status(f"starting {self.stack_name}")
            self.status.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.status is not None:
            self.status.__exit__(*exc_info)

    def __call__(self, reports: list[ServiceReport], elapsed: float) -> None:
        pending = [report for report in reports if not report.ok]
        if self.status is not None:
            waiting = ", ".join(f"{r.service} ({r.summary})" for r in pending)
            self.status.update(f"{elapsed:4.0f} s  waiting for {waiting}"[:200])
            return
        for report in reports:
            line = "ready" if report.ok else report.summary
            if self.last_seen.get(report.service) != line:
                self.last_seen[report.service] = line
                self.console.print(f"{elapsed:5.1f} s  {report.service}: {line}")


def endpoint_text(stack: Stack, endpoint: Endpoint) -> str:
    """Return a URL for HTTP endpoints, ``host:port`` for the others."""
    is_http = any(
        check.kind in ("http", "registry", "harbor") and check.port == endpoint.container_port
        for check in stack.checks
    )
    return f"http://{endpoint.address}" if is_http else endpoint.address


def report_data(report: StackReport) -> dict[str, Any]:
    return {
        "stack": report.stack.name,
        "backend": report.backend,
        "healthy": report.healthy,
        "services": [_service_data(report.stack, service) for service in report.services],
    }


def _service_data(stack: Stack, service: ServiceReport) -> dict[str, Any]:
    state = service.state
    return {
        "service": service.service,
        "status": state.status if state else "missing",
        "health": state.health if state else None,
        "endpoints": [endpoint_text(stack, e) for e in state.endpoints] if state else [],
        "ok": service.ok,
        "summary": service.summary,
        "checks": [
            {"check": verdict.check, "ok": verdict.ok, "detail": verdict.detail}
            for verdict in service.verdicts
        ],
    }


def print_report(report: StackReport) -> None:
    from rich.table import Table

    table = Table(title=f"{report.stack.name} on {report.backend}", title_justify="left")
    table.add_column("service")
    table.add_column("state", no_wrap=True)
    table.add_column("endpoints", no_wrap=True)
    table.add_column("verdict", no_wrap=True, min_width=7)
    table.add_column("detail")
    for service in report.services:
        data = _service_data(report.stack, service)
        state = data["status"] + _health_suffix(data["health"])
        verdict = "[green]pass[/]" if service.ok else "[red]FAIL[/]"
        detail = service.summary
        if service.ok and service.verdicts:
            detail = "\n".join(v.detail for v in service.verdicts)
        table.add_row(service.service, state, "\n".join(data["endpoints"]), verdict, detail)
    _console(False).print(table)


def print_evidence(report: StackReport) -> None:
    """Print on stderr what failed checks collected, such as a sink's last lines."""
    for service in report.services:
        for verdict in service.verdicts:
            if verdict.evidence and not verdict.ok:
                info(verdict.evidence)


def served_data(mirror: Mirror, served: list[ServedImage]) -> dict[str, Any]:
    """Return which images a mirror served during ``up``, as JSON data."""
    return {
        "stack": mirror.stack,
        "address": mirror.address,
        "images": [
            {
                "image": row.reference,
                "source": row.source,
                "served": row.served,
                "blobs": row.blobs,
                "bytes": row.size,
            }
            for row in served
        ],
    }


def print_served(mirror: Mirror, served: list[ServedImage]) -> None:
    """Print a table of the images pulled through a mirror and their source."""
    from rich.table import Table

    from playground.registry import format_size

    count = sum(row.served for row in served)
    table = Table(title=f"images through the mirror at {mirror.address}: {count} served")
    table.add_column("image")
    table.add_column("source")
    table.add_column("blobs sent", justify="right")
    for row in served:
        sent = f"{row.blobs} ({format_size(row.size)})" if row.blobs else "-"
        table.add_row(row.reference, row.source, sent)
    _console(False).print(table)


def print_findings(findings: list) -> None:
    """Print the doctor's findings, one line each, with the fix under a problem."""
    from rich.markup import escape

    styles = {"ok": "green", "warning": "yellow", "failed": "bold red", "skipped": "dim"}
    console = _console(False)
    width = max(len(finding.check) for finding in findings)
    for finding in findings:
        style = styles.get(finding.verdict, "")
        console.print(
            f"[{style}]{finding.verdict:<8}[/] {finding.check:<{width}}  "
            f"{escape(finding.detail)}"
        )
        if finding.fix and finding.verdict in ("warning", "failed"):
            console.print(f"{'':<8} {'':<{width}}  [cyan]fix:[/] {escape(finding.fix)}")


def print_stacks(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    table = Table()
    for column in ("stack", "description", "services", "backends"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"], row["description"], ", ".join(row["services"]), ", ".join(row["backends"])
        )
    _console(False).print(table)


def status_data(
    deployed: dict[str, dict[str, dict[str, ServiceState]]],
    stacks: dict[str, Stack],
    reports: dict[tuple[str, str], StackReport] | None = None,
) -> list[dict]:
    """Flatten ``{backend: {stack: {service: state}}}`` into JSON rows.

    ``stacks`` are the known definitions by name, which turn HTTP endpoints
    into URLs; ``reports`` are check results by (stack, backend), if run.
    """
    rows = []
    for backend, found in deployed.items():
        for name, services in found.items():
            stack = stacks.get(name)
            report = (reports or {}).get((name, backend))
            verdicts = {s.service: s for s in report.services} if report else {}
            rows.append(
                {
                    "stack": name,
                    # What names the stack in a command: a user's file path.
                    "argument": stack.command_name if stack else name,
                    "backend": backend,
                    "healthy": report.healthy if report else None,
                    "services": [
                        {
                            "service": service,
                            "status": state.status,
                            "health": state.health,
                            "last_probe": state.probe or None,
                            "endpoints": [
                                endpoint_text(stack, e) if stack else e.address
                                for e in state.endpoints
                            ],
                            "check": _verdict_text(verdicts.get(service)) if report else None,
                        }
                        for service, state in sorted(services.items())
                    ],
                }
            )
    return rows


def _verdict_text(service: ServiceReport | None) -> str:
    if service is None:
        return "no check"
    if service.ok:
        return "pass"
    failed = [verdict.detail for verdict in service.verdicts if not verdict.ok]
    return "FAIL: " + ("; ".join(failed) or service.summary)


def print_status(rows: list[dict[str, Any]]) -> None:
    from rich.table import Table

    if not rows:
        info("no playground stack is up")
        return
    checked = any(row["healthy"] is not None for row in rows)
    columns = ["stack", "backend", "service", "state", "endpoints", "last probe"]
    table = Table()
    for column in columns + (["check"] if checked else []):
        # A user's stack is named by its file's path, which must stay whole.
        table.add_column(column, overflow="fold" if column == "stack" else "ellipsis")
    for row in rows:
        for service in row["services"]:
            cells = [
                row["argument"],
                row["backend"],
                service["service"],
                service["status"] + _health_suffix(service["health"]),
                ", ".join(service["endpoints"]),
                service["last_probe"] or "-",
            ]
            if checked:
                cells.append(service["check"] or "-")
            table.add_row(*cells)
    _console(False).print(table)


def _health_suffix(health: str | None) -> str:
    """Return Docker's health status as shown after a state."""
    if health is None:
        return ""
    return " (healthy)" if health == "healthy" else f" (health: {health})"
