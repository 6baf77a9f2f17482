"""The console's users and sessions on SQLite (`store.users`, `store.sessions`): classes
of their own holding the store's connection; the twins of `postgres_people`."""

from __future__ import annotations

import sqlite3

import sqlite_utils

from notifier.state.people import Session, User, UserExists
from notifier.state.rows import first, named

_USER = "SELECT name, role, password_hash, created_at, updated_at FROM users"


class SqliteUsers:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def add(self, name: str, role: str, password_hash: str, now: float) -> None:
        try:
            with self.db.atomic():
                self.db.execute(
                    "INSERT INTO users(name, role, password_hash, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [name, role, password_hash, now, now],
                )
        except sqlite3.IntegrityError:
            raise UserExists(f"a user named {name!r} exists already") from None

    def get(self, name: str) -> User | None:
        row = first(self.db.execute(f"{_USER} WHERE name = ?", [name]))
        return None if row is None else User(**row)

    def all(self) -> list[User]:
        return [User(**row) for row in named(self.db.execute(f"{_USER} ORDER BY name"))]

    def remove(self, name: str) -> bool:
        with self.db.atomic():
            self.db.execute("DELETE FROM sessions WHERE user_name = ?", [name])
            return self.db.execute("DELETE FROM users WHERE name = ?", [name]).rowcount > 0

    def set_password(self, name: str, password_hash: str, now: float) -> bool:
        with self.db.atomic():
            self.db.execute("DELETE FROM sessions WHERE user_name = ?", [name])
            cursor = self.db.execute(
                "UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?",
                [password_hash, now, name],
            )
            return cursor.rowcount > 0

    def set_role(self, name: str, role: str, now: float) -> bool:
        with self.db.atomic():
            cursor = self.db.execute(
                "UPDATE users SET role = ?, updated_at = ? WHERE name = ?", [role, now, name]
            )
            return cursor.rowcount > 0


class SqliteSessions:
    def __init__(self, db: sqlite_utils.Database):
        self.db = db

    def start(self, token_hash: str, user: str, csrf: str, now: float) -> None:
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO sessions(id, user_name, csrf, created_at, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [token_hash, user, csrf, now, now],
            )

    def get(self, token_hash: str, idle_after: float) -> Session | None:
        row = first(
            self.db.execute(
                "SELECT s.user_name AS user, u.role AS role, s.csrf AS csrf, "
                "s.created_at AS created_at, s.seen_at AS seen_at "
                "FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.id = ? AND s.seen_at > ?",
                [token_hash, idle_after],
            )
        )
        return None if row is None else Session(**row)

    def touch(self, token_hash: str, now: float) -> None:
        with self.db.atomic():
            self.db.execute("UPDATE sessions SET seen_at = ? WHERE id = ?", [now, token_hash])

    def end(self, token_hash: str) -> None:
        with self.db.atomic():
            self.db.execute("DELETE FROM sessions WHERE id = ?", [token_hash])

    def prune(self, idle_before: float) -> int:
        with self.db.atomic():
            return self.db.execute("DELETE FROM sessions WHERE seen_at < ?", [idle_before]).rowcount
