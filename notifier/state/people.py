"""The console's people (contract section 14): its users and their sign-in sessions,
two concerns of the store of their own, each a class per backend holding the store's
connection and exposed as an attribute of the store (`store.users`, `store.sessions`:
`notifier.state.store.Store`), and the console's read questions (`store.console`).

Passwords reach the store hashed (Argon2id, `notifier.console.passwords`); a session
is kept under the SHA-256 of its cookie's token, so a copy of the store gives no one
a way in. A session is read joined with its user: a removed user's sessions end with
it, and a changed role applies at the next request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypedDict

ROLES = ("viewer", "editor", "admin")


class UserExists(ValueError):
    """`users.add` of a name that is taken."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class Session:
    """A signed-in session: whose, with what role (the user's now), its CSRF token."""

    user: str
    role: str
    csrf: str
    created_at: float
    seen_at: float


class Users(Protocol):
    def add(self, name: str, role: str, password_hash: str, now: float) -> None:
        """A new user; UserExists when the name is taken."""
        ...

    def get(self, name: str) -> User | None: ...

    def all(self) -> list[User]:
        """Every user, by name."""
        ...

    def remove(self, name: str) -> bool:
        """Remove the user and end their sessions (one transaction); False: no such user."""
        ...

    def set_password(self, name: str, password_hash: str, now: float) -> bool:
        """A new password hash; every session of the user ends with the old password."""
        ...

    def set_role(self, name: str, role: str, now: float) -> bool: ...


class Sessions(Protocol):
    def start(self, token_hash: str, user: str, csrf: str, now: float) -> None: ...

    def get(self, token_hash: str, idle_after: float) -> Session | None:
        """The session (its user's current role) when it was seen after `idle_after`
        and its user still exists; else None."""
        ...

    def touch(self, token_hash: str, now: float) -> None: ...

    def end(self, token_hash: str) -> None: ...

    def prune(self, idle_before: float) -> int:
        """Forget sessions idle since before `idle_before`. Returns how many."""
        ...


@dataclass(frozen=True)
class AlertFilter:
    """The `/alerts` page's filters; None: any. Times are Unix seconds."""

    student: str | None = None  # a user id or an email
    rule: str | None = None
    channel: str | None = None
    status: str | None = None
    since: float | None = None
    until: float | None = None


class AlertRow(TypedDict):
    """An outbox row as the console reads it (ALERT_COLUMNS; `alerts` is JSON text)."""

    id: str
    rule: str
    channel: str
    event: str
    event_key: str
    status: str
    attempts: int
    last_error: str | None
    created_at: float
    updated_at: float
    sent_at: float | None
    next_at: float
    alerts: str
    message_ref: str | None
    group_key: str | None


class TryRow(TypedDict):
    """One try of a delivery (`outbox_tries`)."""

    number: int
    at: float
    outcome: str
    answer: str
    error: str | None


class HourRow(TypedDict):
    """Deliveries of one rule queued in one hour (Unix hours)."""

    rule: str
    hour: int
    n: int


class StudentRow(TypedDict):
    """A student's latest activity (`activity`)."""

    user_id: str
    student: str | None
    email: str | None
    at: float
    kind: str
    title: str | None


class TimelineRow(TypedDict):
    """One kept event of a student (`history`; `data` is JSON text)."""

    kind: str
    at: float
    key: str
    data: str


class ConsoleReads(Protocol):
    """The read questions only the console asks (both backends alike)."""

    def alerts(self, where: AlertFilter, *, limit: int, offset: int) -> list[AlertRow]:
        """Outbox rows (ALERT_COLUMNS), newest first."""
        ...

    def alert(self, delivery_id: str) -> AlertRow | None:
        """One outbox row (ALERT_COLUMNS), None when it does not exist."""
        ...

    def tries(self, delivery_id: str) -> list[TryRow]:
        """The delivery's tries (number, at, outcome, answer, error), oldest first."""
        ...

    def hourly(self, since: float) -> list[HourRow]:
        """Deliveries queued since `since` per rule and hour: rule, hour (Unix hours), n."""
        ...

    def rule_counts(self, since: float) -> dict[str, dict[str, int]]:
        """Per rule since `since`: matches (events), deliveries, sent, dead."""
        ...

    def students(self, text: str, limit: int) -> list[StudentRow]:
        """Students (user_id, student, email, at, kind, title) whose id, name or email
        holds `text`, latest activity first."""
        ...

    def student(self, user_id: str) -> StudentRow | None: ...

    def timeline(self, user_id: str, limit: int) -> list[TimelineRow]:
        """The student's kept events (kind, at, key, data as JSON text), newest first."""
        ...


ALERT_COLUMNS = (
    "id", "rule", "channel", "event", "event_key", "status", "attempts", "last_error",
    "created_at", "updated_at", "sent_at", "next_at", "alerts", "message_ref", "group_key",
)  # fmt: skip


def student_of(alerts: Sequence[Mapping[str, Mapping[str, object]]]) -> str | None:
    """The user id an outbox row's (first) alert is about, as text."""
    for alert in alerts:
        value = alert.get("data", {}).get("user_id")
        if value is not None:
            return str(value)
    return None
