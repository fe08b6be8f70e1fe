from pathlib import Path

import pytest

from playground.errors import ConfigError, UsageError
from playground.stack import PublishedPort, list_stacks, load_stack, parse_port, parse_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"

MINIMAL = """
services:
  app:
    image: nginx:1.27.3
    ports: ["8080:80"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "compose.yaml"
    path.write_text(text)
    return path


def test_shipped_stacks_load():
    assert "web" in list_stacks(STACKS)
    for name in list_stacks(STACKS):
        stack = load_stack(name, STACKS)
        assert stack.description
        assert stack.checks


def test_web_stack_pins_images():
    stack = load_stack("web", STACKS)
    for image in stack.images().values():
        tag = image.rsplit(":", 1)[-1]
        assert ":" in image, image
        assert tag != "latest", image


def test_web_stack_has_no_fixed_password():
    stack = load_stack("web", STACKS)
    for spec in stack.compose["services"].values():
        for key in spec.get("environment", {}):
            assert not key.endswith("PASSWORD"), key
    assert set(stack.generated_secrets) == {"db_password", "db_root_password"}


def test_web_stack_checks():
    stack = load_stack("web", STACKS)
    kinds = {check.service: check.kind for check in stack.checks}
    assert kinds == {"web": "http", "db": "mysql"}


def test_unknown_stack_lists_known(tmp_path):
    with pytest.raises(UsageError) as raised:
        load_stack("nosuchstack", STACKS)
    assert "web" in raised.value.message
    assert raised.value.exit_code == 2


def test_name_key_names_stack(tmp_path):
    stack = load_stack(str(write(tmp_path, "name: shop_2\n" + MINIMAL)), STACKS)
    assert stack.name == "shop_2"

    with pytest.raises(ConfigError, match="a project name of lowercase letters"):
        load_stack(str(write(tmp_path, "name: My Shop\n" + MINIMAL)), STACKS)
    with pytest.raises(UsageError, match="the name of a shipped stack"):
        load_stack(str(write(tmp_path, "name: web\n" + MINIMAL)), STACKS)


def test_compose_file_by_folder(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "docker-compose.yml").write_text(MINIMAL)
    stack = load_stack(f"{folder}/", STACKS)
    assert stack.name == "shop"
    assert stack.file.name == "docker-compose.yml"

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UsageError, match="no Compose file in the folder"):
        load_stack(str(empty), STACKS)


def test_compose_file_by_path(tmp_path):
    folder = tmp_path / "My App"
    folder.mkdir()
    path = write(folder, MINIMAL)
    stack = load_stack(str(path), STACKS)
    assert stack.name == "my-app"
    assert stack.published_ports() == [PublishedPort("app", 80, 8080)]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("services: [a]", "services", "a mapping of service names"),
        ("services:\n  app: {}\n", "services.app.image", "an image reference"),
        (
            "services:\n  app:\n    image: x:1\n    ports: ['80-90:80-90']\n",
            "services.app.ports[0]",
            "no ranges",
        ),
        (
            "services:\n  app:\n    image: x:1\n    healthcheck: {test: [CMD, 'true'], interval: soon}\n",
            "services.app.healthcheck.interval",
            "a duration such as 1s",
        ),
        (
            "services:\n  app:\n    image: x:1\n    healthcheck: {test: [CMD, 'true'], retries: many}\n",
            "services.app.healthcheck.retries",
            "a whole number of retries",
        ),
        (
            "services:\n  app:\n    image: x:1\n    deploy: {replicas: two}\n",
            "services.app.deploy.replicas",
            "a whole number of replicas",
        ),
        (
            "services:\n  app:\n    image: x:1\n    ports: ['80800:8080']\n",
            "services.app.ports[0]",
            "ports from 1 to 65535",
        ),
        (
            "services:\n  app:\n    image: x:1\n    ports: ['300.1.1.1:8080:8080']\n",
            "services.app.ports[0]",
            "an IP address",
        ),
        (
            "services:\n  app:\n    image: x:1\n"
            "    ports: [{target: 80, published: 8080, host_ip: nope}]\n",
            "services.app.ports[0].host_ip",
            "an IP address",
        ),
        (
            "services:\n  app: {image: 'x:1'}\nx-playground:\n  checks:\n"
            "    - {service: nope, http: {port: 80}}\n",
            "x-playground.checks[0].service",
            "one of the stack's services: app",
        ),
        (
            "services:\n  app: {image: 'x:1'}\nx-playground:\n  checks:\n"
            "    - {service: app, http: {port: 80, path: x}}\n",
            "x-playground.checks[0].http.path",
            "a URL path",
        ),
        (
            "services:\n  app: {image: 'x:1'}\nx-playground:\n  checks:\n"
            "    - service: app\n      mysql: {port: 3306, user: a, database: a,"
            " password_secret: nope}\n",
            "x-playground.checks[0].mysql.password_secret",
            "a generated secret",
        ),
        (
            "services:\n  app: {image: 'x:1'}\nsecrets:\n  s: {}\n",
            "secrets.s",
            "x-playground-generate: password",
        ),
    ],
)
def test_malformed_stack_names_file_and_key(tmp_path, text, key, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "bad")
    message = raised.value.message
    assert message.startswith(f"{path}: {key}: expected")
    assert expected in message


def test_invalid_yaml_names_file(tmp_path):
    path = write(tmp_path, "services: [\n")
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "bad")
    assert str(path) in raised.value.message
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("8080:80", PublishedPort("s", 80, 8080)),
        ("127.0.0.2:8080:80/udp", PublishedPort("s", 80, 8080, "127.0.0.2", "udp")),
        ("[::1]:8080:80", PublishedPort("s", 80, 8080, "::1")),
        ("80", PublishedPort("s", 80, None)),
        (80, PublishedPort("s", 80, None)),
        ({"target": 80, "published": "8080"}, PublishedPort("s", 80, 8080)),
        (
            {"target": 80, "published": 8080, "host_ip": "0.0.0.0"},
            PublishedPort("s", 80, 8080, "0.0.0.0"),
        ),
    ],
)
def test_parse_port_forms(entry, expected):
    assert parse_port(entry, "s", Path("f"), "k") == expected


def test_file_named_like_shipped_stack_rejected(tmp_path):
    folder = tmp_path / "web"
    folder.mkdir()
    path = write(folder, MINIMAL)
    with pytest.raises(UsageError) as raised:
        load_stack(str(path), STACKS)
    assert "shipped stack" in raised.value.message


def test_check_on_unpublished_port_rejected(tmp_path):
    text = MINIMAL + "x-playground:\n  checks:\n    - {service: app, http: {port: 9999}}\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "bad")
    assert "x-playground.checks[0].http.port" in raised.value.message
    assert "9999" in raised.value.message


def test_non_utf8_file_is_config_error(tmp_path):
    path = tmp_path / "compose.yaml"
    path.write_bytes(b"services:\n  app: \xff\xfe\n")
    with pytest.raises(ConfigError) as raised:
        parse_stack(path, "bad")
    assert "not UTF-8" in raised.value.message


MIRROR = """
x-playground:
  mirror:
    service: registry
    port: 5000
    upstream_variable: REGISTRY_PROXY_REMOTEURL
  checks:
    - service: registry
      registry: {port: 5000, probe: library/busybox:1.37.0}
services:
  registry:
    image: registry:2.8.3
    ports: ["5000:5000"]
"""


def test_mirror_section_parsed(tmp_path):
    stack = parse_stack(write(tmp_path, MIRROR), "cache")
    assert stack.mirror.service == "registry"
    assert stack.mirror.port == 5000
    assert stack.mirror.path == ""
    assert stack.mirror.upstream_variable == "REGISTRY_PROXY_REMOTEURL"
    assert stack.checks[0].probe == "library/busybox:1.37.0"


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("service: registry\n    port", "service: cache\n    port", "x-playground.mirror.service"),
        ("port: 5000\n    upstream", "port: 5001\n    upstream", "x-playground.mirror.port"),
        ("port: 5000\n    upstream", "port: 5000\n    path: /hub\n    upstream", "mirror.path"),
        ("probe: library/busybox:1.37.0", "probe: Busybox", "registry.probe"),
        ("probe: library/busybox:1.37.0", "probe: library/busybox", "registry.probe"),
    ],
)
def test_mirror_section_errors_name_key(tmp_path, old, new, key):
    assert old in MIRROR
    with pytest.raises(ConfigError) as error:
        parse_stack(write(tmp_path, MIRROR.replace(old, new, 1)), "cache")
    assert key in error.value.message


def test_shipped_mirror_stack():
    stack = load_stack("mirror", STACKS)
    assert stack.mirror is not None
    assert stack.images()["registry"] == "registry:2.8.3"
    assert [check.kind for check in stack.checks] == ["registry"]


def test_command_name_is_what_commands_take(tmp_path):
    folder = tmp_path / "shop"
    folder.mkdir()
    path = folder / "compose.yaml"
    path.write_text(MINIMAL)
    by_path = load_stack(str(path), STACKS)
    assert by_path.name == "shop"
    assert by_path.command_name == str(path)
    assert load_stack("web", STACKS).command_name == "web"
