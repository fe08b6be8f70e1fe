"""The Kubernetes backend: a stack's objects in namespace ``playground-STACK``
of the cluster that a kubeconfig context names.

Objects are applied in start phases: shared objects first, then the
workloads of each phase, whose rollout must complete before the next phase
applies, so ``depends_on: condition: service_healthy`` holds. Health checks
reach the services through port-forwarding.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from playground.backends import (
    BACKEND_LABEL,
    STACK_LABEL,
    DownResult,
    Endpoint,
    ServiceState,
    UpResult,
    merged,
    prefixed,
    resource_name,
)
from playground.export import group_changes
from playground.kubeclient import KubeClient, load_apis
from playground.manifests import (
    GOVERNS_ANNOTATION,
    HOST_PORTS_ANNOTATION,
    KubeObjects,
    render_objects,
)
from playground.pod_template import dns_label
from playground.translate import stack_phases

if TYPE_CHECKING:
    from playground.imagemap import ImageMap
    from playground.port_forward import PortForward
    from playground.settings import Settings
    from playground.stack import Stack

log = logging.getLogger(__name__)

# Kinds removed by ``down`` when the namespace stays for its claims.
REMOVED_KINDS = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Service",
    "ConfigMap",
    "Secret",
    "RoleBinding",
    "Role",
    "ServiceAccount",
]
NAMESPACE_DELETE_TIMEOUT = 120.0


class KubernetesBackend:
    name = "kubernetes"

    def __init__(
        self, settings: Settings, image_map: ImageMap, context: str | None = None
    ):
        self.settings = settings
        self.image_map = image_map
        self.context = context
        self._client: KubeClient | None = None
        self._forwards: dict[tuple[str, int], PortForward] = {}
        self._prepared: set[str] = set()

    # The cluster

    @property
    def where(self) -> str:
        return (
            f"context {self.context}"
            if self.context
            else "the current kubeconfig context"
        )

    def client(self) -> KubeClient:
        if self._client is None:
            self._client = KubeClient(
                load_apis(None, self.context, self.where), self.where
            )
        return self._client

    def prepare(self, stack: Stack, notes: list[str]) -> None:
        """Make the cluster ready for ``stack``; nothing to do on an existing one."""

    # Rendering

    def node_ports(self, stack: Stack) -> dict[tuple[str, int], int] | None:
        """Return the pinned nodePorts of the stack's published ports; None
        leaves every Service ClusterIP."""
        return None

    def render(
        self, stack: Stack, secret_values: dict[str, str] | None = None
    ) -> KubeObjects:
        return render_objects(
            stack,
            self.image_map,
            backend=self.name,
            secret_values=secret_values,
            node_ports=self.node_ports(stack),
        )

    def phases(self, stack: Stack) -> list[list[str]]:
        """Return the services in start order: a service that needs another
        healthy is applied once that one's rollout is complete."""
        return stack_phases(stack)

    # Lifecycle

    def up(
        self,
        stack: Stack,
        secret_files: dict[str, Path],
        held: frozenset[str] = frozenset(),
    ) -> UpResult:
        """Apply the shared objects and the workloads of the services not in
        ``held``, then wait for their rollouts."""
        notes: list[str] = []
        if stack.name not in self._prepared:
            # Once per command: ``up`` calls this method once per start phase.
            self.prepare(stack, notes)
            self._prepared.add(stack.name)
        values = {name: path.read_text().strip() for name, path in secret_files.items()}
        objects = self.render(stack, values)
        # What the translation dropped is worth a warning on every up; the
        # full list of changes is what ``playground export`` prints.
        notes += group_changes(objects.notes)["dropped"]

        active = [service for service in stack.services if service not in held]
        client = self.client()
        changed = client.apply_all(
            objects.shared() + [objects.workload(service) for service in active]
        )
        workloads = [(objects.workloads[s], dns_label(s)) for s in active]
        client.wait_for_rollouts(objects.namespace, workloads, self.settings.timeout)
        if not held:
            changed += self._prune(stack, objects, notes)
        return UpResult(changed=bool(changed), notes=notes)

    def _prune(self, stack: Stack, objects: KubeObjects, notes: list[str]) -> list[str]:
        """Delete the stack's objects that its definition no longer renders,
        as Compose removes orphans. Claims stay, since they hold data."""
        keep = frozenset(
            f"{o['kind']}/{o['metadata']['name']}" for o in objects.objects
        )
        selector = f"{STACK_LABEL}={stack.name}"
        removed = self.client().delete_labelled(
            objects.namespace, selector, REMOVED_KINDS, keep
        )
        notes += [
            f"deleted {name}, which the stack no longer defines" for name in removed
        ]
        return removed

    def down(self, stack: Stack, *, volumes: bool) -> DownResult:
        """Delete the stack's namespace. A namespace that contains claims stays,
        with only the claims left in it, unless ``volumes`` is set."""
        client = self.client()
        namespace = resource_name(stack.name)
        if not client.namespace_exists(namespace):
            return DownResult(was_up=False)

        claims = client.claims(namespace)
        if volumes or not claims:
            client.delete_namespace(namespace, NAMESPACE_DELETE_TIMEOUT)
            return DownResult(was_up=True, removed_volumes=claims if volumes else [])
        # A namespace left with claims only, by an earlier down, is not up.
        selector = f"{STACK_LABEL}={stack.name}"
        deleted = client.delete_labelled(namespace, selector, REMOVED_KINDS)
        return DownResult(was_up=bool(deleted), kept_volumes=claims)

    def volumes(self, stack: Stack) -> list[str]:
        """Return the stack's PersistentVolumeClaims, which ``down --volumes`` deletes."""
        client = self.client()
        namespace = resource_name(stack.name)
        if not client.namespace_exists(namespace):
            return []
        return client.claims(namespace)

    # Inspection

    def states(self, stack: Stack) -> dict[str, ServiceState]:
        client = self.client()
        namespace = resource_name(stack.name)
        objects = self.render(stack)
        states = {}
        for service in stack.services:
            kind = objects.workloads[service]
            rollout = client.rollout(namespace, kind, dns_label(service))
            if rollout is None:
                continue
            state = ServiceState(service=service, status="starting")
            if rollout.problem:
                state.status, state.detail = "failed", rollout.problem
            elif rollout.complete:
                state.status = "running"
                state.endpoints = self.endpoints(stack, service)
            else:
                state.detail = f"{rollout.ready}/{rollout.desired} pods ready"
            if _has_probe(objects.workload(service)):
                state.health = "healthy" if rollout.complete else "starting"
            states[service] = state
        return states

    def endpoints(self, stack: Stack, service: str) -> list[Endpoint]:
        """Return a forwarded local port for each port the service publishes."""
        from playground.port_forward import PortForward

        namespace = resource_name(stack.name)
        ports = [p for p in stack.published_ports() if p.service == service]
        endpoints = []
        for port in ports:
            key = (service, port.container_port)
            # NOTE: a forward stays bound to the pod it was opened for; if
            # that pod is replaced, checks fail until the next command.
            if key not in self._forwards:
                pod = self._ready_pod(namespace, service)
                if pod is None:
                    continue
                self._forwards[key] = PortForward(
                    self.client().apis.core, namespace, pod, port.container_port
                )
            local = self._forwards[key].local_port
            endpoints.append(Endpoint(port.container_port, "127.0.0.1", local))
        return endpoints

    def _ready_pod(self, namespace: str, service: str) -> str | None:
        from playground.manifests import INSTANCE_LABEL, NAME_LABEL

        selector = f"{NAME_LABEL}={dns_label(service)},{INSTANCE_LABEL}={namespace}"
        for pod in self.client().pods(namespace, selector):
            if pod.status.phase == "Running":
                return pod.metadata.name
        return None

    def logs(self, stack: Stack, service: str, tail: int) -> str:
        return self.client().logs(resource_name(stack.name), dns_label(service), tail)

    def stream_logs(
        self, stack: Stack, services: list[str], tail: int, follow: bool
    ) -> Iterator[str]:
        """Yield the log lines of every pod of the services, each prefixed
        with its service; with ``follow``, until interrupted."""
        from playground.manifests import INSTANCE_LABEL, NAME_LABEL

        client = self.client()
        namespace = resource_name(stack.name)
        streams = []
        for service in services:
            app = dns_label(service)
            selector = f"{NAME_LABEL}={app},{INSTANCE_LABEL}={namespace}"
            for pod in client.pods(namespace, selector):
                lines = client.pod_log_lines(namespace, pod.metadata.name, app, tail, follow)
                streams.append(prefixed(service, lines))
        yield from merged(streams)

    def deployed(self) -> dict[str, dict[str, ServiceState]]:
        """Return every stack this backend runs, found by namespace label,
        with the host ports its Services record."""
        client = self.client()
        found = {}
        for namespace in client.namespaces(f"{BACKEND_LABEL}={self.name}"):
            stack = namespace.removeprefix("playground-")
            found[stack] = self._deployed_services(client, namespace)
        return found

    def _deployed_services(
        self, client: KubeClient, namespace: str
    ) -> dict[str, ServiceState]:
        from playground.kubeclient import api_errors

        with api_errors(self.where):
            services = client.apis.core.list_namespaced_service(namespace).items
        states = {}
        for service in services:
            annotations = service.metadata.annotations or {}
            if GOVERNS_ANNOTATION in annotations:
                continue
            endpoints = []
            for pair in filter(
                None, annotations.get(HOST_PORTS_ANNOTATION, "").split(",")
            ):
                container, _, host = pair.partition(":")
                endpoints.append(
                    Endpoint(int(container), self.settings.bind_address, int(host))
                )
            states[service.metadata.name] = ServiceState(
                service.metadata.name, "running", endpoints=endpoints
            )
        return states


def _has_probe(workload: dict) -> bool:
    return "readinessProbe" in workload["spec"]["template"]["spec"]["containers"][0]
