"""An outbox row's alerts as the SQLite store keeps them (schema 13): compact JSON,
zlib-compressed, in the `alerts` column as a BLOB. An alert carries every field of its
event (contract section 6: a webhook body's `data`), about 3 KB for an exam attempt
with its sections and stats, and that JSON compresses about four to one; the row is
read back whole whenever it is sent, shown or replayed, so nothing is lost and nothing
is left out. Rows written before schema 13 hold JSON text until the migration packs
them; readers take either.

The student a row is about (the first alert's `user_id` and lower-cased `email`) is
kept beside it in plain columns, for the console's indexes: an index cannot look
inside compressed bytes. PostgreSQL keeps `alerts` as JSON text (it compresses a
value of more than about 2 KB on its own, TOAST) and the same two columns.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping, Sequence

from notifier.state.rows import Row

# The SQL function a migration packs old rows with (registered on every connection).
PACK_SQL = "notifier_pack_alerts"
# zlib's fastest level: an attempt's 3 KB of alerts become about 840 bytes in about
# 0.1 ms of CPU (level 6: 780 bytes, half as fast again), written inside `record`'s
# transaction, which the backlog figure times.
LEVEL = 1


def pack_alerts(alerts: Sequence[Mapping[str, object]]) -> bytes:
    """The alerts as stored on SQLite: compact JSON, compressed."""
    text = json.dumps(list(alerts), separators=(",", ":"), default=str)
    return zlib.compress(text.encode(), LEVEL)


def alerts_text(value: str | bytes) -> str:
    """The alerts as JSON text, from either form a row may hold."""
    if isinstance(value, bytes):
        return zlib.decompress(value).decode()
    return value


def pack_text(value: str | bytes | None) -> bytes | None:
    """`pack_alerts` of a row's JSON text (SQL: `notifier_pack_alerts(alerts)`); packed
    bytes are left as they are, so the migration can be run over any row."""
    if value is None or isinstance(value, bytes):
        return value
    return zlib.compress(json.dumps(json.loads(value), separators=(",", ":")).encode(), LEVEL)


def with_alerts_text(row: Row) -> Row:
    """A row read by name with its `alerts` as JSON text, as the readers of the
    store's rows (the delivery log, the console, `deliveries`) have always had them."""
    alerts = row.get("alerts")
    return {**row, "alerts": alerts_text(alerts)} if isinstance(alerts, bytes) else row


def student_columns(alerts: Sequence[Mapping[str, object]]) -> tuple[str | None, str | None]:
    """The first alert's `user_id` (as text) and lower-cased `email`: the row's
    `user_id` and `email` columns, by which the console finds a student's alerts."""
    data = alerts[0].get("data") if alerts else None
    if not isinstance(data, dict):
        return None, None
    return _as_text(data.get("user_id")), (_as_text(data.get("email")) or "").lower() or None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
