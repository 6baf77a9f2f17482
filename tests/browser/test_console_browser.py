"""The console in a real browser: Playwright for Python driving Debian's Chromium
(`playwright install` cannot download here, so the system's binary is given), against
the in-process notifier (the composition `notifier run` uses) polling the sandbox
institute. Outside CI, skipped cleanly when Playwright or Chromium is absent; under CI
(`CI=true`) that is a failure, not a skip, since a skip there would hide a broken
install (`.ci/run` installs Chromium, `make test-browser` installs Playwright)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from notifier.console.passwords import hash_password
from tests.browser.kit import require_browser, sign_in
from tests.console_kit import PASSWORD
from tests.inprocess import Rig, rig
from tests.slack_kit import APP_TOKEN
from tests.waiting import wait_until

sync_api, CHROMIUM = require_browser()

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook, slack]
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Rig]:
    with rig(
        tmp_path,
        RULES,
        NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
        SLACK_APP_TOKEN=APP_TOKEN,  # a way in for clicks (the fake's Socket Mode): buttons
        NOTIFIER_TIMEZONE="UTC",
    ) as r:
        assert r.cycle().sources_ok
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Organic Chemistry")
        asha = inst.add_user(name="Asha Verma", email="asha@school.example")
        inst.complete_attempt(inst.start_attempt(exam, asha), result="Fail", score=3.0)
        r.cycle()
        for name, role in (("ann", "editor"), ("vera", "viewer")):
            r.store.users.add(name, role, hash_password(PASSWORD), r.clock())
        yield r


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def test_sign_in_find_a_student_open_the_alert_and_sign_out(running: Rig, browser: object) -> None:
    assert running.console_url
    url = running.console_url
    context = browser.new_context()  # type: ignore[attr-defined]
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    sign_in(page, url, "ann")
    page.wait_for_url(url + "/")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator(".chart svg rect").count() >= 1  # the chart, drawn on the server

    page.click("text=Students")
    page.fill("input[name=q]", "asha")
    page.click("button:has-text('Search')")
    page.locator("table a").first.click()
    assert page.locator("h1").inner_text() == "Asha Verma"
    page.locator("table a[href^='/alerts/']").first.click()
    assert "Why the rule fired" in page.content()
    assert "Organic Chemistry" in page.content()
    page.click("button:has-text('Follow up')")  # an editor acts: through Actions
    assert "Followed up." in page.content() and "by ann at" in page.content()
    # ... and the alert's Slack message says so, as a click in Slack would have.
    slack = running.slack
    wait_until(lambda: slack.api.updates, message="chat.update of the Slack alert")
    [update] = slack.api.updates
    assert [p.ts for p in slack.received] == [update.ts]
    assert re.search(r"Followed up by ann at \d\d:\d\d", json.dumps(update.blocks))
    page.click("button:has-text('Mute the student')")
    assert "Muted." in page.content()
    page.click("text=Mutes")
    assert page.locator("a[href^='/students/']").count() == 1  # the mute in force: Asha
    page.click("text=Audit")
    assert page.locator("td:has-text('follow_up')").count() == 1
    assert page.locator("td:has-text('mute')").count() >= 1

    # A form posted without its CSRF token (the browser's own cookies): refused.
    refused = context.request.post(url + "/mutes", form={"rule": "failed-exam", "for": "1d"})
    assert refused.status == 403

    page.click("button:has-text('Sign out')")
    page.wait_for_url(url + "/login")
    page.goto(url + "/alerts")
    assert "/login" in page.url
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()


def test_a_viewer_sees_no_actions_and_is_refused_the_users_page(
    running: Rig, browser: object
) -> None:
    assert running.console_url
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, running.console_url, "vera")
    page.wait_for_url(running.console_url + "/")
    page.click("text=Alerts")
    page.locator("table a[href^='/alerts/']").first.click()
    assert page.locator("button:has-text('Follow up')").count() == 0
    answer = page.goto(running.console_url + "/users")
    assert answer is not None and answer.status == 403
    context.close()


def _open_alert(page: Any, url: str, status: str) -> str:
    """Open the first alert listed with `status`; its id."""
    page.goto(f"{url}/alerts?status={status}")
    link = page.locator("table a[href^='/alerts/']").first
    href = str(link.get_attribute("href"))
    link.click()
    return href.removeprefix("/alerts/")


def _status_on_page(page: Any) -> str:
    return str(page.locator("tr:has(th:text-is('Status')) td").first.inner_text())


def test_a_mute_holds_the_next_alert_and_a_dead_delivery_is_replayed(
    running: Rig, browser: Any
) -> None:
    assert running.console_url
    url = running.console_url
    inst = running.sandbox.institute
    ravi = inst.add_user(name="Ravi Kumar", email="ravi@school.example")
    running.webhook.script([410])  # the LMS refuses Ravi's alert for good: dead
    inst.complete_attempt(inst.start_attempt(inst.add_exam(title="Physics"), ravi), result="Fail")
    running.cycle()
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, url, "ann")
    page.wait_for_url(url + "/")

    # Replay the dead delivery: sent at the next cycle, and its page says so.
    dead = _open_alert(page, url, "dead")
    assert _status_on_page(page) == "dead" and "HTTP 410" in page.content()
    page.click("button:has-text('Replay')")
    running.cycle()
    page.goto(f"{url}/alerts/{dead}")
    assert _status_on_page(page) == "sent"
    assert [r.json["id"] for r in running.webhook.received if r.status < 300][-1] == dead

    # Mute Asha from her alert's page; her next failure is held as muted, not sent.
    asha = next(uid for uid, u in inst.users.items() if u.email == "asha@school.example")
    page.goto(f"{url}/alerts?student={asha}")
    page.locator("table a[href^='/alerts/']").first.click()
    page.click("button:has-text('Mute the student')")
    assert "Muted." in page.content()
    sent = len([r for r in running.webhook.received if r.status < 300])
    inst.complete_attempt(inst.start_attempt(inst.add_exam(title="Biology"), asha), result="Fail")
    running.cycle()
    _open_alert(page, url, "muted")
    assert _status_on_page(page) == "muted" and "Biology" in page.content()
    assert len([r for r in running.webhook.received if r.status < 300]) == sent
    context.close()


def test_a_viewer_is_refused_an_action_even_with_a_valid_token(running: Rig, browser: Any) -> None:
    assert running.console_url
    url = running.console_url
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, url, "vera")
    page.wait_for_url(url + "/")
    alert = _open_alert(page, url, "sent")
    token = page.locator("input[name=csrf]").first.get_attribute("value")  # sign-out's form
    assert token
    refused = context.request.post(
        f"{url}/alerts/{alert}", form={"csrf": token, "action": "follow_up"}
    )
    assert refused.status == 403
    page.reload()
    assert page.locator("tr:has(th:text-is('Followed up')) td").inner_text() == "not yet"
    assert [e.action for e in running.store.audit.recent()] == []  # nothing was done
    context.close()
