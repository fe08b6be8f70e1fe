"""The logging stack's Fluentd configuration for Kubernetes, read against
the kubelet's log file names and the CRI log format."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

from playground.imagemap import ImageMap
from playground.manifests import render_objects
from playground.stack import load_stack
from tests.unit.test_logging_stack import parse_fluentd, tag_matches

STACKS = Path(__file__).resolve().parents[2] / "stacks"
NAMESPACE = "playground-logging"
# A record as the kubelet writes it: time, stream, partial/full tag, message.
CRI_LINE = (
    "2026-12-04T14:00:00.123456789Z stdout F 10.244.0.1 - - [04/Dec/2026:14:00:00 "
    '+0000] "GET /?playground-marker-0123 HTTP/1.1" 200 615 "-" "playground-check"'
)


def config_text() -> str:
    return (STACKS / "logging" / "fluent-kubernetes.conf").read_text()


def tail_source() -> dict:
    sources = [s for s in parse_fluentd(config_text()) if s["name"] == "source"]
    return next(s for s in sources if s["params"]["@type"] == "tail")


def tail_path() -> str:
    """Return the tail path with the namespace that the DaemonSet sets.

    Read from the raw text, since the test parser drops everything after a
    '#', which here starts Fluentd's embedded Ruby."""
    path = re.search(r'^\s*path "([^"]+)"', config_text(), re.MULTILINE)[1]
    return path.replace("#{ENV['STACK_NAMESPACE']}", NAMESPACE)


def test_tail_reads_web_container_log():
    name = f"/var/log/containers/web-5d8f7c-x2k4q_{NAMESPACE}_web-0123abcd.log"
    assert fnmatch.fnmatch(name, tail_path())


def test_tail_skips_fluentd_own_log():
    name = f"/var/log/containers/fluentd-7xk2p_{NAMESPACE}_fluentd-4567ef.log"
    assert not fnmatch.fnmatch(name, tail_path())


def test_tail_skips_other_namespaces():
    name = "/var/log/containers/web-5d8f7c-x2k4q_playground-web_web-0123abcd.log"
    assert not fnmatch.fnmatch(name, tail_path())


def test_tail_tag_reaches_stdout_output():
    source = tail_source()
    matches = [
        s
        for s in parse_fluentd(config_text())
        if s["name"] == "match" and tag_matches(s["arg"], source["params"]["tag"])
    ]
    assert matches
    assert matches[0]["params"]["@type"] == "stdout"
    buffers = [s for s in matches[0]["sections"] if s["name"] == "buffer"]
    assert buffers[0]["params"]["flush_mode"] == "immediate"


def test_parse_expression_keeps_marker():
    parse = next(s for s in tail_source()["sections"] if s["name"] == "parse")
    ruby = parse["params"]["expression"].strip("/")
    expression = re.compile(ruby.replace("(?<", "(?P<"))
    match = expression.match(CRI_LINE)
    assert match is not None
    assert match["stream"] == "stdout"
    assert "playground-marker-0123" in match["log"]


def test_positions_on_writable_volume():
    objects = render_objects(load_stack("logging", STACKS), ImageMap(), backend="kind")
    fluentd = objects.workload("fluentd")
    container = fluentd["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    position_dir = str(Path(tail_source()["params"]["pos_file"]).parent)
    assert position_dir in mounts
    assert not mounts[position_dir].get("readOnly")


def test_daemonset_sets_namespace_variable():
    objects = render_objects(load_stack("logging", STACKS), ImageMap(), backend="kind")
    container = objects.workload("fluentd")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    field = env["STACK_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert field == "metadata.namespace"
