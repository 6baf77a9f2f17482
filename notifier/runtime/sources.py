"""The source table: every source the run loop polls, in polling order, and which
sources a rules file needs. Adding a source is its module in `notifier/sources/` and
one row here (its event kinds come from the source itself)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from notifier.sources.actions import ActionsSource
from notifier.sources.attempts import AttemptsSource
from notifier.sources.base import Source
from notifier.sources.conferences import ConferencesSource
from notifier.sources.content import ContentAttemptsSource
from notifier.sources.inactivity import InactivitySource


@dataclass(frozen=True)
class SourceRow:
    """One source: how to make it, and the sources whose records it reads (polled too
    whenever it is)."""

    make: Callable[[], Source]
    reads: tuple[str, ...] = ()


SOURCES: dict[str, SourceRow] = {
    "attempts": SourceRow(AttemptsSource),
    "content_attempts": SourceRow(ContentAttemptsSource),
    "conferences": SourceRow(ConferencesSource),
    # What people did to alerts (follow-ups, mutes), read from the store, not Testpress.
    "actions": SourceRow(ActionsSource),
    # Last: the daily inactivity check reads the students' latest activity, which the
    # sources of the other kinds record.
    "inactivity": SourceRow(
        InactivitySource, reads=("attempts", "content_attempts", "conferences")
    ),
}

# Not polled: the run loop itself observes the notifier's health (notifier.sources.health).
UNPOLLED_KINDS = {"notifier.health": "health"}


def make_sources() -> dict[str, Source]:
    """One instance of every source, in polling order."""
    return {name: row.make() for name, row in SOURCES.items()}


def _source_of_kind() -> dict[str, str]:
    kinds = {kind: name for name, row in SOURCES.items() for kind in row.make().kinds}
    return {**kinds, **UNPOLLED_KINDS}


SOURCE_OF_KIND = _source_of_kind()


def sources_for(kinds: Iterable[str]) -> set[str]:
    """The sources to poll for rules of these event kinds (a source no rule uses is
    never polled), with the sources each of them reads."""
    used = {SOURCE_OF_KIND[kind] for kind in kinds if kind in SOURCE_OF_KIND}
    for name in list(used):
        if name in SOURCES:
            used.update(SOURCES[name].reads)
    return used
