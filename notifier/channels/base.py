"""What every channel shares: the notification it is given, the outcome it returns, and
how an HTTP status becomes an Outcome (the rule itself is in `notifier.httpstatus`).

A send never sleeps and never raises for an expected failure: it says whether trying
again makes sense (and, if the far end said so, when), and the delivery loop stores the
next try time in the outbox row.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from notifier.events import Reason
from notifier.httpstatus import is_retryable_status, parse_retry_after

__all__ = [
    "Alert",
    "Channel",
    "Notification",
    "Outcome",
    "Reason",
    "SendContext",
    "classify_status",
]


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


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> Outcome:
    """2xx is done; 408, 429 and 5xx are worth retrying (honouring Retry-After); every
    other status is final."""
    if 200 <= status < 300:
        return Outcome.sent()
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    if is_retryable_status(status):
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
