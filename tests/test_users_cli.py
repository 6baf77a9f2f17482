"""`notifier users` through the real command, on both store backends: the password comes
from standard input (never an argument) and only its Argon2id hash is kept; removing a
user or changing their password ends their sessions; bad input says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from notifier.console.passwords import verify
from notifier.state import open_store


def users(db: str, tmp_path: Path, *args: str, password: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NOTIFIER_", "TESTPRESS_"))}
    env["NOTIFIER_DB"] = db
    return subprocess.run(
        [sys.executable, "-m", "notifier", "users", *args],
        cwd=tmp_path,
        env=env,
        input=None if password is None else password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_add_list_passwd_remove(db: str, tmp_path: Path) -> None:
    added = users(db, tmp_path, "add", "ann", "--role", "editor", password="first password")
    assert added.returncode == 0, added.stderr
    assert "added ann (editor)" in added.stdout
    assert "first password" not in added.stdout + added.stderr
    store = open_store(db)
    try:
        user = store.users.get("ann")
        assert user is not None and user.role == "editor"
        assert user.password_hash.startswith("$argon2id$")
        assert verify(user.password_hash, "first password")
        store.sessions.start("a-session", "ann", "csrf", 1e12)
        listed = users(db, tmp_path, "list")
        assert listed.returncode == 0 and listed.stdout.split() == ["ann", "editor"]
        assert "argon2" not in listed.stdout

        changed = users(db, tmp_path, "passwd", "ann", password="second password")
        assert changed.returncode == 0, changed.stderr
        renewed = store.users.get("ann")
        assert renewed is not None and verify(renewed.password_hash, "second password")
        assert not verify(renewed.password_hash, "first password")
        assert store.sessions.get("a-session", 0) is None  # ended with the old password

        store.sessions.start("b-session", "ann", "csrf", 1e12)
        removed = users(db, tmp_path, "remove", "ann")
        assert removed.returncode == 0 and "removed ann" in removed.stdout
        assert store.users.get("ann") is None and store.sessions.get("b-session", 0) is None
    finally:
        store.close()


def test_mistakes_are_said_and_change_nothing(db: str, tmp_path: Path) -> None:
    short = users(db, tmp_path, "add", "ann", "--role", "admin", password="short")
    assert short.returncode == 1 and "at least 10 characters" in short.stderr
    role = users(db, tmp_path, "add", "ann", "--role", "owner", password="long enough pw")
    assert role.returncode == 2 and "invalid choice: 'owner'" in role.stderr
    assert users(db, tmp_path, "add", "ann", "--role", "admin", password="long enough pw")
    again = users(db, tmp_path, "add", "ann", "--role", "viewer", password="long enough pw")
    assert again.returncode == 1 and "exists already" in again.stderr
    missing = users(db, tmp_path, "remove", "nobody")
    assert missing.returncode == 1 and "no user named 'nobody'" in missing.stderr
    as_argument = users(db, tmp_path, "add", "bob", "--role", "viewer", "hunter22hunter22")
    assert as_argument.returncode == 2  # there is no password argument to give
    store = open_store(db)
    try:
        assert [u.name for u in store.users.all()] == ["ann"]
        assert store.users.get("ann").role == "admin"  # type: ignore[union-attr]
    finally:
        store.close()
