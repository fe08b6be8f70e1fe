"""The Kubernetes API, reached only through the official client.

Every call runs inside ``api_errors``, which turns the client's exceptions
into project errors. Objects are applied with server-side apply under the
field manager ``playground``. A hash annotation records what was applied, so
an object that already matches is skipped and an unchanged stack changes
nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from playground.errors import (
    ConfigError,
    PlaygroundError,
    PrerequisiteError,
    Unhealthy,
    WaitTimeout,
)

log = logging.getLogger(__name__)

FIELD_MANAGER = "playground"
HASH_ANNOTATION = "io.playground.config-hash"
APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
POLL_INTERVAL = 1.0
LOG_TAIL = 20
EVENT_LIMIT = 10
# Container waiting reasons that waiting does not cure.
FAILING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
IMAGE_PULL_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName"}
)
# kind: (API group attribute, method suffix, namespaced).
RESOURCES = {
    "Namespace": ("core", "namespace", False),
    "ServiceAccount": ("core", "namespaced_service_account", True),
    "Secret": ("core", "namespaced_secret", True),
    "ConfigMap": ("core", "namespaced_config_map", True),
    "PersistentVolumeClaim": ("core", "namespaced_persistent_volume_claim", True),
    "Service": ("core", "namespaced_service", True),
    "Role": ("rbac", "namespaced_role", True),
    "RoleBinding": ("rbac", "namespaced_role_binding", True),
    "Deployment": ("apps", "namespaced_deployment", True),
    "StatefulSet": ("apps", "namespaced_stateful_set", True),
    "DaemonSet": ("apps", "namespaced_daemon_set", True),
}


class NotFound(PlaygroundError):
    """An object the API server does not have."""


@dataclass
class Apis:
    """The typed API groups of the kubernetes client that playground uses."""

    core: Any
    apps: Any
    rbac: Any


@dataclass
class Rollout:
    """A workload's rollout: ready pods against desired ones, and a pod
    problem that waiting does not cure, if any."""

    kind: str
    name: str
    desired: int
    ready: int
    problem: str = ""
    reason: str = ""

    @property
    def complete(self) -> bool:
        return self.desired > 0 and self.ready >= self.desired and not self.problem


@contextmanager
def api_errors(where: str) -> Iterator[None]:
    """Translate the kubernetes client's exceptions into project errors.

    ``where`` names the cluster in messages ("kind cluster playground").
    """
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException
    from urllib3.exceptions import HTTPError

    try:
        yield
    except ApiException as error:
        raise _api_error(error, where) from error
    except ConfigException as error:
        raise PrerequisiteError(
            f"cannot use the kubeconfig for {where}: {error}",
            hint="check 'kubectl config get-contexts' and the --context name",
        ) from error
    except HTTPError as error:
        raise PrerequisiteError(
            f"the Kubernetes API of {where} is not reachable: {error}",
            hint="check that the cluster runs ('kubectl cluster-info') and the context",
        ) from error


def _api_error(error: Any, where: str) -> PlaygroundError:
    message = _status_message(error)
    if error.status == 404:
        return NotFound(message)
    if error.status in (401, 403):
        return PrerequisiteError(
            f"the Kubernetes API of {where} rejected the request: {message}",
            hint="check the credentials of the kubeconfig context",
        )
    if error.status == 422:
        return ConfigError(
            f"the Kubernetes API of {where} rejected an object: {message}"
        )
    return PlaygroundError(
        f"Kubernetes API call failed with HTTP {error.status}: {message}"
    )


def _status_message(error: Any) -> str:
    """Return the message of the Status object in an error body, or the reason."""
    try:
        return json.loads(error.body)["message"]
    except (TypeError, ValueError, KeyError):
        return str(error.reason or error.status)


def config_hash(obj: dict[str, Any]) -> str:
    text = json.dumps(obj, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_apis(
    kubeconfig: dict[str, Any] | None, context: str | None, where: str
) -> Apis:
    """Build the API groups from a kubeconfig document (None: the user's
    kubeconfig file) and a context name (None: its current context)."""
    from kubernetes import client, config

    with api_errors(where):
        if kubeconfig is None:
            api_client = config.new_client_from_config(
                context=context, persist_config=False
            )
        else:
            api_client = config.new_client_from_config_dict(
                kubeconfig, context=context, persist_config=False
            )
    return Apis(
        client.CoreV1Api(api_client),
        client.AppsV1Api(api_client),
        client.RbacAuthorizationV1Api(api_client),
    )


class KubeClient:
    """The Kubernetes operations playground needs, on one cluster."""

    def __init__(self, apis: Apis, where: str):
        self.apis = apis
        self.where = where

    def _method(self, verb: str, kind: str) -> tuple[Any, bool]:
        group, suffix, namespaced = RESOURCES[kind]
        return getattr(getattr(self.apis, group), f"{verb}_{suffix}"), namespaced

    def _call(
        self, verb: str, kind: str, name: str, namespace: str | None, **kwargs: Any
    ) -> Any:
        method, namespaced = self._method(verb, kind)
        with api_errors(self.where):
            if namespaced:
                return method(name, namespace, **kwargs)
            return method(name, **kwargs)

    # Apply

    def apply(self, obj: dict[str, Any]) -> bool:
        """Apply one object unless it already matches; return whether it changed."""
        kind, metadata = obj["kind"], obj["metadata"]
        digest = config_hash(obj)
        try:
            current = self._call(
                "read", kind, metadata["name"], metadata.get("namespace")
            )
            annotations = current.metadata.annotations or {}
            if annotations.get(HASH_ANNOTATION) == digest:
                return False
        except NotFound:
            pass

        body = json.loads(json.dumps(obj))
        body["metadata"].setdefault("annotations", {})[HASH_ANNOTATION] = digest
        log.debug("applying %s %s", kind, metadata["name"])
        self._call(
            "patch",
            kind,
            metadata["name"],
            metadata.get("namespace"),
            body=body,
            field_manager=FIELD_MANAGER,
            force=True,
            _content_type=APPLY_CONTENT_TYPE,
        )
        return True

    def apply_all(self, objects: list[dict[str, Any]]) -> list[str]:
        """Apply ``objects`` in order; return "KIND/NAME" of those that changed."""
        return [
            f"{obj['kind']}/{obj['metadata']['name']}"
            for obj in objects
            if self.apply(obj)
        ]

    # Rollouts

    def rollout(self, namespace: str, kind: str, name: str) -> Rollout | None:
        """Return the rollout of a workload, or None if it does not exist."""
        try:
            workload = self._call("read", kind, name, namespace)
        except NotFound:
            return None
        desired, ready = _counts(kind, workload)
        selector = ",".join(
            f"{k}={v}" for k, v in workload.spec.selector.match_labels.items()
        )
        reason, problem = self._pod_problem(namespace, selector)
        progress = _progress_problem(kind, workload)
        if progress:
            reason, problem = "ProgressDeadlineExceeded", progress
        return Rollout(kind, name, desired, ready, problem, reason)

    def wait_for_rollouts(
        self, namespace: str, workloads: list[tuple[str, str]], timeout: float
    ) -> None:
        """Poll until every (kind, name) workload has all its pods ready.

        Raises Unhealthy as soon as a pod fails in a way that waiting does
        not cure, and WaitTimeout after ``timeout`` seconds. Both errors carry
        the pods' recent events and last log lines.
        """
        deadline = time.monotonic() + timeout
        while True:
            rollouts = [self.rollout(namespace, kind, name) for kind, name in workloads]
            failed = [r for r in rollouts if r is not None and r.problem]
            if failed:
                raise Unhealthy(
                    "rollout failed: "
                    + "; ".join(f"{r.kind} {r.name}: {r.problem}" for r in failed),
                    hint=_failure_hint(failed),
                    details=self.diagnostics(namespace, [r.name for r in failed]),
                )
            pending = [
                (kind, name, rollout)
                for (kind, name), rollout in zip(workloads, rollouts)
                if rollout is None or not rollout.complete
            ]
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"timed out after {timeout:.0f} s waiting for the rollout of "
                    + ", ".join(_pending_text(k, n, r) for k, n, r in pending),
                    hint="raise the limit with --timeout, or read the events and log lines above",
                    details=self.diagnostics(
                        namespace, [name for _, name, _ in pending]
                    ),
                )
            time.sleep(POLL_INTERVAL)

    def _pod_problem(self, namespace: str, selector: str) -> tuple[str, str]:
        for pod in self.pods(namespace, selector):
            reason, problem = pod_problem(pod)
            if problem:
                return reason, problem
        return "", ""

    # Pods, events and logs

    def pods(self, namespace: str, selector: str) -> list[Any]:
        with api_errors(self.where):
            return list(
                self.apis.core.list_namespaced_pod(
                    namespace, label_selector=selector
                ).items
            )

    def events(self, namespace: str, pod: str) -> list[str]:
        """Return the last events of one pod, oldest first, one line each."""
        with api_errors(self.where):
            found = self.apis.core.list_namespaced_event(
                namespace, field_selector=f"involvedObject.name={pod}"
            ).items
        lines = [f"{e.type} {e.reason}: {e.message}" for e in found]
        return lines[-EVENT_LIMIT:]

    def pod_logs(self, namespace: str, pod: str, container: str, tail: int) -> str:
        try:
            with api_errors(self.where):
                return self.apis.core.read_namespaced_pod_log(
                    pod, namespace, container=container, tail_lines=tail
                )
        except PlaygroundError as error:
            # A container that never started has no log, so the API's reason is returned.
            return f"(no log: {error.message})"

    def pod_log_lines(
        self, namespace: str, pod: str, container: str, tail: int, follow: bool
    ) -> Iterator[str]:
        """Yield one container's log lines as the API sends them; with
        ``follow``, until the container stops or the caller stops reading."""
        with api_errors(self.where):
            response = self.apis.core.read_namespaced_pod_log(
                pod,
                namespace,
                container=container,
                tail_lines=tail,
                follow=follow,
                _preload_content=False,
            )
        pending = b""
        try:
            for chunk in response.stream():
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    yield line.decode(errors="replace")
            if pending:
                yield pending.decode(errors="replace")
        finally:
            response.release_conn()

    def logs(self, namespace: str, app: str, tail: int) -> str:
        """Return the last ``tail`` lines of every pod of one service."""
        from playground.manifests import INSTANCE_LABEL, NAME_LABEL

        selector = f"{NAME_LABEL}={app},{INSTANCE_LABEL}={namespace}"
        return "\n".join(
            self.pod_logs(namespace, pod.metadata.name, app, tail)
            for pod in self.pods(namespace, selector)
        )

    def diagnostics(self, namespace: str, apps: list[str]) -> str:
        """Return each pod's recent events and last log lines, for errors."""
        from playground.manifests import INSTANCE_LABEL, NAME_LABEL

        sections = []
        for app in apps:
            selector = f"{NAME_LABEL}={app},{INSTANCE_LABEL}={namespace}"
            for pod in self.pods(namespace, selector):
                name = pod.metadata.name
                events = "\n".join(self.events(namespace, name)) or "(none)"
                lines = (
                    self.pod_logs(namespace, name, app, LOG_TAIL).rstrip() or "(none)"
                )
                sections.append(f"events of pod {name}:\n{events}")
                sections.append(f"last {LOG_TAIL} log lines of pod {name}:\n{lines}")
        return "\n\n".join(sections)

    # Namespaces and removal

    def namespace_exists(self, name: str) -> bool:
        try:
            self._call("read", "Namespace", name, None)
        except NotFound:
            return False
        return True

    def namespaces(self, selector: str) -> list[str]:
        with api_errors(self.where):
            found = self.apis.core.list_namespace(label_selector=selector).items
        return sorted(ns.metadata.name for ns in found)

    def delete_namespace(self, name: str, timeout: float) -> bool:
        """Delete a namespace and wait until it is gone; False if there was none."""
        try:
            self._call("delete", "Namespace", name, None)
        except NotFound:
            return False
        deadline = time.monotonic() + timeout
        while self.namespace_exists(name):
            if time.monotonic() >= deadline:
                raise WaitTimeout(
                    f"timed out after {timeout:.0f} s waiting for namespace {name} to be deleted",
                    hint=f"check its finalizers: kubectl get namespace {name} -o yaml",
                )
            time.sleep(POLL_INTERVAL)
        return True

    def delete_labelled(
        self,
        namespace: str,
        selector: str,
        kinds: list[str],
        keep: frozenset[str] = frozenset(),
    ) -> list[str]:
        """Delete the objects of ``kinds`` that match ``selector`` in a
        namespace, except those named in ``keep`` ("KIND/NAME"). Returns
        "KIND/NAME" of each one deleted."""
        deleted = []
        for kind in kinds:
            method, _ = self._method("list", kind)
            with api_errors(self.where):
                items = method(namespace, label_selector=selector).items
            for item in items:
                if f"{kind}/{item.metadata.name}" in keep:
                    continue
                try:
                    self._call("delete", kind, item.metadata.name, namespace)
                except NotFound:
                    continue
                deleted.append(f"{kind}/{item.metadata.name}")
        return deleted

    def claims(self, namespace: str) -> list[str]:
        with api_errors(self.where):
            found = self.apis.core.list_namespaced_persistent_volume_claim(
                namespace
            ).items
        return sorted(claim.metadata.name for claim in found)


def _counts(kind: str, workload: Any) -> tuple[int, int]:
    """Return (desired, ready) pods of a workload whose rollout is current."""
    status = workload.status
    if kind == "DaemonSet":
        desired = status.desired_number_scheduled or 0
        updated = status.updated_number_scheduled or 0
        return desired, min(status.number_ready or 0, updated)
    desired = workload.spec.replicas if workload.spec.replicas is not None else 1
    ready = status.ready_replicas or 0
    if (status.observed_generation or 0) < (workload.metadata.generation or 0):
        ready = 0
    # Pods of an older revision do not count while a rollout replaces them.
    if kind == "Deployment" or _statefulset_updating(status):
        ready = min(ready, status.updated_replicas or 0)
    return desired, ready


def _statefulset_updating(status: Any) -> bool:
    current, update = status.current_revision, status.update_revision
    return bool(update) and current != update


def _progress_problem(kind: str, workload: Any) -> str:
    if kind != "Deployment":
        return ""
    for condition in workload.status.conditions or []:
        if (
            condition.type == "Progressing"
            and condition.reason == "ProgressDeadlineExceeded"
        ):
            return condition.message or "progress deadline exceeded"
    return ""


def pod_problem(pod: Any) -> tuple[str, str]:
    """Return (reason, description) of why a pod cannot become ready without
    a change, or two empty strings."""
    name = pod.metadata.name
    if pod.status.phase == "Failed":
        reason = pod.status.reason or "Failed"
        return reason, f"pod {name} failed: {pod.status.reason or pod.status.message}"
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in FAILING_REASONS:
            detail = f": {waiting.message}" if waiting.message else ""
            return (
                waiting.reason,
                f"pod {name} container {status.name} is {waiting.reason}{detail}",
            )
    return "", ""


def _failure_hint(failed: list[Rollout]) -> str:
    if any(rollout.reason in IMAGE_PULL_REASONS for rollout in failed):
        return (
            "the nodes cannot pull an image; on a machine without registry access, "
            "run scripts/build-offline-images and set PLAYGROUND_IMAGE_MAP, and the "
            "kind backend loads the images into the nodes"
        )
    return "after fixing the cause, run the same up command again"


def _pending_text(kind: str, name: str, rollout: Rollout | None) -> str:
    if rollout is None:
        return f"{kind} {name} (not created)"
    return f"{kind} {name} ({rollout.ready}/{rollout.desired} pods ready)"
