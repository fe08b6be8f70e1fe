from pathlib import Path

from playground.backends import BACKEND_LABEL, STACK_LABEL
from playground.backends.compose import ComposeBackend, _host_bindings
from playground.imagemap import ImageMap
from playground.ports import HostBinding
from playground.settings import Settings
from playground.stack import load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def settings(tmp_path: Path, bind: str = "127.0.0.1") -> Settings:
    return Settings(
        state_dir=tmp_path,
        stacks_dir=STACKS,
        image_map=None,
        timeout=5,
        bind_address=bind,
    )


def render(tmp_path: Path, **kwargs) -> dict:
    image_map = kwargs.pop("image_map", ImageMap())
    backend = ComposeBackend(settings(tmp_path, **kwargs), image_map)
    stack = load_stack("web", STACKS)
    files = {name: tmp_path / name for name in stack.generated_secrets}
    return backend.render(stack, files)


def test_ports_bound_to_loopback(tmp_path):
    document = render(tmp_path)
    assert _host_bindings(document) == [
        HostBinding("127.0.0.1", 8080),
        HostBinding("127.0.0.1", 3306),
    ]


def test_bind_address_setting(tmp_path):
    document = render(tmp_path, bind="0.0.0.0")
    assert {b.host_ip for b in _host_bindings(document)} == {"0.0.0.0"}


def test_everything_labelled(tmp_path):
    document = render(tmp_path)
    expected = {STACK_LABEL: "web", BACKEND_LABEL: "compose"}
    for spec in document["services"].values():
        assert spec["labels"].items() >= expected.items()
    assert document["volumes"]["db-data"]["labels"] == expected
    assert document["networks"]["default"]["labels"] == expected
    assert document["name"] == "playground-web"
    assert "x-playground" not in document


def test_generated_secrets_become_files(tmp_path):
    document = render(tmp_path)
    assert document["secrets"]["db_password"] == {"file": str(tmp_path / "db_password")}


def test_images_relocated_through_map(tmp_path):
    image_map = ImageMap({"docker.io/library/mysql:8.4.3": "local/mariadb:1"})
    document = render(tmp_path, image_map=image_map)
    assert document["services"]["db"]["image"] == "local/mariadb:1"
    assert document["services"]["web"]["image"].startswith("nginxinc/")


def test_render_leaves_stack_untouched(tmp_path):
    stack = load_stack("web", STACKS)
    backend = ComposeBackend(settings(tmp_path), ImageMap())
    backend.render(stack, {name: tmp_path / name for name in stack.generated_secrets})
    assert stack.compose["services"]["web"]["ports"] == ["8080:8080"]
    assert "labels" not in stack.compose["services"]["web"]


def test_relative_bind_sources_made_absolute(tmp_path):
    backend = ComposeBackend(settings(tmp_path), ImageMap())
    stack = load_stack("logging", STACKS)
    document = backend.render(stack, {})
    web = document["services"]["web"]
    fluentd = document["services"]["fluentd"]
    assert web["volumes"] == [f"{STACKS / 'logging' / 'default.conf'}:/etc/nginx/conf.d/default.conf:ro"]
    assert fluentd["volumes"][0].startswith(str(STACKS / "logging" / "fluent.conf") + ":")
