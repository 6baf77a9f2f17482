"""The image's HEALTHCHECK script (container/healthcheck.py), run as the image runs it,
against a stdlib HTTP server on loopback standing in for the notifier's /healthz."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "container" / "healthcheck.py"


class _Healthz(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True
    status = 200
    paths: list[str] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        body = b'{"ok": false, "reasons": ["no cycle for 190 s"]}' if self.status != 200 else b"{}"
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def healthz() -> Iterator[tuple[int, type[_Healthz]]]:
    handler = type("Handler", (_Healthz,), {"paths": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler
    server.shutdown()
    server.server_close()


def check(addr: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NOTIFIER_HTTP_ADDR"}
    if addr is not None:
        env["NOTIFIER_HTTP_ADDR"] = addr
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )


def test_healthy_when_healthz_answers_200_on_the_wildcard_address(healthz) -> None:
    port, handler = healthz
    done = check(f"0.0.0.0:{port}")
    assert done.returncode == 0, done.stdout
    assert handler.paths == ["/healthz"]


def test_unhealthy_with_the_reasons_when_healthz_answers_503(healthz) -> None:
    port, handler = healthz
    handler.status = 503
    done = check(f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert "503" in done.stdout and "no cycle for 190 s" in done.stdout


def test_unhealthy_when_nothing_listens() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        done = check(f"127.0.0.1:{port}")
    assert done.returncode == 1
    assert f"127.0.0.1:{port}/healthz" in done.stdout


@pytest.mark.parametrize(
    ("addr", "says"),
    [(None, "NOTIFIER_HTTP_ADDR is empty"), ("localhost", "expected host:port")],
)
def test_unhealthy_and_says_why_when_the_address_is_missing_or_bad(addr, says) -> None:
    done = check(addr)
    assert done.returncode == 1
    assert says in done.stdout
