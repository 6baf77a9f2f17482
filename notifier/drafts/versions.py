"""Saving rules as versions in the state store: a version is added (and made active)
only once the loader has read it without a problem, with the same settings the running
notifier checks channels against; "the last good rules" is thus never broken by a save.
Shared by `notifier rules import` and the console's Save and revert.

A version may keep the institute's rule tests beside it (a tests file's text, in the
format of rules.tests.yaml): checked to be a valid tests file before it is kept, run by
the console's Test button against a draft, and kept with the next version saved."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.drafts.check import load_draft
from notifier.drafts.ruletests import load_tests_text
from notifier.settings import Settings
from notifier.state.rules_base import RulesVersion, RulesVersions, version_label

MAX_NOTE = 500  # characters of a version's note
TESTS_FILE = "rules.tests.yaml"  # the institute's rule tests, beside a rules file


class UnknownVersion(LookupError):
    """No version has this number."""

    def __init__(self, number: int):
        self.number = number
        super().__init__(f"there is no rules version {number}")


class NoteMissing(ValueError):
    """A version needs a note saying why it was made."""

    def __init__(self) -> None:
        super().__init__("a note is required: say what changed and why")


def tests_beside(rules_file: Path) -> Path | None:
    """The rule tests file beside a rules file (rules.tests.yaml), if there is one."""
    path = rules_file.with_name(TESTS_FILE)
    return path if path.is_file() else None


def checked_tests(path: Path, env: Mapping[str, str] | None = None) -> str:
    """A tests file's text, once it reads as a tests file (RulesError naming `path`
    and the line of each problem, else OSError/UnicodeDecodeError)."""
    text = path.read_text(encoding="utf-8")
    load_tests_text(text, str(path), path, env)
    return text


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
    tests: str | None = None,
) -> RulesVersion:
    """Validate `yaml_text` with the loader (RulesError, naming `shown`: nothing is
    added), then add it as the new active version, with the rule `tests` kept beside
    it. With `expected_active`, raise VersionChanged when another version became
    active meanwhile."""
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
        tests=tests,
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
    """Make version `number`'s YAML (and the tests kept beside it) the new active
    version (a new number, so the history says who went back to what, and when), if it
    still loads here."""
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
        tests=old.tests,
    )


__all__ = [
    "MAX_NOTE",
    "TESTS_FILE",
    "NoteMissing",
    "UnknownVersion",
    "checked_tests",
    "revert",
    "save_version",
    "tests_beside",
    "version",
]
