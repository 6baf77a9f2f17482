"""Each try of a delivery (issue 20 part 3: an alert's page shows "each try with its
time, answer and error"): kept in `outbox_tries` with the outcome's write, shown on the
alert's page oldest first, forgotten with its outbox row, and added to a schema-10 store
in place. Both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from notifier.console.passwords import hash_password
from notifier.state import NewDelivery, Store, open_store
from notifier.state.migrations import SCHEMA_VERSION
from tests.console_kit import PASSWORD, sign_in
from tests.inprocess import Rig, rig
from tests.kit import downgrade_and_close

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook]
"""

KOLKATA = ZoneInfo("Asia/Kolkata")
TRY_ROW = re.compile(
    r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td></tr>"
)


@pytest.fixture
def running(tmp_path: Path, db: str) -> Iterator[Rig]:
    with rig(tmp_path, RULES, db=db, NOTIFIER_CONSOLE_ADDR="127.0.0.1:0") as r:
        assert r.cycle().sources_ok  # the baseline
        yield r


def test_an_alert_page_lists_each_try_with_the_receivers_answer(running: Rig) -> None:
    inst = running.sandbox.institute
    exam, user = inst.add_exam(title="Organic Chemistry"), inst.add_user(name="Asha Verma")
    running.webhook.script([503, 200])  # busy, then taken
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    running.cycle()
    running.clock.advance(120)  # past the retry's backoff
    running.cycle()
    statuses = [r.status for r in running.webhook.received]
    assert statuses == [503, 200]
    delivery = running.webhook.received[-1].json["id"]
    tries = running.store.console.tries(delivery)
    running.store.users.add("vera", "viewer", hash_password(PASSWORD), running.clock())
    assert running.console_url
    with httpx.Client(base_url=running.console_url, timeout=10) as client:
        assert sign_in(client, "vera").status_code == 303
        page = client.get(f"/alerts/{delivery}")
    assert page.status_code == 200
    rows = TRY_ROW.findall(page.text)
    assert [(n, outcome, answer) for n, _, outcome, answer, _ in rows] == [
        ("1", "retry", "503"),
        ("2", "sent", "200"),
    ]  # newest last
    assert "HTTP 503" in rows[0][4] and rows[1][4] == ""  # the error; none when sent
    # each try's own time, in the console's zone (NOTIFIER_TIMEZONE's default)
    assert [at for _, at, _, _, _ in rows] == [
        datetime.fromtimestamp(t["at"], KOLKATA).strftime("%Y-%m-%d %H:%M IST") for t in tries
    ]
    assert tries[1]["at"] - tries[0]["at"] >= 120
    assert "not every try" not in page.text


def _queued(store: Store, *keys: int) -> list[str]:
    rows = [
        NewDelivery(
            "failed-exam",
            "lms",
            "attempt.completed",
            str(k),
            [{"event": "attempt.completed", "key": str(k), "data": {"id": k}, "reasons": []}],
        )
        for k in keys
    ]
    store.seen.record("attempts", [], rows, now=1000.0)
    return [r.id for r in rows]


def test_tries_are_numbered_on_across_a_replay_and_pruned_with_their_row(store: Store) -> None:
    old, young = _queued(store, 1, 2)
    store.outbox.mark_failed(old, now=1001.0, next_at=None, error="HTTP 410", answer="410")
    assert store.outbox.replay([old], now=1002.0) == 1
    store.outbox.mark_sent([old], 1003.0, answer="200")
    store.outbox.mark_failed_many([young], now=5000.0, next_at=5005.0, error="timeout", answer="")
    assert [
        (t["number"], t["outcome"], t["answer"], t["error"]) for t in store.console.tries(old)
    ] == [
        (1, "dead", "410", "HTTP 410"),
        (2, "sent", "200", None),
    ]
    store.outbox.mark_failed_many([young], now=5006.0, next_at=None, error="HTTP 404")
    pruned = store.meta.prune(seen_before=0.0, sent_before=2000.0, dead_before=2000.0)
    assert pruned["sent"] == 1 and pruned["dead"] == 0  # the young dead row stays
    assert store.console.tries(old) == []
    assert [t["outcome"] for t in store.console.tries(young)] == ["retry", "dead"]


def test_a_store_of_schema_10_gains_the_tries_table_in_place(db: str) -> None:
    store = open_store(db)
    [delivery] = _queued(store, 7)
    downgrade_and_close(
        store,
        [
            # every row in `outbox_group` again (14)
            "DROP INDEX outbox_group",
            "CREATE INDEX outbox_group ON outbox (rule, channel, group_key, status)",
            # the outbox's student columns (13)
            *(f"DROP INDEX IF EXISTS {i}" for i in ("outbox_user", "outbox_mail")),
            *(f"ALTER TABLE outbox DROP COLUMN {c}" for c in ("user_id", "email")),
            "DROP TABLE outbox_tries",
            "ALTER TABLE rules_versions DROP COLUMN tests",  # (12)
            "UPDATE meta SET value = '10' WHERE key = 'schema_version'",
        ],
    )
    store = open_store(db)
    try:
        assert SCHEMA_VERSION >= 11
        assert store.meta.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert store.console.tries(delivery) == []  # the delivery is kept, with no tries
        store.outbox.mark_sent([delivery], 1001.0, answer="204")
        assert [t["answer"] for t in store.console.tries(delivery)] == ["204"]
    finally:
        store.close()
