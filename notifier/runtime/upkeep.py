"""Keeping the state store bounded: what can no longer matter is forgotten, hourly.

Seen keys and sent deliveries older than any poll can reach again (the lookback window,
plus the day the date filters are widened by, plus a margin), dead deliveries (and
rows set aside as poison, mutes that ended and muted deliveries) after 30 days, follow-ups as old as
sent deliveries, processed pushed webhooks after a day (the
keys of the webhooks received with the seen marks), and history past the longest
window any rule uses; then the pages freed are given back (`Meta.compact`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from notifier.rules.history import HISTORY_MAX_DAYS, keep_seconds
from notifier.rules.schema import Rule
from notifier.runtime.intake import INBOX_KEPT
from notifier.state import Faults, History, Inbox, Meta
from notifier.state.actions_base import FollowUpStore, MuteStore

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
PRUNE_MARGIN = 3 * 86400.0  # the day date filters are widened by, and two to spare
DEAD_KEPT = 30 * 86400.0


class UpkeepStore(Protocol):
    """What pruning touches: every kind of row that ages out, and the clock it keeps
    in meta."""

    meta: Meta
    history: History
    mutes: MuteStore
    follow_ups: FollowUpStore
    inbox: Inbox
    faults: Faults


def prune_if_due(
    store: UpkeepStore, lookback_hours: float, rules: Sequence[Rule], now: float
) -> None:
    """At most once an hour (`pruned_at` in the store's meta, so replicas and restarts
    share the clock)."""
    last = float(store.meta.get_meta("pruned_at") or 0)
    if now - last < PRUNE_EVERY:
        return
    keep = (lookback_hours * 3600) + PRUNE_MARGIN
    counts = store.meta.prune(
        seen_before=now - keep, sent_before=now - keep, dead_before=now - DEAD_KEPT
    )
    counts["inbox"] = store.inbox.inbox_prune(now - INBOX_KEPT)
    # A webhook's received key lasts as long as the seen marks: a replay meanwhile is
    # answered without a row; after, it is stored once and found seen.
    counts["received"] = store.inbox.inbox_prune_received(now - keep)
    counts["poisoned"] = store.faults.prune_poisoned(now - DEAD_KEPT)
    # Mutes ended a month ago and muted deliveries no one replayed; follow-ups as old
    # as the sent rows they were about (the audit log keeps who did what).
    counts["mutes"] = store.mutes.prune(now - DEAD_KEPT)
    counts["follow_ups"] = store.follow_ups.prune(now - keep)
    counts.update(
        store.history.prune_history(
            before=now - keep_seconds(rules),
            activity_before=now - HISTORY_MAX_DAYS * 86400.0,
        )
    )
    counts["pages_freed"] = store.meta.compact()  # the file no larger than what is kept
    store.meta.set_meta("pruned_at", str(now))
    if any(counts.values()):
        log.info("pruned the state store: %s", counts)
