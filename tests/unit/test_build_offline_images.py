"""Unit tests of scripts/build-offline-images that need no engine or network."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-offline-images"


def _load_script():
    loader = importlib.machinery.SourceFileLoader("build_offline_images", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[loader.name] = module
    loader.exec_module(module)
    return module


build = _load_script()

# Instructions that `docker import --change` applies. dockerd 20.10 rejects
# the others, STOPSIGNAL for example.
IMPORT_INSTRUCTIONS = {
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "HEALTHCHECK",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
}

MACHINE_SOURCES = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""


def _apt_dir(tmp_path: Path, files: dict[str, str]) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


def test_deb822_entries_with_comments():
    entries = list(build.parse_deb822_sources(MACHINE_SOURCES))
    assert entries == [
        ("http://deb.debian.org/debian", ["bookworm", "bookworm-updates"]),
        ("http://deb.debian.org/debian-security", ["bookworm-security"]),
    ]


def test_deb822_skips_disabled_and_source_only():
    text = (
        "Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://b.example/debian\nSuites: bookworm\n\n"
        "Types: deb deb-src\nURIs: http://c.example/debian\nSuites: bookworm\n"
    )
    uris = [uri for uri, _ in build.parse_deb822_sources(text)]
    assert uris == ["http://c.example/debian"]


def test_deb822_continuation_lines():
    text = (
        "Types: deb\n"
        "URIs:\n http://a.example/debian\n http://b.example/debian\n"
        "Suites: bookworm\n"
    )
    uris = [uri for uri, _ in build.parse_deb822_sources(text)]
    assert uris == ["http://a.example/debian", "http://b.example/debian"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "deb http://a.example/debian bookworm main",
            [("http://a.example/debian", ["bookworm"])],
        ),
        (
            "deb [arch=amd64 signed-by=/k.gpg] http://a.example/debian bookworm main",
            [("http://a.example/debian", ["bookworm"])],
        ),
        (
            "deb [ arch=amd64 ] http://a.example/debian bookworm main",
            [("http://a.example/debian", ["bookworm"])],
        ),
        ("deb-src http://a.example/debian bookworm main", []),
        ("# deb http://a.example/debian bookworm main", []),
        ("deb http://a.example/debian", []),
    ],
)
def test_one_line_entries(line, expected):
    assert list(build.parse_one_line_sources(line + "\n")) == expected


def test_mirror_from_deb822_file(tmp_path):
    apt_dir = _apt_dir(tmp_path, {"sources.list.d/debian.sources": MACHINE_SOURCES})
    assert build.find_debian_mirror(apt_dir) == "http://deb.debian.org/debian"


def test_mirror_skips_security_and_updates(tmp_path):
    text = (
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb http://updates.example/debian bookworm-updates main\n"
        "deb http://main.example/debian bookworm main\n"
    )
    apt_dir = _apt_dir(tmp_path, {"sources.list": text})
    assert build.find_debian_mirror(apt_dir) == "http://main.example/debian"


def test_mirror_prefers_sources_list(tmp_path):
    apt_dir = _apt_dir(
        tmp_path,
        {
            "sources.list": "deb http://first.example/debian bookworm main\n",
            "sources.list.d/debian.sources": MACHINE_SOURCES,
        },
    )
    assert build.find_debian_mirror(apt_dir) == "http://first.example/debian"


def test_mirror_skips_unfetchable_schemes(tmp_path):
    text = (
        "deb cdrom:[Debian 12]/ bookworm main\n"
        "deb mirror+file:/etc/apt/mirrors.txt bookworm main\n"
        "deb https://secure.example/debian bookworm main\n"
    )
    apt_dir = _apt_dir(tmp_path, {"sources.list.d/extra.list": text})
    assert build.find_debian_mirror(apt_dir) == "https://secure.example/debian"


def test_mirror_missing(tmp_path):
    text = "deb http://security.example/debian-security bookworm-security main\n"
    apt_dir = _apt_dir(tmp_path, {"sources.list": text})
    assert build.find_debian_mirror(apt_dir) is None


def test_image_map_text():
    text = build.render_image_map(list(build.STAND_INS))
    assert text == (
        "# Stand-in images built from Debian packages by scripts/build-offline-images.\n"
        "images:\n"
        "  nginxinc/nginx-unprivileged:1.27.3-alpine: playground-offline/nginx:bookworm\n"
        "  mysql:8.4.3: playground-offline/mariadb:bookworm\n"
        "  registry:2.8.3: playground-offline/registry:bookworm\n"
        "  fluent/fluentd:v1.17.0-debian-1.1: playground-offline/fluentd:bookworm\n"
    )


def test_image_map_parses_as_yaml():
    document = yaml.safe_load(build.render_image_map(list(build.STAND_INS)))
    expected = {u: s.image for s in build.STAND_INS for u in s.upstream}
    assert document == {"images": expected}


def test_image_map_write_replaces_file(tmp_path):
    path = tmp_path / "state" / "playground" / "map.yaml"
    build.write_image_map(path, "images: {}\n")
    build.write_image_map(path, "images:\n  a:1: b:2\n")
    assert path.read_text() == "images:\n  a:1: b:2\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["map.yaml"]


def test_default_map_path_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert build.default_map_path() == tmp_path / "playground" / "offline-images.yaml"


@pytest.mark.parametrize("value", [None, "", "relative/state"])
def test_default_map_path_fallback(monkeypatch, tmp_path, value):
    monkeypatch.setenv("HOME", str(tmp_path))
    if value is None:
        monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_STATE_HOME", value)
    expected = tmp_path / ".local" / "state" / "playground" / "offline-images.yaml"
    assert build.default_map_path() == expected


def test_stand_in_table_consistent():
    names = [s.name for s in build.STAND_INS]
    assert len(names) == len(set(names))
    upstream = [u for s in build.STAND_INS for u in s.upstream]
    assert len(upstream) == len(set(upstream))
    for stand_in in build.STAND_INS:
        assert stand_in.image.startswith("playground-offline/")
        for step in stand_in.steps:
            if isinstance(step, build.Copy):
                assert (build.SUPPORT_DIR / step.source).is_file(), step.source
        for instruction in stand_in.config:
            assert instruction.split()[0] in IMPORT_INSTRUCTIONS, instruction


def test_nginx_runs_as_numeric_user():
    nginx = next(s for s in build.STAND_INS if s.name == "nginx")
    users = [i.split()[1] for i in nginx.config if i.startswith("USER ")]
    assert users == ["33"]


def test_mounts_below_deepest_first(tmp_path):
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 8:1 / / rw - ext4 /dev/vda rw\n"
        "40 22 0:5 / /tmp/work/nginx/proc rw - proc proc rw\n"
        "41 40 0:6 / /tmp/work/nginx/proc/sys/fs/binfmt_misc rw - binfmt_misc x rw\n"
        "42 22 0:7 / /tmp/work2/proc rw - proc proc rw\n"
        "43 22 0:8 / /tmp/work/with\\040space rw - tmpfs tmpfs rw\n"
    )
    found = build.mounts_below(Path("/tmp/work"), mountinfo)
    assert found == [
        Path("/tmp/work/nginx/proc/sys/fs/binfmt_misc"),
        Path("/tmp/work/nginx/proc"),
        Path("/tmp/work/with space"),
    ]


@pytest.mark.parametrize("path", ["etc/passwd", "/etc/../../outside", "/../x"])
def test_path_in_root_rejects(tmp_path, path):
    with pytest.raises(ValueError):
        build.path_in_root(tmp_path, path)


@pytest.fixture
def root(tmp_path):
    """A tiny root filesystem whose 'service' user is the test's own user."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text(
        f"root:x:0:0:root:/root:/bin/sh\nservice:x:{os.getuid()}:{os.getgid()}::/:/bin/false\n"
    )
    return root


def test_copy_step_sets_mode(root):
    build.apply_step(
        root, build.Copy("mariadb-entrypoint.sh", "/usr/local/bin/run.sh", 0o755)
    )
    target = root / "usr/local/bin/run.sh"
    assert (
        target.read_text() == (build.SUPPORT_DIR / "mariadb-entrypoint.sh").read_text()
    )
    assert target.stat().st_mode & 0o777 == 0o755


def test_symlink_step_replaces_file(root):
    log = root / "var/log/nginx/access.log"
    log.parent.mkdir(parents=True)
    log.write_text("old")
    build.apply_step(root, build.Symlink("/var/log/nginx/access.log", "/dev/stdout"))
    assert log.is_symlink()
    assert os.readlink(log) == "/dev/stdout"


def test_remove_step_glob(root):
    sites = root / "etc/nginx/sites-enabled"
    sites.mkdir(parents=True)
    (sites / "default").write_text("server {}")
    (sites / "other").symlink_to("/nonexistent")
    build.apply_step(root, build.Remove("/etc/nginx/sites-enabled/*"))
    assert sites.is_dir()
    assert list(sites.iterdir()) == []


def test_empty_directory_step(root):
    datadir = root / "var/lib/mysql"
    (datadir / "mysql").mkdir(parents=True)
    build.apply_step(
        root, build.EmptyDirectory("/var/lib/mysql", owner="service", mode=0o750)
    )
    assert list(datadir.iterdir()) == []
    assert datadir.stat().st_mode & 0o777 == 0o750
    assert datadir.stat().st_uid == os.getuid()


def test_empty_directory_unknown_owner(root):
    with pytest.raises(ValueError, match="nobody-here"):
        build.apply_step(root, build.EmptyDirectory("/data", owner="nobody-here"))


def test_trim_keeps_copyright(root):
    doc = root / "usr/share/doc/nginx"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text("licence")
    (doc / "changelog.Debian.gz").write_text("log")
    (doc / "examples").mkdir()
    lists = root / "var/lib/apt/lists"
    (lists / "partial").mkdir(parents=True)
    (lists / "lock").write_text("")
    (lists / "deb.debian.org_debian_dists_bookworm_InRelease").write_text("x")
    (root / "etc/hostname").write_text("build-host\n")

    build.trim(root)

    assert sorted(p.name for p in doc.iterdir()) == ["copyright"]
    assert sorted(p.name for p in lists.iterdir()) == ["lock", "partial"]
    assert (root / "etc/hostname").read_text() == ""
    assert (root / "etc/resolv.conf").read_text() == ""


def test_command_failed_message():
    output = "\n".join(f"line {n}" for n in range(1, 31))
    error = build.CommandFailed(["debootstrap", "--variant=minbase", "a b"], 1, output)
    message = str(error)
    assert message.startswith(
        "debootstrap --variant=minbase 'a b' failed with exit code 1"
    )
    assert "line 30" in message
    assert "line 11\n" in message
    assert "line 10\n" not in message


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    """Put a `docker` on PATH that fails like a client without an engine."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(
        "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n"
    )
    docker.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    return docker


def test_main_without_engine(fake_docker, tmp_path, capsys):
    status = build.main(["--map", str(tmp_path / "map.yaml")])
    assert status == 2
    assert "Docker engine not reachable: start dockerd" in capsys.readouterr().err
    assert not (tmp_path / "map.yaml").exists()


def test_main_without_docker_client(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert build.main(["--map", str(tmp_path / "map.yaml")]) == 2
    assert "docker client not found" in capsys.readouterr().err


def test_unknown_stand_in_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build.parse_arguments(["--only", "redis"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'redis'" in capsys.readouterr().err
