"""The connection side of the HTTP server: uvicorn's h11 protocol with what it lacks for
the public internet added, and nothing else.

uvicorn (with h11) parses requests, frames responses, keeps connections alive and
serves thousands of sockets on one event loop, so an idle or slow connection costs a
little memory and never a thread. What `H11Protocol` does not do, and `EdgeProtocol`
adds:

- exact statuses for protocol errors: uvicorn answers every h11 error with a bare
  400. Here a request line over `max_request_line` (or one that alone overflows h11's
  buffer) is 414, a head over `max_head` 431, an HTTP version other than 1.0 and 1.1
  505, and h11's own hint otherwise (400 for a malformed line or a bad or doubled
  `Content-Length`, 501 for an unknown transfer coding);
- a whole-request deadline: uvicorn has no timeout while a request arrives, so a
  client trickling a byte a second would hold its connection for ever. From the first
  byte of a request to its last, at most `request_timeout` seconds;
- an idle deadline before the first request: uvicorn arms its keep-alive timer only
  after a response, so a connection that never sends a byte would stay open;
- a write deadline: uvicorn waits for ever on a client that does not read its answer
  (pipelining requests and reading nothing would hold a connection and its buffers);
- a connection cap that never locks out a new client: at the cap, the connection that
  has waited longest on its client (idle, or sending a request slowly) is closed to
  admit the new one, so a flood of idle sockets cannot keep `/healthz` or a push from
  being answered (uvicorn's `limit_concurrency` would answer them 503 instead), and
  the process never runs out of file descriptors (where asyncio logs a traceback);
- a whole head over `max_head` that arrives in one read is 431 too: h11 bounds only
  a head still incomplete;
- client noise at debug level: uvicorn logs each bad request as a warning, which lets
  anyone who can reach the port fill the log.
"""

from __future__ import annotations

import asyncio
import http
import logging
from collections.abc import MutableMapping
from typing import Any, ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from notifier.web.messages import Limits

log = logging.getLogger(__name__)

VERSIONS = (b"1.0", b"1.1")
# States past a request's end (h11 exports MIGHT_SWITCH_PROTOCOL, but not in __all__).
WHOLE = (h11.DONE, h11.MUST_CLOSE, h11.MIGHT_SWITCH_PROTOCOL)  # type: ignore[attr-defined]


class Edge:
    """What the connections of one server share: the limits and the connections that
    wait on their client, oldest first (the ones a new connection may displace)."""

    def __init__(self, limits: Limits, cap: int):
        self.limits = limits
        self.cap = cap
        self.waiting: dict[EdgeProtocol, None] = {}  # insertion order: waiting since

    def wait(self, connection: EdgeProtocol) -> None:
        self.waiting.pop(connection, None)
        self.waiting[connection] = None

    def busy(self, connection: EdgeProtocol) -> None:
        self.waiting.pop(connection, None)

    def longest_waiting(self) -> EdgeProtocol | None:
        return next(iter(self.waiting), None)


class _Connection(h11.Connection):
    """h11 with the request line bound and the HTTP version checked; `refusal` keeps
    the error that ends the connection, for the status it is answered with."""

    def __init__(self, limits: Limits):
        super().__init__(h11.SERVER, max_incomplete_event_size=limits.max_head)
        self.max_request_line = limits.max_request_line
        self.max_head = limits.max_head
        self.refusal = 400

    def next_event(self) -> h11.Event | type[h11.NEED_DATA] | type[h11.PAUSED]:
        try:
            event = super().next_event()
        except h11.RemoteProtocolError as exc:
            self.refusal = exc.error_status_hint
            if self.refusal == 431 and b"\n" not in self.trailing_data[0]:
                self.refusal = 414  # the request line alone did not fit
            raise
        if isinstance(event, h11.Request):
            if len(event.method) + len(event.target) + 10 > self.max_request_line:
                self.refusal = 414
                raise h11.RemoteProtocolError("request line too long", 414)
            head = sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items())
            if head + len(event.target) > self.max_head:  # a whole head in one read
                self.refusal = 431
                raise h11.RemoteProtocolError("request head too long", 431)
            if event.http_version not in VERSIONS:
                self.refusal = 505
                raise h11.RemoteProtocolError("HTTP version not supported", 505)
        return event


class _ClientNoise(logging.LoggerAdapter[logging.Logger]):
    """The logger uvicorn's protocol writes to: its warnings are about what a client
    sent (a bad request, an upgrade attempt), so they are debug lines; its errors (an
    application that broke the protocol) stay errors."""

    @property
    def level(self) -> int:  # uvicorn reads `logger.level` to decide on trace lines
        return self.logger.level

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        self.debug(msg, *args, **kwargs)

    def process(
        self, msg: object, kwargs: MutableMapping[str, object]
    ) -> tuple[object, MutableMapping[str, object]]:
        kwargs.pop("exc_info", None)  # never a traceback from a request
        return msg, kwargs


class EdgeProtocol(H11Protocol):
    """One connection. `edge` is set on a subclass per server (`protocol_for`)."""

    edge: ClassVar[Edge]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.conn = self._h11 = _Connection(self.edge.limits)
        self.logger = _ClientNoise(log, {})  # type: ignore[assignment]
        self.access_log = False  # a line per request is the metrics' job
        self.timeout_keep_alive = self.edge.limits.idle_timeout  # type: ignore[assignment]
        self._deadline: asyncio.TimerHandle | None = None
        self._write_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.edge.cap:
            victim = self.edge.longest_waiting()
            if victim is None:  # every other connection is being answered
                transport.abort()
                return
            victim.transport.abort()
            self.edge.busy(victim)
        self.edge.wait(self)
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self.edge.busy(self)
        self._stop_deadline()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
        super().connection_lost(exc)

    def pause_writing(self) -> None:
        """The client does not read its answer fast enough: it has `write_timeout`
        seconds to make room, or it is dropped (uvicorn would wait on it for ever)."""
        super().pause_writing()
        if self._write_deadline is None:
            self._write_deadline = self.loop.call_later(
                self.edge.limits.write_timeout, self._reader_too_slow
            )

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_deadline is not None:
            self._write_deadline.cancel()
            self._write_deadline = None

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:  # the first byte of a request: its clock starts
            self._deadline = self.loop.call_later(
                self.edge.limits.request_timeout, self._request_too_slow
            )
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state in WHOLE:  # the request is whole
            self._stop_deadline()
            self.edge.busy(self)
        elif self._deadline is None and (
            self.conn.their_state is h11.SEND_BODY or self.conn.trailing_data[0]
        ):  # part of a pipelined request was waiting behind the last answer
            self._deadline = self.loop.call_later(
                self.edge.limits.request_timeout, self._request_too_slow
            )

    def on_response_complete(self) -> None:
        if not self.transport.is_closing():
            self.edge.wait(self)
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """Answer the refusal h11 found with its own status (uvicorn's is always 400),
        and close. Written directly: the connection ends here, and h11, whose peer
        state is now ERROR, would not frame a response to a request it never saw."""
        status = self._h11.refusal
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        body = f"{phrase}\n".encode()
        head = (
            f"HTTP/1.1 {status} {phrase}\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        log.debug("refused a request from %s: %s (%s)", self._client_host(), status, msg)
        self._stop_deadline()
        self.transport.write(head.encode() + body)
        self.transport.close()

    def shutdown(self) -> None:
        """The server stops: a connection still waiting on its client is closed now
        rather than waited for; one being answered finishes its answer first."""
        if self in self.edge.waiting:
            self.transport.close()
        else:
            super().shutdown()

    def _request_too_slow(self) -> None:
        self._deadline = None
        log.debug("closed a connection from %s: request not whole in time", self._client_host())
        self.transport.abort()

    def _reader_too_slow(self) -> None:
        self._write_deadline = None
        log.debug("closed a connection from %s: answer not read in time", self._client_host())
        self.transport.abort()

    def _stop_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _client_host(self) -> str:
        return self.client[0] if self.client else "?"


def protocol_for(edge: Edge) -> type[EdgeProtocol]:
    """The protocol class uvicorn instantiates per connection, bound to one server's
    shared state (uvicorn passes no per-server argument of ours to a protocol)."""
    return type("BoundEdgeProtocol", (EdgeProtocol,), {"edge": edge})
