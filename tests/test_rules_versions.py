"""Rules kept as versions in the state store (contract section 14, issue 21 part 1):
the store's versions on both backends, `notifier rules export|import` over the real
CLI, the first start importing the file as version 1, and every notifier (the hot
reload, a second notifier on PostgreSQL) switching to a new active version at its next
cycle, while a version that does not load there leaves the last good rules running."""

from __future__ import annotations

import getpass
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifier.drafts.service import DraftService
from notifier.drafts.versions import save_version
from notifier.rules.load import RulesError
from notifier.runtime.app import App
from notifier.runtime.compose import build
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import WebhookReceiver
from notifier.settings import Settings
from notifier.state import NewDelivery, Store, open_store
from notifier.state.rules_base import VersionChanged
from tests.e2e import clean_env, complete_now

HEAD = """\
channels:
  hook: {type: webhook, url: "%s"}
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
"""
PASSED = """\
  - name: passed-exam
    event: attempt.completed
    when: {result: Pass}
    message: "{{ student }} passed {{ exam_title }}"
    notify: [hook]
"""


def test_versions_are_numbered_one_is_active_and_a_stale_writer_is_refused(store: Store) -> None:
    assert store.rules.active() is None and store.rules.active_number() is None
    first = store.rules.add("a: 1\n", author="asha", note="first", at=100.0)
    assert first is not None and first.number == 1 and first.active
    # The first start's import adds nothing once the store has a version.
    assert store.rules.add("b: 2\n", author="x", note="n", at=101.0, first_only=True) is None
    second = store.rules.add("b: 2\n", author="ravi", note="second", at=102.0, expected_active=1)
    assert second is not None and second.number == 2
    with pytest.raises(VersionChanged) as raised:  # an editor who started from version 1
        store.rules.add("c: 3\n", author="meena", note="late", at=103.0, expected_active=1)
    assert (raised.value.expected, raised.value.active) == (1, 2)
    listed = store.rules.listed()
    assert [(v.number, v.author, v.note, v.active) for v in listed] == [
        (2, "ravi", "second", True),
        (1, "asha", "first", False),
    ]
    assert store.rules.active_number() == 2
    old = store.rules.get(1)
    assert old is not None and old.yaml == "a: 1\n" and old.created_at == 100.0
    assert store.rules.get(3) is None


def _cli(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "notifier", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _env(db: str, rules: Path, **extra: str) -> dict[str, str]:
    env = clean_env()
    env.update({"NOTIFIER_DB": db, "NOTIFIER_RULES": str(rules), **extra})
    return env


def test_import_and_export_over_the_cli(db: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD % "https://lms.school.example/hook")
    env = _env(db, rules)

    empty = _cli(env, "rules", "export", cwd=tmp_path)
    assert empty.returncode == 1
    assert "no state store" in empty.stderr or "no rules version" in empty.stderr

    done = _cli(env, "rules", "import", str(rules), "--note", "from git", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "rules version 1 added and active" in done.stdout
    assert "NOTIFIER_RULES_IN_STORE is not true" in done.stdout  # the file is still read

    bad = tmp_path / "bad.yaml"
    bad.write_text(rules.read_text().replace("result: Fail", "reslt: Fail"))
    refused = _cli(env, "rules", "import", str(bad), "--note", "typo", cwd=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        f"{bad}:6:12: unknown field 'reslt' for attempt.completed; did you mean 'result'?"
    )

    exported = _cli(env, "rules", "export", cwd=tmp_path)
    assert exported.returncode == 0 and exported.stdout == rules.read_text()
    assert _cli(env, "rules", "export", "--version", "1", cwd=tmp_path).stdout == rules.read_text()
    unknown = _cli(env, "rules", "export", "--version", "2", cwd=tmp_path)  # nothing was added
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "notifier rules export: there is no rules version 2"

    no_note = _cli(env, "rules", "import", str(rules), cwd=tmp_path)
    assert no_note.returncode == 2 and "--note" in no_note.stderr
    blank = _cli(env, "rules", "import", str(rules), "--note", "  ", cwd=tmp_path)
    assert blank.returncode == 1 and "a note is required" in blank.stderr

    store = open_store(db)
    try:
        [version] = store.rules.listed()
        assert (version.author, version.note) == (getpass.getuser(), "from git")
        [entry] = store.audit.recent()  # the import is in the audit log
        assert (entry.by, entry.source, entry.action, entry.target) == (
            getpass.getuser(),
            "cli",
            "rules.import",
            "rules version 1",
        )
    finally:
        store.close()


TESTS = """\
tests:
  - name: a fail alerts the hook
    events:
      - event: attempt.completed
        data: {id: 1, result: Fail, percentage: 30, student: Asha Verma}
    expect:
      - {rule: failed-exam, channel: hook}
"""


def test_rule_tests_beside_the_file_are_imported_and_exported_with_the_version(
    db: str, tmp_path: Path
) -> None:
    """`notifier rules import FILE` keeps the rules.tests.yaml beside FILE with the
    version (or the file `--tests` names), once it reads as a tests file;
    `notifier rules export --tests` prints them back."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD % "https://lms.school.example/hook")
    (tmp_path / "rules.tests.yaml").write_text(TESTS)
    env = _env(db, rules, NOTIFIER_RULES_IN_STORE="true")

    done = _cli(env, "rules", "import", str(rules), "--note", "from git", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"rules version 1 added and active (from {rules}, "
        f"with the tests of {tmp_path / 'rules.tests.yaml'})"
    )
    assert _cli(env, "rules", "export", "--tests", cwd=tmp_path).stdout == TESTS

    bad = tmp_path / "other.tests.yaml"
    bad.write_text(TESTS.replace("expect:", "expekt:"))
    refused = _cli(
        env, "rules", "import", str(rules), "--note", "n", "--tests", str(bad), cwd=tmp_path
    )
    assert refused.returncode == 2
    assert f"{bad}:6:5: unknown key 'expekt' in a test; did you mean 'expect'?" in (
        refused.stderr.splitlines()
    )
    bad.write_text(TESTS.replace("30", "25"))
    kept = _cli(
        env, "rules", "import", str(rules), "--note", "n", "--tests", str(bad), cwd=tmp_path
    )
    assert kept.returncode == 0, kept.stderr
    assert _cli(env, "rules", "export", "--tests", cwd=tmp_path).stdout == bad.read_text()
    old = _cli(env, "rules", "export", "--tests", "--version", "1", cwd=tmp_path)
    assert old.stdout == TESTS

    (tmp_path / "rules.tests.yaml").unlink()
    bare = _cli(env, "rules", "import", str(rules), "--note", "no tests", cwd=tmp_path)
    assert bare.returncode == 0 and "with the tests" not in bare.stdout
    none = _cli(env, "rules", "export", "--tests", cwd=tmp_path)
    assert none.returncode == 1
    assert none.stderr.strip() == "notifier rules export: version 3 keeps no tests"


def test_check_with_the_rules_in_the_store_checks_the_active_version(
    db: str, tmp_path: Path
) -> None:
    """`notifier check` checks what runs: the store's active version, named; with a
    FILE argument, that file; before any version, the file the first start imports."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(HEAD % "https://lms.school.example/hook")
    env = _env(db, rules, NOTIFIER_RULES_IN_STORE="true")
    before = _cli(env, "check", cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert "checking the file" in before.stdout and "first start imports" in before.stdout
    assert f"{rules}: OK, 1 rule" in before.stdout

    assert _cli(env, "rules", "import", str(rules), "--note", "n", cwd=tmp_path).returncode == 0
    store = open_store(db)
    try:  # a version that does not load here (its variable is not set), then a good one
        store.rules.add(HEAD % "${GONE_HOOK_URL}", author="x", note="gone", at=2.0)
        broken = _cli(env, "check", cwd=tmp_path)
        assert broken.returncode == 2
        assert broken.stdout.startswith("checking rules version 2, active in the state store")
        assert broken.stderr.startswith("rules@v2:2:")
        assert "GONE_HOOK_URL" in broken.stderr
        store.rules.add(HEAD % "https://h.example/" + PASSED, author="x", note="p", at=3.0)
    finally:
        store.close()
    good = _cli(env, "check", cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[:2] == [
        "checking rules version 3, active in the state store "
        "(NOTIFIER_RULES_IN_STORE=true; `notifier check FILE` checks a file)",
        "rules@v3: OK, 2 rules (attempt.completed: 2), 1 channel",
    ]
    named = _cli(env, "check", str(rules), cwd=tmp_path)
    assert named.returncode == 0 and named.stdout.startswith(f"{rules}: OK, 1 rule")


@dataclass
class Rig:
    sandbox: Sandbox
    hook: WebhookReceiver
    exam: int
    tmp: Path

    def settings(self, db: str) -> Settings:
        return Settings(  # type: ignore[call-arg]
            _env_file=None,
            TESTPRESS_BASE_URL=self.sandbox.url,
            TESTPRESS_TOKEN=self.sandbox.token,
            NOTIFIER_DB=db,
            NOTIFIER_RULES=str(self.tmp / "rules.yaml"),
            NOTIFIER_RULES_IN_STORE="true",
        )

    def cycle(self, app: App) -> list[str]:
        """What the run loop does: reload if changed, one cycle; the rules that alerted."""
        before = len(self.hook.received)
        app.reload_rules_if_changed()
        app.cycle()
        return [r.json["rule"] for r in self.hook.received[before:]]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    with Sandbox(seed=21) as sandbox, WebhookReceiver() as hook:
        exam = sandbox.institute.add_exam(title="Algebra Mock 3")
        (tmp_path / "rules.yaml").write_text(HEAD % hook.url)
        yield Rig(sandbox, hook, exam, tmp_path)


def test_the_first_start_imports_the_file_and_a_new_version_runs_at_the_next_cycle(
    rig: Rig, db: str
) -> None:
    settings = rig.settings(db)
    (rig.tmp / "rules.tests.yaml").write_text(TESTS)
    with build(settings) as parts:
        app = parts.app
        [first] = app.store.rules.listed()
        assert (first.number, first.author) == (1, getpass.getuser())
        assert first.yaml == (rig.tmp / "rules.yaml").read_text()
        assert first.tests == TESTS  # the rule tests beside the file, kept with it
        assert app.ruleset.path == "rules@v1"
        assert rig.cycle(app) == []  # the baseline
        complete_now(rig.sandbox.institute, rig.exam, "Ravi", "Pass")
        assert rig.cycle(app) == []  # no rule for a pass yet

        save_version(
            app.store.rules,
            HEAD % rig.hook.url + PASSED,
            author="asha",
            note="tell us about passes",
            at=app.clock(),
            settings=settings,
            shown="draft",
        )
        (rig.tmp / "rules.yaml").write_text("the file is not read any more\n")
        complete_now(rig.sandbox.institute, rig.exam, "Meena", "Pass")
        assert rig.cycle(app) == ["passed-exam"]
        assert app.ruleset.path == "rules@v2"
        assert app.store.meta.get_meta("rules_path") == "rules@v2"

    # A restart takes the active version, not the file (which no longer loads).
    with build(settings) as again:
        assert again.ruleset.path == "rules@v2"
        assert [v.number for v in again.store.rules.listed()] == [2, 1]


def test_a_version_that_does_not_load_here_leaves_the_last_good_rules_running(
    rig: Rig, db: str
) -> None:
    settings = rig.settings(db)
    with build(settings) as parts:
        app = parts.app
        rig.cycle(app)
        # Saved where LMS_URL was set; this notifier has no such variable.
        save_version(
            app.store.rules,
            HEAD.replace('"%s"', '"${LMS_URL}"') + PASSED,
            author="asha",
            note="a variable this replica lacks",
            at=app.clock(),
            settings=settings,
            shown="draft",
            env={"LMS_URL": rig.hook.url},
        )
        complete_now(rig.sandbox.institute, rig.exam, "Asha", "Fail")
        complete_now(rig.sandbox.institute, rig.exam, "Ravi", "Pass")
        assert rig.cycle(app) == ["failed-exam"]  # version 1 still runs
        assert app.ruleset.path == "rules@v1"
        error = app.store.meta.get_meta("rules_error") or ""
        assert error == (
            "rules@v2:2:30: environment variable LMS_URL is not set and '${LMS_URL}' has no default"
        )
        assert rig.cycle(app) == []  # not retried every cycle, nothing sent twice


def test_a_draft_that_does_not_load_is_never_saved(store: Store) -> None:
    with pytest.raises(RulesError) as raised:
        save_version(
            store.rules,
            (HEAD % "https://x.example/h").replace("notify: [hook]", "notify: [hok]"),
            author="asha",
            note="typo",
            at=1.0,
            settings=None,
            shown="draft",
        )
    assert str(raised.value).startswith("draft:7:14: ")
    assert store.rules.listed() == []


def test_a_second_notifier_on_postgres_takes_up_a_new_version_at_its_next_cycle(
    rig: Rig, pg_url: str
) -> None:
    """Two notifiers, each with its own store handle on one database: a version
    imported with the real CLI is used by both at their next cycle."""
    settings = rig.settings(pg_url)
    with build(settings) as one, build(settings) as two:
        assert len(one.store.rules.listed()) == 1  # imported once, whoever started first
        assert rig.cycle(one.app) == [] and rig.cycle(two.app) == []
        newer = rig.tmp / "newer.yaml"
        newer.write_text(HEAD % rig.hook.url + PASSED)
        env = _env(pg_url, rig.tmp / "rules.yaml")
        done = _cli(env, "rules", "import", str(newer), "--note", "passes too", cwd=rig.tmp)
        assert done.returncode == 0, done.stderr
        complete_now(rig.sandbox.institute, rig.exam, "Meena", "Pass")
        assert rig.cycle(two.app) == ["passed-exam"]  # the second notifier, next cycle
        assert two.app.ruleset.path == "rules@v2"
        one.app.reload_rules_if_changed()
        assert one.app.ruleset.path == "rules@v2"


def test_the_alerts_each_version_raised_are_counted(store: Store, tmp_path: Path) -> None:
    start = 1_800_000_000.0  # on a half-hour
    store.rules.add("v1\n", author="a", note="one", at=start)
    for i, at in enumerate((start + 100, start + 1000, start + 7300)):
        row = NewDelivery("failed-exam", "hook", "attempt.completed", str(i), [])
        store.seen.record("attempts", [str(i)], [row], now=at)
        if i == 1:
            store.rules.add("v2\n", author="b", note="two", at=start + 7200)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, NOTIFIER_RULES=str(tmp_path / "rules.yaml"), NOTIFIER_RULES_IN_STORE="1"
    )
    service = DraftService(settings, store)
    assert service.alerts_by_version(store.rules.listed()) == {1: 2, 2: 1}


def test_a_first_start_with_a_file_that_does_not_load_imports_nothing(
    db: str, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text((HEAD % "https://lms.school.example/hook").replace("result:", "reslt:"))
    env = _env(
        db,
        rules,
        NOTIFIER_RULES_IN_STORE="true",
        TESTPRESS_BASE_URL="http://127.0.0.1:9",
        TESTPRESS_TOKEN="t",
    )
    done = _cli(env, "run", "--once", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        f"{rules}:6:12: unknown field 'reslt' for attempt.completed; did you mean 'result'?"
    )
    store = open_store(db)
    try:
        assert store.rules.listed() == []
    finally:
        store.close()
