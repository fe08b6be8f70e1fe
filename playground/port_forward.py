"""Local TCP ports forwarded to a pod's port through the Kubernetes API, so
health checks reach services of a cluster that publishes no host ports."""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

log = logging.getLogger(__name__)

BUFFER_SIZE = 65536


class PortForward:
    """Listens on 127.0.0.1 (a free port) and relays each connection to
    ``port`` of one pod, over one API port-forward stream per connection.

    The listener runs in a daemon thread for the life of the process.
    """

    def __init__(self, core_api: Any, namespace: str, pod: str, port: int):
        self.core_api = core_api
        self.namespace = namespace
        self.pod = pod
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.local_port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        from kubernetes.stream import portforward

        try:
            stream = portforward(
                self.core_api.connect_get_namespaced_pod_portforward,
                self.pod,
                self.namespace,
                ports=str(self.port),
            )
            remote = stream.socket(self.port)
        except Exception as error:  # noqa: BLE001 - any failure ends this one connection
            log.debug(
                "port-forward to %s/%s:%s failed: %s",
                self.namespace,
                self.pod,
                self.port,
                error,
            )
            client.close()
            return
        threading.Thread(target=_pipe, args=(remote, client), daemon=True).start()
        _pipe(client, remote)

    def close(self) -> None:
        self.listener.close()


def _pipe(source: Any, target: Any) -> None:
    """Copy bytes from ``source`` to ``target`` until either side closes."""
    try:
        while True:
            data = source.recv(BUFFER_SIZE)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    finally:
        for end in (source, target):
            try:
                end.close()
            except OSError:
                pass
