"""`notifier migrate-store --to postgresql://...`: move a stopped notifier's SQLite state
to PostgreSQL (contract section 12), so the replicas carry on exactly where it stopped.

Everything is copied, table by table and column by column, in ONE target transaction:
seen marks (no old event alerts again), the outbox with each row's status, attempts and
next try (nothing queued, retrying or dead is lost; nothing sent is sent again), the
sources' cursors, caches and poll status, and meta (baselines, filters). Tables are
matched by name, so a table another part of the notifier adds to both schemas is copied
too; a SQLite table with rows but no PostgreSQL twin stops the copy rather than being
left behind.

Refused, with nothing written: while a notifier runs on the SQLite store (its lock is
held for the whole copy, so none can start meanwhile either), and when the target
already holds notifier state (a second run, or the wrong database).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from notifier.obs.logs import redact, register_secrets
from notifier.settings import ConfigError, load_settings
from notifier.settings.dburl import is_postgres_url, redact_url, url_secrets
from notifier.state import SqliteStore
from notifier.state.lock import InstanceLock
from notifier.state.packed import alerts_text
from notifier.state.postgres import PostgresStore, StoreUnavailable
from notifier.state.postgres_conn import reason

SKIP_META = {"schema_version"}  # the target's own, written by its migrations
PG_ONLY = {"replicas", "leases"}  # live replica bookkeeping: nothing to carry over


def migrate_store(source: str, target: str) -> dict[str, int]:
    """Copy the SQLite store at `source` into the PostgreSQL database `target`; return
    rows copied per table. Raises ConfigError (exit 2) when refused."""
    if is_postgres_url(source):
        raise ConfigError(["NOTIFIER_DB: already a PostgreSQL URL; migrate-store copies SQLite"])
    if not is_postgres_url(target):
        raise ConfigError(["--to: must be a PostgreSQL URL (postgresql://user:pw@host/db)"])
    path = Path(source)
    if not path.is_file():
        raise ConfigError([f"NOTIFIER_DB: no SQLite state store at {path}"])
    with InstanceLock(path):  # AlreadyRunning (exit 2) while a notifier runs on it
        SqliteStore(path).close()  # brings an older store up to the current schema
        return _copy(path, target)


def _copy(path: Path, target: str) -> dict[str, int]:

    try:
        store = PostgresStore(target)
    except StoreUnavailable as exc:
        raise ConfigError([f"--to: cannot open the target: {exc}"]) from None
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        conn = store.db()
        target_tables = _pg_columns(conn)
        problems = _refusals(src, conn, target_tables)
        if problems:
            raise ConfigError(problems)
        copied: dict[str, int] = {}
        with conn.transaction():
            for table in _sqlite_tables(src):
                copied[table] = _copy_table(src, conn, table, target_tables[table])
                _advance_sequences(conn, table, target_tables[table])
        return copied
    except psycopg.Error as exc:
        raise RuntimeError(reason(exc, target)) from None
    finally:
        src.close()
        store.close()


def _sqlite_tables(src: sqlite3.Connection) -> list[str]:
    rows = src.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [row[0] for row in rows]


def _pg_columns(conn: psycopg.Connection[TupleRow]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    ):
        columns.setdefault(table, []).append(column)
    return columns


def _refusals(
    src: sqlite3.Connection, conn: psycopg.Connection[TupleRow], target: dict[str, list[str]]
) -> list[str]:
    problems = []
    held = []
    for table in target:
        if table in PG_ONLY:
            continue
        sql = f'SELECT COUNT(*) FROM "{table}"'
        if table == "meta":
            sql += " WHERE key <> ALL(%s)"
        row = conn.execute(sql, [list(SKIP_META)] if table == "meta" else []).fetchone()
        if row and row[0]:
            held.append(f"{table} {row[0]}")
    if held:
        problems.append(
            "--to: the target database already holds notifier state "
            f"({', '.join(held)} rows); migrate into an empty database"
        )
    for table in _sqlite_tables(src):
        count = src.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
        if table not in target and count:
            problems.append(f"NOTIFIER_DB: table {table} ({count} rows) has no PostgreSQL twin")
    return problems


def _copy_table(
    src: sqlite3.Connection, conn: psycopg.Connection[TupleRow], table: str, target_cols: list[str]
) -> int:
    source_cols = [row[1] for row in src.execute(f'PRAGMA table_info("{table}")')]
    cols = [c for c in source_cols if c in target_cols]
    names = ", ".join(f'"{c}"' for c in cols)
    select = f'SELECT {names} FROM "{table}"'
    if table == "meta":
        select += " WHERE key NOT IN (" + ",".join("?" * len(SKIP_META)) + ")"
    if table == "outbox":
        select += " ORDER BY rowid"  # the queue order, which PostgreSQL's seq keeps
    rows = src.execute(select, list(SKIP_META) if table == "meta" else [])
    claimed = cols.index("claimed_until") if table == "outbox" and "claimed_until" in cols else -1
    packed = cols.index("alerts") if table == "outbox" and "alerts" in cols else -1
    count = 0
    with conn.cursor().copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
        for row in rows:
            values = list(row)
            if claimed >= 0:
                values[claimed] = None  # the notifier is stopped: no send is in flight
            if packed >= 0:
                values[packed] = alerts_text(values[packed])  # PostgreSQL keeps JSON text
            copy.write_row(values)
            count += 1
    return count


def _advance_sequences(conn: psycopg.Connection[TupleRow], table: str, columns: list[str]) -> None:
    """A serial column (the inbox's id) was copied with its values: move its sequence
    past them, or the next row the notifier adds would collide with a copied one."""
    for column in columns:
        row = conn.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, column]).fetchone()
        if row and row[0]:
            conn.execute(
                f'SELECT setval(%s, COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, '
                "false)",
                [row[0]],
            )


def run_migrate_store(to: str) -> int:
    """`notifier migrate-store --to URL`: 0 copied; 1 the copy failed (nothing written);
    ConfigError / AlreadyRunning (exit 2) when refused."""

    settings = load_settings()
    register_secrets([*url_secrets(to), *url_secrets(settings.db)])
    try:
        copied = migrate_store(settings.db, to.strip())
    except RuntimeError as exc:  # the copy failed half-way: nothing was written
        print(redact(f"notifier: migrate-store failed, nothing copied: {exc}"), file=sys.stderr)
        return 1
    print(redact(describe(copied, to)))
    return 0


def describe(copied: dict[str, int], target: str) -> str:
    parts = ", ".join(f"{table} {n}" for table, n in copied.items())
    return (
        f"copied to {redact_url(target)}: {parts} rows.\n"
        "Set NOTIFIER_DB to that URL and start the notifier (any number of replicas); "
        "do not start it on the SQLite file again."
    )
