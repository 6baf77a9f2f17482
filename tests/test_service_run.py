"""`notifier run` as a service, as a process: NOTIFIER_HTTP_ADDR serves the endpoints,
NOTIFIER_LOG_FORMAT=json gives one parseable object a line on standard error (never a
secret), and a port that cannot be bound is a configuration problem naming the
variable."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from datetime import UTC, datetime, timedelta

from notifier.sandbox.standins import free_port
from tests.e2e import Harness
from tests.loopback import get
from tests.waiting import wait_until


def _ready(port: int) -> bool:
    try:
        return get(port, "/readyz")[0] == 200
    except OSError:
        return False


def _wait_ready(port: int, proc: subprocess.Popen[str]) -> None:
    wait_until(lambda: proc.poll() is not None or _ready(port), message="/readyz to answer 200")
    assert proc.poll() is None, proc.communicate()[1]


def test_run_serves_the_endpoints_and_logs_json_lines(h: Harness) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Physics Mock")
    asha = inst.add_user(name="Asha Verma", email="asha@school.example")
    port = free_port()
    h.extra_env = {
        "NOTIFIER_HTTP_ADDR": f"127.0.0.1:{port}",
        "NOTIFIER_LOG_FORMAT": "json",
        "NOTIFIER_LOG_LEVEL": "debug",  # the per-delivery lines are DEBUG
        "NOTIFIER_POLL_INTERVAL": "0.3",
    }
    proc = h.start()
    try:
        _wait_ready(port, proc)
        status, body = get(port, "/healthz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        now = datetime.now(UTC)
        attempt = inst.start_attempt(exam, asha, started_at=now - timedelta(minutes=20))
        inst.complete_attempt(attempt, result="Fail", completed_at=now)
        wait_until(lambda: h.webhook.received, message="the alert")
        # The receiver records the request as it arrives, before the notifier has its
        # answer and counts the send: wait for the count, not for the arrival.
        sent = 'notifier_deliveries_total{channel="lms",outcome="sent"} 1.0'

        def counted() -> tuple[int, str] | None:
            answer = get(port, "/metrics")
            return answer if answer[0] != 200 or sent in answer[1] else None

        status, text = wait_until(counted, message="the send counted on /metrics")
        assert status == 200
        assert sent in text
        assert "notifier_cycles_total" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err

    lines = [json.loads(line) for line in err.splitlines()]  # each line alone
    assert lines and all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert all(datetime.fromisoformat(e["time"]).tzinfo is not None for e in lines)
    messages = [e["message"] for e in lines]
    assert any(m.startswith("serving HTTP on http://127.0.0.1:") for m in messages)
    cycles = [e for e in lines if e["message"].startswith("cycle finished in ")]
    assert any(e["cycle"]["sent"] >= 1 for e in cycles)  # the counts as fields too
    busy = [e for e in cycles if e["cycle"]["events"] or e["cycle"]["sent"]]
    assert busy and all(e["level"] == "INFO" for e in busy)
    quiet = [e for e in cycles if not any(e["cycle"][k] for k in ("events", "queued", "sent"))]
    assert quiet and all(e["level"] == "DEBUG" for e in quiet)  # a cycle of nothing: DEBUG
    sent = [e for e in lines if e.get("outcome") == "sent"]
    assert {(e["rule"], e["channel"]) for e in sent} >= {("failed-exam", "lms")}
    assert {e["level"] for e in sent} == {"DEBUG"}  # one a delivery: not at INFO
    for secret in (h.sandbox.password, "xoxb-e2e-token", "dGVzdC1zaWduaW5nLXNlY3JldC1mb3I"):
        assert secret not in err


def test_a_port_that_cannot_be_bound_exits_2_naming_the_variable(h: Harness) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        h.extra_env = {"NOTIFIER_HTTP_ADDR": f"127.0.0.1:{port}"}
        result = h.notifier("run", "--once")
    assert result.returncode == 2
    assert result.stderr.startswith(f"NOTIFIER_HTTP_ADDR: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in result.stderr
    h.extra_env = {"NOTIFIER_HTTP_ADDR": "localhost"}
    result = h.notifier("run", "--once")
    assert result.returncode == 2 and result.stderr.startswith("NOTIFIER_HTTP_ADDR: ")
    h.extra_env = {"NOTIFIER_LOG_FORMAT": "xml"}
    result = h.notifier("run", "--once")
    assert result.returncode == 2 and result.stderr.startswith("NOTIFIER_LOG_FORMAT: ")
