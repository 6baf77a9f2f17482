"""The HTTP layer: a threading stdlib server that hands each request to `SandboxApi`.

HTTP/1.1 with an exact Content-Length on every answer, so clients keep connections
alive; Nagle is off, or each small answer would wait ~40 ms for a delayed ACK.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from notifier.sandbox.api import Request, Response
from notifier.sandbox.control import SandboxApi


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: SandboxApi) -> None:
        self.api = api
        self.stopping = threading.Event()
        super().__init__(address, SandboxHandler)


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SandboxServer
    server_version = "nginx"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        """Silent: requests carry tokens, and tests want a quiet server."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qsl(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            base=f"http://{host}",
        )
        try:
            resp = self.server.api.handle(req)
        except Exception:  # a sandbox bug must still answer, like a real server's 500
            resp = Response(500, {"detail": "A server error occurred."})
        if resp.delay > 0 and self.server.stopping.wait(resp.delay):
            self.close_connection = True
            return
        self._send(resp)

    def _send(self, resp: Response) -> None:
        payload = resp.payload()
        self.send_response(resp.status)
        headers = {"Content-Type": "application/json", **resp.headers}
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve
