"""The rules kept in the store as versions (contract section 14, issue 21): number,
author, time, note and YAML text, exactly one of them active. A concern of its own per
backend holding the store's connection (`store.rules`: `SqliteRules`, `PostgresRules`),
not mixed into the store.

The store keeps text; it never judges it. Whether a version loads is the loader's
question, asked before `add` (`notifier.drafts.versions`), so a version that fails to
load is never made active. Every replica asks `active_number()` once a cycle (one
indexed read) and loads the text only when it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from notifier.state.rows import Row

RULES_COLUMNS = "number, author, created_at, note, yaml, active, tests"
# pg_advisory_xact_lock key: two editors saving at once get consecutive numbers, and
# the second is told the active version changed under it.
RULES_LOCK = 0x72756C65


class VersionChanged(Exception):
    """The active version is not the one the writer started from (another editor saved
    in between): nothing was added. `active` is the version active now."""

    def __init__(self, expected: int | None, active: int | None):
        self.expected = expected
        self.active = active
        super().__init__(
            f"the active rules version changed under you: you started from version "
            f"{expected}, version {active} is active now"
        )


@dataclass(frozen=True)
class RulesVersion:
    """One version of the rules. `created_at` is Unix seconds; `tests` is the rule
    tests kept beside it (a tests file's text, as rules.tests.yaml), None without."""

    number: int
    author: str
    created_at: float
    note: str
    yaml: str
    active: bool
    tests: str | None = None


def version_label(number: int) -> str:
    """How a stored version is named in its problems and in `status`: `rules@v3`."""
    return f"rules@v{number}"


def version_of(row: Row) -> RulesVersion:
    return RulesVersion(
        number=int(row["number"]),
        author=row["author"],
        created_at=float(row["created_at"]),
        note=row["note"],
        yaml=row["yaml"],
        active=bool(row["active"]),
        tests=row["tests"],
    )


@dataclass(frozen=True)
class SentCount:
    """Outbox rows (alerts raised) of one rule and channel queued in one half-hour
    (`slot`: Unix seconds at its start), for the preview's "what the active rules did"."""

    rule: str
    channel: str
    slot: float
    count: int


SLOT_SECONDS = 1800  # half-hours: a day in any time zone (Asia/Kolkata is +05:30) is whole slots


class RulesVersions(Protocol):
    """`store.rules`: the versions of the rules when NOTIFIER_RULES_IN_STORE is true."""

    def active_number(self) -> int | None:
        """The active version's number (None when the store has none): asked every cycle."""
        ...

    def active(self) -> RulesVersion | None: ...

    def get(self, number: int) -> RulesVersion | None: ...

    def listed(self) -> list[RulesVersion]:
        """Every version, newest first."""
        ...

    def add(
        self,
        yaml: str,
        *,
        author: str,
        note: str,
        at: float,
        expected_active: int | None = None,
        first_only: bool = False,
        tests: str | None = None,
    ) -> RulesVersion | None:
        """Add a version (with the rule `tests` kept beside it, if any) with the next
        number and make it the active one, in one transaction. With `expected_active`,
        raise VersionChanged (adding nothing) when another version is active now. With
        `first_only`, add only when the store has no version at all (the first start's
        import; two replicas starting together import once) and return None when it
        has."""
        ...

    def sent_counts(self, since: float) -> list[SentCount]:
        """Outbox rows queued at or after `since`, counted per rule, channel and
        half-hour."""
        ...


__all__ = [
    "RULES_COLUMNS",
    "RULES_LOCK",
    "SLOT_SECONDS",
    "RulesVersion",
    "RulesVersions",
    "SentCount",
    "VersionChanged",
    "version_label",
    "version_of",
]
