"""The generated kind cluster configuration and containerd's registry files."""

from __future__ import annotations

from pathlib import Path

import pytest

from playground.errors import ConfigError
from playground.kind_config import (
    CERTS_DIR,
    NODE_IMAGE,
    PortMapping,
    RegistryMirror,
    cluster_config,
    hosts_toml,
    missing_mappings,
    node_port_for,
    node_ports,
    port_mappings,
    write_registry_hosts,
)
from playground.stack import list_stacks, load_stack

STACKS = Path(__file__).resolve().parents[2] / "stacks"
SHIPPED = [load_stack(name, STACKS) for name in list_stacks(STACKS)]


def config_for(stacks, nodes=1, certs=Path("/state/certs.d")):
    mappings = port_mappings(stacks, "127.0.0.1")
    return mappings, cluster_config(mappings, nodes=nodes, certs_host_dir=certs)


def test_every_published_port_mapped_and_paired():
    mappings, config = config_for(SHIPPED)
    control_plane = config["nodes"][0]
    extra = {
        (m["listenAddress"], m["hostPort"]): m
        for m in control_plane["extraPortMappings"]
    }
    for stack in SHIPPED:
        pinned = node_ports(mappings, stack.name)
        for port in stack.published_ports():
            entry = extra[("127.0.0.1", port.host_port)]
            assert entry["protocol"] == "TCP"
            # The Service pins the nodePort that the mapping forwards to.
            assert pinned[(port.service, port.container_port)] == entry["containerPort"]


def test_mappings_cover_web_and_logging_ports():
    mappings, _ = config_for(SHIPPED)
    host_ports = {m.host_port for m in mappings}
    assert {8080, 3306, 8081, 24224} <= host_ports


def test_node_ports_in_default_range():
    for port in (1, 80, 3306, 8080, 24224, 65535):
        assert 30000 <= node_port_for(port) <= 32767


def test_node_image_pinned_by_digest():
    _, config = config_for(SHIPPED)
    for node in config["nodes"]:
        assert node["image"] == NODE_IMAGE
    assert "@sha256:" in NODE_IMAGE


def test_nodes_gives_control_plane_and_workers():
    _, config = config_for(SHIPPED, nodes=3)
    roles = [node["role"] for node in config["nodes"]]
    assert roles == ["control-plane", "worker", "worker"]
    assert "extraPortMappings" not in config["nodes"][1]


def test_zero_nodes_rejected():
    with pytest.raises(ConfigError):
        config_for(SHIPPED, nodes=0)


def test_every_node_mounts_registry_folder():
    _, config = config_for(SHIPPED, nodes=2, certs=Path("/state/certs.d"))
    for node in config["nodes"]:
        assert node["extraMounts"] == [
            {"hostPath": "/state/certs.d", "containerPath": CERTS_DIR, "readOnly": True}
        ]


def test_containerd_uses_config_path():
    _, config = config_for(SHIPPED)
    patch = config["containerdConfigPatches"][0]
    assert '[plugins."io.containerd.grpc.v1.cri".registry]' in patch
    assert f'config_path = "{CERTS_DIR}"' in patch
    assert "registry.mirrors" not in patch


def test_port_without_host_port_rejected(tmp_path):
    file = tmp_path / "compose.yaml"
    file.write_text('services:\n  app:\n    image: app:1\n    ports: ["80"]\n')
    with pytest.raises(ConfigError) as raised:
        port_mappings([load_stack(str(file), STACKS)], "127.0.0.1")
    assert "has no host port" in raised.value.message


def test_node_port_collision_rejected(tmp_path):
    file = tmp_path / "compose.yaml"
    file.write_text(
        'services:\n  app:\n    image: app:1\n    ports: ["1000:80", "3768:81"]\n'
    )
    with pytest.raises(ConfigError) as raised:
        port_mappings([load_stack(str(file), STACKS)], "127.0.0.1")
    assert "both pair with nodePort 31000" in raised.value.message


def test_hosts_toml_for_docker_hub_mirror():
    text = hosts_toml(
        RegistryMirror("docker.io", "http://playground-mirror-registry-1:5000")
    )
    assert text == (
        'server = "https://registry-1.docker.io"\n'
        "\n"
        '[host."http://playground-mirror-registry-1:5000"]\n'
        '  capabilities = ["pull", "resolve"]\n'
    )


def test_hosts_toml_with_path_prefix_overrides_path():
    text = hosts_toml(
        RegistryMirror("docker.io", "http://harbor:8080/", path="dockerhub-proxy")
    )
    assert '[host."http://harbor:8080/v2/dockerhub-proxy"]' in text
    assert "override_path = true" in text


def test_hosts_toml_server_override():
    mirror = RegistryMirror(
        "127.0.0.1:5000", "http://registry:5000", server="http://127.0.0.1:5000"
    )
    assert hosts_toml(mirror).startswith('server = "http://127.0.0.1:5000"\n')


def test_write_registry_hosts_replaces_stale(tmp_path):
    stale = tmp_path / "quay.io" / "hosts.toml"
    stale.parent.mkdir()
    stale.write_text("old")
    written = write_registry_hosts(
        tmp_path, [RegistryMirror("docker.io", "http://m:5000")]
    )
    assert written == [tmp_path / "docker.io" / "hosts.toml"]
    assert 'host."http://m:5000"' in written[0].read_text()
    assert not stale.exists()


def test_write_registry_hosts_without_mirror_leaves_none(tmp_path):
    write_registry_hosts(tmp_path, [RegistryMirror("docker.io", "http://m:5000")])
    write_registry_hosts(tmp_path, [])
    assert list(tmp_path.glob("*/hosts.toml")) == []


def test_missing_mappings_found():
    needed = [
        PortMapping("web", "web", 8080, "127.0.0.1", 8080, node_port_for(8080)),
        PortMapping("web", "db", 3306, "127.0.0.1", 3306, node_port_for(3306)),
    ]
    bindings = {f"{node_port_for(8080)}/tcp": [("127.0.0.1", 8080)]}
    assert missing_mappings(needed, bindings) == [needed[1]]
