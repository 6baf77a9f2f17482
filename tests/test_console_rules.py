"""The rules pages of the console over real HTTP (contract section 14, issue 21 part 3):
the editor checks a draft as it is typed and shows each problem at its line; editors
save a draft as a new version (in the audit log, printed by `notifier rules export`),
viewers cannot (403); a draft or a version that does not load is never saved or made
active; two editors saving at once: the second is told, with the diff; with the rules
in the file the pages are read-only but still check, preview, test and download."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notifier.state import Store
from tests.console_kit import RULES, ConsoleRig, console, csrf_of, signed_in

TYPO = RULES.replace("      result: Fail", "      reslt: Fail")  # line 11, column 7
PASSES = (
    RULES
    + """\
  - name: passed-exam
    event: attempt.completed
    when: {result: Pass}
    notify: [terminal]
"""
)
TESTS = """\
tests:
  - name: a fail alerts the hook and the terminal
    events:
      - event: attempt.completed
        data: {id: 1, result: Fail, percentage: 55, student: Asha Verma}
    expect:
      - {rule: failed-exam, channel: hook, text: Asha Verma}
      - {rule: failed-exam, channel: terminal}
  - name: a pass sends nothing
    events:
      - event: attempt.completed
        data: {id: 2, result: Pass, percentage: 80, student: Ravi Kumar}
    expect: []
"""


@pytest.fixture
def in_store(store: Store, tmp_path: Path) -> Iterator[ConsoleRig]:
    """The console with NOTIFIER_RULES_IN_STORE: version 1 is the file, as the first
    start imports it."""
    store.rules.add(RULES, author="ops", note="imported", at=1.0)
    with console(store, tmp_path, env={"NOTIFIER_RULES_IN_STORE": "true"}) as rig:
        yield rig


@pytest.fixture
def in_file(store: Store, tmp_path: Path) -> Iterator[ConsoleRig]:
    (tmp_path / "rules.tests.yaml").write_text(TESTS)
    with console(store, tmp_path) as rig:
        yield rig


def _post(client: httpx.Client, path: str, data: dict[str, str]) -> httpx.Response:
    page = client.get("/rules/edit").text
    base = re.search(r'name="base" value="([^"]*)"', page)
    return client.post(
        path, data={"csrf": csrf_of(page), "base": base.group(1) if base else "", **data}
    )


def test_a_typo_is_shown_at_its_line_as_it_is_typed_and_on_check(in_store: ConsoleRig) -> None:
    viewer = signed_in(in_store, "edna", "editor")
    page = viewer.get("/rules/edit")
    assert page.status_code == 200
    assert '<textarea name="draft"' in page.text and "failed-exam" in page.text
    assert '<script src="/static/rules_edit.js"></script>' in page.text
    assert "<script>" not in page.text  # no inline script (CSP)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert viewer.get("/static/rules_edit.js").text.startswith("// The rules editor")

    # What the page's script asks on each pause in typing.
    checked = viewer.post("/rules/check", data={"csrf": csrf_of(page.text), "draft": TYPO})
    assert checked.status_code == 200
    assert checked.json() == {
        "problems": [
            {
                "line": 11,
                "col": 7,
                "message": "unknown field 'reslt' for attempt.completed",
                "hint": "did you mean 'result'?",
            }
        ]
    }
    fixed = viewer.post("/rules/check", data={"csrf": csrf_of(page.text), "draft": RULES})
    assert fixed.json() == {"problems": []}
    # Without a token, nothing is checked.
    assert viewer.post("/rules/check", data={"draft": TYPO}).status_code == 403

    shown = _post(viewer, "/rules/edit", {"action": "check", "draft": TYPO})
    assert shown.status_code == 200
    assert (
        "line 11, column 7</a>: unknown field &#39;reslt&#39; for attempt.completed "
        '<span class="hint">(did you mean &#39;result&#39;?)</span>'
    ) in shown.text
    assert '<span class="bad">11</span>' in shown.text  # the gutter marks the line


def test_an_editor_saves_version_2_which_rules_export_prints(
    in_store: ConsoleRig, db: str, tmp_path: Path
) -> None:
    editor = signed_in(in_store, "edna", "editor")
    assert "Save as a new version" in editor.get("/rules/edit").text
    no_note = _post(editor, "/rules/edit", {"action": "save", "draft": PASSES, "note": " "})
    assert no_note.status_code == 400 and "a note is required" in no_note.text
    saved = _post(editor, "/rules/edit", {"action": "save", "draft": PASSES, "note": "passes"})
    assert saved.status_code == 303 and saved.headers["location"] == "/rules/edit?saved=2"
    assert "Saved as version 2" in editor.get("/rules/edit?saved=2").text

    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
    env["NOTIFIER_DB"] = db
    exported = subprocess.run(
        [sys.executable, "-m", "notifier", "rules", "export"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert exported.returncode == 0, exported.stderr
    assert exported.stdout == PASSES

    listed = editor.get("/rules/versions").text
    rows = re.findall(r"<tr><td><a href=\"/rules/versions/(\d)\">.*?</tr>", listed)
    assert rows == ["2", "1"]
    assert "edna" in listed and "passes" in listed and "active" in listed
    assert "<th>Alerts while active</th>" in listed
    compared = editor.get("/rules/versions/2?against=1").text
    assert "From version 1 to version 2" in compared
    assert "+  - name: passed-exam" in compared and "--- version 1" in compared
    assert editor.get("/rules/versions/2?against=7").status_code == 404
    [entry] = [e for e in in_store.store.audit.recent() if e.action == "rules.save"]
    assert (entry.by, entry.source, entry.target, entry.detail) == (
        "edna",
        "console",
        "rules version 2",
        "passes",
    )

    # Revert: version 1's YAML made active again, as version 3.
    old = editor.get("/rules/versions/1")
    assert old.status_code == 200 and "Make active" in old.text
    made = editor.post("/rules/versions/1", data={"csrf": csrf_of(old.text), "base": "2"})
    assert made.status_code == 303
    active = in_store.store.rules.active()
    assert active is not None and (active.number, active.yaml) == (3, RULES)
    assert any(e.action == "rules.revert" for e in in_store.store.audit.recent())
    assert editor.get("/rules/versions/9").status_code == 404


def test_a_viewer_cannot_save_make_a_version_active_or_read_the_yaml(
    in_store: ConsoleRig,
) -> None:
    """Viewers see the versions' list, not the YAML (a Slack webhook's URL written in it
    is a secret), and change nothing."""
    viewer = signed_in(in_store, "vera", "viewer")
    token = csrf_of(viewer.get("/rules").text)
    assert "/rules/edit" not in viewer.get("/rules").text
    assert viewer.get("/rules/edit").status_code == 403
    save = {"csrf": token, "action": "save", "draft": PASSES, "note": "x", "base": "1"}
    assert viewer.post("/rules/edit", data=save).status_code == 403
    assert viewer.post("/rules/check", data={"csrf": token, "draft": PASSES}).status_code == 403
    listed = viewer.get("/rules/versions")
    assert listed.status_code == 200 and "imported" in listed.text
    assert 'href="/rules/versions/1"' not in listed.text
    assert viewer.get("/rules/versions/1").status_code == 403
    assert viewer.post("/rules/versions/1", data={"csrf": token, "base": "1"}).status_code == 403
    assert [v.number for v in in_store.store.rules.listed()] == [1]


def test_a_draft_or_version_that_does_not_load_is_never_saved_or_made_active(
    in_store: ConsoleRig,
) -> None:
    editor = signed_in(in_store, "edna", "editor")
    refused = _post(editor, "/rules/edit", {"action": "save", "draft": TYPO, "note": "typo"})
    assert refused.status_code == 400 and "Not saved: fix the problems first" in refused.text
    assert [v.number for v in in_store.store.rules.listed()] == [1]
    # A version kept from before that does not load now (its variable is gone).
    in_store.store.rules.add(
        RULES.replace("http://127.0.0.1:9/hook", "${GONE_HOOK_URL}"), author="x", note="n", at=2.0
    )
    in_store.store.rules.add(RULES, author="x", note="back", at=3.0)
    page = editor.get("/rules/versions/2")
    answer = editor.post("/rules/versions/2", data={"csrf": csrf_of(page.text), "base": "3"})
    assert answer.status_code == 400 and "does not load here" in answer.text
    assert "GONE_HOOK_URL" in answer.text
    assert in_store.store.rules.active_number() == 3


def test_two_editors_saving_at_once_the_second_sees_the_diff(in_store: ConsoleRig) -> None:
    one = signed_in(in_store, "edna", "editor")
    two = signed_in(in_store, "ed", "editor")
    page_one, page_two = one.get("/rules/edit").text, two.get("/rules/edit").text
    first = one.post(
        "/rules/edit",
        data={"csrf": csrf_of(page_one), "base": "1", "action": "save", "draft": PASSES,
              "note": "passes"},
    )  # fmt: skip
    assert first.status_code == 303
    second = two.post(
        "/rules/edit",
        data={"csrf": csrf_of(page_two), "base": "1", "action": "save",
              "draft": RULES.replace("lt: 40", "lt: 35"), "note": "lower"},
    )  # fmt: skip
    assert second.status_code == 409
    assert "changed under you" in second.text
    assert "+  - name: passed-exam" in second.text  # the diff of what the other saved
    assert "lt: 35" in second.text  # their own draft is kept in the editor
    assert [v.number for v in in_store.store.rules.listed()] == [2, 1]


def test_with_the_rules_in_the_file_the_editor_checks_previews_tests_and_downloads(
    in_file: ConsoleRig,
) -> None:
    editor = signed_in(in_file, "edna", "editor")
    page = editor.get("/rules/edit").text
    assert "read-only here" in page and "Save as a new version" not in page
    refused = _post(editor, "/rules/edit", {"action": "save", "draft": PASSES, "note": "x"})
    assert refused.status_code == 409 and "read from the file" in refused.text
    assert in_file.store.rules.listed() == []

    preview = _post(editor, "/rules/edit", {"action": "preview-7", "draft": PASSES})
    assert preview.status_code == 200
    assert "Preview: the last 7 days" in preview.text
    assert "From the 0 events the store keeps" in preview.text
    assert "<td>passed-exam</td><td>terminal (console)</td>" in preview.text
    assert preview.text.count("<tr><td>20") == 8  # a row a day, draft against active

    tested = _post(editor, "/rules/edit", {"action": "test", "draft": PASSES})
    assert tested.status_code == 200
    assert "2 tests, 1 failed" in tested.text
    assert "FAIL " in tested.text and "a pass sends nothing" in tested.text
    assert "+ passed-exam -&gt; terminal" in tested.text

    download = _post(editor, "/rules/edit", {"action": "download", "draft": PASSES})
    assert download.status_code == 200
    assert download.headers["content-disposition"] == 'attachment; filename="rules.yaml"'
    assert download.text == PASSES
    assert editor.get("/rules/versions").status_code == 200


def test_the_editor_tests_a_draft_with_the_tests_kept_beside_the_version_and_keeps_them(
    store: Store, tmp_path: Path
) -> None:
    """No rules.tests.yaml beside NOTIFIER_RULES: the tests are version 1's, run against
    the draft (one fails: it blocks nothing), and saved with version 2; a revert takes
    the reverted version's tests along."""
    store.rules.add(RULES, author="ops", note="imported", at=1.0, tests=TESTS)
    with console(store, tmp_path, env={"NOTIFIER_RULES_IN_STORE": "true"}) as rig:
        assert not (tmp_path / "rules.tests.yaml").exists()
        editor = signed_in(rig, "edna", "editor")
        tested = _post(editor, "/rules/edit", {"action": "test", "draft": PASSES})
        assert tested.status_code == 200
        assert "Rule tests (the tests of version 1)" in tested.text
        assert "2 tests, 1 failed" in tested.text
        assert "FAIL the tests of version 1:" in tested.text
        saved = _post(editor, "/rules/edit", {"action": "save", "draft": PASSES, "note": "p"})
        assert saved.status_code == 303
        two = store.rules.get(2)
        assert two is not None and two.tests == TESTS
        store.rules.add(RULES, author="ops", note="no tests", at=2.0)
        assert (
            "No rule tests to run: the active version keeps no tests"
            in _post(editor, "/rules/edit", {"action": "test", "draft": PASSES}).text
        )
        page = editor.get("/rules/versions/2").text
        reverted = editor.post("/rules/versions/2", data={"csrf": csrf_of(page), "base": "3"})
        assert reverted.status_code == 303
        four = store.rules.get(4)
        assert four is not None and (four.yaml, four.tests) == (PASSES, TESTS)
