"""The sandbox's requests and answers, and the route table its endpoints register in.

Plain data, independent of the socket: `server.py` turns bytes into a `Request`,
`AdminApi.handle` routes it, and a handler returns a `Response`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None
    delay: float = 0.0

    def payload(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()


class BadRequest(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


@dataclass
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    base: str
    match: re.Match[str] | None = None

    def ints(self, name: str) -> set[int]:
        out = set()
        for key, value in self.query:
            if key == name:
                for part in filter(None, value.split(",")):
                    try:
                        out.add(int(part))
                    except ValueError:
                        raise BadRequest(400, {name: ["Enter a whole number."]}) from None
        return out

    def one_int(self, name: str) -> int | None:
        values = self.ints(name)
        return min(values) if values else None

    def day(self, name: str) -> date | None:
        value = dict(self.query).get(name)
        if not value:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadRequest(400, {name: ["Enter a valid date."]}) from None

    def page(self) -> int:
        value = dict(self.query).get("page", "1")
        if not value.isdigit() or int(value) < 1:
            raise BadRequest(404, {"detail": "Invalid page."})
        return int(value)

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            raise BadRequest(400, {"detail": "JSON parse error."}) from None
        if not isinstance(data, dict):
            raise BadRequest(400, {"detail": "Expected a JSON object."})
        return data


Handler = Callable[[Any, Request], Response]
ROUTES: list[tuple[str, re.Pattern[str], str, str]] = []


def route(method: str, pattern: str, name: str) -> Callable[[Handler], Handler]:
    """Register an endpoint; `name` is its key in the request counts ("" = not counted)."""

    def register(fn: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern + r"\Z"), name, fn.__name__))
        return fn

    return register
