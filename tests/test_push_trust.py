"""Only what is signed is trusted, and replays do not grow the store (contract section
10), over real HTTP into a real store (both backends), with the sandbox as Testpress:
its own code renders and signs the webhooks, and serves the admin API they are checked
against. The loop's processing is run by the test (`process_inbox`), so nothing waits
on time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from notifier.obs.metrics import Metrics
from notifier.sandbox.webhooks import (
    PRIVATE_KEY,
    PUBLIC_KEY,
    content_payload,
    exam_payload,
    sign_content,
    sign_exam,
)
from notifier.state import SqliteStore
from notifier.web.http import HttpServer
from notifier.web.push import InboxWriter, configure_push
from tests import loopback
from tests.inprocess import Rig, rig
from tests.kit import downgrade_and_close

EXAM = "/webhooks/testpress/exam"
CONTENT = "/webhooks/testpress/chapter-content"
# Only fields the exam webhook carries (and signs): before the fix, no detail was read.
LOW = """
rules:
  - name: low-score
    event: attempt.completed
    when: {percentage: {lt: 50}}
    notify: [hook]
"""
GRADED = """
rules:
  - name: graded
    event: content_attempt.completed
    when: {content_type: exam, result: {exists: true}}
    notify: [hook]
"""


@dataclass
class Pushed:
    r: Rig
    server: HttpServer
    writer: InboxWriter
    metrics: Metrics

    def post(self, path: str, body: dict[str, Any] | bytes) -> int:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return loopback.post(self.server.port, path, data)[0]

    def process(self) -> None:
        self.r.app.process_inbox()
        self.r.app.deliverer.run_pass()

    def rows(self) -> list[tuple[str, str]]:
        """Every inbox row, (status, body), read without claiming any (PostgreSQL's
        `inbox_pending` would lease them)."""
        sql = "SELECT status, body FROM inbox ORDER BY id"
        store: Any = self.r.store
        if isinstance(store, SqliteStore):
            return [(r[0], r[1]) for r in store.db.execute(sql).fetchall()]
        return [(r[0], r[1]) for r in store.db().execute(sql).fetchall()]

    def pending(self) -> list[str]:
        return [body for status, body in self.rows() if status == "pending"]

    def alerts(self) -> list[dict[str, Any]]:
        return self.r.alerts()


@contextmanager
def pushed(tmp_path: Path, rules: str, db: str) -> Iterator[Pushed]:
    """The rig (the real App on `db`) with its webhook endpoints on a real server."""
    keys = {
        "TESTPRESS_WEBHOOK_PUBLIC_KEY": PUBLIC_KEY,
        "TESTPRESS_WEBHOOK_PRIVATE_KEY": PRIVATE_KEY,
    }
    with rig(tmp_path, rules, db=db, **keys) as r:
        server = HttpServer("127.0.0.1:0")
        metrics = Metrics()
        writer = configure_push(server, r.app.settings, r.store, r.app.on_push, metrics)
        assert writer is not None
        server.start()
        try:
            yield Pushed(r, server, writer, metrics)
        finally:
            server.close()
            writer.close()


def signed_exam(p: Pushed, attempt_id: int) -> dict[str, Any]:
    return sign_exam(exam_payload(p.r.sandbox.institute, attempt_id), PUBLIC_KEY, PRIVATE_KEY)


def test_a_started_webhook_flipped_to_completed_alerts_nothing_and_hides_nothing(
    tmp_path: Path, db: str
) -> None:
    """The defect: the hash does not cover `attempt_state`, so a captured "started"
    body that says "completed" verifies. It is answered 200 (it is Testpress's own
    signature), confirmed against the API (still running), and marks nothing seen; the
    real completion then alerts once, by its own push, with its real score."""
    with pushed(tmp_path, LOW, db) as p:
        p.r.cycle()  # baseline
        inst = p.r.sandbox.institute
        aid = inst.start_attempt(1, 2)
        started = signed_exam(p, aid)
        assert started["attempt_state"] == "started"
        flipped = {**started, "attempt_state": "completed", "completed_on": "2026-01-01T00:00"}
        assert p.post(EXAM, flipped) == 200
        p.process()
        assert p.alerts() == []
        assert p.r.store.seen.unseen("attempts", [str(aid)]) == {str(aid)}  # not marked seen

        inst.complete_attempt(aid, result="Fail", percentage=35.0, score=7.0)
        real = signed_exam(p, aid)
        assert p.post(EXAM, real) == 200
        p.process()
        alerts = p.alerts()
        assert [a["key"] for a in alerts] == [str(aid)]
        assert alerts[0]["data"]["score"] == 7.0 and alerts[0]["data"]["percentage"] == 35.0
        assert alerts[0]["data"]["result"] == "Fail"  # from the detail
        p.r.cycle()  # the poll finds it seen
        assert p.post(EXAM, flipped) == 200  # and the replay, again, is nothing
        p.process()
        assert len(p.alerts()) == 1


def test_after_a_flipped_replay_the_poll_alone_alerts_once_with_the_real_figures(
    tmp_path: Path, db: str
) -> None:
    """The real completion's webhook is lost: the attempt the replay named is on the
    watch (it was running in the API), so the poll finds its completion."""
    with pushed(tmp_path, LOW, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        aid = inst.start_attempt(1, 3)
        flipped = {**signed_exam(p, aid), "attempt_state": "completed"}
        assert p.post(EXAM, flipped) == 200
        p.process()
        assert p.alerts() == []
        inst.complete_attempt(aid, result="Fail", percentage=20.0, score=4.0)
        p.r.cycle()
        alerts = p.alerts()
        assert [a["key"] for a in alerts] == [str(aid)]
        assert alerts[0]["data"]["score"] == 4.0


def test_an_alert_shows_the_apis_fields_never_the_unsigned_ones(tmp_path: Path, db: str) -> None:
    """Everything the hash leaves out is rewritten in transit; the alert shows what the
    API says: the exam's title, the student's name, the result."""
    with pushed(tmp_path, LOW, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        aid = inst.start_attempt(1, 2)
        inst.complete_attempt(aid, result="Fail", percentage=30.0)
        body = signed_exam(p, aid)
        forged = {
            **body,
            "username": "mallory",
            "email": "mallory@evil.example",
            "exam": {"id": 999, "title": "<!channel> Click here"},
            "completed_on": "1999-01-01T00:00:00Z",
            "speed": 1,
        }
        assert p.post(EXAM, forged) == 200
        p.process()
        data = p.alerts()[0]["data"]
        text = json.dumps(p.alerts()) + "".join(p.r.texts())
        assert "mallory" not in text and "Click here" not in text
        assert data["exam_id"] == 1 and data["exam_title"] == inst.exams[1].title
        assert data["result"] == "Fail" and data["username"] == inst.users[2].username


def test_a_content_webhooks_unsigned_assessment_is_never_shown(tmp_path: Path, db: str) -> None:
    """A content attempt's `assessment`, titles and names are not signed: the content
    attempt is read back from the API's list (filtered by the signed user and content)
    and the alert shows that row's result and title."""
    with pushed(tmp_path, GRADED, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        ca = inst.add_content_attempt(2, "assessment")
        inst.complete_content_attempt(ca, state="Evaluation Completed", percentage=30.0)
        body = sign_content(content_payload(inst, ca), PUBLIC_KEY, PRIVATE_KEY)
        assessment = dict(body.get("assessment") or {})
        forged = {
            **body,
            "assessment": {**assessment, "result": "Pass", "percentage": "99.00"},
            "chapter_content": {**body["chapter_content"], "title": "Forged title"},
            "course": {**body["course"], "title": "Forged course"},
        }
        assert p.post(CONTENT, forged) == 200
        p.process()
        (alert,) = p.alerts()
        assert alert["data"]["percentage"] == 30.0
        assert alert["data"]["result"] != "Pass"
        assert "Forged" not in json.dumps(alert)


def test_a_content_webhook_the_api_does_not_bear_out_marks_nothing(tmp_path: Path, db: str) -> None:
    """Signed as Completed, but the API has the attempt still pending evaluation (a
    body signed for another state can not be made; this one came early, say): nothing
    alerts and nothing is seen, so the poll alerts once it is final."""
    with pushed(tmp_path, GRADED, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        ca = inst.add_content_attempt(2, "assessment")
        inst.complete_content_attempt(ca, state="Evaluation Completed", percentage=30.0)
        body = sign_content(content_payload(inst, ca), PUBLIC_KEY, PRIVATE_KEY)
        inst.content_attempts[ca].state = "Pending Evaluation"  # the API says otherwise
        assert p.post(CONTENT, body) == 200
        p.process()
        assert p.alerts() == []
        assert p.r.store.seen.unseen("content_attempts", [str(ca)]) == {str(ca)}


def test_a_replayed_body_is_answered_200_and_not_stored_again(tmp_path: Path, db: str) -> None:
    with pushed(tmp_path, LOW, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        aid = inst.start_attempt(1, 2)
        inst.complete_attempt(aid, result="Fail", percentage=30.0)
        body = signed_exam(p, aid)
        for _ in range(5):
            assert p.post(EXAM, body) == 200
        # Its hash in capitals, its state padded: the same body, still one row.
        assert p.post(EXAM, {**body, "hash": body["hash"].upper()}) == 200
        assert p.post(EXAM, {**body, "attempt_state": " Completed "}) == 200
        assert len(p.pending()) == 1
        p.process()
        assert p.pending() == []
        for _ in range(5):
            assert p.post(EXAM, body) == 200  # after processing too
        assert len(p.rows()) == 1
        assert [a["key"] for a in p.alerts()] == [str(aid)]
        metrics = p.metrics.exposition()[0].decode()
        assert 'notifier_webhooks_total{endpoint="exam",status="200"} 12.0' in metrics


def test_a_padded_payload_is_stored_in_a_bounded_row(tmp_path: Path, db: str) -> None:
    """900 KiB of unsigned padding (in a field of its own and in the exam's title) is
    accepted, and what is stored is the signed values and the state."""
    with pushed(tmp_path, LOW, db) as p:
        p.r.cycle()
        inst = p.r.sandbox.institute
        aid = inst.start_attempt(1, 2)
        inst.complete_attempt(aid, result="Fail", percentage=30.0)
        body = signed_exam(p, aid)
        body["padding"] = "x" * (800 * 1024)
        body["exam"] = {**body["exam"], "title": "y" * (100 * 1024)}
        raw = json.dumps(body).encode()
        assert 900 * 1024 <= len(raw) <= 1024 * 1024
        assert p.post(EXAM, raw) == 200
        ((_, stored),) = p.rows()
        assert len(stored) < 512
        kept = json.loads(stored)
        assert kept["attempt_id"] == aid and kept["attempt_state"] == "completed"
        assert "padding" not in kept and "exam" not in kept
        p.process()
        assert [a["key"] for a in p.alerts()] == [str(aid)]


def test_a_store_of_schema_4_gains_the_received_keys_in_place(db: str) -> None:
    """An existing store (either backend) upgrades on open: its pending webhooks stay,
    and a replay is then recorded once."""
    from notifier.state import open_store
    from notifier.state.migrations import SCHEMA_VERSION

    store: Any = open_store(db)
    (old,) = store.inbox.inbox_add([("exam", '{"attempt_id": 1}')], 100.0)
    downgrade = [  # back to version 4: the console's tables and indexes (9), the
        # actions' (8), the received keys' table (5), the faults (6)
        # every row in `outbox_group` again (14)
        "DROP INDEX outbox_group",
        "CREATE INDEX outbox_group ON outbox (rule, channel, group_key, status)",
        # the outbox's student columns and their indexes (13)
        *(f"DROP INDEX IF EXISTS {i}" for i in ("outbox_user", "outbox_mail")),
        *(f"ALTER TABLE outbox DROP COLUMN {c}" for c in ("user_id", "email")),
        "DROP TABLE IF EXISTS outbox_tries",  # each delivery's tries (11)
        "ALTER TABLE rules_versions DROP COLUMN tests",  # the tests beside a version (12)
        "DROP TABLE IF EXISTS rules_versions",  # the rules' versions (10)
        *(f"DROP TABLE IF EXISTS {t}" for t in ("users", "sessions")),
        *(f"DROP TABLE IF EXISTS {t}" for t in ("mutes", "follow_ups", "message_rows", "audit")),
        *(
            f"DROP INDEX IF EXISTS {i}"
            for i in ("outbox_created", "outbox_student", "outbox_email", "history_subject")
        ),
        "DROP INDEX IF EXISTS outbox_message_ref",
        "ALTER TABLE outbox DROP COLUMN mute_id",
        "DROP TABLE inbox_received",
        "DROP TABLE record_faults",
        "ALTER TABLE outbox DROP COLUMN faults",
        "ALTER TABLE outbox DROP COLUMN message_ref",  # and the message's id (7)
        "UPDATE meta SET value = '4' WHERE key = 'schema_version'",
    ]
    downgrade_and_close(store, downgrade)
    store = open_store(db)
    try:
        assert store.meta.get_meta("schema_version") == str(SCHEMA_VERSION)
        items = [("exam", "2:completed:ab", '{"attempt_id": 2}')] * 2
        (new,) = store.inbox.inbox_receive(items, 101.0)
        assert store.inbox.inbox_receive(items[:1], 102.0) == []
        assert [r.id for r in store.inbox.inbox_pending(200.0)] == [old, new]
        assert store.inbox.inbox_prune_received(101.5) == 1
        assert len(store.inbox.inbox_receive(items[:1], 103.0)) == 1  # forgotten: stored again
    finally:
        store.close()
