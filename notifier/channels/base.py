"""What every channel shares: the notification it is given, the outcome it returns, and
the one place HTTP statuses are classified (after Alertmanager's `Retrier.Check`).

A send never sleeps and never raises for an expected failure: it says whether trying
again makes sense (and, if the far end said so, when), and the delivery loop stores the
next try time in the outbox row.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Reason:
    """One condition that made a rule fire: `percentile lt 30` with the actual value."""

    field: str
    op: str
    expected: Any
    actual: Any

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "op": self.op,
            "expected": self.expected,
            "actual": self.actual,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Reason:
        return cls(raw["field"], raw["op"], raw.get("expected"), raw.get("actual"))


@dataclass(frozen=True)
class Alert:
    """One matched event inside a notification."""

    event: str  # the event kind, e.g. "attempt.completed"
    key: str
    data: dict[str, Any]
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Notification:
    """What a channel is asked to send: one outbox row. `id` is the delivery id, stable
    across retries (webhooks send it as `id` and `webhook-id`)."""

    id: str
    rule: str
    channel: str
    alerts: tuple[Alert, ...]
    attempt: int = 1  # 1 for the first try


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after: float | None = None  # seconds, when the far end said how long to wait

    @classmethod
    def sent(cls) -> Outcome:
        return cls(ok=True)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None) -> Outcome:
        return cls(ok=False, retryable=True, reason=reason, retry_after=retry_after)

    @classmethod
    def final(cls, reason: str) -> Outcome:
        return cls(ok=False, retryable=False, reason=reason)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


RETRYABLE_STATUSES = frozenset({408, 429})


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> Outcome:
    """2xx is done; 408, 429 and 5xx are worth retrying (honouring Retry-After); every
    other status is final."""
    if 200 <= status < 300:
        return Outcome.sent()
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    if status in RETRYABLE_STATUSES or 500 <= status < 600:
        return Outcome.retry(f"HTTP {status}", retry_after)
    return Outcome.final(f"HTTP {status}")


class Channel(Protocol):
    """A configured destination. Implementations are thread-safe: the delivery loop calls
    `send` from up to NOTIFIER_DELIVERY_CONCURRENCY threads at once."""

    name: str

    def send(self, notification: Notification) -> Outcome: ...

    def close(self) -> None: ...


@dataclass
class SendContext:
    """Process-wide things a channel may need when it is built."""

    settings: Any  # notifier.settings.Settings (Any keeps this module import-light)
    extra: dict[str, Any] = field(default_factory=dict)
