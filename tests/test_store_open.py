"""Opening a new state store from two places at once: `docker exec notifier notifier
status` while the container's `notifier run` is starting must not make either fail."""

from __future__ import annotations

import threading
from pathlib import Path

from notifier.state.migrations import SCHEMA_VERSION
from notifier.state.sqlite import SqliteStore


def open_together(path: Path) -> list[str]:
    """Two connections open (create, switch to WAL, migrate) one new store at the same
    moment; returns the errors."""
    barrier = threading.Barrier(2)
    errors: list[str] = []

    def open_it() -> None:
        barrier.wait()
        try:
            SqliteStore(path).close()
        except Exception as exc:  # noqa: BLE001 - the test reports every failure
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_openers_of_a_new_store_both_succeed(tmp_path: Path) -> None:
    # Each round is a new store; before the fix about two rounds in three failed with
    # "duplicate column name" or "database is locked".
    errors = [e for n in range(40) for e in open_together(tmp_path / f"{n}.db")]
    assert errors == []
    store = SqliteStore(tmp_path / "0.db")
    try:
        assert store.meta.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.db.journal_mode == "wal"
    finally:
        store.close()
