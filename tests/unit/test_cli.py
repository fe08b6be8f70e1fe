import json

import pytest
import typer
from typer.testing import CliRunner

from playground.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated_state(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PLAYGROUND_IMAGE_MAP", raising=False)


def test_unknown_stack_exits_2_and_lists_known():
    result = runner.invoke(app, ["up", "nosuchstack"])
    assert result.exit_code == 2
    assert "unknown stack 'nosuchstack'" in result.output
    assert "web" in result.output


def test_unknown_backend_exits_2():
    result = runner.invoke(app, ["up", "web", "--on", "nomad"])
    assert result.exit_code == 2
    assert "unknown backend 'nomad'" in result.output
    assert "compose" in result.output


def test_stacks_json_lists_web():
    result = runner.invoke(app, ["stacks", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["name"] for row in rows] == ["harbor", "logging", "mirror", "web"]
    backends = {row["name"]: row["backends"] for row in rows}
    assert backends["web"] == ["compose", "swarm", "kind", "kubernetes"]
    assert backends["harbor"] == ["compose"]


def test_bad_image_map_exits_2(tmp_path):
    bad = tmp_path / "map.yaml"
    bad.write_text("images: nope\n")
    result = runner.invoke(app, ["up", "web", "--image-map", str(bad)])
    assert result.exit_code == 2
    assert "images: expected a mapping" in result.output


def test_bad_timeout_env_exits_2(monkeypatch):
    monkeypatch.setenv("PLAYGROUND_TIMEOUT", "soon")
    result = runner.invoke(app, ["up", "web"])
    assert result.exit_code == 2
    assert "PLAYGROUND_TIMEOUT" in result.output


def test_engine_unreachable_exits_2(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 2
    assert "Docker engine is not reachable" in result.output
    assert "hint:" in result.output
    assert "Traceback" not in result.output


def test_usage_error_exits_2():
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 2


@pytest.mark.parametrize("address", ["garbage", "999.1.1.1", ""])
def test_invalid_bind_address_exits_2(address):
    result = runner.invoke(app, ["up", "web", "--bind", address])
    assert result.exit_code == 2
    assert "invalid bind address" in result.output
    assert "Traceback" not in result.output


def test_state_dir_that_is_a_file_exits_2(tmp_path, monkeypatch):
    state = tmp_path / "statefile"
    state.write_text("")
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(state))
    result = runner.invoke(app, ["up", "web"])
    assert result.exit_code == 2
    assert "is not a directory" in result.output


class _FakeBackend:
    name = "compose"

    def __init__(self, volumes):
        self._volumes = volumes
        self.down_calls = []

    def volumes(self, stack):
        return self._volumes

    def down(self, stack, *, volumes):
        from playground.backends import DownResult

        self.down_calls.append(volumes)
        return DownResult(was_up=True, removed_volumes=self._volumes if volumes else [])


def _with_backend(monkeypatch, tmp_path, backend):
    from playground import cli
    from playground.settings import Settings
    from playground.stack import load_stack

    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path))
    settings = Settings.resolve()
    stack = load_stack("web", settings.stacks_dir)
    monkeypatch.setattr(cli, "_context", lambda *args, **kwargs: (settings, stack, backend))


def test_down_volumes_without_terminal_needs_yes(monkeypatch, tmp_path):
    backend = _FakeBackend(["playground-web_db-data"])
    _with_backend(monkeypatch, tmp_path, backend)
    result = runner.invoke(app, ["down", "web", "--volumes"])
    assert result.exit_code == 2, result.output
    assert "down would delete volume playground-web_db-data" in result.output
    assert "--yes" in result.output
    assert backend.down_calls == []


def test_down_volumes_with_yes_deletes(monkeypatch, tmp_path):
    backend = _FakeBackend(["playground-web_db-data"])
    _with_backend(monkeypatch, tmp_path, backend)
    result = runner.invoke(app, ["down", "web", "--volumes", "--yes"])
    assert result.exit_code == 0, result.output
    assert backend.down_calls == [True]
    assert "deleted volumes: playground-web_db-data" in result.output


def test_down_volumes_asks_on_terminal(monkeypatch, tmp_path):
    backend = _FakeBackend(["playground-web_db-data"])
    _with_backend(monkeypatch, tmp_path, backend)
    monkeypatch.setattr("playground.cli._stdin_is_terminal", lambda: True)
    declined = runner.invoke(app, ["down", "web", "--volumes"], input="n\n")
    assert declined.exit_code == 1, declined.output
    assert "deletes, for good: volume playground-web_db-data" in declined.output
    assert "nothing deleted" in declined.output
    assert backend.down_calls == []

    accepted = runner.invoke(app, ["down", "web", "--volumes"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert backend.down_calls == [True]


def test_interrupt_at_question_exits_130(monkeypatch, tmp_path):
    backend = _FakeBackend(["playground-web_db-data"])
    _with_backend(monkeypatch, tmp_path, backend)
    monkeypatch.setattr("playground.cli._stdin_is_terminal", lambda: True)

    def interrupted(*args, **kwargs):
        raise typer.Abort

    monkeypatch.setattr("typer.confirm", interrupted)
    result = runner.invoke(app, ["down", "web", "--volumes"])
    assert result.exit_code == 130, result.output
    assert "nothing deleted" in result.output
    assert "run the same command again" not in result.output
    assert backend.down_calls == []


def test_down_volumes_nothing_to_delete_asks_nothing(monkeypatch, tmp_path):
    backend = _FakeBackend([])
    _with_backend(monkeypatch, tmp_path, backend)
    result = runner.invoke(app, ["down", "web", "--volumes"])
    assert result.exit_code == 0, result.output
    assert backend.down_calls == [True]


def complete(words: str) -> list[str]:
    """Ask the CLI for bash completions of the last word of ``words``."""
    import os
    import subprocess
    import sys

    parts = words.split(" ")
    env = {
        **os.environ,
        "_PLAYGROUND_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(parts) - 1),
    }
    code = "from playground.cli import app; app(prog_name='playground')"
    completed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=30
    )
    return completed.stdout.split()


def test_completion_of_stack_names():
    assert complete("playground up m") == ["mirror"]
    assert set(complete("playground down ")) >= {"logging", "mirror", "web"}


def test_completion_of_backends():
    assert complete("playground up web --on s") == ["swarm"]
    assert complete("playground check web --on k") == ["kind", "kubernetes"]


def test_missing_stacks_dir_exits_2(monkeypatch, tmp_path):
    monkeypatch.setenv("PLAYGROUND_STACKS_DIR", str(tmp_path / "nothing-here"))
    result = runner.invoke(app, ["stacks"])
    assert result.exit_code == 2
    assert "is not a directory" in result.output
