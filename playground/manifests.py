"""Kubernetes objects derived from a stack's Compose definition.

Every Compose service becomes a workload (a Deployment, a StatefulSet for a
service that keeps data on a named volume, or the kind that
``x-playground.kubernetes`` names) and a Service for the ports it publishes.
Bind-mounted files become ConfigMaps, generated credentials a Secret, named
volumes PersistentVolumeClaims, health checks readiness probes. Each change
that Kubernetes forces is recorded as a note.

``x-playground.kubernetes`` adds per service what Compose has no word for::

    x-playground:
      kubernetes:
        fluentd:
          workload: DaemonSet            # Deployment, StatefulSet or DaemonSet
          node_logs: /var/log            # the node's log folder, read-only
          config:                        # container path: file in the stack folder
            /fluentd/etc/fluent.conf: fluent-kubernetes.conf
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from playground.backends import BACKEND_LABEL, STACK_LABEL, resource_name
from playground.errors import ConfigError
from playground.pod_template import (
    SECRET_NAME,
    claim_name,
    config_map_name,
    container_for,
    dns_key,
    dns_label,
)
from playground.translate import healthy_dependencies

if TYPE_CHECKING:
    from playground.imagemap import ImageMap
    from playground.stack import Stack

NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
HOST_PORTS_ANNOTATION = "io.playground.host-ports"
# On the headless Service that governs a StatefulSet: the StatefulSet's name.
GOVERNS_ANNOTATION = "io.playground.governs"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
CLAIM_SIZE = "1Gi"
# Shown in place of a generated password where none exists yet (``export``).
SECRET_PLACEHOLDER = "generated-by-playground-up"


@dataclass
class KubeObjects:
    """The objects of one stack, in apply order, and what changed in the
    translation. ``workloads`` maps each service to its workload's kind."""

    namespace: str
    objects: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    workloads: dict[str, str] = field(default_factory=dict)

    def shared(self) -> list[dict[str, Any]]:
        """Return every object that is not a workload."""
        return [obj for obj in self.objects if obj["kind"] not in WORKLOAD_KINDS]

    def workload(self, service: str) -> dict[str, Any]:
        name = dns_label(service)
        return next(
            obj
            for obj in self.objects
            if obj["kind"] in WORKLOAD_KINDS and obj["metadata"]["name"] == name
        )


@dataclass(frozen=True)
class Addition:
    """The ``x-playground.kubernetes`` entry of one service."""

    workload: str | None = None
    node_logs: str | None = None
    config: dict[str, Path] = field(default_factory=dict)


def render_objects(
    stack: Stack,
    image_map: ImageMap,
    *,
    backend: str,
    secret_values: dict[str, str] | None = None,
    node_ports: dict[tuple[str, int], int] | None = None,
) -> KubeObjects:
    """Return the Kubernetes objects of ``stack``.

    ``secret_values`` contains the generated credentials, and None puts a
    placeholder in the Secret (for ``export``). ``node_ports`` maps
    (service, container port) of each published port to the nodePort that
    the kind cluster maps the host port to; None makes every Service
    ClusterIP, reached through port-forwarding.
    """
    namespace = resource_name(stack.name)
    result = KubeObjects(namespace)
    labels = {
        STACK_LABEL: stack.name,
        BACKEND_LABEL: backend,
        MANAGED_BY_LABEL: "playground",
    }
    additions = parse_additions(stack)

    result.objects.append(_object("v1", "Namespace", namespace, None, labels))
    result.notes.append(
        f"added namespace {namespace}, which contains every object of the stack"
    )
    secret = _secret(stack, namespace, labels, secret_values, result.notes)
    if secret:
        result.objects.append(secret)

    claims: list[str] = []
    workloads = []
    for service in stack.services:
        rendered = _render_service(
            stack,
            service,
            additions.get(service, Addition()),
            image_map.relocate(stack.compose["services"][service]["image"]),
            labels,
            node_ports,
            result.notes,
        )
        result.workloads[service] = rendered.workload["kind"]
        result.objects += rendered.shared
        claims += [claim for claim in rendered.claims if claim not in claims]
        workloads.append(rendered.workload)

    result.objects += [_claim(volume, namespace, labels) for volume in claims]
    result.objects += workloads
    _reject_same_names(stack, result.objects)
    return result


def _reject_same_names(stack: Stack, objects: list[dict[str, Any]]) -> None:
    """Raise ConfigError when two objects of one kind got the same name
    (service names that differ only where Kubernetes names cannot, or a
    service named like another's headless Service): one would replace the
    other on apply."""
    seen: set[tuple[str, str]] = set()
    for obj in objects:
        key = (obj["kind"], obj["metadata"]["name"])
        if key in seen:
            raise ConfigError(
                f"{stack.file}: services: two services become the {key[0]} {key[1]!r} "
                "on Kubernetes, so one would replace the other",
                hint="rename one of the services",
            )
        seen.add(key)


@dataclass
class _ServiceObjects:
    """One service's workload, the objects it needs, and its named volumes."""

    workload: dict[str, Any]
    shared: list[dict[str, Any]]
    claims: list[str]


def _render_service(
    stack: Stack,
    service: str,
    addition: Addition,
    image: str,
    labels: dict[str, str],
    node_ports: dict[tuple[str, int], int] | None,
    notes: list[str],
) -> _ServiceObjects:
    spec = stack.compose["services"][service]
    namespace = resource_name(stack.name)
    named = set((stack.compose.get("volumes") or {}).keys())
    ports = _service_ports(stack, service)
    parts = container_for(
        service,
        spec,
        image,
        stack.directory,
        named,
        [port for port, _ in ports],
        notes,
        addition.config,
    )
    kind = addition.workload or ("StatefulSet" if parts.claims else "Deployment")
    pod_labels = {**labels, NAME_LABEL: dns_label(service), INSTANCE_LABEL: namespace}

    shared = []
    if parts.config_data:
        shared.append(_config_map(service, namespace, labels, parts.config_data))
    if addition.node_logs:
        shared += _node_log_access(service, namespace, labels)
        _mount_node_logs(parts, addition.node_logs)
        notes.append(
            f"{service}: added read-only access to the node's {addition.node_logs} "
            "as root, and a ServiceAccount with a Role to read pods"
        )
    if ports:
        shared.append(
            _service(service, namespace, labels, pod_labels, ports, node_ports)
        )
    elif kind != "DaemonSet":
        # Compose resolves every service's name; Kubernetes only a Service's.
        shared.append(
            _headless_service(dns_label(service), namespace, labels, pod_labels, [])
        )
        notes.append(
            f"{service}: added the headless Service {dns_label(service)}, without ports, "
            f"so other services resolve the name {service} as on Compose"
        )
    governing = dns_label(service)
    if kind == "StatefulSet" and ports:
        governing = f"{dns_label(service)}-headless"
        headless = _headless_service(governing, namespace, labels, pod_labels, ports)
        headless["metadata"]["annotations"] = {GOVERNS_ANNOTATION: dns_label(service)}
        shared.append(headless)
        notes.append(
            f"{service}: added the headless Service {governing}, which gives the "
            "StatefulSet's pods their stable names"
        )
    for target, path in addition.config.items():
        notes.append(
            f"{service}: {target} comes from {path.name}, as x-playground.kubernetes "
            "sets for Kubernetes"
        )

    workload = _workload(service, spec, kind, namespace, pod_labels, parts, addition)
    if kind == "StatefulSet":
        workload["spec"]["serviceName"] = governing
    _note_service(service, spec, kind, parts.claims, notes)
    return _ServiceObjects(workload, shared, parts.claims)


def parse_additions(stack: Stack) -> dict[str, Addition]:
    """Read ``x-playground.kubernetes``; ConfigError names a malformed key."""
    section = (stack.compose.get("x-playground") or {}).get("kubernetes") or {}
    where = "x-playground.kubernetes"
    _expect(
        isinstance(section, dict), stack, where, "a mapping of service names", section
    )
    additions = {}
    for service, entry in section.items():
        key = f"{where}.{service}"
        _expect(
            service in stack.compose["services"],
            stack,
            key,
            "a service of the stack",
            service,
        )
        _expect(isinstance(entry, dict), stack, key, "a mapping", entry)
        workload = entry.get("workload")
        _expect(
            workload in (None, *WORKLOAD_KINDS),
            stack,
            f"{key}.workload",
            "one of " + ", ".join(WORKLOAD_KINDS),
            workload,
        )
        node_logs = entry.get("node_logs")
        _expect(
            node_logs is None
            or (isinstance(node_logs, str) and node_logs.startswith("/")),
            stack,
            f"{key}.node_logs",
            "an absolute path on the node",
            node_logs,
        )
        config = entry.get("config") or {}
        _expect(isinstance(config, dict), stack, f"{key}.config", "a mapping", config)
        files = {
            str(target): stack.directory / str(source)
            for target, source in config.items()
        }
        additions[service] = Addition(workload, node_logs, files)
    return additions


def _expect(condition: bool, stack: Stack, key: str, expected: str, value: Any) -> None:
    if not condition:
        raise ConfigError(f"{stack.file}: {key}: expected {expected}, got {value!r}")


def _object(
    api_version: str,
    kind: str,
    name: str,
    namespace: str | None,
    labels: dict[str, str],
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata}


def _secret(
    stack: Stack,
    namespace: str,
    labels: dict[str, str],
    values: dict[str, str] | None,
    notes: list[str],
) -> dict[str, Any] | None:
    data = {}
    for name, spec in (stack.compose.get("secrets") or {}).items():
        if name in stack.generated_secrets:
            data[dns_key(name)] = (
                values[name] if values is not None else SECRET_PLACEHOLDER
            )
        elif spec.get("file"):
            data[dns_key(name)] = (stack.directory / spec["file"]).read_text()
        else:
            notes.append(
                f"secret {name}: dropped (only file and generated secrets are copied)"
            )
    if not data:
        return None
    secret = _object("v1", "Secret", SECRET_NAME, namespace, labels)
    secret["type"] = "Opaque"
    secret["stringData"] = data
    notes.append(
        "generated credentials became the Secret " + SECRET_NAME + ", mounted as files "
        "where Compose puts them (/run/secrets/NAME)"
    )
    return secret


def _config_map(
    service: str, namespace: str, labels: dict[str, str], data: dict[str, str]
) -> dict[str, Any]:
    config_map = _object("v1", "ConfigMap", config_map_name(service), namespace, labels)
    config_map["data"] = data
    return config_map


def _claim(volume: str, namespace: str, labels: dict[str, str]) -> dict[str, Any]:
    claim = _object(
        "v1", "PersistentVolumeClaim", claim_name(volume), namespace, labels
    )
    claim["spec"] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": CLAIM_SIZE}},
    }
    return claim


def _service_ports(stack: Stack, service: str) -> list[tuple[int, int | None]]:
    """Return (container port, host port or None) for every port the
    service publishes or exposes, each container port once."""
    ports: dict[int, int | None] = {}
    for published in stack.published_ports():
        if published.service == service and published.protocol == "tcp":
            ports.setdefault(published.container_port, published.host_port)
    for exposed in stack.compose["services"][service].get("expose") or []:
        ports.setdefault(int(str(exposed).split("/")[0]), None)
    return list(ports.items())


def _service(
    service: str,
    namespace: str,
    labels: dict[str, str],
    selector: dict[str, str],
    ports: list[tuple[int, int | None]],
    node_ports: dict[tuple[str, int], int] | None,
) -> dict[str, Any]:
    """Return the Service of ``service``, named like it, so other services
    reach it by the same name and port as on Compose."""
    obj = _object("v1", "Service", dns_label(service), namespace, labels)
    entries = []
    for container_port, _host_port in ports:
        entry = _port_entry(container_port)
        if node_ports and (service, container_port) in node_ports:
            entry["nodePort"] = node_ports[(service, container_port)]
        entries.append(entry)
    node_port = any("nodePort" in entry for entry in entries)
    obj["spec"] = {
        "type": "NodePort" if node_port else "ClusterIP",
        "selector": {key: selector[key] for key in (NAME_LABEL, INSTANCE_LABEL)},
        "ports": entries,
    }
    published = [f"{c}:{h}" for c, h in ports if h is not None]
    if published:
        obj["metadata"]["annotations"] = {HOST_PORTS_ANNOTATION: ",".join(published)}
    return obj


def _headless_service(
    name: str,
    namespace: str,
    labels: dict[str, str],
    selector: dict[str, str],
    ports: list[tuple[int, int | None]],
) -> dict[str, Any]:
    """Return a headless Service: a DNS name for the pods, no cluster IP."""
    obj = _object("v1", "Service", name, namespace, labels)
    obj["spec"] = {
        "clusterIP": "None",
        "selector": {key: selector[key] for key in (NAME_LABEL, INSTANCE_LABEL)},
    }
    if ports:
        obj["spec"]["ports"] = [_port_entry(port) for port, _host_port in ports]
    return obj


def _port_entry(port: int) -> dict[str, Any]:
    """Return a Service port that forwards ``port`` to the same container port."""
    return {"name": f"tcp-{port}", "port": port, "targetPort": port, "protocol": "TCP"}


def _workload(
    service: str,
    spec: dict[str, Any],
    kind: str,
    namespace: str,
    pod_labels: dict[str, str],
    parts: Any,
    addition: Addition,
) -> dict[str, Any]:
    selector = {key: pod_labels[key] for key in (NAME_LABEL, INSTANCE_LABEL)}
    pod: dict[str, Any] = {
        "containers": [parts.container],
        "automountServiceAccountToken": False,
    }
    if parts.volumes:
        pod["volumes"] = parts.volumes
    if addition.node_logs:
        pod["serviceAccountName"] = node_log_account(service)
        pod["tolerations"] = [
            {
                "key": "node-role.kubernetes.io/control-plane",
                "operator": "Exists",
                "effect": "NoSchedule",
            }
        ]
    workload = _object("apps/v1", kind, dns_label(service), namespace, pod_labels)
    workload["spec"] = {
        "selector": {"matchLabels": selector},
        "template": {"metadata": {"labels": pod_labels}, "spec": pod},
    }
    if kind != "DaemonSet":
        replicas = (spec.get("deploy") or {}).get("replicas")
        workload["spec"]["replicas"] = int(replicas) if replicas is not None else 1
    return workload


def node_log_account(service: str) -> str:
    return f"{dns_label(service)}-node-logs"


def _node_log_access(
    service: str, namespace: str, labels: dict[str, str]
) -> list[dict]:
    """Return a ServiceAccount for a node-log reader and a Role, bound to it,
    that reads the pods of the stack's namespace.

    NOTE: the Role covers what a Kubernetes metadata filter for Fluentd
    (fluent-plugin-kubernetes_metadata_filter) reads. The shipped Fluentd
    configuration takes pod and container names from the log file names and
    makes no API call.
    """
    name = node_log_account(service)
    account = _object("v1", "ServiceAccount", name, namespace, labels)
    role = _object("rbac.authorization.k8s.io/v1", "Role", name, namespace, labels)
    role["rules"] = [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = _object(
        "rbac.authorization.k8s.io/v1", "RoleBinding", name, namespace, labels
    )
    binding["roleRef"] = {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": name,
    }
    binding["subjects"] = [
        {"kind": "ServiceAccount", "name": name, "namespace": namespace}
    ]
    return [account, role, binding]


def _mount_node_logs(parts: Any, path: str) -> None:
    """Mount the node's log folder read-only and run the container as root,
    because the kubelet writes container logs readable by root only."""
    parts.volumes.append(
        {"name": "node-logs", "hostPath": {"path": path, "type": "Directory"}}
    )
    parts.volumes.append({"name": "positions", "emptyDir": {}})
    container = parts.container
    container.setdefault("volumeMounts", []).extend(
        [
            {"name": "node-logs", "mountPath": path, "readOnly": True},
            {"name": "positions", "mountPath": "/fluentd/pos"},
        ]
    )
    container.setdefault("securityContext", {})["runAsUser"] = 0
    container["env"] = [
        *container.get("env", []),
        {
            "name": "STACK_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
        },
    ]


def _note_service(
    service: str, spec: dict[str, Any], kind: str, claims: list[str], notes: list[str]
) -> None:
    if kind == "StatefulSet" and claims:
        notes.append(
            f"{service}: became a StatefulSet, since it keeps data on {', '.join(claims)}"
        )
    elif kind == "DaemonSet":
        notes.append(f"{service}: added as a DaemonSet, one pod on every node")
    if dns_label(service) != service:
        notes.append(f"{service}: named {dns_label(service)}, a valid Kubernetes name")
    if "logging" in spec:
        driver = (spec["logging"] or {}).get("driver", "json-file")
        notes.append(
            f"{service}: dropped logging (driver {driver} is Docker's); the container "
            "writes to stdout, which the node keeps in its container logs"
        )
    if "restart" in spec:
        notes.append(
            f"{service}: dropped restart (Kubernetes restarts containers always)"
        )
    healthy = healthy_dependencies({service: spec})[service]
    if healthy:
        notes.append(
            f"{service}: depends_on became apply order: {service} is applied once "
            f"{', '.join(healthy)} is ready"
        )
    if spec.get("labels"):
        notes.append(
            f"{service}: dropped labels (Compose labels are not Kubernetes labels)"
        )
    for published in spec.get("ports") or []:
        if str(published).endswith("/udp") or (
            isinstance(published, dict) and published.get("protocol") == "udp"
        ):
            notes.append(
                f"{service}: dropped UDP port {published} (Services here are TCP)"
            )
