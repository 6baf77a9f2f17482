"""Figures r (issue 14): the notifier on PostgreSQL.

- **d on replicas**: a backlog of webhook deliveries drained by 1, 2 and 3 replicas
  sharing one PostgreSQL database, beside 1 on SQLite. Each replica is its own
  process (its own GIL) with the notifier's `Deliverer` at NOTIFIER_DELIVERY_CONCURRENCY
  4; the receiver, in a process of its own, answers every post after RECEIVER_DELAY
  seconds, as a remote endpoint does (its network and work), so what is measured is
  how the replicas share the claims, not how fast loopback is. Timed from the moment
  every replica is ready to the moment the last row is sent.
- **a on PostgreSQL**: figure (a)'s first cycle over 20,000 completed attempts (every
  detail fetched, about 10% queued), on PostgreSQL beside SQLite, side by side in each
  round; the median round's ratio counts.

PostgreSQL: NOTIFIER_TEST_PG_URL (`make bench` starts one as the tests do), else a
cluster is started with tests/pg.py. `python -m bench.replicas deliver ...` is one
replica's process (used by `measure`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import BACKLOG_RULES, Control, notifier_env, use_env
from bench.serve import Child

DELIVERIES = 1_500
RECEIVER_DELAY = 0.05
CONCURRENCY = 4
ATTEMPTS = 20_000
ROUNDS = 3


def pg_admin_url() -> str:
    url = os.environ.get("NOTIFIER_TEST_PG_URL")
    if url:
        return url
    from tests import pg

    return pg.Cluster(pg.default_root()).start().url()


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


# -- a on PostgreSQL ---------------------------------------------------------------------


def _backlog(url: str, token: str, since: date, db: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        argv = [sys.executable, "-m", "bench.backlog", "notifier", url, token]
        argv += [since.isoformat(), tmp] + (["--db", db] if db else [])
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"backlog on {'PostgreSQL' if db else 'SQLite'} failed:\n{out.stderr}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def measure_backlog(admin: str, rounds: int = ROUNDS) -> dict[str, Any]:
    from tests import pg

    since = date.today() - timedelta(days=2)
    out: list[dict[str, Any]] = []
    with Child.start("sandbox") as sandbox:
        control = Control(sandbox.url)
        control.history(ATTEMPTS, days_ago_min=0.2, days_ago_max=0.85)
        for _ in range(rounds):
            one: dict[str, Any] = {}
            one["sqlite"] = _backlog(sandbox.url, sandbox.token, since, None)
            url = pg.create_database(admin, prefix="bench")
            try:
                one["pg"] = _backlog(sandbox.url, sandbox.token, since, url)
            finally:
                pg.drop_database(admin, url)
            one["ratio"] = one["pg"]["seconds"] / one["sqlite"]["seconds"]
            out.append(one)
        control.close()
    middle = sorted(out, key=lambda r: r["ratio"])[len(out) // 2]
    return {**middle, "ratios": [r["ratio"] for r in out], "attempts": ATTEMPTS}


def measure() -> dict[str, Any]:
    admin = pg_admin_url()
    return {"delivery": measure_delivery(admin), "backlog": measure_backlog(admin)}


def rows(raw: dict[str, Any]) -> list[Any]:
    from bench.table import Row

    d, a = raw["delivery"], raw["backlog"]
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
        Row(
            f"a. backlog on PostgreSQL: {a['attempts']:,} attempts, "
            f"{a['pg']['queued']:,} deliveries queued",
            f"{a['pg']['seconds']:.1f} s vs SQLite {a['sqlite']['seconds']:.1f} s = "
            f"{a['ratio']:.2f}x (rounds {', '.join(f'{x:.2f}' for x in a['ratios'])})",
            "<= 1.2x SQLite",  # issue 22
            a["ratio"] <= 1.2,
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
