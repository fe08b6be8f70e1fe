"""The Kubernetes client wrapper, with the client's API objects mocked: no
request leaves the process."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from kubernetes import client as k
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from playground import kubeclient
from playground.errors import ConfigError, PrerequisiteError, Unhealthy, WaitTimeout
from playground.kubeclient import HASH_ANNOTATION, Apis, KubeClient, config_hash

NAMESPACE = "playground-web"


def not_found(name="x"):
    body = json.dumps({"kind": "Status", "message": f'"{name}" not found'})
    return ApiException(status=404, reason="Not Found", body=body)


def make_client() -> KubeClient:
    # spec= rejects a method name the client does not have; autospec would
    # also check signatures but takes seconds for these large classes.
    apis = Apis(
        mock.Mock(spec=k.CoreV1Api),
        mock.Mock(spec=k.AppsV1Api),
        mock.Mock(spec=k.RbacAuthorizationV1Api),
    )
    return KubeClient(apis, "kind cluster test")


def deployment(
    name="web", replicas=1, ready=0, updated=None, conditions=None, generation=1
):
    return k.V1Deployment(
        metadata=k.V1ObjectMeta(name=name, generation=generation),
        spec=k.V1DeploymentSpec(
            replicas=replicas,
            selector=k.V1LabelSelector(match_labels={"app.kubernetes.io/name": name}),
            template=k.V1PodTemplateSpec(),
        ),
        status=k.V1DeploymentStatus(
            ready_replicas=ready,
            updated_replicas=ready if updated is None else updated,
            observed_generation=generation,
            conditions=conditions,
        ),
    )


def pod(name="web-1", waiting=None, message=None, phase="Running"):
    state = k.V1ContainerState(
        waiting=k.V1ContainerStateWaiting(reason=waiting, message=message)
        if waiting
        else None
    )
    status = k.V1ContainerStatus(
        name="web", image="i", image_id="", ready=False, restart_count=0, state=state
    )
    return k.V1Pod(
        metadata=k.V1ObjectMeta(name=name),
        status=k.V1PodStatus(phase=phase, container_statuses=[status]),
    )


def pods(*items):
    return k.V1PodList(items=list(items))


def event(reason, message, kind="Warning"):
    return k.CoreV1Event(
        metadata=k.V1ObjectMeta(name="e"),
        involved_object=k.V1ObjectReference(name="web-1"),
        type=kind,
        reason=reason,
        message=message,
    )


def web_objects():
    labels = {"io.playground.stack": "web"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "generated-secrets", "namespace": NAMESPACE},
            "stringData": {"db_password": "p"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": NAMESPACE},
            "spec": {},
        },
    ]


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(kubeclient.time, "sleep", lambda seconds: None)


def test_apply_creates_in_order_with_server_side_apply():
    client = make_client()
    client.apis.core.read_namespace.side_effect = not_found()
    client.apis.core.read_namespaced_secret.side_effect = not_found()
    client.apis.apps.read_namespaced_stateful_set.side_effect = not_found()
    calls = mock.Mock()
    calls.attach_mock(client.apis.core.patch_namespace, "namespace")
    calls.attach_mock(client.apis.core.patch_namespaced_secret, "secret")
    calls.attach_mock(client.apis.apps.patch_namespaced_stateful_set, "statefulset")

    changed = client.apply_all(web_objects())

    assert changed == [
        "Namespace/playground-web",
        "Secret/generated-secrets",
        "StatefulSet/db",
    ]
    assert [c[0] for c in calls.mock_calls] == ["namespace", "secret", "statefulset"]
    _, kwargs = client.apis.apps.patch_namespaced_stateful_set.call_args
    assert kwargs["field_manager"] == "playground"
    assert kwargs["force"] is True
    assert kwargs["_content_type"] == "application/apply-patch+yaml"
    assert kwargs["body"]["metadata"]["annotations"][HASH_ANNOTATION] == config_hash(
        web_objects()[2]
    )


def test_apply_skips_object_that_matches():
    client = make_client()
    namespace = web_objects()[0]
    current = k.V1Namespace(
        metadata=k.V1ObjectMeta(
            name=NAMESPACE, annotations={HASH_ANNOTATION: config_hash(namespace)}
        )
    )
    client.apis.core.read_namespace.return_value = current
    assert client.apply(namespace) is False
    client.apis.core.patch_namespace.assert_not_called()


def test_apply_updates_object_that_differs():
    client = make_client()
    current = k.V1Namespace(
        metadata=k.V1ObjectMeta(name=NAMESPACE, annotations={HASH_ANNOTATION: "old"})
    )
    client.apis.core.read_namespace.return_value = current
    assert client.apply(web_objects()[0]) is True
    client.apis.core.patch_namespace.assert_called_once()


def test_apply_does_not_change_the_object_passed():
    client = make_client()
    client.apis.core.read_namespace.side_effect = not_found()
    obj = web_objects()[0]
    client.apply(obj)
    assert "annotations" not in obj["metadata"]


def test_rollout_wait_polls_until_ready():
    client = make_client()
    client.apis.apps.read_namespaced_deployment.side_effect = [
        not_found("web"),
        deployment(ready=0),
        deployment(ready=1),
    ]
    client.apis.core.list_namespaced_pod.return_value = pods(pod())
    client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=60)
    assert client.apis.apps.read_namespaced_deployment.call_count == 3


def test_rollout_waits_for_new_generation():
    old = deployment(ready=1, generation=2)
    old.status.observed_generation = 1
    client = make_client()
    client.apis.apps.read_namespaced_deployment.side_effect = [
        old,
        deployment(ready=1, generation=2),
    ]
    client.apis.core.list_namespaced_pod.return_value = pods(pod())
    client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=60)
    assert client.apis.apps.read_namespaced_deployment.call_count == 2


def test_daemonset_rollout_counts_scheduled_pods():
    client = make_client()
    daemon_set = k.V1DaemonSet(
        metadata=k.V1ObjectMeta(name="fluentd", generation=1),
        spec=k.V1DaemonSetSpec(
            selector=k.V1LabelSelector(match_labels={"a": "b"}),
            template=k.V1PodTemplateSpec(),
        ),
        status=k.V1DaemonSetStatus(
            current_number_scheduled=2,
            desired_number_scheduled=2,
            number_misscheduled=0,
            number_ready=1,
            updated_number_scheduled=2,
        ),
    )
    client.apis.apps.read_namespaced_daemon_set.return_value = daemon_set
    client.apis.core.list_namespaced_pod.return_value = pods()
    rollout = client.rollout(NAMESPACE, "DaemonSet", "fluentd")
    assert (rollout.desired, rollout.ready) == (2, 1)
    assert not rollout.complete


def test_failed_rollout_reports_events_and_logs():
    client = make_client()
    client.apis.apps.read_namespaced_deployment.return_value = deployment(ready=0)
    client.apis.core.list_namespaced_pod.return_value = pods(
        pod(
            waiting="CrashLoopBackOff",
            message="back-off 10s restarting failed container",
        )
    )
    client.apis.core.list_namespaced_event.return_value = k.CoreV1EventList(
        items=[event("BackOff", "Back-off restarting failed container web")]
    )
    client.apis.core.read_namespaced_pod_log.return_value = (
        "nginx: [emerg] bind() failed\n"
    )

    with pytest.raises(Unhealthy) as raised:
        client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=60)

    failure = raised.value
    assert "Deployment web" in failure.message
    assert "CrashLoopBackOff" in failure.message
    assert (
        "Warning BackOff: Back-off restarting failed container web" in failure.details
    )
    assert "nginx: [emerg] bind() failed" in failure.details
    _, kwargs = client.apis.core.read_namespaced_pod_log.call_args
    assert kwargs["tail_lines"] == kubeclient.LOG_TAIL
    assert kwargs["container"] == "web"


def test_image_pull_failure_is_fatal():
    client = make_client()
    client.apis.apps.read_namespaced_deployment.return_value = deployment(ready=0)
    client.apis.core.list_namespaced_pod.return_value = pods(
        pod(waiting="ErrImagePull")
    )
    client.apis.core.list_namespaced_event.return_value = k.CoreV1EventList(items=[])
    client.apis.core.read_namespaced_pod_log.side_effect = ApiException(
        status=400,
        reason="Bad Request",
        body=json.dumps({"message": "container is waiting"}),
    )
    with pytest.raises(Unhealthy) as raised:
        client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=60)
    assert "ErrImagePull" in raised.value.message
    assert "PLAYGROUND_IMAGE_MAP" in raised.value.hint
    assert (
        "(no log: Kubernetes API call failed with HTTP 400: container is waiting)"
        in raised.value.details
    )


def test_progress_deadline_is_fatal():
    condition = k.V1DeploymentCondition(
        type="Progressing",
        status="False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "web-1" has timed out progressing.',
    )
    client = make_client()
    client.apis.apps.read_namespaced_deployment.return_value = deployment(
        conditions=[condition]
    )
    client.apis.core.list_namespaced_pod.return_value = pods()
    with pytest.raises(Unhealthy) as raised:
        client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=60)
    assert "has timed out progressing" in raised.value.message
    assert raised.value.hint == "after fixing the cause, run the same up command again"


def test_rollout_timeout_names_pending(monkeypatch):
    ticks = iter(range(0, 1000, 10))
    monkeypatch.setattr(kubeclient.time, "monotonic", lambda: next(ticks))
    client = make_client()
    client.apis.apps.read_namespaced_deployment.return_value = deployment(
        replicas=2, ready=1
    )
    client.apis.core.list_namespaced_pod.return_value = pods(pod())
    client.apis.core.list_namespaced_event.return_value = k.CoreV1EventList(
        items=[event("Scheduled", "Successfully assigned", kind="Normal")]
    )
    client.apis.core.read_namespaced_pod_log.return_value = "starting\n"
    with pytest.raises(WaitTimeout) as raised:
        client.wait_for_rollouts(NAMESPACE, [("Deployment", "web")], timeout=30)
    assert "Deployment web (1/2 pods ready)" in raised.value.message
    assert "Normal Scheduled: Successfully assigned" in raised.value.details
    assert "starting" in raised.value.details


def test_delete_namespace_waits_until_gone():
    client = make_client()
    client.apis.core.read_namespace.side_effect = [k.V1Namespace(), not_found()]
    assert client.delete_namespace(NAMESPACE, timeout=60) is True
    client.apis.core.delete_namespace.assert_called_once_with(NAMESPACE)


def test_delete_missing_namespace_returns_false():
    client = make_client()
    client.apis.core.delete_namespace.side_effect = not_found()
    assert client.delete_namespace(NAMESPACE, timeout=60) is False


def client_with_services(*names):
    client = make_client()
    items = [k.V1Service(metadata=k.V1ObjectMeta(name=name)) for name in names]
    client.apis.core.list_namespaced_service.return_value = k.V1ServiceList(items=items)
    return client


def test_delete_labelled_deletes_each_match():
    client = client_with_services("web", "db")
    deleted = client.delete_labelled(NAMESPACE, "io.playground.stack=web", ["Service"])
    assert deleted == ["Service/web", "Service/db"]
    _, kwargs = client.apis.core.list_namespaced_service.call_args
    assert kwargs["label_selector"] == "io.playground.stack=web"


def test_delete_labelled_keeps_named():
    client = client_with_services("web", "old")
    deleted = client.delete_labelled(
        NAMESPACE,
        "io.playground.stack=web",
        ["Service"],
        keep=frozenset({"Service/web"}),
    )
    assert deleted == ["Service/old"]
    client.apis.core.delete_namespaced_service.assert_called_once_with("old", NAMESPACE)


def test_forbidden_becomes_prerequisite_error():
    client = make_client()
    client.apis.core.read_namespace.side_effect = ApiException(
        status=403,
        reason="Forbidden",
        body=json.dumps({"message": 'namespaces "x" is forbidden'}),
    )
    with pytest.raises(PrerequisiteError) as raised:
        client.namespace_exists("x")
    assert 'namespaces "x" is forbidden' in raised.value.message


def test_invalid_object_becomes_config_error():
    client = make_client()
    client.apis.core.read_namespaced_service.side_effect = not_found()
    client.apis.core.patch_namespaced_service.side_effect = ApiException(
        status=422,
        reason="Unprocessable",
        body=json.dumps({"message": "provided port is already allocated"}),
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": NAMESPACE},
    }
    with pytest.raises(ConfigError) as raised:
        client.apply(service)
    assert "provided port is already allocated" in raised.value.message


def test_unreachable_api_becomes_prerequisite_error():
    client = make_client()
    client.apis.core.read_namespace.side_effect = MaxRetryError(
        None, "/api/v1/namespaces/x"
    )
    with pytest.raises(PrerequisiteError) as raised:
        client.namespace_exists("x")
    assert "is not reachable" in raised.value.message


def test_pod_log_lines_split_chunks_and_release():
    client = make_client()
    response = mock.Mock()
    response.stream.return_value = iter([b"first li", b"ne\nsecond\nthi", b"rd"])
    client.apis.core.read_namespaced_pod_log.return_value = response

    lines = list(client.pod_log_lines(NAMESPACE, "web-1", "web", 10, follow=True))

    assert lines == ["first line", "second", "third"]
    response.release_conn.assert_called_once()
    _, kwargs = client.apis.core.read_namespaced_pod_log.call_args
    assert kwargs["follow"] is True
    assert kwargs["tail_lines"] == 10
    assert kwargs["_preload_content"] is False


def test_pod_log_lines_api_error_is_project_error():
    client = make_client()
    client.apis.core.read_namespaced_pod_log.side_effect = not_found("web-1")
    with pytest.raises(kubeclient.NotFound, match="web-1"):
        list(client.pod_log_lines(NAMESPACE, "web-1", "web", 10, follow=False))
