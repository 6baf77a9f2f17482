"""Figure r (issue 14): delivery on PostgreSQL replicas.

- **d on replicas**: a backlog of webhook deliveries drained by 1, 2 and 3 replicas
  sharing one PostgreSQL database, beside 1 on SQLite. Each replica is its own
  process (its own GIL) with the notifier's `Deliverer` at NOTIFIER_DELIVERY_CONCURRENCY
  4; the receiver, in a process of its own, answers every post after RECEIVER_DELAY
  seconds, as a remote endpoint does (its network and work), so what is measured is
  how the replicas share the claims, not how fast loopback is. Timed from the moment
  every replica is ready to the moment the last row is sent.
- **a on PostgreSQL** is measured with figure (a), in its rounds (bench/backlog.py).

PostgreSQL: NOTIFIER_TEST_PG_URL (`make bench` starts one as the tests do), else a
cluster is started with tests/pg.py. `python -m bench.replicas deliver ...` is one
replica's process (used by `measure`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.backlog import pg_admin_url
from bench.common import BACKLOG_RULES, notifier_env, use_env
from bench.serve import Child

DELIVERIES = 1_500
RECEIVER_DELAY = 0.05
CONCURRENCY = 4


# -- d on replicas ---------------------------------------------------------------------


def replica(db: str, receiver_url: str, workdir: Path) -> None:
    """One replica: deliver until nothing is left to claim, after a line on stdin."""
    env = notifier_env(workdir, "http://127.0.0.1:9", "unused", receiver_url, BACKLOG_RULES)
    env.update({"NOTIFIER_DB": db, "NOTIFIER_DELIVERY_CONCURRENCY": str(CONCURRENCY)})
    use_env(env)
    from notifier.runtime.compose import build
    from notifier.settings import load_settings
    from notifier.testpress.client import TestpressClient

    parts = build(load_settings(), client=TestpressClient("http://127.0.0.1:9"))
    app = parts.app
    print("ready", flush=True)
    sys.stdin.readline()
    sent = 0
    while True:
        result = app.deliverer.run_pass()
        sent += result.sent
        if not (result.sent or result.retrying or result.dead):
            break
    parts.close()
    print(json.dumps({"sent": sent}), flush=True)


def _queue(db: str) -> None:
    from bench.delivery import _alert
    from notifier.state import NewDelivery, open_store

    store = open_store(db)
    rows = [
        NewDelivery("low-percentile", "lms", "attempt.completed", str(i), [_alert(i)])
        for i in range(DELIVERIES)
    ]
    store.seen.record("attempts", [], rows)
    store.close()


def _drain(db: str, replicas: int, receiver_url: str) -> dict[str, Any]:
    _queue(db)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.replicas", "deliver", db, receiver_url, tmp],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(replicas)
        ]
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("a replica did not start")
        started = time.perf_counter()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        sent = [json.loads((p.communicate(timeout=600)[0] or "{}").strip())["sent"] for p in procs]
        seconds = time.perf_counter() - started
    if sum(sent) != DELIVERIES:
        raise RuntimeError(f"the replicas sent {sum(sent)} of {DELIVERIES}")
    return {"replicas": replicas, "seconds": seconds, "rate": DELIVERIES / seconds, "sent": sent}


def measure_delivery(admin: str) -> dict[str, Any]:
    from tests import pg

    runs: dict[str, Any] = {}
    with Child.start("receiver", delay=RECEIVER_DELAY) as receiver:
        with tempfile.TemporaryDirectory(prefix="bench-replicas-sqlite-") as tmp:
            runs["sqlite"] = _drain(str(Path(tmp) / "notifier.db"), 1, receiver.url)
        for n in (1, 2, 3):
            url = pg.create_database(admin, prefix="bench")
            try:
                runs[f"pg{n}"] = _drain(url, n, receiver.url)
            finally:
                pg.drop_database(admin, url)
    return {
        "deliveries": DELIVERIES,
        "delay": RECEIVER_DELAY,
        "concurrency": CONCURRENCY,
        "runs": runs,
        "two_vs_one": runs["pg2"]["rate"] / runs["pg1"]["rate"],
        "three_vs_one": runs["pg3"]["rate"] / runs["pg1"]["rate"],
    }


def measure() -> dict[str, Any]:
    admin = pg_admin_url()
    return {"delivery": measure_delivery(admin)}


def rows(raw: dict[str, Any]) -> list[Any]:
    from bench.table import Row

    d = raw["delivery"]
    r = d["runs"]
    rates = ", ".join(f"{n} {r[f'pg{n}']['rate']:.0f}/s" for n in (1, 2, 3))
    return [
        Row(
            f"d. delivery on replicas: {d['deliveries']:,} webhooks, receiver "
            f"{d['delay'] * 1000:.0f} ms, concurrency {d['concurrency']} each",
            f"PostgreSQL replicas {rates} (2 = {d['two_vs_one']:.2f}x, 3 = "
            f"{d['three_vs_one']:.2f}x one); SQLite 1 {r['sqlite']['rate']:.0f}/s",
            "2 replicas >= 1.6x one",
            d["two_vs_one"] >= 1.6,
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas")
    sub = parser.add_subparsers(dest="what", required=True)
    deliver = sub.add_parser("deliver")
    deliver.add_argument("db")
    deliver.add_argument("receiver")
    deliver.add_argument("workdir", type=Path)
    args = parser.parse_args(argv)
    replica(args.db, args.receiver, args.workdir)


if __name__ == "__main__":
    main()
