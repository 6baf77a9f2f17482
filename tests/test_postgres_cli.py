"""The commands on a PostgreSQL store (contract section 12): `run --once`, `status`,
`replay` and `check` work as on SQLite, and the URL's password never shows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e import WEBHOOK_RULES, Harness, open_harness

RULES = WEBHOOK_RULES


@pytest.fixture
def h(tmp_path: Path, pg_url: str) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=3, rules=RULES, extra_env={"NOTIFIER_DB": pg_url}) as harness:
        yield harness


def test_run_status_replay_and_check_work_on_postgres_without_showing_the_password(
    h: Harness, pg_url: str
) -> None:
    password = urlsplit(pg_url).password or ""
    outputs = []

    def notifier(*args: str) -> str:
        done = h.notifier(*args)
        outputs.append(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    notifier("run", "--once")  # the baseline, on a fresh database (schema created)
    inst = h.sandbox.institute
    exam, user = inst.add_exam(title="Chemistry"), inst.add_user(name="Ravi", email="r@s.example")
    attempt = inst.start_attempt(exam, user)
    inst.complete_attempt(attempt, result="Fail", score=3.0)
    h.webhook.script([410])  # the first send is refused for good: dead
    notifier("run", "--once")
    status = json.loads(notifier("status", "--json"))
    assert status["deliveries"] == {"queued": 0, "retrying": 0, "dead": 1, "sent": 0, "muted": 0}
    assert status["sources"]["attempts"]["last_error"] is None
    assert status["replicas"] == {"live": [], "poller": None}  # none runs now
    assert "rules.yaml" in status["rules"]["path"]
    assert "1 dead" in notifier("status")
    assert "1 dead deliveries queued again" in notifier("replay", "--all")
    notifier("run", "--once")
    assert json.loads(notifier("status", "--json"))["deliveries"]["sent"] == 1
    assert [r.json["alerts"][0]["key"] for r in h.webhook.received if r.status < 300] == [
        str(attempt)
    ]
    notifier("check")
    assert all(password not in text for text in outputs)


def test_a_wrong_password_or_a_url_without_database_is_a_located_configuration_error(
    h: Harness, pg_url: str
) -> None:
    password = urlsplit(pg_url).password or ""
    h.extra_env["NOTIFIER_DB"] = pg_url.replace(password, "wrong-secret-123")
    done = h.notifier("run", "--once")
    assert done.returncode == 2
    assert done.stderr.startswith("NOTIFIER_DB: cannot open the state store")
    assert "wrong-secret-123" not in done.stderr and password not in done.stderr
    assert "Traceback" not in done.stderr
    h.extra_env["NOTIFIER_DB"] = "postgresql://u:pw-secret-9@127.0.0.1:5432"
    done = h.notifier("status")
    assert done.returncode == 2 and "NOTIFIER_DB: " in done.stderr
    assert "must name the database" in done.stderr and "pw-secret-9" not in done.stderr
