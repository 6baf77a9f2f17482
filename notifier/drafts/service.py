"""What the console's rules pages ask, in one place: the rules as they run now (the
active version, or the file), a draft checked, previewed and tested, saved as a new
version or an old one made active again, and each save written to the audit log.

With NOTIFIER_RULES_IN_STORE false the rules are the file's, read-only here: a draft is
still checked, previewed and tested (and the page lets it be downloaded), but `save`
and `revert` raise ReadOnly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Protocol

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.drafts.check import Problem, check_draft, load_draft
from notifier.drafts.preview import DraftPreview, TestpressPeriod, preview_draft
from notifier.drafts.ruletests import CaseResult, load_tests_text, run_cases
from notifier.drafts.versions import TESTS_FILE, revert, save_version, version
from notifier.obs.logs import redact
from notifier.rules.load import RulesError, load_ruleset
from notifier.rules.schema import RuleSet
from notifier.settings import Settings
from notifier.state.base import History
from notifier.state.rules_base import SLOT_SECONDS, RulesVersion, RulesVersions, SentCount

# Who, from where, what, to what, detail: `store.audit.add`'s arguments.
Audit = Callable[[str, str, str, str, str], None]


class DraftStore(Protocol):
    """What the rules pages read and write of the store: the versions, and history."""

    rules: RulesVersions
    history: History


class ReadOnly(Exception):
    """Rules are the file NOTIFIER_RULES here: they change in the file, not the console."""

    def __init__(self) -> None:
        super().__init__(
            "the rules are read from the file NOTIFIER_RULES here; set "
            "NOTIFIER_RULES_IN_STORE=true to edit them in the console"
        )


class NoTests(LookupError):
    """The active version keeps no tests and there is no rules.tests.yaml beside the
    rules file."""


@dataclass(frozen=True)
class Current:
    """The rules as they run now: their text, the active version's number (None for
    the file), and how they are named."""

    text: str
    number: int | None
    label: str


def test_draft(
    yaml_text: str, tests_yaml: str, *, tests_name: str = TESTS_FILE, base: Path = Path(".")
) -> list[CaseResult]:
    """The institute's rule tests run against the draft, as `notifier test` runs them
    (no network, no settings); RulesError for a draft or tests file that is invalid."""
    draft = load_draft(yaml_text)
    tests = load_tests_text(tests_yaml, tests_name, base / tests_name)
    return run_cases(tests, draft)


test_draft.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, though named so


class DraftService:
    def __init__(
        self,
        settings: Settings,
        store: DraftStore,
        *,
        table: Mapping[str, ChannelType] = CHANNEL_TYPES,
        testpress: TestpressPeriod | None = None,
        audit: Audit | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.store = store
        self.table = table
        self.testpress = testpress
        self.audit = audit
        self.clock = clock

    @property
    def editable(self) -> bool:
        return self.settings.rules_in_store

    def current(self) -> Current:
        """The active version (rules in the store), else the rules file's text."""
        if self.editable:
            active = self.store.rules.active()
            if active is not None:
                return Current(active.yaml, active.number, f"version {active.number}")
        path = self.settings.rules_path
        try:
            return Current(path.read_text(encoding="utf-8"), None, str(path))
        except (OSError, UnicodeDecodeError):
            return Current("", None, str(path))

    def check(self, yaml_text: str) -> list[Problem]:
        """The draft's problems, with any secret a `${VAR}` brought in hidden: a viewer
        may write `${SLACK_BOT_TOKEN}` where a message shows its value."""
        return [
            replace(p, message=redact(p.message), hint=p.hint and redact(p.hint))
            for p in check_draft(yaml_text, self.settings, table=self.table)
        ]

    def running(self) -> RuleSet | None:
        """The rules running now, loaded (None when they do not load here)."""
        current = self.current()
        try:
            if current.number is None:
                return load_ruleset(self.settings.rules_path, None, None, channel_types=self.table)
            return load_draft(current.text, shown=current.label, table=self.table)
        except RulesError:
            return None

    def preview(self, yaml_text: str, days: float, now: datetime | None = None) -> DraftPreview:
        draft = load_draft(yaml_text, table=self.table)  # RulesError: nothing to preview
        running = self.running()
        result = preview_draft(
            draft,
            days=days,
            store=self.store.history,
            sent=self.store.rules.sent_counts,
            running=running.rules if running is not None else [],
            testpress=self.testpress,
            now=now,
            timezone=self.settings.timezone,
        )
        result.rows = [replace(r, samples=tuple(redact(s) for s in r.samples)) for r in result.rows]
        result.errors = {name: redact(e) for name, e in result.errors.items()}
        return result

    def tests(self) -> tuple[str, str] | None:
        """The institute's rule tests (name, text): those kept beside the active
        version, else rules.tests.yaml beside NOTIFIER_RULES; None when there are none."""
        if self.editable:
            active = self.store.rules.active()
            if active is not None and active.tests is not None:
                return f"the tests of version {active.number}", active.tests
        path = self.settings.rules_path.with_name(TESTS_FILE)
        try:
            return str(path), path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def test(self, yaml_text: str) -> list[CaseResult]:
        found = self.tests()
        if found is None:
            kept = "the active version keeps no tests and there is " if self.editable else ""
            raise NoTests(f"{kept}no {TESTS_FILE} beside {self.settings.rules_path}")
        name, text = found
        results = test_draft(yaml_text, text, tests_name=name, base=Path("."))
        return [replace(r, diff=[redact(line) for line in r.diff]) for r in results]

    def versions(self) -> list[RulesVersion]:
        return self.store.rules.listed() if self.editable else []

    def alerts_by_version(self, versions: list[RulesVersion]) -> dict[int, int]:
        """The alerts (outbox rows) queued while each version was active, to the
        half-hour (rows the store has pruned are not counted)."""
        if not versions:
            return {}
        starts = sorted((v.created_at, v.number) for v in versions)
        counts = {v.number: 0 for v in versions}
        for c in self.store.rules.sent_counts(starts[0][0] - SLOT_SECONDS):
            number = starts[0][1]
            for at, n in starts:
                if at > c.slot + SLOT_SECONDS / 2:
                    break
                number = n
            counts[number] += c.count
        return counts

    def version(self, number: int) -> RulesVersion:
        return version(self.store.rules, number)

    def save(
        self, yaml_text: str, *, note: str, by: str, expected_active: int | None, source: str
    ) -> RulesVersion:
        """A new active version, keeping the rule tests the draft was tested with
        (RulesError: the draft does not load, nothing saved; VersionChanged: another
        was saved since `expected_active`)."""
        if not self.editable:
            raise ReadOnly()
        found = self.tests()
        made = save_version(
            self.store.rules,
            yaml_text,
            author=by,
            note=note,
            at=self.clock(),
            settings=self.settings,
            shown="draft",
            expected_active=expected_active,
            table=self.table,
            tests=found[1] if found is not None else None,
        )
        self._audited(by, source, "rules.save", made)
        return made

    def revert(
        self, number: int, *, by: str, expected_active: int | None, source: str
    ) -> RulesVersion:
        """Version `number`'s YAML as the new active version (if it loads here)."""
        if not self.editable:
            raise ReadOnly()
        made = revert(
            self.store.rules,
            number,
            author=by,
            at=self.clock(),
            settings=self.settings,
            expected_active=expected_active,
            table=self.table,
        )
        self._audited(by, source, "rules.revert", made)
        return made

    def _audited(self, by: str, source: str, action: str, made: RulesVersion) -> None:
        if self.audit is not None:
            self.audit(by, source, action, f"rules version {made.number}", made.note)


__all__ = [
    "Current",
    "DraftService",
    "DraftStore",
    "NoTests",
    "ReadOnly",
    "SentCount",
    "TESTS_FILE",
    "test_draft",
]
