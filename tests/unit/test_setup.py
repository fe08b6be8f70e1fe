"""Setup actions: how a stack names one, and when ``lifecycle.up`` runs it."""

from __future__ import annotations

import dataclasses

import pytest

from playground import lifecycle
from playground.backends import ServiceState, UpResult
from playground.errors import ConfigError
from playground.harbor_stack import HarborSetup
from playground.settings import Settings
from playground.setup import setup_action
from playground.stack import parse_stack

STACK_TEXT = """
x-playground:
  setup: harbor
services:
  app:
    image: busybox:1
"""


@pytest.fixture
def stack(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(STACK_TEXT)
    return parse_stack(path, "demo")


@pytest.fixture
def settings(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    return Settings.resolve(timeout=5)


def test_setup_named_in_stack(stack):
    assert stack.setup == "harbor"
    assert isinstance(setup_action(stack), HarborSetup)


def test_no_setup_without_entry(stack):
    assert setup_action(dataclasses.replace(stack, setup=None)) is None


def test_unknown_setup_rejected(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(STACK_TEXT.replace("setup: harbor", "setup: gitea"))
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "demo")
    assert "x-playground.setup: expected one of the setup actions: harbor, got 'gitea'" in (
        raised.value.message
    )


class RecordingBackend:
    name = "compose"

    def __init__(self, events):
        self.events = events

    def phases(self, stack):
        return [stack.services]

    def up(self, stack, secret_files, held=frozenset()):
        self.events.append(("backend up", stack.description))
        return UpResult(changed=True)

    def states(self, stack):
        self.events.append(("states", None))
        return {"app": ServiceState("app", "running")}

    def logs(self, stack, service, tail):
        return ""


class RecordingAction:
    def __init__(self, events):
        self.events = events

    def prepare(self, stack, backend_name, settings):
        self.events.append(("prepare", backend_name))
        return dataclasses.replace(stack, description="prepared")

    def configure(self, stack, backend, settings):
        self.events.append(("configure", stack.description))
        return ["configured"]


def test_up_runs_setup_around_readiness(stack, settings, monkeypatch):
    events = []
    monkeypatch.setattr(lifecycle, "setup_action", lambda _stack: RecordingAction(events))

    _result, report = lifecycle.up(stack, RecordingBackend(events), settings)

    names = [name for name, _ in events]
    assert names[0] == "prepare"
    assert events[1] == ("backend up", "prepared")
    configured = names.index("configure")
    assert events[configured] == ("configure", "prepared")
    assert "states" in names[1:configured]
    # The checks run again after the setup.
    assert "states" in names[configured:]
    assert report.setup == ["configured"]
    assert report.healthy


def test_up_without_setup_has_no_lines(stack, settings, monkeypatch):
    events = []
    monkeypatch.setattr(lifecycle, "setup_action", lambda _stack: None)

    _result, report = lifecycle.up(stack, RecordingBackend(events), settings)

    assert report.setup == []
    assert [name for name, _ in events][:2] == ["backend up", "states"]
