"""The HTTP server (uvicorn and Starlette) over loopback sockets: routes, bounded
bodies, the exact status of each malformed request, and clients that are slow, idle
or many never stop it answering. No request may log a traceback (checked after every
test here)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from notifier.web.http import (
    MAX_BODY,
    AddressError,
    HttpServer,
    Limits,
    Request,
    Response,
    parse_address,
)
from tests.loopback import exchange, read_until_closed, send_raw


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


def _routes(srv: HttpServer) -> HttpServer:
    srv.route("GET", "/healthz", lambda r: Response.json(200, {"status": "ok"}))
    srv.route("POST", "/echo", _echo)
    srv.route("POST", "/small", _echo, max_body=10)
    srv.route("GET", "/boom", _boom)
    return srv


@pytest.fixture(autouse=True)
def no_traceback(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text] == []


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with _routes(HttpServer("127.0.0.1:0")) as srv:
        yield srv


def test_routes_answer_and_unknown_ones_are_404_or_405(server: HttpServer) -> None:
    status, headers, body = exchange(server.port, "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert headers["Content-Type"] == "application/json"
    assert headers["Cache-Control"] == "no-store"
    status, headers, body = exchange(server.port, "/healthz", "HEAD")
    assert (status, body) == (200, b"") and headers["Content-Length"] == "17"
    assert exchange(server.port, "/nope")[0] == 404
    assert exchange(server.port, "/healthz/")[0] == 404  # exact paths: no redirect
    status, headers, _ = exchange(server.port, "/healthz", "POST", b"{}")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, _, body = exchange(
        server.port, "/echo?x=1", "POST", b'{"a": 1}', {"Content-Type": "application/json"}
    )
    assert status == 200
    assert json.loads(body) == {"size": 8, "query": {"x": ["1"]}, "type": "application/json"}


def test_a_handler_that_raises_is_a_500_in_one_log_line_and_the_server_goes_on(
    server: HttpServer, caplog: pytest.LogCaptureFixture
) -> None:
    status, _, body = exchange(server.port, "/boom")
    assert status == 500 and b"secret" not in body
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert len(failed) == 1 and "RuntimeError" in failed[0].getMessage()
    assert exchange(server.port, "/healthz")[0] == 200


def test_bodies_are_bounded(server: HttpServer) -> None:
    assert (
        json.loads(exchange(server.port, "/echo", "POST", b"x" * MAX_BODY)[2])["size"] == MAX_BODY
    )
    # Over the limit: answered 413 from the headers alone, the body never sent.
    answer = send_raw(
        server.port,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1),
    )
    assert answer.startswith(b"HTTP/1.1 413") and b"connection: close" in answer.lower()
    assert exchange(server.port, "/small", "POST", b"x" * 11)[0] == 413
    assert exchange(server.port, "/small", "POST", b"x" * 10)[0] == 200
    answer = send_raw(
        server.port, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 411")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
        (b"GET /" + b"a" * 20000, 414),  # no end of line within the head's bound
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Many: aaaaaaaa\r\n" * 1500 + b"\r\n", 431),
        (b"GET /healthz\r\n\r\n", 400),
        (b"garbage\r\n\r\n", 400),
        (b"GET /healthz HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400),
        (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET /healthz HTTP/0.9\r\nHost: x\r\n\r\n", 505),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
        (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ],
    ids=[
        "line-over-8k",
        "line-never-ends",
        "header-over-16k",
        "many-headers",
        "http-0.9-line",
        "no-method",
        "junk-after-version",
        "http-2",
        "http-0.9-version",
        "length-plus",
        "length-hex",
        "length-negative",
        "two-lengths",
        "unknown-coding",
    ],
)
def test_malformed_requests_get_their_exact_status_and_close(
    server: HttpServer, request_bytes: bytes, status: int
) -> None:
    answer = send_raw(server.port, request_bytes)
    assert answer.startswith(b"HTTP/1.1 %d " % status), answer[:80]
    assert b"connection: close" in answer.lower()
    assert exchange(server.port, "/healthz")[0] == 200


def test_a_repeated_equal_length_and_pipelined_requests_are_served(server: HttpServer) -> None:
    same = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi"
    pipelined = same + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    answer = send_raw(server.port, pipelined)
    assert answer.count(b"HTTP/1.1 200 ") == 2 and b'"size": 2' in answer
    answer = send_raw(server.port, b"GET /healthz HTTP/1.0\r\n\r\n")  # closed after the answer
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b'"ok"}\n')


def test_answers_are_not_held_back_by_nagle(server: HttpServer) -> None:
    """Else a kept-alive POST whose body is sent apart from its head waits 40 ms on
    the client's delayed ACK (asyncio turns Nagle off only on sockets made as TCP)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", "/healthz")
        assert conn.getresponse().read()
        (connection,) = server._server.server_state.connections
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        conn.close()


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
                assert exchange(server.port, "/healthz")[0] == 200
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


def test_idle_connections_are_closed_before_and_between_requests() -> None:
    with _routes(HttpServer("127.0.0.1:0", Limits(idle_timeout=0.5))) as srv:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as never_sends:
            assert read_until_closed(never_sends) == b""
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_until_closed(kept)  # answered, then closed when idle
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'"ok"}\n')


def test_a_client_that_does_not_read_its_answer_is_dropped() -> None:
    big = b"x" * (8 * 1024 * 1024)
    srv = _routes(HttpServer("127.0.0.1:0", Limits(write_timeout=0.5)))
    srv.route("GET", "/big", lambda r: Response(200, big))
    with srv:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        with sock:
            sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            connections = srv._server.server_state.connections
            assert _wait_until(lambda: bool(connections))  # accepted...
            assert _wait_until(lambda: not connections)  # ...and dropped, nothing read
            assert len(read_until_closed(sock)) < len(big)


def _wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


def _hold(port: int, count: int, first: bytes = b"") -> list[socket.socket]:
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first:
            sock.sendall(first)
        socks.append(sock)
    return socks


def test_thousands_of_idle_and_slow_connections_never_stop_healthz_or_a_post(
    server: HttpServer,
) -> None:
    """2,000 idle sockets, 300 with a request's head half sent and 100 with a body
    half sent, all held open: `/healthz` and a push-sized POST are still answered,
    each within its client's 5 s timeout."""
    held = _hold(server.port, 2000)
    try:
        held += _hold(server.port, 300, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        held += _hold(
            server.port, 100, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nab"
        )
        for _ in range(10):
            assert exchange(server.port, "/healthz", timeout=5)[0] == 200
            status, _, body = exchange(server.port, "/echo", "POST", b"x" * 4096, timeout=5)
            assert status == 200 and json.loads(body)["size"] == 4096
        # And a keep-alive client is served request after request on one connection.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        for _ in range(5):
            conn.request("GET", "/healthz")
            assert conn.getresponse().read() == b'{"status": "ok"}\n'
        conn.close()
    finally:
        for sock in held:
            sock.close()


def test_at_the_cap_the_longest_waiting_connection_gives_way_to_a_new_one() -> None:
    with _routes(HttpServer("127.0.0.1:0", Limits(max_connections=3))) as srv:
        held = []
        for _ in range(3):  # each answered once, so the server surely holds it
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            conn.request("GET", "/healthz")
            assert conn.getresponse().read()
            held.append(conn)
        try:
            assert exchange(srv.port, "/healthz")[0] == 200  # the 4th is served...
            assert held[0].sock is not None
            assert read_until_closed(held[0].sock) == b""  # ...and the oldest closed
            held[2].request("GET", "/healthz")  # the newest still served
            assert held[2].getresponse().status == 200
        finally:
            for conn in held:
                conn.close()


def test_close_returns_with_connections_still_open_and_handlers_answer_first() -> None:
    entered, release = threading.Event(), threading.Event()

    def slow_handler(request: Request) -> Response:
        entered.set()
        return Response.json(200, {"waited": release.wait(10)})

    srv = _routes(HttpServer("127.0.0.1:0"))
    srv.route("GET", "/slow", slow_handler)
    srv.start()
    idle = _hold(srv.port, 20)
    answers: list[int] = []
    slow = threading.Thread(target=lambda: answers.append(exchange(srv.port, "/slow")[0]))
    slow.start()
    closer = threading.Thread(target=srv.close)
    try:
        assert entered.wait(10)  # the slow request is being handled
        closer.start()
        release.set()
        closer.join(10)
        slow.join(10)
        assert not closer.is_alive() and answers == [200]
        assert all(read_until_closed(sock) == b"" for sock in idle)
    finally:
        release.set()
        for sock in idle:
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
