"""`notifier backup PATH` (issue 23 part 5): SQLite's online backup, safe while the
notifier runs; on PostgreSQL the `pg_dump` to run, without the password. Over the real
CLI, on a real store."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from notifier.state import NewDelivery, SqliteStore
from notifier.state.lock import InstanceLock

PAD = "x" * 2000  # makes the store a few megabytes, so the copy takes a while


def _delivery(k: int) -> NewDelivery:
    alert = {"event": "attempt.completed", "key": str(k), "data": {"id": k, "pad": PAD}}
    return NewDelivery("failed-exam", "lms", "attempt.completed", str(k), [alert])


def _backup(db: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFIER_", "PG"))}
    env["NOTIFIER_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "notifier", "backup", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


class Writer(threading.Thread):
    """Records one seen key and its delivery per transaction until stopped, as a
    running notifier's cycles do, on its own connection."""

    def __init__(self, db: Path, first: int) -> None:
        super().__init__(daemon=True)
        self.db, self.next = db, first
        self.stop = threading.Event()
        self.started = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        store = SqliteStore(self.db)
        try:
            while not self.stop.is_set():
                store.seen.record("attempts", [str(self.next)], [_delivery(self.next)])
                self.next += 1
                self.started.set()
        except BaseException as exc:  # surfaced by the test
            self.error = exc
            self.started.set()
        finally:
            store.close()


def _keys(path: Path) -> tuple[set[str], set[str]]:
    with sqlite3.connect(path) as conn:
        seen = {r[0] for r in conn.execute("SELECT key FROM seen WHERE source = 'attempts'")}
        queued = {r[0] for r in conn.execute("SELECT event_key FROM outbox")}
    return seen, queued


def test_a_backup_taken_while_another_connection_writes_is_whole_and_consistent(
    tmp_path: Path,
) -> None:
    db = tmp_path / "notifier.db"
    store = SqliteStore(db)
    store.seen.record(
        "attempts", [str(k) for k in range(3000)], [_delivery(k) for k in range(3000)]
    )
    store.close()
    writer = Writer(db, 3000)
    writer.start()
    assert writer.started.wait(30) and writer.error is None
    try:
        with InstanceLock(db):  # as while `notifier run` holds the store: no refusal
            before = writer.next
            done = _backup(str(db), "backup.db", cwd=tmp_path)
            after = writer.next
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None
    assert done.returncode == 0, done.stderr
    assert f"backed up {db} to backup.db" in done.stdout
    assert after > before  # the writer committed while the command ran
    copy = tmp_path / "backup.db"
    assert not (tmp_path / "backup.db-wal").exists()  # one self-contained file
    assert [p.name for p in tmp_path.glob(".backup.db.partial*")] == []
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    seen, queued = _keys(copy)
    assert seen == queued  # every transaction whole or absent: one moment's store
    assert set(map(str, range(3000))) <= seen and len(seen) <= after
    reopened = SqliteStore(copy)  # the notifier opens it as a store
    try:
        assert reopened.outbox.delivery_counts()["queued"] == len(queued)
    finally:
        reopened.close()


def test_backup_into_a_folder_names_the_file_and_never_copies_onto_the_store(
    tmp_path: Path,
) -> None:
    db = tmp_path / "notifier.db"
    SqliteStore(db).close()
    (tmp_path / "backups").mkdir()
    done = _backup(str(db), "backups", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (made,) = (tmp_path / "backups").glob("notifier-*.db")
    assert SqliteStore(made).outbox.delivery_counts()["queued"] == 0
    onto = _backup(str(db), str(db), cwd=tmp_path)
    assert onto.returncode == 2 and "is the state store itself" in onto.stderr
    assert SqliteStore(db).outbox.delivery_counts()["queued"] == 0  # still a store


def test_backup_of_a_store_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    done = _backup(str(tmp_path / "missing.db"), "backup.db", cwd=tmp_path)
    assert done.returncode == 1
    assert "no state store at" in done.stderr and "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_on_postgresql_it_prints_the_pg_dump_to_run_without_the_password(
    tmp_path: Path, pg_url: str
) -> None:
    """The advice works as printed: pg_dump with the password in PGPASSWORD dumps the
    store's tables."""
    from notifier.state import open_store

    open_store(pg_url).close()  # the notifier's schema in the database
    password = urlsplit(pg_url).password
    assert password
    done = _backup(pg_url, "notifier.dump", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert password not in done.stdout + done.stderr
    command = next(line.strip() for line in done.stderr.splitlines() if "pg_dump " in line)
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed: the printed command was not run")
    env: dict[str, Any] = {**os.environ, "PGPASSWORD": password}
    ran = subprocess.run(command, shell=True, cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    listing = subprocess.run(["pg_restore", "--list", "notifier.dump"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert " outbox " in listing.stdout
