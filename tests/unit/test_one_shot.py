"""Services that run once and exit (Compose's service_completed_successfully):
how readiness and the Compose backend judge them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from playground.backends import ServiceState
from playground.backends.compose import SERVICE_LABEL, _settled
from playground.readiness import evaluate
from playground.stack import parse_stack

STACK_TEXT = """
services:
  init:
    image: busybox:1
  app:
    image: busybox:1
    depends_on:
      init:
        condition: service_completed_successfully
"""


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(STACK_TEXT)
    return parse_stack(path, "demo")


def states(init: ServiceState) -> dict[str, ServiceState]:
    return {"init": init, "app": ServiceState("app", "running")}


def test_one_shot_found_by_condition(stack):
    assert stack.one_shot_services == {"init"}


def test_exit_code_zero_ready(stack):
    init = ServiceState("init", "exited", detail="container x is exited (exit code 0)",
                        exit_code=0)
    reports = evaluate(stack, states(init), {})
    assert reports[0].ok
    assert reports[0].summary == "completed (exit code 0)"
    assert reports[1].ok


def test_nonzero_exit_fatal(stack):
    init = ServiceState("init", "exited", detail="container x is exited (exit code 1)",
                        exit_code=1)
    report = evaluate(stack, states(init), {})[0]
    assert not report.ok
    assert report.fatal
    assert "must exit with code 0" in report.summary


def test_still_running_waits(stack):
    report = evaluate(stack, states(ServiceState("init", "running")), {})[0]
    assert not report.ok
    assert not report.fatal
    assert report.summary == "running, runs once"


def container(service: str, status: str, exit_code: int = 0):
    return SimpleNamespace(
        state=SimpleNamespace(running=status == "running", status=status, exit_code=exit_code),
        config=SimpleNamespace(labels={SERVICE_LABEL: service}),
    )


def test_completed_one_shot_counts_as_settled(stack):
    assert _settled(container("init", "exited", 0), stack)
    assert not _settled(container("init", "exited", 1), stack)
    assert not _settled(container("app", "exited", 0), stack)
    assert _settled(container("app", "running"), stack)
