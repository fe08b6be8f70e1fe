
import pytest

from playground.backends import Endpoint, ServiceState
from playground.check import Verdict
from playground.errors import Unhealthy, WaitTimeout
from playground.readiness import check_stack, evaluate, wait_until_ready
from playground.stack import parse_stack

STACK_TEXT = """
services:
  web:
    image: nginx:1
    ports: ["8080:8080"]
  worker:
    image: busybox:1
x-playground:
  checks:
    - service: web
      http: {port: 8080}
"""


@pytest.fixture
def http_port(local_http):
    return local_http.port


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(STACK_TEXT)
    return parse_stack(path, "demo")


class FakeBackend:
    name = "fake"

    def __init__(self, sequence):
        self.sequence = list(sequence)
        self.calls = 0

    def states(self, stack):
        index = min(self.calls, len(self.sequence) - 1)
        self.calls += 1
        return self.sequence[index]

    def logs(self, stack, service, tail):
        return f"{service} log line"


def running(port, **overrides):
    web = ServiceState("web", "running", endpoints=[Endpoint(8080, "127.0.0.1", port)],
                       instance_ids=["w1"])
    worker = ServiceState("worker", "running", instance_ids=["k1"])
    states = {"web": web, "worker": worker}
    for name, fields in overrides.items():
        for key, value in fields.items():
            setattr(states[name], key, value)
    return states


def test_all_ready(stack, http_port):
    reports = evaluate(stack, running(http_port), {})
    assert [r.ok for r in reports] == [True, True]
    assert reports[0].verdicts[0].detail.startswith("HTTP 200")


def test_wrong_status_fails(stack, http_port, local_http):
    local_http.handler.status = 503
    reports = evaluate(stack, running(http_port), {})
    assert not reports[0].ok
    assert "HTTP 503" in reports[0].summary
    assert "expected 200" in reports[0].summary


def test_missing_container_fails(stack, http_port):
    states = running(http_port)
    del states["worker"]
    reports = evaluate(stack, states, {})
    assert not reports[1].ok
    assert reports[1].summary == "no container"


def test_health_starting_without_checks_waits(stack, http_port):
    reports = evaluate(stack, running(http_port, worker={"health": "starting"}), {})
    assert not reports[1].ok
    assert not reports[1].fatal


def test_wait_returns_once_ready(stack, http_port):
    backend = FakeBackend(
        [running(http_port, web={"status": "created"}), running(http_port)]
    )
    seen = []
    reports = wait_until_ready(stack, backend, {}, timeout=5, progress=lambda r, e: seen.append(r))
    assert all(r.ok for r in reports)
    assert len(seen) == 2


def test_exited_container_fails_fast_with_logs(stack, http_port):
    exited = running(
        http_port, worker={"status": "exited", "detail": "container w is exited (exit code 3)"}
    )
    with pytest.raises(Unhealthy) as raised:
        wait_until_ready(stack, FakeBackend([exited]), {}, timeout=30)
    assert "service worker" in raised.value.message
    assert "exit code 3" in raised.value.message
    assert "worker log line" in raised.value.details


def test_timeout_reports_awaited_state_and_logs(stack):
    closed_port = 1  # nothing listens on port 1 of the loopback address
    with pytest.raises(WaitTimeout) as raised:
        wait_until_ready(stack, FakeBackend([running(closed_port)]), {}, timeout=0.3)
    message = raised.value.message
    assert "timed out after 0 s" in message
    assert "service web (running)" in message
    assert "no HTTP answer" in message
    assert "last 20 log lines of web" in raised.value.details


def test_fatal_verdict_stops_wait(stack, http_port, monkeypatch):
    def denied(check, host, port, password=None, timeout=2.0, read_logs=None):
        return Verdict(check.service, "x", False, "access denied", fatal=True)

    monkeypatch.setattr("playground.readiness.probe", denied)
    with pytest.raises(Unhealthy) as raised:
        wait_until_ready(stack, FakeBackend([running(http_port)]), {}, timeout=30)
    assert "access denied" in raised.value.message


def test_check_stack_runs_once(stack, http_port):
    backend = FakeBackend([running(http_port, worker={"status": "exited"})])
    reports = check_stack(stack, backend, {})
    assert backend.calls == 1
    assert [r.ok for r in reports] == [True, False]


def test_fatal_check_while_starting_stops_wait(stack, http_port, monkeypatch):
    def denied(check, host, port, password=None, timeout=2.0, read_logs=None):
        return Verdict(check.service, "x", False, "access denied", fatal=True)

    monkeypatch.setattr("playground.readiness.probe", denied)
    starting = running(http_port, web={"status": "starting", "detail": "0/1 tasks running"})
    with pytest.raises(Unhealthy) as raised:
        wait_until_ready(stack, FakeBackend([starting]), {}, timeout=30)
    assert "access denied" in raised.value.message
