"""Small shared pieces for the guarantee tests (issue 4)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from notifier.channels.base import Alert, Message, Notification, Outcome, WebhookMessage
from notifier.state import SqliteStore, Store


def downgrade_and_close(store: Store, statements: Iterable[str]) -> None:
    """Take the store's schema back (`statements`) and close the handle, as a store
    of an older version would be found. On SQLite they run on a connection of their
    own: the handle's own temporary trigger (`sqlite_outbox.SENT_VIEW`) names the
    outbox's tables, and SQLite checks it against every change of the schema."""
    if isinstance(store, SqliteStore):
        store.close()
        conn = sqlite3.connect(store.path)
        for sql in statements:
            conn.execute(sql)
        conn.commit()
        conn.close()
        return
    handle: Any = store  # PostgresStore: its connection
    for sql in statements:
        handle.db().execute(sql)
    store.close()


def _notification(message: WebhookMessage) -> Notification:
    """The notification a webhook message was rendered from, as its body tells it."""
    body = message.body
    alerts = tuple(Alert(a["event"], a["key"], a["data"]) for a in body["alerts"])
    return Notification(id=body["id"], rule=body["rule"], channel=body["channel"], alerts=alerts)


class RecordingChannel:
    """A channel that records what it was asked to send and answers with `outcome`
    (a function of the notification, called after the send is recorded; a slow send is
    an `outcome` that waits for something, not a sleep). It takes the webhook's message
    (which carries every alert) and records the notification that message tells."""

    message_type: ClassVar[type[Message]] = WebhookMessage

    def __init__(self, name: str, outcome: Callable[[Notification], Outcome] | None = None):
        self.name = name
        self.outcome = outcome or (lambda n: Outcome.sent())
        self._lock = threading.Lock()
        self.sent: list[Notification] = []

    def send(self, message: WebhookMessage) -> Outcome:
        notification = _notification(message)
        with self._lock:
            self.sent.append(notification)
        return self.outcome(notification)

    def close(self) -> None:
        pass
