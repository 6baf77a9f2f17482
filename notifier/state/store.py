"""The store as its users see it: a handle (`ping`, `for_thread`, `close`) whose
attributes are the concerns of `notifier.state.base` (`store.seen`, `store.outbox`,
...), each on the handle's own connection; and the joins of a few concerns that one
part takes (`PollStore`, `DeliveryStore`, `InboxHandle`).

A join is a Protocol with attributes, so a part that needs the outbox and the faults
says so (`DeliveryStore`) and is given any store; a part that needs one concern takes
that concern (`Planner(store.outbox, ...)`, `Lookups(store.sources, ...)`). Adding a
concern: its Protocol in `base`, one attribute here in `Store`, a class per backend and
one line in each backend's handle (`notifier/state/README.md`).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, TypedDict

from notifier.state.actions_base import AuditLog, FollowUpStore, MuteStore
from notifier.state.base import (
    DeliveryLog,
    Faults,
    History,
    Inbox,
    Meta,
    Outbox,
    SeenMarks,
    SourceState,
)
from notifier.state.people import ConsoleReads, Sessions, Users
from notifier.state.rules_base import RulesVersions


class Replica(TypedDict):
    id: str
    host: str
    pid: int


class ReplicasStatus(TypedDict):
    """What `status` shows of the replicas on PostgreSQL (declared here, not beside
    the heartbeat in `postgres_replicas`, so commands on SQLite load no driver)."""

    live: list[Replica]
    poller: str | None  # the replica that holds the poller lease, if one does


class Handle(Protocol):
    """The store's lifecycle: what whoever opened it (or hands it to a thread) needs."""

    def ping(self) -> str | None:
        """From any thread (a health check): None when the store answers a read, else
        why it does not. Never raises."""
        ...

    def for_thread(self) -> Store:
        """Another handle on the same store for another thread (a delivery worker)."""
        ...

    def together(self) -> AbstractContextManager[None]:
        """One transaction for the writes made inside it (DeliveryStore.together)."""
        ...

    def close(self) -> None: ...


class Store(Handle, Protocol):
    """Everything the notifier keeps between cycles, whichever backend holds it: a
    handle (its lifecycle) whose attributes are the concerns, each on the handle's
    connection. Only what opens the store, wires the parts or serves a command takes
    it whole; every other part takes the concern (or the few concerns) it uses."""

    seen: SeenMarks
    outbox: Outbox
    sources: SourceState
    history: History
    meta: Meta
    inbox: Inbox
    faults: Faults
    log: DeliveryLog
    rules: RulesVersions  # the rules' versions (NOTIFIER_RULES_IN_STORE)
    mutes: MuteStore  # what people do to alerts (actions_base)
    follow_ups: FollowUpStore
    audit: AuditLog
    users: Users  # the console's people and its reads (people)
    sessions: Sessions
    console: ConsoleReads


class PollStore(Protocol):
    """What a source's poll may ask (`PollContext.store`): seen marks, its cursors and
    caches, and the history its rules read."""

    seen: SeenMarks
    sources: SourceState
    history: History
    mutes: MuteStore  # the actions source reads what people did
    follow_ups: FollowUpStore


class WorkerHandle(Protocol):
    """A handle of its own for each delivery worker thread, closed at shutdown."""

    def for_thread(self) -> DeliveryStore: ...

    def close(self) -> None: ...


class DeliveryStore(WorkerHandle, Protocol):
    """What delivery uses: the outbox, processing faults of its rows, the mutes (the
    mute stage) and group messages' rows (`follow_ups`), and a handle of its own per
    worker thread."""

    outbox: Outbox
    faults: Faults
    mutes: MuteStore
    follow_ups: FollowUpStore

    def together(self) -> AbstractContextManager[None]:
        """One transaction for the writes made inside it (several delivery outcomes,
        each written as usual): they commit together or not at all."""
        ...


class InboxHandle(Protocol):
    """What the push receiver's writer thread uses: the inbox, on a handle it closes."""

    inbox: Inbox

    def close(self) -> None: ...
