"""A small, hardened HTTP/1.1 server on the standard library: exact-path routes, bounded
bodies, and deadlines that a slow or idle client cannot stretch.

Why not a framework: the notifier serves a handful of tiny endpoints (health, metrics,
Testpress's webhooks). `ThreadingHTTPServer` gives one daemon thread per connection, so
an idle keep-alive connection costs a sleeping thread and never a worker that
`/healthz` would queue behind. What the standard library lacks is added here:

- a whole-request deadline: once the first byte of a request arrives, its line,
  headers and body must all arrive within `request_timeout` seconds, however slowly
  they trickle (a per-`recv` timeout alone lets a byte a second hold a thread forever);
- an idle deadline: a connection that sends nothing for `idle_timeout` is closed;
- a write deadline: a client that does not read its answer is dropped;
- a body bound: a `Content-Length` over the route's limit is answered 413 unread, a
  body without a length (chunked) 411;
- a connection cap: past `max_connections` a new connection is closed at once, so a
  flood cannot exhaust threads.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024  # bytes; Testpress's webhook payloads are a few KiB


@dataclass(frozen=True)
class Request:
    """One request as a handler sees it: the body is already read, and bounded."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    client: str

    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not (UTF-8) JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any) -> Response:
        body = json.dumps(data, sort_keys=True).encode() + b"\n"
        return cls(status, body, "application/json")

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode() + b"\n")


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    handler: Handler
    max_body: int


@dataclass(frozen=True)
class Limits:
    """Seconds and sizes; the defaults are what `notifier run` uses."""

    request_timeout: float = 5.0  # first byte of a request -> its last body byte
    idle_timeout: float = 30.0  # a keep-alive connection with no next request
    write_timeout: float = 10.0  # sending one response
    max_body: int = MAX_BODY
    max_connections: int = 256


class _DeadlineReader(io.RawIOBase):
    """The socket's read side with a deadline over many `recv`s: the handler arms it
    for each request, and the first byte that arrives starts the request's clock."""

    def __init__(self, sock: socket.socket, limits: Limits):
        self.sock = sock
        self.limits = limits
        self.deadline = 0.0
        self.started = False

    def new_request(self) -> None:
        self.started = False
        self.deadline = time.monotonic() + self.limits.idle_timeout

    def request_begun(self) -> None:
        """The request line is in (maybe from the buffer): its clock runs."""
        if not self.started:
            self.started = True
            self.deadline = min(self.deadline, time.monotonic() + self.limits.request_timeout)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        self.sock.settimeout(remaining)
        n = self.sock.recv_into(buffer)
        if n and not self.started:
            self.started = True
            self.deadline = time.monotonic() + self.limits.request_timeout
        return n


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True
    server: _Server
    server_version = "testpress-notifier"
    sys_version = ""

    def setup(self) -> None:
        super().setup()
        self._reader = _DeadlineReader(self.connection, self.server.limits)
        self.rfile.close()
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        self._reader.new_request()
        super().handle_one_request()

    def parse_request(self) -> bool:
        self._reader.request_begun()
        return super().parse_request()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        method = "GET" if self.command == "HEAD" else self.command
        routes = self.server.routes.get(split.path)
        if routes is None:
            self._answer(Response.json(404, {"error": "not found"}), discard_body=True)
            return
        route = routes.get(method)
        if route is None:
            allowed = ", ".join(sorted(set(routes) | ({"HEAD"} if "GET" in routes else set())))
            self._answer(
                Response(405, b"method not allowed\n", headers={"Allow": allowed}),
                discard_body=True,
            )
            return
        body = self._read_body(route.max_body)
        if body is None:
            return
        request = Request(
            method=method,
            path=split.path,
            query=parse_qs(split.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            client=self.client_address[0],
        )
        try:
            response = route.handler(request)
        except Exception:  # noqa: BLE001 - one handler's bug answers 500, the server lives on
            log.exception("HTTP handler for %s %s failed", method, split.path)
            response = Response.json(500, {"error": "internal error"})
        self._answer(response)

    def _read_body(self, max_body: int) -> bytes | None:
        """The body, or None after answering why it cannot be read."""
        if self.headers.get("Transfer-Encoding"):
            self._answer(Response.text(411, "a Content-Length is required"), close=True)
            return None
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return b""
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            self._answer(Response.text(400, "invalid Content-Length"), close=True)
            return None
        if length > max_body:
            self._answer(Response.json(413, {"error": f"body over {max_body} bytes"}), close=True)
            return None
        body = self.rfile.read(length)
        if len(body) < length:  # the client went away mid-body
            self.close_connection = True
            return None
        return body

    def _answer(
        self, response: Response, *, close: bool = False, discard_body: bool = False
    ) -> None:
        if discard_body and self.headers.get("Content-Length") not in (None, "0"):
            close = True  # an unread body would be taken for the next request
        self.connection.settimeout(self.server.limits.write_timeout)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in response.headers.items():
            self.send_header(name, value)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        log.debug("%s %s -> %s", self.command, urlsplit(self.path).path, code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("HTTP connection from %s: " + format, self.client_address[0], *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily, limits: Limits):
        self.address_family = family
        self.limits = limits
        self.routes: dict[str, dict[str, Route]] = {}
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)  # over the cap: closed at once
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection that broke (reset, timed out mid-answer) is the client's
        business: one debug line, not a traceback on standard error."""
        log.debug("HTTP connection from %s ended with an error", client_address[0], exc_info=True)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class AddressError(ValueError):
    """An address that cannot be parsed or bound; the message says why."""


def parse_address(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (every interface) -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AddressError(f"{text!r} is not host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


class HttpServer:
    """Routes registered with `route`, served on a daemon thread after `start`."""

    def __init__(self, address: str, limits: Limits | None = None):
        """Bind now (so a taken port fails before anything else starts); AddressError
        when the address is invalid or cannot be bound."""
        host, port = parse_address(address)
        self.limits = limits or Limits()
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            self._server = _Server((host, port), family, self.limits)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise AddressError(f"cannot listen on {address}: {reason}") from None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._server.server_address[0])
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def route(
        self, method: str, path: str, handler: Handler, *, max_body: int | None = None
    ) -> None:
        """Serve `method path` (an exact path, no query) with `handler`. A GET route
        answers HEAD too. `max_body` (bytes) overrides the server's limit for it."""
        method = method.upper()
        routes = self._server.routes.setdefault(path, {})
        if method in routes:
            raise ValueError(f"{method} {path} is already routed")
        routes[method] = Route(handler, self.limits.max_body if max_body is None else max_body)

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name="http",
        )
        self._thread.start()
        log.info("serving HTTP on %s", self.url)

    def close(self) -> None:
        """Stop accepting; connections in progress are daemon threads and end with the
        process (or their deadlines)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
