"""Refused webhooks are logged at most a few lines a minute, then summarised once a
minute, and every one is still counted on `/metrics` (contract section 10). The clock
and the end-of-minute timer are the test's: nothing sleeps."""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from notifier.obs.metrics import Metrics
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.web.http import HttpServer
from notifier.web.push import configure_push
from notifier.web.refusals import RefusalLog
from tests.test_push_endpoints import EXAM, PRIVATE, PUBLIC, exam

LOGGER = "notifier.test.refusals"


class ManualTime:
    """The injected clock, and the timer: `schedule` keeps what is due, `advance` runs
    it once its time has come."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.due: list[tuple[float, Callable[[], None]]] = []

    def __call__(self) -> float:
        return self.now

    def schedule(self, delay: float, action: Callable[[], None]) -> None:
        self.due.append((self.now + delay, action))

    def advance(self, seconds: float) -> None:
        self.now += seconds
        ready = [a for at, a in self.due if at <= self.now]
        self.due = [(at, a) for at, a in self.due if at > self.now]
        for action in ready:
            action()


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_a_few_lines_a_minute_then_one_summary(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LOGGER)
    t = ManualTime()
    refusals = RefusalLog(logging.getLogger(LOGGER), lines=3, clock=t, schedule=t.schedule)
    for i in range(10):
        refusals.refused(EXAM, "10.0.0.9", "hash does not verify" if i % 3 else "not JSON")
        t.advance(1)
    assert lines(caplog) == [
        f"refused a webhook on {EXAM} from 10.0.0.9: not JSON",
        f"refused a webhook on {EXAM} from 10.0.0.9: hash does not verify",
        f"refused a webhook on {EXAM} from 10.0.0.9: hash does not verify",
    ]
    t.advance(49)  # the minute began at 1000: 1059 now, not yet over
    assert len(lines(caplog)) == 3
    t.advance(1.5)
    assert lines(caplog)[3:] == [
        "7 more webhooks refused in the last minute: hash does not verify (4), not JSON (3)"
    ]
    # A new minute: a few lines again, and no summary when none was held back.
    refusals.refused(EXAM, "10.0.0.9", "not JSON")
    t.advance(120)
    assert lines(caplog)[4:] == [f"refused a webhook on {EXAM} from 10.0.0.9: not JSON"]
    assert t.due == []


def test_a_refusal_after_a_quiet_minute_summarises_the_last_one_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Should the timer not have run, the next refusal closes the minute that ended."""
    caplog.set_level(logging.WARNING, logger=LOGGER)
    t = ManualTime()
    refusals = RefusalLog(logging.getLogger(LOGGER), lines=1, clock=t, schedule=lambda d, a: None)
    refusals.refused(EXAM, "c", "a")
    refusals.refused(EXAM, "c", "b")
    t.now += 61
    refusals.refused(EXAM, "c", "a")
    assert lines(caplog) == [
        f"refused a webhook on {EXAM} from c: a",
        "1 more webhooks refused in the last minute: b (1)",
        f"refused a webhook on {EXAM} from c: a",
    ]


def test_over_http_a_flood_of_refusals_logs_a_few_lines_and_counts_every_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    config = Settings(  # type: ignore[call-arg]
        _env_file=None,
        NOTIFIER_DB=str(tmp_path / "n.db"),
        TESTPRESS_WEBHOOK_PUBLIC_KEY=PUBLIC,
        TESTPRESS_WEBHOOK_PRIVATE_KEY=PRIVATE,
    )
    store = SqliteStore(config.db_path)
    metrics = Metrics()
    t = ManualTime()
    refusals = RefusalLog(logging.getLogger(LOGGER), clock=t, schedule=t.schedule)
    server = HttpServer("127.0.0.1:0")
    writer = configure_push(
        server, config, store, threading.Event().set, metrics, refusals=refusals
    )
    assert writer is not None
    server.start()
    forged = json.dumps({**exam(), "hash": "0" * 128})
    try:
        for body in [forged] * 40 + ["[1]"] * 10:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            conn.request("POST", EXAM, body, {"Content-Type": "application/json"})
            status = conn.getresponse().status
            conn.close()
            assert status in (400, 401)
        t.advance(61)  # the minute is over: its timer runs
    finally:
        server.close()
        writer.close()
        store.close()
    got = lines(caplog)
    assert len(got) == 6
    assert all(line.startswith(f"refused a webhook on {EXAM} from 127.0.0.1") for line in got[:5])
    assert got[5] == (
        "45 more webhooks refused in the last minute: "
        "hash does not verify (35), the body is not a JSON object (10)"
    )
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert PRIVATE not in text and "0" * 128 not in text
    exposition = metrics.exposition()[0].decode()
    assert 'notifier_webhooks_total{endpoint="exam",status="401"} 40.0' in exposition
    assert 'notifier_webhooks_total{endpoint="exam",status="400"} 10.0' in exposition
