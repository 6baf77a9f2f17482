"""`notifier backup PATH`: a consistent copy of the SQLite state store, taken while
`notifier run` keeps running (contract section 15's first-day path; see
docs/upgrades-and-backups.md, Backups).

SQLite's online backup API (`sqlite3.Connection.backup`) copies every page in one step
under one read transaction, so the copy is the store as of one moment even while the
running notifier writes (in WAL mode a reader never blocks the writer, nor the writer
it). The copy is written beside PATH under a temporary name, checked
(`PRAGMA quick_check`), switched out of WAL mode so it is one self-contained file, and
only then renamed onto PATH: a backup that fails half-way never replaces a good one.

On PostgreSQL there is no file to copy: the command prints the `pg_dump` to run (the
URL without its password) and exits 2, because the outcome follows from the setting
NOTIFIER_DB alone, like `migrate-store`'s refusals; a script that runs `notifier
backup` nightly must not take that for a backup made.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import sys
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from notifier.settings import ConfigError
from notifier.settings.dburl import is_postgres_url, redact_url


def run_backup(db: str, target: Path, out: TextIO = sys.stdout) -> int:
    """Back up the store NOTIFIER_DB names to `target`; 0 when done, 1 when there is no
    store there (nothing is created), 2 (ConfigError) on PostgreSQL or a bad PATH."""

    if is_postgres_url(db):
        raise ConfigError(pg_dump_advice(db, target))
    source = Path(db)
    if not source.is_file():
        print(f"notifier backup: no state store at {source} (NOTIFIER_DB)", file=sys.stderr)
        return 1
    if target.is_dir():
        target = target / f"notifier-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.db"
    if target.exists() and os.path.samefile(target, source):
        raise ConfigError([f"PATH: {target} is the state store itself (NOTIFIER_DB)"])
    if not target.parent.is_dir():
        raise ConfigError([f"PATH: the folder {target.parent} does not exist"])
    size = copy_store(source, target)
    print(f"backed up {source} to {target} ({size} bytes)", file=out)
    return 0


def copy_store(source: Path, target: Path) -> int:
    """The online backup of `source` into `target` (replaced only once the copy is whole
    and checked); returns the copy's size in bytes."""

    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    partial.unlink(missing_ok=True)
    # mode=rw: opens the store as it is and never creates one.
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=30)
    try:
        dest = sqlite3.connect(partial)
        try:
            src.backup(dest)  # pages=-1: every page in one step, one consistent snapshot
            dest.execute("PRAGMA journal_mode=DELETE")  # one file: no -wal beside it
            (check,) = dest.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise RuntimeError(f"the copy failed its check: {check}")
        finally:
            dest.close()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    return target.stat().st_size


def pg_dump_advice(db: str, target: Path) -> list[str]:
    """What to run instead, on PostgreSQL: the URL without its password (pg_dump reads
    it from PGPASSWORD or ~/.pgpass)."""

    url = _without_password(db)
    return [
        "notifier backup: NOTIFIER_DB is a PostgreSQL database; back it up with pg_dump:",
        f"  pg_dump --format=custom --file={shlex.quote(str(target))} {shlex.quote(url)}",
        "  (give the password in PGPASSWORD or ~/.pgpass; restore into an empty database "
        "with pg_restore --dbname=URL FILE, with the notifiers stopped)",
    ]


def _without_password(url: str) -> str:
    """`url` with no password in its user part nor in its query (`password=`)."""

    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return redact_url(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = (f"{parts.username}@" if parts.username else "") + (
            f"[{host}]" if ":" in host else host
        )
        netloc += f":{port}" if port is not None else ""
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "password"]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))
