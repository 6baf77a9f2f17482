"""Helpers for the Slack click tests: a signed Request URL POST as Slack makes it, and
a small in-memory actions service with the shape the click handler calls (for the
handler's own tests; the end-to-end tests use the real service through `notifier
run`)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx

SIGNING_SECRET = "slack-signing-SECRET-8e1f0c"
APP_TOKEN = "xapp-1-A0STANDIN-SECRET-77c2"


def signed_post(
    url: str,
    payload: dict[str, Any],
    *,
    secret: str = SIGNING_SECRET,
    at: float | None = None,
    tamper: bool = False,
) -> httpx.Response:
    """POST `payload` to the Request URL as Slack does: a form with one field, signed
    with `secret` at `at` (Unix seconds; default now); `tamper` changes the body after
    signing."""
    body = urlencode({"payload": json.dumps(payload)})
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
    if tamper:
        body = body.replace("notifier.", "notifier%2E", 1)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    return httpx.post(url, content=body, headers=headers, timeout=10)


@dataclass(frozen=True)
class FollowUp:
    delivery: str
    by: str
    by_name: str
    at: datetime
    first: bool


@dataclass(frozen=True)
class Mute:
    id: str
    student: str | None
    rule: str | None
    channel: str | None
    until: datetime
    by: str
    reason: str
    created_at: datetime
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Facts:
    id: str
    rule: str
    channel: str
    status: str
    students: tuple[str, ...]
    student_names: tuple[str, ...]
    message_ref: str | None
    followed_up: FollowUp | None


class MemoryActions:
    """The actions service's click-side methods over dicts (thread-safe)."""

    def __init__(self, deliveries: dict[str, Facts]):
        self._deliveries = dict(deliveries)
        self._mutes: dict[str, Mute] = {}
        self._lock = threading.Lock()
        self.calls: list[tuple[str, str]] = []

    def delivery(self, delivery_id: str) -> Facts:
        with self._lock:
            if delivery_id not in self._deliveries:
                raise LookupError(delivery_id)
            return self._deliveries[delivery_id]

    def follow_up(self, delivery_id: str, *, by: str, by_name: str, source: str) -> FollowUp:
        with self._lock:
            self.calls.append(("follow_up", by))
            facts = self._deliveries[delivery_id]
            if facts.followed_up is not None:
                return replace(facts.followed_up, first=False)
            done = FollowUp(delivery_id, by, by_name, datetime.now(UTC), True)
            self._deliveries[delivery_id] = replace(facts, followed_up=done)
            return done

    def mute_delivery(
        self,
        delivery_id: str,
        *,
        what: str,
        duration: timedelta,
        by: str,
        reason: str,
        source: str,
    ) -> list[Mute]:
        with self._lock:
            self.calls.append((f"mute_{what}", by))
            facts = self._deliveries[delivery_id]
            now = datetime.now(UTC)
            targets = facts.students if what == "student" else (None,)
            made = []
            for student in targets:
                mute = Mute(
                    f"mut_{len(self._mutes) + 1}",
                    student,
                    facts.rule if what == "rule" else None,
                    None,
                    now + duration,
                    by,
                    reason,
                    now,
                )
                self._mutes[mute.id] = mute
                made.append(mute)
            return made

    def unmute(self, mute_id: str, *, by: str, source: str) -> Mute:
        with self._lock:
            self.calls.append(("unmute", by))
            mute = self._mutes[mute_id]
            if mute.ended_at is None:
                mute = replace(mute, ended_at=datetime.now(UTC))
                self._mutes[mute_id] = mute
            return mute

    def mutes(self, *, include_ended_days: int = 7) -> list[Mute]:
        with self._lock:
            return list(self._mutes.values())

    def active(self) -> list[Mute]:
        return [m for m in self.mutes() if m.ended_at is None]


def action_ids(blocks: list[dict[str, Any]] | None) -> list[str]:
    """The action ids of a Slack message's buttons and menus, in order."""
    return [
        e["action_id"]
        for b in blocks or []
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def status_text(blocks: list[dict[str, Any]] | None) -> str:
    """What the message's status line says (who followed up, what is muted)."""
    return "\n".join(
        e.get("text", "")
        for b in blocks or []
        if b.get("block_id") == "notifier.status"
        for e in b.get("elements", [])
    )
