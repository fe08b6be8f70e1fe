"""The harbor stack: its definition, the configuration and secrets its
setup action generates, and the Compose document `up` runs, checked
offline (``docker compose config`` parses it and creates nothing)."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from dataclasses import replace
from types import SimpleNamespace

import bcrypt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from playground import harbor_config, lifecycle
from playground.backends import Endpoint
from playground.backends.compose import ComposeBackend
from playground.compose_file import write_document
from playground.errors import ConfigError, UsageError
from playground.harbor_config import ADMIN_PASSWORD, CONTAINER_UID, admin_password
from playground.harbor_stack import HarborSetup, external_url
from playground.imagemap import ImageMap
from playground.mirror import Mirror, engine_advice, with_upstream
from playground.render import endpoint_text
from playground.settings import Settings
from playground.stack import load_stack, parse_stack

SECRET_LENGTHS = {
    ADMIN_PASSWORD: 24,
    "harbor_db_password": 32,
    "harbor_core_secret": 16,
    "harbor_jobservice_secret": 16,
    "harbor_registry_password": 32,
    "harbor_csrf_key": 32,
    "harbor_secret_key": 16,
}


@pytest.fixture(scope="module")
def token_key():
    """One 2048-bit key for every test: the size does not change the files,
    and generating a 4096-bit key per test would take seconds."""
    original = harbor_config.KEY_BITS
    harbor_config.KEY_BITS = 2048
    try:
        return harbor_config.token_key_pem()
    finally:
        harbor_config.KEY_BITS = original


@pytest.fixture
def settings(tmp_path, monkeypatch, token_key):
    monkeypatch.setenv("PLAYGROUND_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("PLAYGROUND_BIND_ADDRESS", raising=False)
    monkeypatch.delenv("PLAYGROUND_MIRROR_UPSTREAM", raising=False)
    monkeypatch.setattr(harbor_config, "token_key_pem", lambda: token_key)
    return Settings.resolve()


@pytest.fixture
def stack(settings):
    return load_stack("harbor", settings.stacks_dir)


@pytest.fixture
def prepared(stack, settings):
    return HarborSetup().prepare(stack, "compose", settings)


def state(settings):
    return settings.stack_state_dir("harbor")


def env_file(settings, name):
    text = (state(settings) / "generated" / name).read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def secret(settings, name):
    return (state(settings) / "secrets" / name).read_text().strip()


def test_stack_definition(stack):
    assert stack.setup == "harbor"
    assert stack.mirror.service == "proxy"
    assert stack.mirror.path == "dockerhub"
    assert [c.kind for c in stack.checks] == ["harbor"]
    assert stack.checks[0].project == "dockerhub"
    ports = stack.published_ports()
    assert [(p.service, p.container_port, p.host_port) for p in ports] == [
        ("proxy", 8080, 8082)
    ]


def test_images_pinned_to_one_release(stack):
    images = stack.images()
    assert set(images) == {
        "volume-owner", "registry", "registryctl", "postgresql", "redis", "core",
        "portal", "jobservice", "proxy",
    }
    for image in images.values():
        repository, tag = image.split(":")
        assert repository.startswith("goharbor/")
        assert tag == "v2.14.4"


def test_volume_owner_runs_first(stack):
    services = stack.compose["services"]
    assert stack.one_shot_services == {"volume-owner"}
    assert services["volume-owner"]["cap_add"] == ["CHOWN"]
    for name in ("registry", "registryctl", "jobservice"):
        condition = services[name]["depends_on"]["volume-owner"]["condition"]
        assert condition == "service_completed_successfully", name


def test_services_unprivileged(stack):
    for name, spec in stack.compose["services"].items():
        assert spec["cap_drop"] == ["ALL"], name
        assert spec["security_opt"] == ["no-new-privileges:true"], name
        if name != "volume-owner":
            assert "user" not in spec, name


def test_secrets_private_and_formed(prepared, settings):
    folder = state(settings) / "secrets"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name, length in SECRET_LENGTHS.items():
        path = folder / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        value = secret(settings, name)
        assert len(value) == length, name
        assert value.isalnum(), name
    key = (folder / "harbor_token_key.pem").read_text()
    assert stat.S_IMODE((folder / "harbor_token_key.pem").stat().st_mode) == 0o600
    assert key.startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_token_key_size_and_form(monkeypatch):
    monkeypatch.setattr(harbor_config, "KEY_BITS", 1024)
    text = harbor_config.token_key_pem()
    key = serialization.load_pem_private_key(text.encode(), password=None)
    assert key.key_size == 1024
    assert text.startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_secrets_reused(stack, prepared, settings):
    before = {name: secret(settings, name) for name in SECRET_LENGTHS}
    HarborSetup().prepare(stack, "compose", settings)
    after = {name: secret(settings, name) for name in SECRET_LENGTHS}
    assert after == before


def test_second_prepare_rewrites_nothing(stack, prepared, settings):
    folder = state(settings) / "generated"
    files = sorted(path for path in folder.rglob("*") if path.is_file())
    before = {path: (path.stat().st_ino, path.read_text()) for path in files}

    HarborSetup().prepare(stack, "compose", settings)

    after = {path: (path.stat().st_ino, path.read_text()) for path in files}
    assert after == before


def test_stale_passwd_replaced(stack, prepared, settings):
    passwd = state(settings) / "generated" / "registry" / "passwd"
    passwd.write_text("harbor_registry_user:$2b$05$" + "x" * 53 + "\n")

    HarborSetup().prepare(stack, "compose", settings)

    hashed = passwd.read_text().strip().split(":", 1)[1]
    password = secret(settings, "harbor_registry_password")
    assert bcrypt.checkpw(password.encode(), hashed.encode())


def test_invalid_certificate_replaced(stack, prepared, settings):
    certificate = state(settings) / "generated" / "registry" / "root.crt"
    certificate.write_text("not a certificate\n")

    HarborSetup().prepare(stack, "compose", settings)

    loaded = x509.load_pem_x509_certificate(certificate.read_bytes())
    key = serialization.load_pem_private_key(
        secret(settings, "harbor_token_key.pem").encode(), password=None
    )
    assert loaded.public_key().public_numbers() == key.public_key().public_numbers()


def test_admin_password_meets_rule():
    for _ in range(50):
        password = admin_password()
        assert any(c.isupper() for c in password)
        assert any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)


def test_env_files_private(prepared, settings):
    folder = state(settings) / "generated"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("core.env", "jobservice.env", "registryctl.env", "db.env"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600, name


def test_core_env(prepared, settings):
    core = env_file(settings, "core.env")
    assert core["HARBOR_ADMIN_PASSWORD"] == secret(settings, ADMIN_PASSWORD)
    assert core["POSTGRESQL_PASSWORD"] == secret(settings, "harbor_db_password")
    assert core["CORE_SECRET"] == secret(settings, "harbor_core_secret")
    assert core["JOBSERVICE_SECRET"] == secret(settings, "harbor_jobservice_secret")
    assert core["CSRF_KEY"] == secret(settings, "harbor_csrf_key")
    assert core["REGISTRY_CREDENTIAL_USERNAME"] == "harbor_registry_user"
    assert core["REGISTRY_CREDENTIAL_PASSWORD"] == secret(settings, "harbor_registry_password")
    assert core["EXT_ENDPOINT"] == "http://127.0.0.1:8082"
    assert core["POSTGRESQL_HOST"] == "postgresql"
    assert core["_REDIS_URL_CORE"] == "redis://redis:6379?idle_timeout_seconds=30"
    assert core["_REDIS_URL_REG"] == "redis://redis:6379/1?idle_timeout_seconds=30"
    assert "docker-hub" in core["PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE"].split(",")
    assert "docker-registry" in core["PERMITTED_REGISTRY_TYPES_FOR_PROXY_CACHE"].split(",")


def test_other_env_files(prepared, settings):
    jobservice = env_file(settings, "jobservice.env")
    registryctl = env_file(settings, "registryctl.env")
    database = env_file(settings, "db.env")
    core_secret = secret(settings, "harbor_core_secret")
    assert jobservice["CORE_SECRET"] == core_secret
    assert jobservice["JOBSERVICE_SECRET"] == secret(settings, "harbor_jobservice_secret")
    assert jobservice["CORE_URL"] == "http://core:8080"
    assert registryctl == {
        "CORE_SECRET": core_secret,
        "JOBSERVICE_SECRET": secret(settings, "harbor_jobservice_secret"),
    }
    assert database == {"POSTGRES_PASSWORD": secret(settings, "harbor_db_password")}


def test_mounted_files(prepared, settings):
    folder = state(settings) / "generated"
    user, hashed = (folder / "registry/passwd").read_text().strip().split(":", 1)
    assert user == "harbor_registry_user"
    password = secret(settings, "harbor_registry_password")
    assert bcrypt.checkpw(password.encode(), hashed.encode())

    key_text = (folder / "core/private_key.pem").read_text()
    assert key_text.strip() == secret(settings, "harbor_token_key.pem")
    key = serialization.load_pem_private_key(key_text.encode(), password=None)
    certificate = x509.load_pem_x509_certificate((folder / "registry/root.crt").read_bytes())
    assert certificate.public_key().public_numbers() == key.public_key().public_numbers()
    assert (folder / "core/secretkey").read_text() == secret(settings, "harbor_secret_key")


def test_mounted_files_readable_by_harbor(prepared, settings):
    folder = state(settings) / "generated"
    for name in ("registry/passwd", "registry/root.crt", "core/private_key.pem", "core/secretkey"):
        info = (folder / name).stat()
        if os.geteuid() == 0:
            assert (info.st_uid, info.st_gid) == (CONTAINER_UID, CONTAINER_UID), name
            assert stat.S_IMODE(info.st_mode) == 0o600, name
        else:
            assert stat.S_IMODE(info.st_mode) == 0o644, name


def test_generated_paths_point_into_state(prepared, settings):
    folder = state(settings) / "generated"
    services = prepared.compose["services"]
    assert services["core"]["env_file"] == [str(folder / "core.env")]
    assert services["postgresql"]["env_file"] == [str(folder / "db.env")]
    binds = [
        volume["source"]
        for spec in services.values()
        for volume in spec.get("volumes", [])
        if isinstance(volume, dict)
    ]
    assert binds
    assert all(source.startswith(str(folder)) for source in binds)
    assert all(os.path.exists(source) for source in binds)


def test_static_configs_exist(stack):
    for spec in stack.compose["services"].values():
        for volume in spec.get("volumes", []):
            if isinstance(volume, str) and volume.startswith("./"):
                assert (stack.directory / volume.split(":")[0]).is_file(), volume


def test_static_yaml_configs_parse(stack):
    for name in ("registry/config.yml", "registryctl/config.yml", "jobservice/config.yml"):
        document = yaml.safe_load((stack.directory / "config" / name).read_text())
        assert isinstance(document, dict), name
    registry = yaml.safe_load((stack.directory / "config/registry/config.yml").read_text())
    assert registry["auth"]["htpasswd"]["path"] == "/etc/registry/passwd"
    assert registry["storage"]["filesystem"]["rootdirectory"] == "/storage"


def test_external_url_wildcard_bind(stack, settings):
    assert external_url(stack, replace(settings, bind_address="0.0.0.0")) == (
        "http://127.0.0.1:8082"
    )
    assert external_url(stack, replace(settings, bind_address="192.0.2.4")) == (
        "http://192.0.2.4:8082"
    )


def test_other_backends_rejected(stack, settings):
    assert stack.backends == ["compose"]
    for name in ("swarm", "kind"):
        backend = SimpleNamespace(name=name)
        with pytest.raises(UsageError) as raised:
            lifecycle.up(stack, backend, settings)
        assert f"runs on compose only, not on {name}" in raised.value.message
        assert raised.value.hint == "run: playground up harbor --on compose"
    assert not (state(settings) / "generated").exists()


def test_backends_entry_validated(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(
        "x-playground:\n  backends: [compose, nomad]\n"
        "services:\n  app:\n    image: busybox:1\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "demo")
    assert "x-playground.backends: expected a list of the backends" in raised.value.message


def test_rendered_ports_on_loopback(prepared, settings):
    document = ComposeBackend(settings, ImageMap()).render(prepared, {})
    assert document["services"]["proxy"]["ports"] == [
        {"target": 8080, "protocol": "tcp", "host_ip": "127.0.0.1", "published": "8082"}
    ]
    assert "x-playground" not in document


def test_rendered_document_valid(prepared, settings):
    if shutil.which("docker") is None:
        pytest.skip("no docker client on PATH to run 'docker compose config'")
    version = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if version.returncode:
        pytest.skip("the docker client has no Compose v2 plugin")
    document = ComposeBackend(settings, ImageMap()).render(prepared, {})
    path = write_document(state(settings), "compose.yaml", document)

    checked = subprocess.run(
        ["docker", "compose", "-f", str(path), "--project-directory",
         str(prepared.directory), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""


def test_compose_reads_generated_env(prepared, settings):
    if shutil.which("docker") is None:
        pytest.skip("no docker client on PATH to run 'docker compose config'")
    document = ComposeBackend(settings, ImageMap()).render(prepared, {})
    path = write_document(state(settings), "compose.yaml", document)

    resolved = subprocess.run(
        ["docker", "compose", "-f", str(path), "config", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert resolved.returncode == 0, resolved.stderr
    services = json.loads(resolved.stdout)["services"]
    assert services["core"]["environment"]["EXT_ENDPOINT"] == "http://127.0.0.1:8082"
    assert services["postgresql"]["environment"]["POSTGRES_PASSWORD"] == secret(
        settings, "harbor_db_password"
    )
    assert services["registryctl"]["environment"]["CORE_SECRET"] == secret(
        settings, "harbor_core_secret"
    )
    assert services["registry"]["healthcheck"]["interval"] == "5s"


def test_mirror_relocates_under_project(stack):
    mirror = Mirror("harbor", "compose", "127.0.0.1", 8082, stack.mirror.path)
    relocated = ImageMap().with_mirror(mirror.prefix).relocate("nginx:1.27")
    assert relocated == "127.0.0.1:8082/dockerhub/library/nginx:1.27"


def test_upstream_accepted_for_harbor(stack):
    assert with_upstream(stack, "http://127.0.0.1:5001") is stack
    with pytest.raises(UsageError):
        with_upstream(stack, "ftp://127.0.0.1")


def test_no_registry_mirrors_advice_for_project_path():
    mirror = Mirror("harbor", "compose", "127.0.0.1", 8082, "dockerhub")
    lines = engine_advice(mirror, None, {"Mirrors": []})
    assert not any('"registry-mirrors": [' in line for line in lines)
    assert any("serves under 127.0.0.1:8082/dockerhub/" in line for line in lines)


def test_harbor_check_needs_project(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_text(
        "x-playground:\n"
        "  checks:\n"
        "    - service: proxy\n"
        "      harbor: {port: 8080, probe: library/busybox:1.37.0}\n"
        "services:\n"
        "  proxy:\n"
        "    image: goharbor/nginx-photon:v2.14.4\n"
        "    ports: ['8082:8080']\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "demo")
    assert "x-playground.checks[0].harbor.project: expected the name of the Harbor" in (
        raised.value.message
    )


def test_endpoint_shown_as_url(stack):
    endpoint = Endpoint(8080, "127.0.0.1", 8082)
    assert endpoint_text(stack, endpoint) == "http://127.0.0.1:8082"
