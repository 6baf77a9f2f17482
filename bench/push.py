"""Figure p: Testpress's webhooks, from receipt to the alert at a loopback receiver.

The real `notifier run` with NOTIFIER_HTTP_ADDR and the webhook keys, and an hour's
poll interval, so every alert is one that came by push. Every pushed completion is
confirmed from the admin API before it alerts (docs/push.md, "Exam completions are
confirmed": the hash leaves out the attempt's state), so each push costs the attempt's
detail request, the one the rule (`result: Fail`, a field the exam webhook lacks) needs
anyway; the sandbox counts those reads in the steady part, and the figure is met only
with one per push at least. The sandbox (its own process) holds the attempts; this
process plays Testpress: it completes attempts through the sandbox's control API, takes
the webhook the sandbox would send (`/_sandbox/webhooks/exam/<id>`, signed), and posts
it itself, so the clock starts just before the post is written and stops when the
receiver has read the alert's body.

- steady: STEADY pushes at RATE a second; p50 and p95 of receipt -> alert;
- burst: BURST pushes sent within one second from BURST_THREADS connections; the
  slowest answer (every one must be 200 within 2 s) and the alerts (each exactly once).
"""

from __future__ import annotations

import http.client
import json
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import LATENCY_RULES, Control, notifier_env, notifier_running, percentile
from bench.serve import Child
from notifier.sandbox.standins import WebhookReceiver, free_port
from notifier.sandbox.webhooks import PRIVATE_KEY, PUBLIC_KEY

STEADY = 500
RATE = 20.0  # pushes a second
BURST = 500
BURST_THREADS = 50
DRAIN_SECONDS = 30.0
EXAM_PATH = "/webhooks/testpress/exam"


class CountingTimedReceiver(WebhookReceiver):
    """First arrival (time.time()) and number of deliveries of each alerted key."""

    def __init__(self) -> None:
        super().__init__(secret=None)
        self.arrived: dict[str, float] = {}
        self.count: Counter[str] = Counter()

    def _handle(self, handler: Any, body: bytes) -> None:
        now = time.time()
        try:
            keys = [str(a["key"]) for a in json.loads(body)["alerts"]]
        except (ValueError, KeyError, TypeError):
            keys = []
        with self._lock:
            for key in keys:
                self.arrived.setdefault(key, now)
                self.count[key] += 1
        handler.answer(204)


def measure() -> dict[str, Any]:
    with (
        Child.start("sandbox") as sandbox,
        CountingTimedReceiver() as receiver,
        tempfile.TemporaryDirectory(prefix="bench-push-") as tmp,
    ):
        control = Control(sandbox.url)
        port = free_port()
        env = notifier_env(
            Path(tmp),
            sandbox.url,
            sandbox.token,
            receiver.url,
            LATENCY_RULES,
            NOTIFIER_POLL_INTERVAL="3600",
            NOTIFIER_HTTP_ADDR=f"127.0.0.1:{port}",
            TESTPRESS_WEBHOOK_PUBLIC_KEY=PUBLIC_KEY,
            TESTPRESS_WEBHOOK_PRIVATE_KEY=PRIVATE_KEY,
        )
        with notifier_running(tmp, env) as stderr:
            try:
                _wait_for_baseline(control)
                steady = _completed_payloads(control, STEADY)
                control.reset()  # from here the sandbox counts the notifier's reads only
                sent = _steady(port, steady)
                _drain(receiver, set(sent), stderr)
                confirmations = control.counts().get("attempt", 0)
                burst = _completed_payloads(control, BURST)
                answers = _burst(port, burst)
                keys = {str(p["attempt_id"]) for p in burst}
                _drain(receiver, keys | set(sent), stderr)
                time.sleep(1.0)  # a duplicate, were there one, would arrive now
            finally:
                control.close()
    latencies = sorted(receiver.arrived[k] - t for k, t in sent.items() if k in receiver.arrived)
    if not latencies:
        raise RuntimeError("no alert arrived by push:\n" + "".join(stderr[-30:]))
    ok = [seconds for status, seconds in answers if status == 200]
    return {
        "steady": {
            "pushes": len(sent),
            "alerts": len(latencies),
            "rate": RATE,
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "max": latencies[-1],
            "duplicates": sum(receiver.count[k] - 1 for k in sent if receiver.count[k] > 1),
            "confirmations": confirmations,  # detail reads: each push's state from the API
        },
        "burst": {
            "pushes": len(burst),
            "answered_200": len(ok),
            "slowest_answer": max((s for _, s in answers), default=0.0),
            "alerts": sum(1 for k in keys if receiver.count[k] >= 1),
            "exactly_once": sum(1 for k in keys if receiver.count[k] == 1),
        },
    }


def _wait_for_baseline(control: Control, timeout: float = 60.0) -> None:
    """The first cycle (a baseline) has read the lists: the notifier is running."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if control.counts().get("attempts", 0) >= 2:
            time.sleep(0.5)  # its record and delivery pass
            return
        time.sleep(0.1)
    raise RuntimeError("the notifier did not start polling")


def _completed_payloads(control: Control, n: int) -> list[dict[str, Any]]:
    """n attempts started and completed as Fail; the webhook of each, signed."""
    payloads = []
    for i in range(n):
        aid = control.start_attempt(1 + i % 5, 1 + i % 50)
        control.complete(aid, result="Fail")
        response = control.http.get(f"/_sandbox/webhooks/exam/{aid}")
        response.raise_for_status()
        payloads.append(response.json())
    return payloads


def _post(conn: http.client.HTTPConnection, body: bytes) -> int:
    conn.request("POST", EXAM_PATH, body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def _steady(port: int, payloads: list[dict[str, Any]]) -> dict[str, float]:
    """Post each payload at RATE a second; attempt id -> time just before its post."""
    sent: dict[str, float] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    next_at = time.time()
    try:
        for payload in payloads:
            body = json.dumps(payload).encode()
            time.sleep(max(0.0, next_at - time.time()))
            next_at += 1.0 / RATE
            started = time.time()
            if _post(conn, body) != 200:
                raise RuntimeError("a signed webhook was refused")
            sent[str(payload["attempt_id"])] = started
    finally:
        conn.close()
    return sent


def _burst(port: int, payloads: list[dict[str, Any]]) -> list[tuple[int, float]]:
    """Every payload posted within one second, spread evenly over BURST_THREADS
    connections; (status, seconds from its send to its answer) of each."""
    bodies = [json.dumps(p).encode() for p in payloads]
    start = time.time() + 0.2
    slots = [start + i / len(bodies) for i in range(len(bodies))]  # 1 s wide

    def worker(index: int) -> list[tuple[int, float]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        out = []
        try:
            for i in range(index, len(bodies), BURST_THREADS):
                time.sleep(max(0.0, slots[i] - time.time()))
                sent = time.time()
                try:
                    status = _post(conn, bodies[i])
                except OSError:
                    status = 0
                out.append((status, time.time() - sent))
        finally:
            conn.close()
        return out

    with ThreadPoolExecutor(BURST_THREADS) as pool:
        results = list(pool.map(worker, range(BURST_THREADS)))
    return [r for rs in results for r in rs]


def _drain(receiver: CountingTimedReceiver, keys: set[str], stderr: list[str]) -> None:
    deadline = time.time() + DRAIN_SECONDS
    while time.time() < deadline:
        with receiver._lock:
            if keys <= set(receiver.arrived):
                return
        time.sleep(0.05)
