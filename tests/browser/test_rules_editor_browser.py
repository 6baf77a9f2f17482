"""The rules editor in a real browser (issue 21 part 6), Debian's Chromium driven by
Playwright against the in-process notifier with its rules in the store: a typo typed
into the draft is shown at its line by the page's script (under the console's CSP, with
no error in the browser's console); fixed, the problem goes; Preview shows the counts;
Save makes version 2, which the notifier runs at its next cycle; a viewer is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
        for name, role in (("ann", "editor"), ("vera", "viewer")):
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

    draft = good + "  - name: passed-exam\n    event: attempt.completed\n"
    draft += "    when: {result: Pass}\n    notify: [hook]\n"
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
