"""Configurable misbehaviour, so clients can be tested against a server that fails.

Faults apply only to authenticated admin API calls: never to `/_sandbox/` control
endpoints nor to the auth-token endpoint (a client must be able to log in to meet
them). They are decided per request, in this order: rate limit, error, slowness,
malformed body; bad records are decided per record while a page is rendered.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class FaultConfig:
    """What share of answers misbehave, and how. All off by default.

    - `error_rate`: share answered 500, 502 or 503 (502/503 with an HTML body, as a
      proxy would send).
    - `slow_rate`, `slow_seconds`: share delayed by `slow_seconds` before answering.
    - `rate_limit_every`, `rate_limit_retry_after`: every Nth API request is answered
      429 with `Retry-After: <rate_limit_retry_after>`.
    - `malformed_rate`: share whose 200 body is cut-off, invalid JSON.
    - `bad_record_rate`: share of records (in lists and details) with a wrong type
      (`"id": "abc"`, `"score": {}`) or a missing field (`date`).
    - `seed`: seeds the fault decisions, so a run can be repeated.
    """

    error_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 0.0
    rate_limit_every: int = 0
    rate_limit_retry_after: float = 1.0
    malformed_rate: float = 0.0
    bad_record_rate: float = 0.0
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from a JSON object; unknown keys are a ValueError (typos must not pass)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**data)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Decision:
    """What to do to one request. `status` set means answer with that error instead."""

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    malformed: bool = False


class FaultInjector:
    """Holds the live FaultConfig (`config`, mutable) and draws decisions from it."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._config = config or FaultConfig()
        self._rng = random.Random(self._config.seed)
        self._seen = 0

    @property
    def config(self) -> FaultConfig:
        return self._config

    def replace(self, config: FaultConfig) -> None:
        """Swap in a new configuration and restart its random sequence and request count."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._seen = 0

    def decide(self) -> Decision:
        """Draw the fate of one API request."""
        with self._lock:
            c = self._config
            self._seen += 1
            if c.rate_limit_every > 0 and self._seen % c.rate_limit_every == 0:
                return Decision(status=429, retry_after=c.rate_limit_retry_after)
            if c.error_rate > 0 and self._rng.random() < c.error_rate:
                return Decision(status=self._rng.choice([500, 502, 503]))
            out = Decision()
            if c.slow_rate > 0 and self._rng.random() < c.slow_rate:
                out.delay = c.slow_seconds
            if c.malformed_rate > 0 and self._rng.random() < c.malformed_rate:
                out.malformed = True
            return out

    def spoil(self, record: dict[str, Any]) -> dict[str, Any]:
        """Return `record`, or with probability `bad_record_rate` a broken copy of it."""
        with self._lock:
            if (
                self._config.bad_record_rate <= 0
                or self._rng.random() >= self._config.bad_record_rate
            ):
                return record
            how = self._rng.randrange(3)
        bad = dict(record)
        if how == 0 and "id" in bad:
            bad["id"] = "abc"
        elif how == 1 and "date" in bad:
            del bad["date"]
        elif "score" in bad:
            bad["score"] = {}
        else:
            bad["id"] = "abc"
        return bad
