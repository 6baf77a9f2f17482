"""The HTTP server: the Starlette app of `asgi.py` served by uvicorn, with uvicorn's h11
protocol hardened in `wire.py`, on a thread of its own.

`HttpServer` is the interface the rest of the notifier uses (routes of plain
synchronous handlers, start, close); the types handlers see are in `messages.py` and
re-exported here. Why this shape:

- the socket is bound and listening in the constructor, so a port that cannot be
  bound is an `AddressError` before anything else starts (`notifier run` turns it into
  exit 2 naming `NOTIFIER_HTTP_ADDR`), and connections that arrive before `start()`
  wait in the backlog;
- uvicorn runs its own event loop on a daemon thread: the run loop keeps the main
  thread, and `notifier run` keeps SIGTERM and SIGINT (uvicorn installs no signal
  handlers here);
- the number of connections is capped below the process's file limit (see
  `wire.Edge`), never below what a flood of idle sockets would need to lock anyone out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import socket
import threading
from collections.abc import Iterator

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route as StarletteRoute

from notifier.web.asgi import PathEndpoint, QuietErrors, Route, build_app
from notifier.web.messages import MAX_BODY, Handler, Limits, Request, Response
from notifier.web.wire import Edge, protocol_for

__all__ = [
    "MAX_BODY",
    "AddressError",
    "Handler",
    "HttpServer",
    "Limits",
    "Request",
    "Response",
    "parse_address",
]

log = logging.getLogger(__name__)

BACKLOG = 2048  # connections the kernel holds before they are accepted
RESERVED_FILES = 256  # file descriptors kept for the store, Testpress, channels, logs
SHUTDOWN_SECONDS = 5  # handlers still running at close() get this long to answer

# uvicorn's own lines (started, shutting down) say nothing `serving HTTP on` does not.
if logging.getLogger("uvicorn.error").level == logging.NOTSET:
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)


class AddressError(ValueError):
    """An address that cannot be parsed or bound; the message says why."""


def parse_address(text: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (every interface) -> (host, port)."""
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise AddressError(f"{text!r} is not host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with getaddrinfo's protocol number, not 0: asyncio
    turns Nagle's algorithm off only on sockets whose `proto` says TCP, and with it on
    a kept-alive POST waits 40 ms on the client's delayed ACK."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def connection_cap(limits: Limits) -> int:
    """`limits.max_connections`, lowered to leave RESERVED_FILES of the process's file
    limit free: past it, accept() would fail (and asyncio log a traceback)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return limits.max_connections
    return min(limits.max_connections, max(16, soft - RESERVED_FILES))


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, telling when it accepts and leaving signals alone."""

    def __init__(self, config: uvicorn.Config):
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # `notifier run` owns SIGTERM and SIGINT (cli._stop_on_signals)


class HttpServer:
    """Routes registered with `route`, served on a daemon thread after `start`."""

    def __init__(self, address: str, limits: Limits | None = None):
        """Bind now (so a taken port fails before anything else starts); AddressError
        when the address is invalid or cannot be bound."""
        host, port = parse_address(address)
        self.limits = limits or Limits()
        try:
            self._sock = _bind(host, port)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise AddressError(f"cannot listen on {address}: {reason}") from None
        self.app: Starlette = build_app()  # a later route set is mounted on it
        self._threads = anyio.CapacityLimiter(self.limits.handler_threads)
        self._paths: dict[str, PathEndpoint] = {}
        self._edge = Edge(self.limits, connection_cap(self.limits))
        config = uvicorn.Config(
            QuietErrors(self.app),
            http=protocol_for(self._edge),
            ws="none",
            lifespan="off",
            interface="asgi3",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # `request.client` is the peer, whatever it claims
            backlog=BACKLOG,
            h11_max_incomplete_event_size=self.limits.max_head,
            timeout_graceful_shutdown=SHUTDOWN_SECONDS,
        )
        self._server = _Uvicorn(config)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = str(self._sock.getsockname()[0])
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    def route(
        self, method: str, path: str, handler: Handler, *, max_body: int | None = None
    ) -> None:
        """Serve `method path` (an exact path, no query) with `handler`. A GET route
        answers HEAD too. `max_body` (bytes) overrides the server's limit for it."""
        method = method.upper()
        endpoint = self._paths.get(path)
        if endpoint is None:
            endpoint = self._paths[path] = PathEndpoint(path, self._threads)
            self.app.router.routes.append(StarletteRoute(path, endpoint))
        if method in endpoint.methods:
            raise ValueError(f"{method} {path} is already routed")
        endpoint.methods[method] = Route(
            handler, self.limits.max_body if max_body is None else max_body
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._serve, daemon=True, name="http")
        self._thread.start()
        self._server.ready.wait(10)
        log.info("serving HTTP on %s", self.url)

    def _serve(self) -> None:
        try:
            asyncio.run(self._server.serve(sockets=[self._sock]))
        except Exception as exc:  # noqa: BLE001 - one line, and `start` returns
            log.error("the HTTP server stopped: %s: %s", type(exc).__name__, exc)
        finally:
            self._server.ready.set()

    def close(self) -> None:
        """Stop accepting, close the connections that wait on their clients, and let
        the handlers still running answer (at most SHUTDOWN_SECONDS)."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join()
            self._thread = None
        self._sock.close()

    def __enter__(self) -> HttpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
