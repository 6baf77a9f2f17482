"""Rows read by column name, on either backend: a query's columns are named once, in its
SQL (`SELECT COUNT(*) AS n`), and the code that reads them says which it means, so a
column added or reordered cannot shift what another one is read as."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeAlias, TypeVar, cast

# A row read by column name: the store's edge, values as the database driver gives
# them (JSON columns still text), until a `*_of` function makes a typed record of it.
Row: TypeAlias = Mapping[str, Any]


T = TypeVar("T")


class Cursor(Protocol):
    """What sqlite3's and psycopg's cursors share: the columns and the rows."""

    @property
    def description(self) -> Sequence[Sequence[object]] | None: ...

    def fetchall(self) -> Iterable[Sequence[object]]: ...


def named(cursor: Cursor) -> list[dict[str, Any]]:
    """Every row of `cursor`, each a dict by column name: the store's edge, where values
    are as the driver gives them until a `*_of` function makes a record of the row."""
    if cursor.description is None:  # a statement that returns no rows
        return []
    columns = [str(column[0]) for column in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def first(cursor: Cursor) -> dict[str, Any] | None:
    """The first row of `cursor` by column name, None when there is none."""
    rows = named(cursor)
    return rows[0] if rows else None


def named_as(kind: type[T], cursor: Cursor) -> list[T]:
    """Every row of `cursor` as the TypedDict `kind` its query's columns make (the
    driver's values taken as they are: the type says what the SQL selects)."""
    return cast(list[T], named(cursor))


def first_as(kind: type[T], cursor: Cursor) -> T | None:
    """The first row of `cursor` as the TypedDict `kind`, None when there is none."""
    return cast(T | None, first(cursor))
