"""One HTTP request to a server on loopback, as a client sends it on a fresh connection,
and the raw bytes a server answers until it closes: what the tests of every HTTP server
here (the service's, the push endpoints', a running `notifier`'s) send and read."""

from __future__ import annotations

import http.client
import socket

import httpx


def exchange(
    port: int,
    path: str,
    method: str = "GET",
    body: bytes | str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """The answer's status, headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


def post(port: int, path: str, body: bytes | str) -> tuple[int, bytes]:
    """POST a JSON body: the answer's status and body."""
    status, _, answer = exchange(port, path, "POST", body, {"Content-Type": "application/json"})
    return status, answer


def get(port: int, path: str) -> tuple[int, str]:
    """GET: the answer's status and text."""
    status, _, answer = exchange(port, path)
    return status, answer.decode()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends on `sock` until it closes (or resets) it."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def send_raw(port: int, data: bytes) -> bytes:
    """Send `data` on a fresh connection: everything answered until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        return read_until_closed(sock)


def head_only(port: int, path: str, length: int) -> bytes:
    """Send a request's head announcing `length` bytes, and no body: the answer."""
    head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), length)
    return send_raw(port, head)


def ready(port: int) -> bool:
    """Whether a running notifier on `port` answers /readyz with 200 (its first cycle
    is done)."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
