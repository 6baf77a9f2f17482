"""The console's pages over real HTTP, fed by the real notifier: the sandbox institute
polled by the in-process app (tests/inprocess.py), its alerts delivered to a webhook
receiver, and the console on its own listener (NOTIFIER_CONSOLE_ADDR). Each page shows
what was put in the store; the filters narrow the list; no page shows a secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from notifier.console.passwords import hash_password
from tests.console_kit import PASSWORD, sign_in
from tests.inprocess import Rig, rig

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook]
  - name: low-percentile
    event: attempt.completed
    when:
      result: Pass
      percentile: {lt: 30}
    notify: [hook]
"""


@pytest.fixture
def running(tmp_path: Path, db: str) -> Iterator[Rig]:
    with rig(
        tmp_path,
        RULES,
        db=db,
        NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
        NOTIFIER_CONSOLE_URL="http://console.school.internal",
    ) as r:
        assert r.cycle().sources_ok  # the baseline
        yield r


def _failed(r: Rig, name: str, email: str, exam_title: str = "Organic Chemistry") -> int:
    inst = r.sandbox.institute
    exam = inst.add_exam(title=exam_title)
    user = inst.add_user(name=name, email=email)
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    return user


@contextmanager
def _viewer(r: Rig) -> Iterator[httpx.Client]:
    r.store.users.add("vera", "viewer", hash_password(PASSWORD), r.clock())
    assert r.console_url
    with httpx.Client(base_url=r.console_url, timeout=10) as client:
        assert sign_in(client, "vera").status_code == 303
        yield client


def test_an_alert_page_shows_the_event_why_the_rule_fired_and_what_was_sent(
    running: Rig,
) -> None:
    asha = _failed(running, "Asha Verma", "asha@school.example")
    running.cycle()
    [sent] = [r.json for r in running.webhook.received if r.status < 300]
    delivery = sent["id"]
    # The alert links its page in the console (NOTIFIER_CONSOLE_URL).
    assert sent["console_url"] == f"http://console.school.internal/alerts/{delivery}"
    with _viewer(running) as client:
        page = client.get(f"/alerts/{delivery}")
        assert page.status_code == 200
        text = page.text
        assert "failed-exam" in text and "Asha Verma" in text and "Organic Chemistry" in text
        assert "result" in text and "Fail" in text  # the event's fields
        assert re.search(r"<li>[^<]*result[^<]*Fail[^<]*</li>", text), "why the rule fired"
        assert "hook: sent" in text  # what the channel received, and how it went
        assert "&#34;type&#34;: &#34;notifier.alert&#34;" in text  # the webhook body, escaped
        assert f'href="/students/{asha}"' in text
        assert "Follow up" not in text  # a viewer reads only
        assert client.get("/alerts/msg_nothing").status_code == 404


def test_the_alerts_list_is_filtered_by_student_rule_status_and_day(running: Rig) -> None:
    asha = _failed(running, "Asha Verma", "asha@school.example")
    _failed(running, "Ravi Kumar", "ravi@school.example", "Physics")
    running.webhook.script([200, 410])  # the second send is refused for good: dead
    running.cycle()
    with _viewer(running) as client:
        everything = client.get("/alerts").text
        assert "Asha Verma" in everything and "Ravi Kumar" in everything
        by_id = client.get("/alerts", params={"student": str(asha)}).text
        assert "Asha Verma" in by_id and "Ravi Kumar" not in by_id
        by_email = client.get("/alerts", params={"student": "RAVI@school.example"}).text
        assert "Ravi Kumar" in by_email and "Asha Verma" not in by_email
        dead = client.get("/alerts", params={"status": "dead"}).text
        assert dead.count("<td>dead</td>") == 1
        assert "No alerts match" in client.get("/alerts", params={"rule": "low-percentile"}).text
        future = client.get("/alerts", params={"since": "2999-01-01"}).text
        assert "No alerts match" in future
        until_old = client.get("/alerts", params={"until": "2000-01-01"}).text
        assert "No alerts match" in until_old
        bad = client.get("/alerts", params={"since": "yesterday"})
        assert bad.status_code == 400 and "since: &#39;yesterday&#39; is not a date" in bad.text


def test_overview_students_and_rules_show_what_the_store_holds(running: Rig) -> None:
    asha = _failed(running, "Asha Verma", "asha@school.example")
    running.webhook.script([410])
    running.cycle()
    with _viewer(running) as client:
        overview = client.get("/").text
        assert "attempts" in overview  # the source's last poll
        assert "<svg" in overview and "failed-exam</a>: 1" in overview  # the chart's legend
        assert "Dead by channel" in overview and ">hook</a></td><td>1</td>" in overview

        found = client.get("/students", params={"q": "asha"}).text
        assert f'href="/students/{asha}"' in found and "asha@school.example" in found
        assert "No student matches" in client.get("/students", params={"q": "zed"}).text
        timeline = client.get(f"/students/{asha}").text
        assert "Asha Verma" in timeline and "Organic Chemistry" in timeline
        assert "attempt.completed" in timeline and "failed-exam" in timeline

        rules = client.get("/rules").text
        assert "failed-exam" in rules and "low-percentile" in rules
        cells = re.search(
            r"failed-exam</a></td><td>attempt.completed</td><td>hook</td>\s*"
            r"<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>",
            rules,
        )
        assert cells and cells.groups() == ("1", "1", "0", "1")  # matches, deliveries, sent, dead


def test_no_page_shows_a_secret(running: Rig) -> None:
    _failed(running, "Asha Verma", "asha@school.example")
    running.cycle()
    secrets = [running.sandbox.token, "xoxb-rig", PASSWORD]
    with _viewer(running) as client:
        for path in ("/", "/alerts", "/students?q=a", "/rules", "/audit", "/mutes"):
            page = client.get(path)
            assert page.status_code == 200, path
            for secret in secrets:
                assert secret not in page.text, path
            assert "$argon2" not in page.text


GROUPED = """
rules:
  - name: class-failed
    event: attempt.completed
    when: {result: Fail}
    group_by: [exam_id]
    group_wait: 30s
    notify: [hook]
"""


def test_a_grouped_message_links_a_page_listing_the_alerts_it_carried(
    tmp_path: Path, db: str
) -> None:
    with rig(tmp_path, GROUPED, db=db, NOTIFIER_CONSOLE_ADDR="127.0.0.1:0") as r:
        r.cycle()  # the baseline
        inst = r.sandbox.institute
        exam = inst.add_exam(title="Algebra Mock 3")
        for name in ("Asha Verma", "Ravi Kumar", "Meena Iyer"):
            user = inst.add_user(name=name)
            inst.complete_attempt(inst.start_attempt(exam, user), result="Fail")
        r.cycle()
        r.clock.advance(31)
        r.cycle()
        [message] = [q.json for q in r.webhook.received if q.status < 300]
        assert len(message["alerts"]) == 3
        with _viewer(r) as client:
            page = client.get(f"/alerts/{message['id']}")
            assert page.status_code == 200 and "carried 3 alerts" in page.text
            for name in ("Asha Verma", "Ravi Kumar", "Meena Iyer"):
                assert name in page.text
            assert page.text.count('href="/alerts/msg_') == 3
