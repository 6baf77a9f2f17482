"""The rules editor in a real browser (issue 21 part 6), Debian's Chromium driven by
Playwright against the in-process notifier with its rules in the store: a typo typed
into the draft is shown at its line by the page's script (under the console's CSP, with
no error in the browser's console); fixed, the problem goes; Preview shows the counts;
Save makes version 2, which the notifier runs at its next cycle; a viewer is refused.
Then the rest of part 6: a failing rule test is shown and blocks nothing; "Make active"
on the history page makes an old version's YAML the new active version; a viewer sees
the rules without a save control and a forged save is refused; two editors race and
the second sees the diff."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.console.passwords import hash_password
from tests.browser.kit import require_browser, sign_in
from tests.browser.test_console_browser import browser  # noqa: F401 - the fixture
from tests.console_kit import PASSWORD
from tests.inprocess import CHANNELS, Rig, rig

sync_api, CHROMIUM = require_browser()

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook]
"""
TESTS = """\
tests:
  - name: a pass sends nothing
    events:
      - event: attempt.completed
        data: {id: 2, result: Pass, percentage: 80, student: Ravi Kumar}
    expect: []
"""
PASSES = "  - name: passed-exam\n    event: attempt.completed\n"
PASSES += "    when: {result: Pass}\n    notify: [hook]\n"
TYPO_LINE = CHANNELS.count("\n") + 6  # "      result: Fail" in the draft


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Rig]:
    with rig(
        tmp_path,
        RULES,
        NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
        NOTIFIER_RULES_IN_STORE="true",
        NOTIFIER_RULES=str(tmp_path / "rules.yaml"),
    ) as r:
        text = CHANNELS.replace("${HOOK_URL}", r.webhook.url) + RULES
        r.store.rules.add(text, author="ops", note="imported", at=r.clock())
        r.app.reload_rules_if_changed()
        assert r.app.ruleset.path == "rules@v1"
        assert r.cycle().sources_ok
        (tmp_path / "rules.tests.yaml").write_text(TESTS)
        for name, role in (("ann", "editor"), ("ed", "editor"), ("vera", "viewer")):
            r.store.users.add(name, role, hash_password(PASSWORD), r.clock())
        yield r


def test_type_a_typo_see_it_at_its_line_fix_it_preview_and_save(
    running: Rig,
    browser: object,  # noqa: F811
) -> None:
    assert running.console_url
    url = running.console_url
    page = browser.new_context().new_page()  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.location["url"]) if m.type == "error" else None)
    sign_in(page, url, "ann")
    page.wait_for_url(url + "/")
    page.goto(url + "/rules/edit")
    good = page.input_value("#draft")
    assert "failed-exam" in good

    page.fill("#draft", good.replace("result: Fail", "reslt: Fail"))  # typed: an input event
    problem = page.locator("#problems li.problem")
    problem.wait_for()
    assert problem.inner_text() == (
        f"line {TYPO_LINE}, column 7: unknown field 'reslt' for attempt.completed "
        "(did you mean 'result'?)"
    )
    assert page.locator("#gutter span.bad").inner_text() == str(TYPO_LINE)

    draft = good + PASSES
    page.fill("#draft", draft)
    page.locator("#problems p.ok").wait_for()
    assert page.locator("#gutter span.bad").count() == 0

    page.click("button:has-text('Preview 7 days')")
    page.locator("table.preview").wait_for()
    assert "From the" in page.locator("main").inner_text()
    assert page.input_value("#draft") == draft  # the draft is kept across the preview

    page.fill("input[name=note]", "tell us about passes")
    page.click("button:has-text('Save as a new version')")
    page.locator("p.ok:has-text('Saved as version 2')").wait_for()
    running.app.reload_rules_if_changed()  # the notifier's next cycle
    assert running.app.ruleset.path == "rules@v2"
    assert [r.name for r in running.app.ruleset.rules] == ["failed-exam", "passed-exam"]
    # No CSP refusal, no script error: only the browser's own ask for an icon has none.
    assert set(errors) <= {url + "/favicon.ico"}

    viewer = browser.new_context().new_page()  # type: ignore[attr-defined]
    sign_in(viewer, url, "vera")
    viewer.wait_for_url(url + "/")
    assert viewer.goto(url + "/rules/edit").status == 403  # the YAML is for editors
    assert viewer.locator("button:has-text('Save as a new version')").count() == 0


def _page(chromium: Any, url: str, name: str) -> Any:
    page = chromium.new_context().new_page()
    sign_in(page, url, name)
    page.wait_for_url(url + "/")
    return page


def test_a_failing_rule_test_is_shown_and_blocks_nothing_then_revert_brings_v1_back(
    running: Rig,
    browser: Any,  # noqa: F811
) -> None:
    assert running.console_url
    url = running.console_url
    page = _page(browser, url, "ann")
    page.goto(url + "/rules/edit")
    v1 = page.input_value("#draft")
    page.fill("#draft", v1 + PASSES)
    page.click("button:has-text('Test')")
    page.locator("p.error:has-text('1 test, 1 failed')").wait_for()
    failed = page.locator("main").inner_text()
    assert "rules.tests.yaml:2:5: a pass sends nothing" in failed
    assert "+ passed-exam -> hook" in failed
    assert "a failing test blocks nothing" in failed

    page.fill("input[name=note]", "passes too, whatever the test says")
    page.click("button:has-text('Save as a new version')")
    page.locator("p.ok:has-text('Saved as version 2')").wait_for()
    assert running.store.rules.active_number() == 2

    page.goto(url + "/rules/versions")
    assert "passes too, whatever the test says" in page.locator("table").inner_text()
    page.click("a[href='/rules/versions/1']")
    page.select_option("select[name=against]", "2")
    page.click("button:has-text('Show the diff')")
    assert "-  - name: passed-exam" in page.locator("pre.diff").inner_text()  # 1 lacks it
    page.click("button:has-text('Make active')")
    page.locator("p.ok:has-text('Saved as version 3')").wait_for()
    assert page.input_value("#draft") == v1
    three = running.store.rules.get(3)
    assert three is not None and three.yaml == v1 and three.note == "revert to version 1"
    running.app.reload_rules_if_changed()  # the notifier's next cycle
    assert running.app.ruleset.path == "rules@v3"
    assert [r.name for r in running.app.ruleset.rules] == ["failed-exam"]
    assert any(e.action == "rules.revert" for e in running.store.audit.recent())


def test_a_viewer_sees_the_rules_with_no_save_control_and_a_forged_save_is_refused(
    running: Rig,
    browser: Any,  # noqa: F811
) -> None:
    assert running.console_url
    url = running.console_url
    viewer = _page(browser, url, "vera")
    viewer.goto(url + "/rules")
    assert "failed-exam" in viewer.locator("table").first.inner_text()
    assert viewer.locator("a[href='/rules/edit']").count() == 0
    viewer.goto(url + "/rules/versions")
    assert "imported" in viewer.locator("table").inner_text()
    assert viewer.locator("a[href^='/rules/versions/']").count() == 0  # no YAML to open
    assert viewer.locator("button:has-text('Save'), button:has-text('Make active')").count() == 0
    token = viewer.locator("input[name=csrf]").first.input_value()
    for path, form in (
        ("/rules/edit", {"action": "save", "draft": "rules: []\n", "note": "x", "base": "1"}),
        ("/rules/versions/1", {"base": "1"}),
    ):
        answer = viewer.request.post(url + path, form={"csrf": token, **form})
        assert answer.status == 403, path
    assert [v.number for v in running.store.rules.listed()] == [1]


def test_two_editors_race_and_the_second_is_told_with_the_diff(
    running: Rig,
    browser: Any,  # noqa: F811
) -> None:
    assert running.console_url
    url = running.console_url
    ann, ed = _page(browser, url, "ann"), _page(browser, url, "ed")
    ann.goto(url + "/rules/edit")
    ed.goto(url + "/rules/edit")
    v1 = ann.input_value("#draft")
    ann.fill("#draft", v1 + PASSES)
    ann.fill("input[name=note]", "passes")
    ann.click("button:has-text('Save as a new version')")
    ann.locator("p.ok:has-text('Saved as version 2')").wait_for()

    mine = v1.replace("result: Fail", "result: Pass")
    ed.fill("#draft", mine)
    ed.fill("input[name=note]", "passes instead")
    ed.click("button:has-text('Save as a new version')")
    error = ed.locator("#error")
    error.wait_for()
    assert "changed under you" in error.inner_text()
    assert "version 2 is active now" in error.inner_text()
    assert "+  - name: passed-exam" in ed.locator("pre.diff").inner_text()
    assert ed.input_value("#draft") == mine  # their draft is kept to merge by hand
    assert [v.number for v in running.store.rules.listed()] == [2, 1]


def test_completion_from_the_json_schema_offers_keys_and_values_and_inserts_them(
    running: Rig,
    browser: Any,  # noqa: F811
) -> None:
    """Typed at the end of the draft, a new rule is written mostly by accepting what
    the schema allows where the cursor is: a rule's keys, an event kind, the fields of
    that event's `when` and their values, a field's operators (chosen with the arrow
    key), with Enter or Tab."""
    assert running.console_url
    url = running.console_url
    page = _page(browser, url, "ann")
    schema = page.request.get(url + "/rules/schema.json")
    assert schema.status == 200 and schema.json()["title"] == "testpress-notifier rules file"
    page.goto(url + "/rules/edit")
    before = page.input_value("#draft")
    page.focus("#draft")
    page.keyboard.press("Control+End")  # after the draft's last newline
    offered = page.locator("#completions li")

    def offers(typed: str) -> list[str]:
        page.keyboard.type(typed)
        offered.first.wait_for()
        return offered.all_inner_texts()

    assert offers("  - na") == ["name"]  # a rule's keys, at a new list item
    page.keyboard.press("Enter")
    page.keyboard.type("passed-exam\n")
    assert offers("    ev") == ["event"]
    page.keyboard.press("Tab")
    assert "attempt.completed" in offers("att")  # the event kinds
    page.keyboard.type("empt.c")
    assert offered.all_inner_texts() == ["attempt.completed"]
    page.keyboard.press("Enter")
    page.keyboard.type("\n    when:\n")
    assert offers("      resu") == ["result"]  # the fields of attempt.completed
    page.keyboard.press("Enter")
    assert offers("P") == ["Pass"]  # the values the field may hold
    page.keyboard.press("Tab")
    page.keyboard.type("\n      percentage:\n")
    assert offers("        l") == ["lt", "lte"]  # the operators of a number
    assert page.locator("#completions li.chosen").inner_text() == "lt"
    page.keyboard.press("ArrowDown")
    assert page.locator("#completions li.chosen").inner_text() == "lte"
    page.keyboard.press("Enter")
    page.keyboard.type("40\n")
    assert offers("    no") == ["notify"]  # `name` is there already: not offered again
    page.keyboard.press("Escape")
    assert page.locator("#completions").is_hidden()
    page.keyboard.type("tify: [hook]\n")

    assert page.input_value("#draft") == before + (
        "  - name: passed-exam\n"
        "    event: attempt.completed\n"
        "    when:\n"
        "      result: Pass\n"
        "      percentage:\n"
        "        lte: 40\n"
        "    notify: [hook]\n"
    )
    with page.expect_navigation():  # the form posted: checked on the server
        page.click("button:has-text('Check')")  # and the draft written so loads
    assert page.locator("#problems").inner_text() == "No problems: the draft loads."
    page.focus("#draft")
    page.keyboard.press("Control+End")
    assert offers("so") == ["sources"]  # a top-level key (channels, rules: there already)
    page.keyboard.press("Escape")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    end_of_channels = before.index("\n\nrules:")
    page.evaluate(f"document.getElementById('draft').setSelectionRange({end_of_channels}, "
                  f"{end_of_channels})")  # fmt: skip
    page.keyboard.type("\n  desk:\n")
    assert offers("    ty") == ["type"]  # a channel's keys
    page.keyboard.press("Enter")
    assert offers("w") == ["webhook"]  # the channel types
    page.keyboard.press("Enter")
    page.keyboard.type("\n")
    assert offers("    u") == ["url"]  # a webhook's keys (a Slack channel's are not offered)
    page.keyboard.press("Tab")
    page.keyboard.type("https://lms.example/desk")
    assert "  desk:\n    type: webhook\n    url: https://lms.example/desk\n\nrules:" in (
        page.input_value("#draft")
    )
    with page.expect_navigation():
        page.click("button:has-text('Check')")
    assert page.locator("#problems").inner_text() == "No problems: the draft loads."
