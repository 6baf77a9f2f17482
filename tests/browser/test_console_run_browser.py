"""The console in Chromium against the real `notifier run` process (the sandbox
institute, the fake Slack's Web API and its Socket Mode websocket as the way in for
clicks, all over loopback): an editor follows up an alert on its page and the Slack
message is updated as a click there would have; mutes the student, whose next alert
is then held (its page says `muted`) and never posted."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from notifier.sandbox.standins import free_port
from tests.browser.kit import require_browser, sign_in
from tests.console_kit import PASSWORD
from tests.e2e import open_harness
from tests.loopback import ready
from tests.slack_kit import APP_TOKEN
from tests.waiting import wait_until

sync_api, CHROMIUM = require_browser()

RULES = """\
channels:
  teachers:
    type: slack
    channel: "#exam-alerts"

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [teachers]
"""


def _fail(inst: Any, exam: int, user: int) -> None:
    now = datetime.now(UTC)
    attempt = inst.start_attempt(exam, user, started_at=now - timedelta(minutes=20))
    inst.complete_attempt(attempt, result="Fail", completed_at=now)


def test_in_notifier_run_a_follow_up_updates_slack_and_a_mute_holds_the_next_alert(
    tmp_path: Path,
) -> None:
    with open_harness(tmp_path, seed=20, rules=RULES) as h:
        inst = h.sandbox.institute
        exam = inst.add_exam(title="Algebra Mock")
        asha = inst.add_user(name="Asha Verma", email="asha@school.example")
        http, console = free_port(), free_port()
        h.extra_env = {
            "SLACK_APP_TOKEN": APP_TOKEN,
            "NOTIFIER_HTTP_ADDR": f"127.0.0.1:{http}",
            "NOTIFIER_CONSOLE_ADDR": f"127.0.0.1:{console}",
            "NOTIFIER_POLL_INTERVAL": "0.3",
            "NOTIFIER_TIMEZONE": "UTC",
        }
        added = subprocess.run(
            [sys.executable, "-m", "notifier", "users", "add", "ann", "--role", "editor"],
            cwd=h.tmp,
            env=h.env(),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        proc = h.start()
        slack, url = h.slack, f"http://127.0.0.1:{console}"
        try:
            wait_until(lambda: proc.poll() is not None or ready(http), message="the baseline")
            assert proc.poll() is None, proc.communicate()[1]
            wait_until(lambda: slack.socket.connected, message="Socket Mode")
            _fail(inst, exam, asha)
            wait_until(lambda: slack.received, message="the Slack alert")
            [post] = slack.received
            delivery = post.blocks[-1]["elements"][0]["value"]  # its Follow up button's

            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_context().new_page()
                sign_in(page, url, "ann")
                page.wait_for_url(url + "/")
                page.goto(f"{url}/alerts/{delivery}")
                page.click("button:has-text('Follow up')")
                assert "Followed up." in page.content()
                wait_until(lambda: slack.api.updates, message="chat.update")
                [update] = slack.api.updates
                assert update.ts == post.ts
                assert re.search(r"Followed up by ann at \d\d:\d\d", json.dumps(update.blocks))

                page.click("button:has-text('Mute the student')")
                assert "Muted." in page.content()
                _fail(inst, exam, asha)  # her next failure: held, not posted

                def held() -> bool:
                    page.goto(f"{url}/alerts?status=muted")
                    return page.locator("table a[href^='/alerts/']").count() == 1

                wait_until(held, message="the next alert held as muted")
                page.locator("table a[href^='/alerts/']").first.click()
                status = page.locator("tr:has(th:text-is('Status')) td").first.inner_text()
                assert status == "muted"
                assert len(slack.received) == 1
                browser.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert APP_TOKEN not in err
