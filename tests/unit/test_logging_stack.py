"""The logging stack's shipped Fluentd configuration, read as Fluentd would."""

from __future__ import annotations

import re
from pathlib import Path

from playground.stack import load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def parse_fluentd(text: str) -> list[dict]:
    """Parse Fluentd's config syntax into nested sections:
    {"name", "arg", "params", "sections"}."""
    root = {"name": "ROOT", "arg": "", "params": {}, "sections": []}
    stack = [root]
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        closing = re.fullmatch(r"</(\w+)>", line)
        opening = re.fullmatch(r"<(\w+)\s*([^>]*)>", line)
        if closing:
            assert stack[-1]["name"] == closing[1], f"unbalanced </{closing[1]}>"
            stack.pop()
        elif opening:
            section = {"name": opening[1], "arg": opening[2].strip(), "params": {}, "sections": []}
            stack[-1]["sections"].append(section)
            stack.append(section)
        else:
            key, _, value = line.partition(" ")
            stack[-1]["params"][key] = value.strip()
    assert stack == [root], "unclosed section"
    return root["sections"]


def tag_matches(pattern: str, tag: str) -> bool:
    """Match a tag against a Fluentd <match> pattern (*, **, {a,b}, several
    patterns separated by spaces)."""
    for single in pattern.split():
        expression = ""
        for part in re.split(r"(\*\*|\*|\{[^}]*\})", single):
            if part == "**":
                expression += r".*"
            elif part == "*":
                expression += r"[^.]+"
            elif part.startswith("{"):
                expression += "(" + "|".join(map(re.escape, part[1:-1].split(","))) + ")"
            else:
                expression += re.escape(part)
        if re.fullmatch(expression.replace(r"\..*", r"(\..*)?"), tag):
            return True
    return False


def shipped():
    stack = load_stack("logging", STACKS)
    sections = parse_fluentd((stack.directory / "fluent.conf").read_text())
    options = stack.compose["services"]["web"]["logging"]["options"]
    return stack, sections, options


def test_tag_matcher_follows_fluentd_rules():
    assert tag_matches("nginx.access", "nginx.access")
    assert tag_matches("nginx.*", "nginx.access")
    assert not tag_matches("nginx.*", "nginx.access.extra")
    assert tag_matches("nginx.**", "nginx.access.extra")
    assert tag_matches("{nginx,app}.access", "app.access")
    assert not tag_matches("app.access", "nginx.access")


def test_nginx_tag_reaches_stdout_output():
    _, sections, options = shipped()
    matches = [s for s in sections if s["name"] == "match" and tag_matches(s["arg"], options["tag"])]
    assert matches, f"no <match> covers the tag {options['tag']!r}"
    assert matches[0]["params"]["@type"] == "stdout"


def test_stdout_output_flushes_immediately():
    _, sections, options = shipped()
    match = next(s for s in sections if s["name"] == "match" and tag_matches(s["arg"], options["tag"]))
    buffers = [s for s in match["sections"] if s["name"] == "buffer"]
    for buffer in buffers:
        assert buffer["params"].get("flush_mode") == "immediate"


def test_forward_source_on_published_port():
    stack, sections, options = shipped()
    sources = [s for s in sections if s["name"] == "source"]
    assert [s["params"]["@type"] for s in sources] == ["forward"]
    port = int(sources[0]["params"]["port"])
    published = [p for p in stack.published_ports() if p.service == "fluentd"]
    assert [(p.container_port, p.host_port) for p in published] == [(port, port)]
    assert options["fluentd-address"] == f"127.0.0.1:{port}"


def test_log_driver_retries_are_bounded():
    _, _, options = shipped()
    assert options["fluentd-async"] == "true"
    assert 0 < int(options["fluentd-max-retries"]) <= 10


def test_web_waits_for_healthy_fluentd():
    stack, _, _ = shipped()
    depends_on = stack.compose["services"]["web"]["depends_on"]
    assert depends_on == {"fluentd": {"condition": "service_healthy"}}
