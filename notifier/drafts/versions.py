"""Saving rules as versions in the state store: a version is added (and made active)
only once the loader has read it without a problem, with the same settings the running
notifier checks channels against; "the last good rules" is thus never broken by a save.
Shared by `notifier rules import` and the console's Save and revert."""

from __future__ import annotations

from collections.abc import Mapping

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.drafts.check import load_draft
from notifier.settings import Settings
from notifier.state.rules_base import RulesVersion, RulesVersions, version_label

MAX_NOTE = 500  # characters of a version's note


class UnknownVersion(LookupError):
    """No version has this number."""

    def __init__(self, number: int):
        self.number = number
        super().__init__(f"there is no rules version {number}")


class NoteMissing(ValueError):
    """A version needs a note saying why it was made."""

    def __init__(self) -> None:
        super().__init__("a note is required: say what changed and why")


def save_version(
    versions: RulesVersions,
    yaml_text: str,
    *,
    author: str,
    note: str,
    at: float,
    settings: Settings | None,
    shown: str,
    expected_active: int | None = None,
    env: Mapping[str, str] | None = None,
    table: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> RulesVersion:
    """Validate `yaml_text` with the loader (RulesError, naming `shown`: nothing is
    added), then add it as the new active version. With `expected_active`, raise
    VersionChanged when another version became active meanwhile."""
    note = " ".join(note.split())
    if not note:
        raise NoteMissing()
    load_draft(yaml_text, settings, shown=shown, env=env, table=table)
    made = versions.add(
        yaml_text,
        author=author,
        note=note[:MAX_NOTE],
        at=at,
        expected_active=expected_active,
    )
    assert made is not None  # only a first-start import may add nothing
    return made


def version(versions: RulesVersions, number: int | None) -> RulesVersion:
    """Version `number`, or the active one when None (UnknownVersion when missing)."""
    found = versions.active() if number is None else versions.get(number)
    if found is None:
        raise UnknownVersion(0 if number is None else number)
    return found


def revert(
    versions: RulesVersions,
    number: int,
    *,
    author: str,
    at: float,
    settings: Settings | None,
    expected_active: int | None = None,
    table: Mapping[str, ChannelType] = CHANNEL_TYPES,
) -> RulesVersion:
    """Make version `number`'s YAML the new active version (a new number, so the
    history says who went back to what, and when), if it still loads here."""
    old = version(versions, number)
    return save_version(
        versions,
        old.yaml,
        author=author,
        note=f"revert to version {number}",
        at=at,
        settings=settings,
        shown=version_label(number),
        expected_active=expected_active,
        table=table,
    )


__all__ = ["MAX_NOTE", "NoteMissing", "UnknownVersion", "revert", "save_version", "version"]
