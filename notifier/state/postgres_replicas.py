"""Several replicas on one PostgreSQL database: who is alive, and who polls.

**One poller, through a lease row** (`leases`, name `poller`): a replica polls only
while it holds the row, which it renews every `beat` seconds for `lease` seconds; when
the holder dies its lease runs out and the next replica to beat takes it. Each take or
renewal is ONE statement (`INSERT ... ON CONFLICT DO UPDATE ... WHERE the holder is me
or the lease ran out`) comparing times on the database's clock, so the replicas'
clocks do not matter and nothing lives in a database session.

Why not a session advisory lock (`pg_try_advisory_lock`)? It belongs to the server
session, and behind a transaction-pooling pgbouncer a session is shared by whoever
runs the next transaction: the lock would be held by a pooled connection, not by a
replica, and a dead replica's lock might never be freed (or another replica's
transactions would "hold" it). A lease row is plain data in short transactions, so it
works the same directly or through any pooler. The price is the bound: a dead poller
is replaced only once its lease runs out. With `lease = bound / 3` and `beat = lease /
4`, where `bound = max(2 * NOTIFIER_POLL_INTERVAL, 30)` s (the contract), a replica
takes over at most `lease + beat` (5/12 of the bound: 12.5 s for polls up to every
15 s) after the poller's last renewal, and a poller has to miss three beats in a row
(the database away for most of a lease) before it stops polling.

Should two pollers ever overlap (a poller stalled past its lease), nothing is queued
twice: outbox rows are keyed by delivery id and inserted with ON CONFLICT DO NOTHING.

**Liveness** (`replicas`): each replica's heartbeat also pushes its `alive_until`
forward; the claims of a replica whose heartbeat stopped (killed) are given back by
the next heartbeat of any other replica, so its unfinished sends are made again at
once rather than when their claim lease (minutes) runs out.

**An outage is not a death.** When the database is away for longer than the alive
window, every row runs out at once, and the first replica back would take all the
others for dead and give back their claims, including sends they made during the
outage and are still trying to record (the deliverer retries until the store answers):
the same alert twice. So a replica reaps others only after it has itself been in
touch, without a gap, for a whole alive window plus a beat (`Heartbeat.may_reap`), and
never in a beat that finds its own row run out: by then every live replica has beaten
again, and only the dead are still silent.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Protocol, cast

from notifier.settings import ConfigError
from notifier.state.postgres_conn import PostgresPart, StoreUnavailable
from notifier.state.rows import first, named
from notifier.state.store import ReplicasStatus, Store

log = logging.getLogger(__name__)

POLLER = "poller"
_NOW = "EXTRACT(EPOCH FROM clock_timestamp())"


def lease_timing(poll_interval: float) -> tuple[float, float]:
    """(lease, beat) seconds for a poll interval, so a dead poller is replaced within
    the contract's max(2 * NOTIFIER_POLL_INTERVAL, 30) s."""
    bound = max(2 * poll_interval, 30.0)
    lease = bound / 3
    return lease, lease / 4


class PostgresReplicas(PostgresPart):
    """`store.replicas`: the replica and lease rows (PostgreSQL only)."""

    def beat(self, alive_seconds: float, *, want_poller: bool, reap: bool = True) -> bool:
        """One heartbeat: this replica is alive for `alive_seconds` more; take or renew
        the poller lease for as long when `want_poller`; with `reap`, give back the
        claims of replicas found dead. Returns whether this replica holds the poller
        lease. Nobody is reaped by a replica whose own row had run out (it was cut off
        itself: an outage, not deaths), whatever `reap` says."""
        with self.pg.tx() as conn:
            mine = first(
                conn.execute(
                    f"SELECT alive_until >= {_NOW} AS alive FROM replicas WHERE id = %s",
                    [self.replica],
                )
            )
            reap = reap and mine is not None and bool(mine["alive"])
            conn.execute(
                "INSERT INTO replicas (id, host, pid, started_at, alive_until) "
                f"VALUES (%s, %s, %s, {_NOW}, {_NOW} + %s) "
                "ON CONFLICT (id) DO UPDATE SET alive_until = EXCLUDED.alive_until",
                [self.replica, socket.gethostname()[:100], os.getpid(), alive_seconds],
            )
            dead = (
                [
                    (row["id"],)  # as a tuple, the way the warning below has always shown it
                    for row in named(
                        conn.execute(
                            f"DELETE FROM replicas WHERE alive_until < {_NOW} RETURNING id"
                        )
                    )
                ]
                if reap
                else []
            )
            if dead:
                conn.execute(
                    "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL "
                    "WHERE claimed_by = ANY(%s)",
                    [[id_ for (id_,) in dead]],
                )
                log.warning("replicas %s stopped beating: their claims were given back", dead)
            if not want_poller:
                return False
            held = first(
                conn.execute(
                    "INSERT INTO leases (name, holder, until) "
                    f"VALUES (%s, %s, {_NOW} + %s) "
                    "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, "
                    "until = EXCLUDED.until "
                    f"WHERE leases.holder = EXCLUDED.holder OR leases.until < {_NOW} "
                    "RETURNING holder",
                    [POLLER, self.replica, alive_seconds],
                )
            )
        return held is not None

    def leave(self) -> None:
        """A clean stop: drop the poller lease (another replica takes over at its next
        beat instead of waiting for the lease to run out), the claims and the row."""
        with self.pg.tx() as conn:
            conn.execute(
                "DELETE FROM leases WHERE name = %s AND holder = %s", [POLLER, self.replica]
            )
            conn.execute(
                "UPDATE outbox SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by = %s",
                [self.replica],
            )
            conn.execute("DELETE FROM replicas WHERE id = %s", [self.replica])

    def replicas_status(self) -> ReplicasStatus:
        """The live replicas and the poller, for `notifier status`."""
        conn = self.pg.db()
        live = named(
            conn.execute(
                f"SELECT id, host, pid FROM replicas WHERE alive_until >= {_NOW} "
                "ORDER BY started_at"
            )
        )
        poller = first(
            conn.execute(f"SELECT holder FROM leases WHERE name = %s AND until >= {_NOW}", [POLLER])
        )
        return {
            "live": [{"id": r["id"], "host": r["host"], "pid": r["pid"]} for r in live],
            "poller": None if poller is None else poller["holder"],
        }


class _Beats(Protocol):
    replica: str

    def beat(self, alive_seconds: float, *, want_poller: bool, reap: bool = True) -> bool: ...

    def leave(self) -> None: ...


class _Beating(Protocol):
    """A handle of the store's own for the heartbeat thread: its replicas, closed at stop."""

    @property
    def replicas(self) -> _Beats: ...

    def close(self) -> None: ...


class Heartbeat:
    """The thread that keeps one replica alive and, when it can, the poller.

    `is_poller()` is what the run loop asks before polling: true only while the last
    successful renewal is recent enough that the lease certainly has not run out
    (measured on this machine's monotonic clock from before the renewal was sent), so
    a replica cut off from the database stops polling before another can take over.
    `became_poller` is set when the lease is taken, to wake the loop at once."""

    def __init__(self, store: _Beating, poll_interval: float, *, poll: bool = True):
        self.store = store
        self.lease, self.interval = lease_timing(poll_interval)
        self.poll = poll
        self.became_poller = threading.Event()
        self._held_until = 0.0
        # Since when (monotonic) this replica's beats have gone through without a gap.
        self._in_touch_since: float | None = None
        self._last_ok = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="replica-heartbeat", daemon=True)

    def start(self) -> Heartbeat:
        self._beat()  # a store that cannot be reached fails the start, as with SQLite
        self._thread.start()
        return self

    def is_poller(self) -> bool:
        return time.monotonic() < self._held_until

    def may_reap(self, now: float) -> bool:
        """Whether a silent replica may be taken for dead: only once this one has been
        in touch with the database for a whole alive window (`lease`) plus a beat. After
        an outage every live replica's row has run out; each beats again within a beat
        of the database's return, so one still silent a window later is really gone,
        and claims are never given back from a replica that is only catching up (it
        may have sent them, and be recording that now)."""
        since = self._in_touch_since
        return since is not None and now - since >= self.lease + self.interval

    def _beat(self) -> None:
        sent = time.monotonic()
        if sent - self._last_ok > 2 * self.interval + 1.0:  # a gap: beats were missed
            self._in_touch_since = None
        try:
            held = self.store.replicas.beat(
                self.lease, want_poller=self.poll, reap=self.may_reap(sent)
            )
        except Exception:
            self._in_touch_since = None
            raise
        self._last_ok = sent
        if self._in_touch_since is None:
            self._in_touch_since = sent
        was = self.is_poller()
        self._held_until = sent + self.lease - 1.0 if held else 0.0
        if held and not was:
            log.info("this replica (%s) is the poller now", self.store.replicas.replica)
            self.became_poller.set()
        elif was and not held:
            log.warning("this replica (%s) lost the poller lease", self.store.replicas.replica)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._beat()
            except Exception as exc:  # noqa: BLE001 - the database may be away for a while
                log.warning("replica heartbeat failed (trying again): %s", type(exc).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._held_until = 0.0
        try:
            self.store.replicas.leave()
        except Exception as exc:  # noqa: BLE001 - the lease runs out by itself
            log.warning("could not leave the replica set cleanly: %s", type(exc).__name__)
        self.store.close()


def join_replicas(store: Store, poll_interval: float) -> Heartbeat:
    """`notifier run` on PostgreSQL: start this replica's heartbeat (and its bid for
    the poller lease) on a connection of its own; a database that cannot be reached
    now is a configuration problem (exit 2), as at open."""
    try:
        # on PostgreSQL the store is a PostgresStore: its handles have `replicas`
        return Heartbeat(cast(_Beating, store.for_thread()), poll_interval).start()
    except StoreUnavailable as exc:
        raise ConfigError([f"NOTIFIER_DB: cannot open the state store: {exc}"]) from None
