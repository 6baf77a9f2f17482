"""The console's users and sessions on PostgreSQL (`store.users`, `store.sessions`):
classes of their own holding the store's connection; the twins of `sqlite_people`."""

from __future__ import annotations

import psycopg

from notifier.state.people import Session, User, UserExists
from notifier.state.postgres_conn import PostgresConnection
from notifier.state.rows import first, named

_USER = "SELECT name, role, password_hash, created_at, updated_at FROM users"


class PostgresUsers:
    def __init__(self, conn: PostgresConnection):
        self.conn = conn

    def add(self, name: str, role: str, password_hash: str, now: float) -> None:
        try:
            with self.conn.tx() as db:
                db.execute(
                    "INSERT INTO users(name, role, password_hash, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    [name, role, password_hash, now, now],
                )
        except psycopg.errors.UniqueViolation:
            raise UserExists(f"a user named {name!r} exists already") from None

    def get(self, name: str) -> User | None:
        row = first(self.conn.db().execute(f"{_USER} WHERE name = %s", [name]))
        return None if row is None else User(**row)

    def all(self) -> list[User]:
        return [User(**row) for row in named(self.conn.db().execute(f"{_USER} ORDER BY name"))]

    def remove(self, name: str) -> bool:
        with self.conn.tx() as db:
            db.execute("DELETE FROM sessions WHERE user_name = %s", [name])
            return db.execute("DELETE FROM users WHERE name = %s", [name]).rowcount > 0

    def set_password(self, name: str, password_hash: str, now: float) -> bool:
        with self.conn.tx() as db:
            db.execute("DELETE FROM sessions WHERE user_name = %s", [name])
            cursor = db.execute(
                "UPDATE users SET password_hash = %s, updated_at = %s WHERE name = %s",
                [password_hash, now, name],
            )
            return cursor.rowcount > 0

    def set_role(self, name: str, role: str, now: float) -> bool:
        cursor = self.conn.db().execute(
            "UPDATE users SET role = %s, updated_at = %s WHERE name = %s", [role, now, name]
        )
        return cursor.rowcount > 0


class PostgresSessions:
    def __init__(self, conn: PostgresConnection):
        self.conn = conn

    def start(self, token_hash: str, user: str, csrf: str, now: float) -> None:
        self.conn.db().execute(
            "INSERT INTO sessions(id, user_name, csrf, created_at, seen_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            [token_hash, user, csrf, now, now],
        )

    def get(self, token_hash: str, idle_after: float) -> Session | None:
        row = first(
            self.conn.db().execute(
                "SELECT s.user_name AS user, u.role AS role, s.csrf AS csrf, "
                "s.created_at AS created_at, s.seen_at AS seen_at "
                "FROM sessions s JOIN users u ON u.name = s.user_name "
                "WHERE s.id = %s AND s.seen_at > %s",
                [token_hash, idle_after],
            )
        )
        return None if row is None else Session(**row)

    def touch(self, token_hash: str, now: float) -> None:
        self.conn.db().execute("UPDATE sessions SET seen_at = %s WHERE id = %s", [now, token_hash])

    def end(self, token_hash: str) -> None:
        self.conn.db().execute("DELETE FROM sessions WHERE id = %s", [token_hash])

    def prune(self, idle_before: float) -> int:
        cursor = self.conn.db().execute("DELETE FROM sessions WHERE seen_at < %s", [idle_before])
        return max(0, cursor.rowcount)
