import socket

import pytest

from playground.check import probe
from playground.stack import HealthCheck

@pytest.fixture
def http_port(local_http):
    return local_http.port


def pipeline(within=0.5):
    return HealthCheck("web", "log_pipeline", 8080, sink="fluentd", within=within)


def test_tcp_probe_open_and_closed(http_port):
    check = HealthCheck("fluentd", "tcp", 24224)
    assert probe(check, "127.0.0.1", http_port).ok
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    verdict = probe(check, "127.0.0.1", closed)
    assert not verdict.ok
    assert "no TCP connection" in verdict.detail


def test_log_pipeline_finds_marker(local_http):
    paths = local_http.paths
    verdict = probe(pipeline(), "127.0.0.1", local_http.port, read_logs=lambda s: " ".join(paths))
    assert verdict.ok, verdict.detail
    assert paths[0].startswith("/?playground-marker-")
    assert verdict.detail.startswith("record reached fluentd")


def test_log_pipeline_reports_missing_record(http_port):
    reads = []

    def read_logs(service):
        reads.append(service)
        return "older line\nunrelated line"

    verdict = probe(pipeline(within=0.3), "127.0.0.1", http_port, read_logs=read_logs)
    assert not verdict.ok
    assert "web answered, but no record with marker" in verdict.detail
    assert "within 0 s" not in verdict.detail
    assert verdict.evidence.startswith("last lines of fluentd:")
    assert "unrelated line" in verdict.evidence
    assert set(reads) == {"fluentd"}


def test_log_pipeline_names_silent_service():
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = unused.getsockname()[1]
    verdict = probe(pipeline(), "127.0.0.1", closed, read_logs=lambda s: "")
    assert not verdict.ok
    assert verdict.detail.startswith("web did not answer")
