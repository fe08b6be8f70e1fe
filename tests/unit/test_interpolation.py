from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.interpolation import interpolate, variables_for
from playground.stack import load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
FILE = Path("/lab/compose.yaml")


@pytest.mark.parametrize(
    ("text", "variables", "expected"),
    [
        ("nginx:${TAG}", {"TAG": "1.27"}, "nginx:1.27"),
        ("nginx:$TAG-alpine", {"TAG": "1.27"}, "nginx:1.27-alpine"),
        ("${PORT:-8081}:8080", {}, "8081:8080"),
        ("${PORT:-8081}:8080", {"PORT": ""}, "8081:8080"),
        ("${PORT-8081}:8080", {"PORT": ""}, ":8080"),
        ("${DEBUG:+--verbose}", {"DEBUG": "1"}, "--verbose"),
        ("${DEBUG:+--verbose}", {}, ""),
        ("${MISSING}", {}, ""),
        ("$$HOME and $${HOME}", {"HOME": "/root"}, "$$HOME and $${HOME}"),
        ("${PASSWORD}", {"PASSWORD": "a$b"}, "a$$b"),
    ],
)
def test_references(text, variables, expected):
    assert interpolate(text, variables, FILE) == expected


def test_documents_keep_keys_and_other_types():
    document = {"services": {"$app": {"ports": ["${P}:80", 443], "init": True}}}
    assert interpolate(document, {"P": "8080"}, FILE) == {
        "services": {"$app": {"ports": ["8080:80", 443], "init": True}}
    }


def test_integer_keys_become_numbers():
    document = {
        "deploy": {"replicas": "${REPLICAS:-1}"},
        "healthcheck": {"retries": "${RETRIES}", "interval": "${INTERVAL}"},
        "environment": {"replicas": "1"},
    }
    variables = {"RETRIES": "3", "INTERVAL": "2"}
    assert interpolate(document, variables, FILE) == {
        "deploy": {"replicas": 1},
        "healthcheck": {"retries": 3, "interval": "2"},
        "environment": {"replicas": "1"},
    }


def test_required_variable_names_the_key():
    with pytest.raises(ConfigError) as raised:
        interpolate({"services": {"db": {"image": "${DB_IMAGE:?pick a database}"}}}, {}, FILE)
    assert raised.value.message == (
        "/lab/compose.yaml: services.db.image: variable DB_IMAGE is not set: pick a database"
    )


def test_malformed_reference_is_rejected():
    with pytest.raises(ConfigError, match="invalid variable reference"):
        interpolate("${1BAD}", {}, FILE)


def test_env_file_beside_compose_file(tmp_path):
    (tmp_path / ".env").write_text(
        "# tags\nTAG='1.27.3 # kept'\nexport PORT=8089\nEMPTY=\nHPORT=18001 # host port\n"
    )
    found = variables_for(tmp_path / "compose.yaml", {"PORT": "9000"})
    assert found == {"TAG": "1.27.3 # kept", "PORT": "9000", "EMPTY": "", "HPORT": "18001"}


def test_user_file_loads_interpolated(tmp_path, monkeypatch):
    monkeypatch.setenv("APP_PORT", "18093")
    (tmp_path / ".env").write_text("NGX_TAG=1.27.3-alpine\n")
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: nginxinc/nginx-unprivileged:${NGX_TAG}\n"
        "    ports: ['${APP_PORT:-8081}:8080']\n"
    )
    stack = load_stack(str(tmp_path / "compose.yaml"), STACKS)
    assert stack.images() == {"app": "nginxinc/nginx-unprivileged:1.27.3-alpine"}
    assert stack.published_ports()[0].host_port == 18093


def test_shipped_stacks_keep_their_escapes():
    stack = load_stack("web", STACKS)
    test = stack.compose["services"]["db"]["healthcheck"]["test"]
    assert "$$(cat /run/secrets/db_password)" in str(test)
