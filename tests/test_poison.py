"""No poison (contract section 7): odd text from Testpress (NUL, lone surrogates, other
controls: valid JSON escapes) is delivered with U+FFFD in its place on either store,
by poll and by push; and a row that fails in processing (an inbox row, an outbox row,
a polled record) is retried with backoff, then set aside as dead with its error, while
its neighbours go through; `notifier status` and `/metrics` show it.

Everything over real HTTP (the sandbox institute, the push endpoint, a webhook
receiver) and a real store on both backends; time moves by the rig's clock."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from notifier.commands.status import status_report
from notifier.sandbox.webhooks import PRIVATE_KEY, PUBLIC_KEY, exam_payload, sign_exam
from notifier.state import FAULT_TRIES
from notifier.web.http import HttpServer, Limits
from notifier.web.push import configure_push
from notifier.web.service import add_service_routes
from tests import loopback
from tests.inprocess import Rig, rig

ANY = """
rules:
  - name: any-score
    event: attempt.completed
    when: {percentage: {gte: 0}}
    notify: [hook]
"""
ODD = "Ra\u0000vi\ud800 K\x07"  # what Testpress may send as JSON escapes
SAFE = "Ra\ufffdvi\ufffd K\ufffd"
TITLE_ODD, TITLE_SAFE = "Phy\u0000sics \ud800Mock", "Phy\ufffdsics \ufffdMock"


def odd_user_and_exam(r: Rig) -> tuple[int, int]:
    inst = r.sandbox.institute
    uid, eid = sorted(inst.users)[0], sorted(inst.exams)[0]
    inst.users[uid].first_name, inst.users[uid].last_name = ODD, ""
    inst.exams[eid].title = TITLE_ODD
    return uid, eid


def completed(r: Rig, user: int, exam: int) -> int:
    inst = r.sandbox.institute
    aid = inst.start_attempt(user, exam)
    inst.complete_attempt(aid, result="Fail")
    return aid


@contextlib.contextmanager
def endpoint(r: Rig) -> Iterator[tuple[int, threading.Event]]:
    """The push endpoint and /metrics of the rig's app, on a real HTTP server."""
    woken = threading.Event()
    config = r.app.settings.model_copy(
        update={
            "testpress_webhook_public_key": PUBLIC_KEY,
            "testpress_webhook_private_key": SecretStr(PRIVATE_KEY),
        }
    )
    server = HttpServer("127.0.0.1:0", Limits(request_timeout=5.0))
    assert r.app.liveness is not None
    add_service_routes(server, r.app.liveness, r.app.metrics)
    writer = configure_push(server, config, r.store, woken.set, r.app.metrics)
    assert writer is not None
    server.start()
    try:
        yield server.port, woken
    finally:
        server.close()
        writer.close()


def post(port: int, body: bytes) -> int:
    return loopback.post(port, "/webhooks/testpress/exam", body)[0]


def metrics(port: int) -> str:
    return loopback.get(port, "/metrics")[1]


def poisoned_metric(text: str, table: str) -> float:
    prefix = f'notifier_poisoned_rows{{table="{table}"}} '
    return next(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


# -- odd text ------------------------------------------------------------------------------


def test_a_poll_with_nul_and_a_lone_surrogate_alerts_with_replacements(
    tmp_path: Path, db: str
) -> None:
    """Before: on PostgreSQL the cycle's record raised (NUL in text) every cycle, and
    the other attempts of the batch never alerted; on SQLite the webhook channel could
    not encode the surrogate."""
    with rig(tmp_path, ANY, db=db) as r:
        r.cycle()  # baseline
        uid, eid = odd_user_and_exam(r)
        others = sorted(u for u in r.sandbox.institute.users if u != uid)[:2]
        aids = [completed(r, uid, eid)] + [completed(r, u, eid) for u in others]
        result = r.cycle()
        assert result.sources_ok, result.failed
        alerts = {a["key"]: a["data"] for a in r.alerts()}
        assert sorted(alerts) == sorted(str(a) for a in aids)  # the whole batch alerted
        odd = alerts[str(aids[0])]
        assert odd["student"] == SAFE
        assert odd["exam_title"] == TITLE_SAFE
        for data in alerts.values():
            text = json.dumps(data, ensure_ascii=False)
            assert "\x00" not in text and "\ud800" not in text.encode("utf-8", "replace").decode()
        r.cycle()
        assert len(r.alerts()) == 3  # recorded once: nothing failed, nothing again


def test_a_pushed_webhook_with_odd_text_is_recorded_and_alerts(tmp_path: Path, db: str) -> None:
    with rig(tmp_path, ANY, db=db) as r, endpoint(r) as (port, woken):
        r.cycle()
        uid, eid = odd_user_and_exam(r)
        aid = completed(r, uid, eid)
        payload = exam_payload(r.sandbox.institute, aid)
        payload["username"] = "user\u0000\ud800"
        body = json.dumps(sign_exam(payload, PUBLIC_KEY, PRIVATE_KEY)).encode()
        assert b"\\u0000" in body and b"\\ud800" in body  # escapes, as Testpress may send
        assert post(port, body) == 200
        assert woken.wait(10)
        r.app.process_inbox()
        r.app.deliverer.run_pass()
        [alert] = r.alerts()
        assert alert["key"] == str(aid)
        assert alert["data"]["exam_title"] == TITLE_SAFE
        assert alert["data"]["student"] == SAFE  # the API's odd name, made safe
        # The pushed username is not signed: the alert shows the API's, not the payload's.
        assert "\ufffd" not in alert["data"]["username"]
        assert r.store.inbox.inbox_pending(r.clock() + 10**6) == []


# -- rows that fail in processing -----------------------------------------------------------


def run_status(tmp_path: Path, db: str) -> str:
    env = {"NOTIFIER_DB": db, "TESTPRESS_BASE_URL": "http://127.0.0.1:9", "TESTPRESS_TOKEN": "t"}
    (tmp_path / "rules.yaml").write_text("channels: {}\nrules: []\n")
    done = subprocess.run(
        [sys.executable, "-m", "notifier", "status"],
        cwd=tmp_path,
        env={**env, "PATH": "/usr/bin:/bin", "NOTIFIER_RULES": str(tmp_path / "rules.yaml")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_inbox_row_that_fails_is_retried_then_dead_and_its_neighbours_alert(
    tmp_path: Path, db: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: a row that raised took its batch with it, each time (on PostgreSQL every
    two minutes, the claim's lease), and the good pushes beside it never alerted."""
    caplog.set_level("WARNING", logger="notifier.runtime.intake")
    with rig(tmp_path, ANY, db=db) as r, endpoint(r) as (port, _):
        r.cycle()
        inst = r.sandbox.institute
        aids = [completed(r, u, sorted(inst.exams)[0]) for u in sorted(inst.users)[:2]]
        first = sign_exam(exam_payload(inst, aids[0]), PUBLIC_KEY, PRIVATE_KEY)
        second = sign_exam(exam_payload(inst, aids[1]), PUBLIC_KEY, PRIVATE_KEY)
        ids = r.store.inbox.inbox_add(
            [("exam", json.dumps(first)), ("exam", "{not json"), ("exam", json.dumps(second))],
            r.clock(),
        )
        r.app.process_inbox()
        r.app.deliverer.run_pass()
        assert sorted(a["key"] for a in r.alerts()) == sorted(str(a) for a in aids)
        bad = ids[1]
        assert failures(caplog, bad) == [1]
        for tries in range(2, FAULT_TRIES + 1):
            r.app.process_inbox()
            assert len(failures(caplog, bad)) == tries - 1  # backing off: not at once
            r.clock.advance(30 * 2 ** (tries - 2))
            r.app.process_inbox()
            assert len(failures(caplog, bad)) == tries
        assert "set aside as dead after 5 failed tries" in caplog.text
        r.clock.advance(10**5)
        assert r.store.inbox.inbox_pending(r.clock()) == []  # never tried again
        r.cycle()  # refreshes the gauges
        assert poisoned_metric(metrics(port), "inbox") == 1
        report = status_report(r.app.settings)
        assert report["poisoned"]["counts"] == {"inbox": 1, "outbox": 0, "records": 0}
        [row] = report["poisoned"]["rows"]
        assert row["table"] == "inbox" and row["tries"] == FAULT_TRIES
        assert "JSONDecodeError" in row["error"]
        assert len(r.alerts()) == 2
    text = run_status(tmp_path, db)
    assert "poisoned (set aside after failing in processing): 1 inbox, 0 outbox, 0 records" in text
    assert f"inbox exam {bad}: {FAULT_TRIES} tries" in text


def failures(caplog: pytest.LogCaptureFixture, row: int) -> list[int]:
    """The tries of inbox row `row` logged as failed (the last one as set aside)."""
    out = []
    for record in caplog.records:
        text = record.getMessage()
        if text.startswith(f"pushed webhook {row} failed in processing (try "):
            out.append(int(text.split("(try ")[1].split(")")[0]))
        elif text.startswith(f"pushed webhook {row} set aside as dead"):
            out.append(FAULT_TRIES)
    return out


def test_a_delivery_whose_rendering_raises_is_dead_after_a_few_tries(
    tmp_path: Path, db: str
) -> None:
    """Before: a rendering that raised was retried as a channel error for
    NOTIFIER_RETRY_MAX_HOURS. Now: FAULT_TRIES tries, then dead with its error, while
    the other deliveries of the channel are sent."""
    with rig(tmp_path, ANY, db=db) as r, endpoint(r) as (port, _):
        r.cycle()
        inst = r.sandbox.institute
        aids = [completed(r, u, sorted(inst.exams)[0]) for u in sorted(inst.users)[:3]]
        channel = r.app.deliverer.channels["hook"]
        poisoned = str(aids[1])

        class Fragile:
            """The webhook channel, whose sending of one alert raises."""

            message_type = channel.message_type

            def send(self, message: Any) -> Any:
                if any(a["key"] == poisoned for a in message.body["alerts"]):
                    raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
                return channel.send(message)

            def close(self) -> None:
                channel.close()

        r.app.deliverer.set_channels({"hook": Fragile(), "slack": r.app.channels["slack"]})
        r.cycle()
        assert sorted(a["key"] for a in r.alerts()) == sorted(
            str(a) for a in aids if str(a) != poisoned
        )
        for _ in range(FAULT_TRIES - 1):
            r.clock.advance(3600)
            r.app.deliverer.run_pass()
        counts = r.store.outbox.delivery_counts()
        assert counts["dead"] == 1 and counts["sent"] == 2, counts
        [dead] = list(r.store.outbox.deliveries("dead"))
        assert "UnicodeEncodeError" in str(dead["last_error"])
        r.cycle()
        assert poisoned_metric(metrics(port), "outbox") == 1
        assert r.store.faults.poisoned_counts()["outbox"] == 1
        assert r.store.outbox.replay(None, r.clock()) == 1  # replay gives it a fresh count
        assert r.store.faults.poisoned_counts()["outbox"] == 0


def test_a_record_that_fails_is_retried_then_set_aside_while_the_rest_alerts(
    tmp_path: Path, db: str
) -> None:
    """A polled record whose recording raises (here: its rule's planning) fails alone:
    the other attempts of the batch alert at once; it is tried again after its backoff
    and set aside as dead after FAULT_TRIES."""
    with rig(tmp_path, ANY, db=db) as r, endpoint(r) as (port, _):
        r.cycle()
        inst = r.sandbox.institute
        aids = [completed(r, u, sorted(inst.exams)[0]) for u in sorted(inst.users)[:3]]
        poisoned = str(aids[0])
        plan = r.app._deliveries
        tries: list[float] = []

        def fragile(matches: list[Any], now: float, result: Any = None) -> Any:
            if any(m.event.key == poisoned for m in matches):
                tries.append(now)
                raise ValueError("a value no store can hold")
            return plan(matches, now, result)

        r.app._deliveries = fragile  # type: ignore[method-assign]
        r.cycle()
        assert sorted(a["key"] for a in r.alerts()) == sorted(str(a) for a in aids[1:])
        assert len(tries) == 2  # the batch, then the record alone
        r.cycle()
        assert len(tries) == 2  # backing off: not tried again at once
        for _ in range(FAULT_TRIES - 1):
            r.clock.advance(3600)
            r.cycle()
        assert len(tries) == FAULT_TRIES + 1
        r.clock.advance(3600)
        r.cycle()
        assert len(tries) == FAULT_TRIES + 1  # dead: never tried again
        assert poisoned_metric(metrics(port), "records") == 1
        [row] = r.store.faults.poisoned()
        assert row["table"] == "records" and row["id"] == f"attempts {poisoned}"
        assert "ValueError: a value no store can hold" in row["error"]
        assert len(r.alerts()) == 2


def test_a_store_outage_is_never_counted_against_a_record(store: Any) -> None:
    """A locked or unreachable store fails the cycle as before; no record is blamed."""
    import sqlite3

    from notifier.events import Event
    from notifier.runtime.poison import commit_isolated
    from notifier.sources.base import PollResult

    polled = PollResult(events=[Event("attempt.completed", k, {}) for k in ("1", "2")])
    polled.seen = ["1", "2"]

    def commit(part: PollResult) -> int:
        raise sqlite3.OperationalError("database is locked")

    with pytest.raises(sqlite3.OperationalError):
        commit_isolated(store, "attempts", polled, commit, 1000.0)
    assert store.faults.record_faults("attempts", ["1", "2"]) == {}
