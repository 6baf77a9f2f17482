"""What was sent, in plain sight (contract section 15), over the real `notifier` command
on both backends: `deliveries` with its filters and `--json`, `status` on a store that
does not exist, with the latest dead deliveries and whether a notifier runs on it,
`replay ID` naming what it could not queue, and a source error that clears."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from tests.e2e import WEBHOOK_RULES, Harness, ok, open_harness

KEYS = {
    "id", "rule", "channel", "student", "status", "tries", "last_error", "created_at", "sent_at",
}  # fmt: skip


@pytest.fixture
def h(tmp_path: Path, db: str) -> Iterator[Harness]:
    with open_harness(
        tmp_path, seed=5, rules=WEBHOOK_RULES, extra_env={"NOTIFIER_DB": db}
    ) as harness:
        yield harness


def _has_schema(db: str) -> bool:
    if not db.startswith("postgresql"):
        return Path(db).exists()
    with psycopg.connect(db, autocommit=True) as conn:
        return conn.execute("SELECT to_regclass('meta')").fetchone()[0] is not None  # type: ignore[index]


def test_status_and_deliveries_on_a_store_that_does_not_exist_create_nothing(
    h: Harness, db: str
) -> None:
    for args in (("status",), ("status", "--json"), ("deliveries",), ("replay", "msg_x")):
        done = h.notifier(*args)
        assert done.returncode == 1, args
        assert done.stdout == ""
        assert done.stderr.startswith("notifier: no state store ")
        assert "no notifier has run on it yet (nothing was created)" in done.stderr
    assert not _has_schema(db)
    assert not (h.tmp / "notifier.db").exists()


def test_deliveries_status_and_replay_show_what_was_sent_and_what_died(h: Harness) -> None:
    ok(h, "run", "--once")  # the baseline
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Chemistry")
    asha = inst.add_user(name="Asha Verma", email="asha@school.example")
    ravi = inst.add_user(name="Ravi Kumar", email="ravi@school.example")
    for user in (asha, ravi):
        inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    h.webhook.script([410])  # the first send is refused for good: dead
    ok(h, "run", "--once")

    listed = json.loads(ok(h, "deliveries", "--json"))
    assert [set(d) for d in listed] == [KEYS, KEYS]
    assert {d["student"] for d in listed} == {"Asha Verma", "Ravi Kumar"}
    assert [d["created_at"] for d in listed] == sorted(
        (d["created_at"] for d in listed), reverse=True
    )
    dead = [d for d in listed if d["status"] == "dead"]
    sent = [d for d in listed if d["status"] == "sent"]
    assert len(dead) == 1 and len(sent) == 1
    assert dead[0]["tries"] == 1 and "410" in dead[0]["last_error"] and dead[0]["sent_at"] is None
    assert sent[0]["tries"] == 1 and sent[0]["last_error"] is None and sent[0]["sent_at"]
    assert all(d["rule"] == "failed-exam" and d["channel"] == "lms" for d in listed)

    def ids(*args: str) -> list[str]:
        return [d["id"] for d in json.loads(ok(h, "deliveries", "--json", *args))]

    assert ids("--status", "dead") == [dead[0]["id"]]
    assert ids("--status", "sent", "--rule", "failed-exam", "--channel", "lms") == [sent[0]["id"]]
    assert ids("--status", "muted") == [] and ids("--status", "retrying") == []
    assert ids("--channel", "office") == [] and ids("--rule", "other") == []
    assert ids("--limit", "1") == [listed[0]["id"]]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    assert ids("--since", tomorrow) == []
    assert len(ids("--since", (date.today() - timedelta(days=1)).isoformat())) == 2

    table = ok(h, "deliveries")
    assert table.splitlines()[0].split() == [
        "ID", "RULE", "CHANNEL", "STUDENT", "STATUS", "TRIES", "QUEUED", "SENT", "ERROR",
    ]  # fmt: skip
    assert dead[0]["id"] in table and "Asha Verma" in table and "Ravi Kumar" in table
    assert h.notifier("deliveries", "--status", "lost").returncode == 2

    text = ok(h, "status")
    assert text.splitlines()[0] == "notifier: not running on this store"
    assert f"  dead {dead[0]['id']} (failed-exam -> lms, {dead[0]['student']}): " in text
    assert "see `notifier deliveries --status dead`" in text
    report = json.loads(ok(h, "status", "--json"))
    assert report["running"] is False
    assert [d["id"] for d in report["dead_latest"]] == [dead[0]["id"]]

    done = h.notifier("replay", dead[0]["id"], "msg_nosuchdelivery", sent[0]["id"])
    assert done.returncode == 1
    assert done.stdout == "1 dead deliveries queued again\n"
    assert done.stderr == (
        "notifier: no delivery msg_nosuchdelivery: nothing replayed\n"
        f"notifier: delivery {sent[0]['id']} is sent, not dead nor muted: nothing replayed\n"
    )
    assert ids("--status", "queued") == [dead[0]["id"]]
    ok(h, "run", "--once")
    assert ids("--status", "sent") != [] and ids("--status", "dead") == []
    assert json.loads(ok(h, "status", "--json"))["dead_latest"] == []


def test_status_says_a_notifier_is_running_on_the_store(h: Harness) -> None:
    h.extra_env["NOTIFIER_POLL_INTERVAL"] = "0.5"
    service = h.start()
    try:
        deadline = time.monotonic() + 30
        report: dict[str, object] = {}
        while time.monotonic() < deadline:  # until it has started (a condition, not a time)
            done = h.notifier("status", "--json")
            report = json.loads(done.stdout) if done.returncode == 0 else {}
            if report.get("running"):
                break
        assert report.get("running") is True
        assert ok(h, "status").startswith("notifier: running on this store")
    finally:
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=30) == 0
    assert json.loads(ok(h, "status", "--json"))["running"] is False


BOTH_SOURCES = (
    WEBHOOK_RULES
    + """
  - name: quiz-done
    event: content_attempt.completed
    notify: [lms]
"""
)


def test_a_source_error_clears_when_read_again_or_when_no_rule_uses_it(h: Harness) -> None:
    h.write_rules(BOTH_SOURCES)
    good = h.env()
    h.extra_env.update({"TESTPRESS_TOKEN": "not-a-valid-token-1a2b", "TESTPRESS_USERNAME": ""})
    assert h.notifier("run", "--once").returncode == 1
    sources = json.loads(ok(h, "status", "--json"))["sources"]
    assert "401" in sources["attempts"]["last_error"]
    assert "401" in sources["content_attempts"]["last_error"]

    h.write_rules(WEBHOOK_RULES)  # no rule uses content attempts now
    sources = json.loads(ok(h, "status", "--json"))["sources"]  # none runs: as the file says
    assert sources["content_attempts"]["last_error"] is None
    assert "401" in sources["attempts"]["last_error"]

    h.extra_env = {"NOTIFIER_DB": good["NOTIFIER_DB"]}  # the good login again
    ok(h, "run", "--once")
    sources = json.loads(ok(h, "status", "--json"))["sources"]
    assert sources["attempts"]["last_error"] is None  # read again
    assert sources["content_attempts"]["last_error"] is None  # cleared in the store
    assert "error:" not in ok(h, "status")
