"""The mute stage's decision (the `Mutes` seam of `notifier.delivery.stages`): which rows
of a due unit an active mute holds.

Mutes are read from the store for each unit checked, never kept from one message to the
next: on PostgreSQL every replica honours a mute the moment it is written, and a mute's
end is exact (`until` compared with this clock when the unit is checked), surviving
restarts. The read is made after the worker's previous send completed: by the worker
(on its own handle), or, once that send's outcome is recorded, by the worker that
wrote it with the others of its group commit (`notifier.delivery.commit`: one read for
the batch). A row a person released from a mute (`notifier replay ID`) is let by.

A group message with some members muted goes out without them: each row is matched on
its own, the muted ones are kept as `muted` and the rest are sent together (a mute on
one student never hides the others of the group).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from notifier.actions.students import is_student
from notifier.events import JSONObject
from notifier.state import OutboxRow
from notifier.state.actions_base import MuteRecord, MuteStore


class MuteReader(Protocol):
    """The store (the worker's handle) as the mute stage reads it."""

    mutes: MuteStore


def holds(mute: MuteRecord, row: OutboxRow) -> bool:
    """Whether `mute` covers `row`: its rule, its channel, and one of its students."""
    if mute.rule is not None and mute.rule != row.rule:
        return False
    if mute.channel is not None and mute.channel != row.channel:
        return False
    if mute.student is None:
        return True
    wanted = mute.student
    return any(is_student(wanted, _data(alert)) for alert in row.alerts)


def _data(alert: object) -> JSONObject:
    data = alert.get("data") if isinstance(alert, dict) else None
    return data if isinstance(data, dict) else {}


class StoreMutes:
    """Mutes as the state store keeps them, on the clock the deliverer uses."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock

    def read(self, store: MuteReader) -> list[MuteRecord]:
        """The mutes in force now."""
        return store.mutes.active(self.clock())

    def held(
        self,
        rows: Sequence[OutboxRow],
        store: MuteReader,
        read: Sequence[MuteRecord] | None = None,
    ) -> dict[str, str]:
        """Row id -> the id of the mute that holds it, for the rows a mute holds now.
        `read`: the mutes in force as read since the previous send completed (`read`);
        None reads them now."""
        if read is None:
            active: Sequence[MuteRecord] = self.read(store)
        else:
            now = self.clock()
            active = [m for m in read if m.until > now]  # a mute ends at `until` exactly
        if not active:
            return {}
        found: dict[str, str] = {}
        for row in rows:
            for mute in active:
                if holds(mute, row):
                    found[row.id] = mute.id
                    break
        if found:
            for id_ in store.mutes.replayed(list(found)):
                del found[id_]
        return found


__all__ = ["StoreMutes", "holds"]
