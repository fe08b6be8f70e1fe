import pytest

from playground.errors import ConfigError
from playground.imagemap import ImageMap, load_image_map, normalise_reference


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nginx:1.27", "docker.io/library/nginx:1.27"),
        ("docker.io/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
        ("nginxinc/nginx-unprivileged:1.27", "docker.io/nginxinc/nginx-unprivileged:1.27"),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
        ("localhost:5000/app:1", "localhost:5000/app:1"),
        ("127.0.0.1:5000/app:1", "127.0.0.1:5000/app:1"),
    ],
)
def test_normalise_reference(reference, expected):
    assert normalise_reference(reference) == expected


def test_relocate_matches_any_spelling(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("images:\n  docker.io/library/mysql:8.4.3: local/mariadb:1\n")
    image_map = load_image_map(path)
    assert image_map.relocate("mysql:8.4.3") == "local/mariadb:1"
    assert image_map.relocate("mysql:8.4.2") == "mysql:8.4.2"


def test_no_map_changes_nothing():
    assert load_image_map(None).relocate("nginx:1") == "nginx:1"
    assert ImageMap().relocated({"a": "b:1"}) == {"a": "b:1"}


@pytest.mark.parametrize(
    "text",
    ["[]", "images: [a]", "images:\n  a: [b]\n", ": :", "images:\n  a: ''\n", "images:\n  a: b c\n"],
)
def test_malformed_map_is_config_error(tmp_path, text):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_image_map(path)
    assert str(path) in raised.value.message


def test_missing_map_file_is_config_error(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_image_map(tmp_path / "absent.yaml")
    assert raised.value.hint


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("mysql:8.4.3", "127.0.0.1:5000/library/mysql:8.4.3"),
        ("docker.io/library/mysql:8.4.3", "127.0.0.1:5000/library/mysql:8.4.3"),
        (
            "nginxinc/nginx-unprivileged:1.27.3-alpine",
            "127.0.0.1:5000/nginxinc/nginx-unprivileged:1.27.3-alpine",
        ),
        ("nginx@sha256:" + "a" * 64, "127.0.0.1:5000/library/nginx@sha256:" + "a" * 64),
        ("ghcr.io/org/app:1", "ghcr.io/org/app:1"),
    ],
)
def test_mirror_relocates_docker_hub_only(reference, expected):
    assert ImageMap().with_mirror("127.0.0.1:5000").relocate(reference) == expected


def test_mirror_wins_over_images_entries():
    image_map = ImageMap(
        {
            "docker.io/library/mysql:8.4.3": "local/mariadb:1",
            "ghcr.io/org/app:1": "local/app:1",
        }
    ).with_mirror("127.0.0.1:8082/dockerhub/")
    assert image_map.relocate("mysql:8.4.3") == "127.0.0.1:8082/dockerhub/library/mysql:8.4.3"
    assert image_map.relocate("ghcr.io/org/app:1") == "local/app:1"
