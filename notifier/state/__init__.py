"""The state store: seen marks, the outbox, cursors and small state, meta; and the lock.

`base` is the interface (Protocols) the rest of the notifier depends on; `sqlite` and
`sqlite_outbox` implement it. Imports only the standard library, sqlite-utils and
`notifier.settings` (for the configuration error): no transport, no rules, no channels.
"""

from notifier.state.base import InboxRow, NewDelivery, OutboxRow, Store, delivery_id, iso
from notifier.state.sqlite import SqliteStore, open_store

__all__ = [
    "InboxRow",
    "NewDelivery",
    "OutboxRow",
    "SqliteStore",
    "Store",
    "delivery_id",
    "iso",
    "open_store",
]
