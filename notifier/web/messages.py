"""What handlers see and return, and the server's bounds: plain dataclasses, so a
handler (push, service) knows nothing of ASGI, Starlette or uvicorn and can be called
directly in a test."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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

    def json(self) -> Any:  # outside JSON enters here; its handler makes a model of it
        """The body parsed as JSON; ValueError when it is not (UTF-8) JSON."""
        return json.loads(self.body.decode("utf-8"))


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: object) -> Response:
        body = json.dumps(data, sort_keys=True).encode() + b"\n"
        return cls(status, body, "application/json")

    @classmethod
    def text(cls, status: int, text: str) -> Response:
        return cls(status, text.encode() + b"\n")


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Limits:
    """Seconds, sizes and counts; the defaults are what `notifier run` uses."""

    request_timeout: float = 5.0  # first byte of a request -> its last body byte
    idle_timeout: float = 30.0  # a connection with no (next) request
    write_timeout: float = 10.0  # a client that stops reading its answer
    max_body: int = MAX_BODY  # a route's default; `route(max_body=...)` overrides it
    max_request_line: int = 8 * 1024  # method, target and version: past it, 414
    max_head: int = 16 * 1024  # request line and headers together: past it, 431
    # Open connections at most (lowered to fit the process's file limit); past it the
    # connection that has waited longest on its client is closed to admit the new one.
    max_connections: int = 10_000
    handler_threads: int = 100  # handlers running at once (they may block briefly)
