"""Fixtures shared by the unit tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


class _Handler(BaseHTTPRequestHandler):
    status = 200
    paths: list[str]

    def do_GET(self):
        self.paths.append(self.path)
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@dataclass
class LocalHttp:
    """An HTTP server on 127.0.0.1 that records request paths."""

    port: int
    handler: type[_Handler]

    @property
    def paths(self) -> list[str]:
        return self.handler.paths


@pytest.fixture
def local_http():
    handler = type("Handler", (_Handler,), {"paths": []})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield LocalHttp(server.server_address[1], handler)
    server.shutdown()
    server.server_close()
