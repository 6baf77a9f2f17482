"""The HTTP server over loopback: routes, bounded bodies, and clients that are slow,
idle or many never stop it answering."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator

import pytest

from notifier.server.http import (
    MAX_BODY,
    AddressError,
    HttpServer,
    Limits,
    Request,
    Response,
    parse_address,
)


def _echo(request: Request) -> Response:
    return Response.json(
        200,
        {
            "size": len(request.body),
            "query": request.query,
            "type": request.headers.get("content-type"),
        },
    )


def _boom(request: Request) -> Response:
    raise RuntimeError("handler bug with secret-ish text")


@pytest.fixture
def server() -> Iterator[HttpServer]:
    srv = HttpServer("127.0.0.1:0")
    srv.route("GET", "/healthz", lambda r: Response.json(200, {"status": "ok"}))
    srv.route("POST", "/echo", _echo)
    srv.route("POST", "/small", _echo, max_body=10)
    srv.route("GET", "/boom", _boom)
    with srv:
        yield srv


def _get(
    server: HttpServer,
    path: str,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_routes_answer_and_unknown_ones_are_404_or_405(server: HttpServer) -> None:
    status, headers, body = _get(server, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"
    assert _get(server, "/healthz", "HEAD")[0] == 200
    assert _get(server, "/nope")[0] == 404
    status, headers, _ = _get(server, "/healthz", "POST", b"{}")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, _, body = _get(
        server, "/echo?x=1", "POST", b'{"a": 1}', {"Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(body) == {"size": 8, "query": {"x": ["1"]}, "type": "application/json"}


def test_a_handler_that_raises_is_a_500_and_the_server_goes_on(server: HttpServer) -> None:
    status, _, body = _get(server, "/boom")
    assert status == 500 and b"secret" not in body
    assert _get(server, "/healthz")[0] == 200


def test_bodies_are_bounded(server: HttpServer) -> None:
    assert json.loads(_get(server, "/echo", "POST", b"x" * MAX_BODY)[2])["size"] == MAX_BODY
    # Over the limit: answered 413 from the headers alone, the body never read.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
        )
        answer = _read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 413")
    assert _get(server, "/small", "POST", b"x" * 11)[0] == 413
    assert _get(server, "/small", "POST", b"x" * 10)[0] == 200
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        assert _read_until_closed(sock).startswith(b"HTTP/1.1 411")


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_a_client_sending_a_byte_a_second_is_cut_off_while_others_are_served(
    server: HttpServer,
) -> None:
    """With the default limits (5 s from a request's first byte to its last)."""
    assert server.limits.request_timeout <= 5
    request = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"x" * 100
    started = time.monotonic()
    cut_off = False
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        for i, byte in enumerate(request):
            try:
                slow.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                cut_off = True
                break
            if i % 4 == 0:  # meanwhile, others are answered at once
                assert _get(server, "/healthz")[0] == 200
            slow.settimeout(0.25)
            try:
                if slow.recv(1) == b"":
                    cut_off = True
                    break
            except TimeoutError:
                pass
            except ConnectionResetError:
                cut_off = True
                break
    assert cut_off, "the slow client was never disconnected"
    assert time.monotonic() - started < 30  # it would take ~40 s to send it all


def test_many_idle_and_half_sent_connections_never_stop_healthz(server: HttpServer) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(100)]
    half = []
    for _ in range(50):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        half.append(sock)
    try:
        for _ in range(20):
            assert _get(server, "/healthz")[0] == 200
        # And a keep-alive client is served request after request on one connection.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        for _ in range(5):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status": "ok"}\n'
        conn.close()
    finally:
        for sock in idle + half:
            sock.close()


def test_connections_past_the_cap_are_closed_not_queued() -> None:
    srv = HttpServer("127.0.0.1:0", Limits(max_connections=3))
    srv.route("GET", "/healthz", lambda r: Response.json(200, {}))
    with srv:
        held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(3)]
        try:
            extra = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _read_until_closed(extra) == b""
            extra.close()
        finally:
            for sock in held:
                sock.close()


def test_addresses() -> None:
    assert parse_address("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert parse_address(":8080") == ("0.0.0.0", 8080)
    assert parse_address("[::1]:9") == ("::1", 9)
    for bad in ("8080", "host:", "host:http", "host:70000"):
        with pytest.raises(AddressError, match="is not host:port"):
            parse_address(bad)
    with HttpServer("127.0.0.1:0") as taken, pytest.raises(AddressError, match="cannot listen"):
        HttpServer(f"127.0.0.1:{taken.port}")
