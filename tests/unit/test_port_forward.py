"""Local ports relayed to a pod, with the API's port-forward stream replaced
by a connection to an echo server on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from types import SimpleNamespace

import kubernetes.stream

from playground.port_forward import PortForward


def echo_server() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                while data := connection.recv(1024):
                    connection.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return server


CORE_API = SimpleNamespace(connect_get_namespaced_pod_portforward=object())


class FakeStream:
    """What kubernetes.stream.portforward returns: a socket per pod port."""

    def __init__(self, address):
        self.address = address
        self.ports = []

    def socket(self, port):
        self.ports.append(port)
        return socket.create_connection(self.address)


def test_forward_relays_both_ways(monkeypatch):
    server = echo_server()
    requests = []

    def portforward(method, name, namespace, ports):
        requests.append((name, namespace, ports))
        return FakeStream(server.getsockname())

    monkeypatch.setattr(kubernetes.stream, "portforward", portforward)
    forward = PortForward(CORE_API, "playground-web", "db-0", 3306)
    try:
        with socket.create_connection(
            ("127.0.0.1", forward.local_port), timeout=5
        ) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
    finally:
        forward.close()
        server.close()
    assert requests == [("db-0", "playground-web", "3306")]


def test_forward_closes_connection_when_stream_fails(monkeypatch):
    def portforward(method, name, namespace, ports):
        raise OSError("stream refused")

    monkeypatch.setattr(kubernetes.stream, "portforward", portforward)
    forward = PortForward(CORE_API, "playground-web", "db-0", 3306)
    try:
        with socket.create_connection(
            ("127.0.0.1", forward.local_port), timeout=5
        ) as client:
            assert client.recv(1) == b""
    finally:
        forward.close()
