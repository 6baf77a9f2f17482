"""Figure c: from an attempt completing in the sandbox to its webhook arriving at a
loopback receiver, with the real `notifier run` and NOTIFIER_POLL_INTERVAL=1.

Students finish at a steady pace (one every `PACE` seconds), each replaced by a new
one starting, so the running list stays about the same size; every completion is a
Fail, which the rule alerts on. The clock starts just before the sandbox is asked to
complete the attempt (so the figure is never flattering) and stops when the receiver
has read the webhook's body.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import LATENCY_RULES, Control, notifier_env, notifier_running, percentile
from bench.serve import Child
from notifier.sandbox.standins import WebhookReceiver

COMPLETIONS = 240
RUNNING = 60  # students in the exam at any time
PACE = 0.1  # seconds between completions: 600 a minute
DRAIN_SECONDS = 20.0


class TimedReceiver(WebhookReceiver):
    """Records when each alerted attempt's webhook arrived (time.time())."""

    def __init__(self) -> None:
        super().__init__(secret=None)
        self.arrived: dict[str, float] = {}

    def _handle(self, handler: Any, body: bytes) -> None:
        now = time.time()
        try:
            keys = [a["key"] for a in json.loads(body)["alerts"]]
        except (ValueError, KeyError, TypeError):
            keys = []
        with self._lock:
            for key in keys:
                self.arrived.setdefault(str(key), now)
        handler.answer(204)


def measure() -> dict[str, Any]:
    with (
        Child.start("sandbox") as sandbox,
        TimedReceiver() as receiver,
        tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp,
    ):
        control = Control(sandbox.url)
        env = notifier_env(
            Path(tmp),
            sandbox.url,
            sandbox.token,
            receiver.url,
            LATENCY_RULES,
            NOTIFIER_POLL_INTERVAL="1",
        )
        with notifier_running(tmp, env) as stderr:
            try:
                _wait_for_cycles(control, 2)  # past the baseline
                completed = _drive(control)
                deadline = time.time() + DRAIN_SECONDS
                while time.time() < deadline and len(receiver.arrived) < len(completed):
                    time.sleep(0.1)
            finally:
                control.close()
    arrived = receiver.arrived
    latencies = sorted(arrived[k] - t for k, t in completed.items() if k in arrived)
    if not latencies:
        raise RuntimeError("no webhook arrived:\n" + "".join(stderr[-30:]))
    return {
        "completions": len(completed),
        "arrived": len(latencies),
        "p50": percentile(latencies, 50),
        "p95": percentile(latencies, 95),
        "max": latencies[-1],
        "per_minute": 60.0 / PACE,
    }


def _wait_for_cycles(control: Control, cycles: int, timeout: float = 30.0) -> None:
    """Wait until the notifier has polled the running list `cycles` times."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if control.counts().get("attempts", 0) >= 2 * cycles:
            return
        time.sleep(0.1)
    raise RuntimeError("the notifier did not start polling")


def _drive(control: Control) -> dict[str, float]:
    """Complete COMPLETIONS attempts at PACE; returns attempt id -> completion time."""
    running = [control.start_attempt(1 + i % 5, 1 + i % 50) for i in range(RUNNING)]
    time.sleep(2.5)  # the notifier sees them running
    completed: dict[str, float] = {}
    next_at = time.time()
    for i in range(COMPLETIONS):
        next_at += PACE
        aid = running.pop(0)
        started = time.time()
        control.complete(aid, result="Fail")
        completed[str(aid)] = started
        running.append(control.start_attempt(1 + i % 5, 1 + (i * 7) % 50))
        time.sleep(max(0.0, next_at - time.time()))
    return completed
