"""Figures a and e: the first cycle with `--since` over 20,000 newly completed attempts,
with a rule on `percentile` (every detail fetched) that matches about 10%.

Each side runs in a fresh interpreter (`python -m bench.backlog notifier|bare ...`) so
its peak RSS is its own and neither inherits the other's warm caches; the sandbox runs
in a third. The notifier side times `App.poll_source` (poll, enrich, evaluate, queue in
one transaction): the time until every delivery is queued. The bare side makes the same
requests with the same concurrency with plain httpx and only parses the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    BACKLOG_RULES,
    DETAIL,
    DETAIL_CONCURRENCY,
    EXAM,
    LIST,
    PERCENTILE_BELOW,
    USER,
    Control,
    bare_client,
    bare_pages,
    file_bytes,
    notifier_env,
    use_env,
)
from bench.serve import Child

ATTEMPTS = 20_000


def _peak_rss() -> int:
    """This process's own peak resident set (VmHWM), in bytes. Not `ru_maxrss`: Linux
    carries the parent's peak across exec into it, so a child of the big bench process
    reported the parent's 176 MB (a 300 MB parent makes a bare interpreter report
    313 MB; its VmHWM is 13 MB). ru_maxrss only where /proc has none."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_notifier(
    url: str, token: str, since: date, workdir: Path, db: str | None = None
) -> dict[str, Any]:
    """The notifier's side, on SQLite in `workdir`, or on `db` (a PostgreSQL URL:
    bench.replicas compares the two)."""
    extra = {"NOTIFIER_DB": db} if db else {}
    use_env(notifier_env(workdir, url, token, "http://127.0.0.1:9/unused", BACKLOG_RULES, **extra))
    from notifier.runtime.compose import build
    from notifier.settings import load_settings

    settings = load_settings()
    parts = build(settings)
    app, client = parts.app, parts.client
    cpu = _cpu()
    started = time.perf_counter()
    ok, queued, events = app.poll_source("attempts", since)
    elapsed = time.perf_counter() - started
    requests = client.requests_made
    parts.close()
    return {
        "seconds": elapsed,
        "cpu": _cpu() - cpu,
        "ok": ok,
        "queued": queued,
        "events": events,
        "requests": requests,
        "peak_rss": _peak_rss(),
        "store_bytes": 0 if db else file_bytes(settings.db_path),
    }


def run_bare(url: str, token: str, since: date) -> dict[str, Any]:
    http = bare_client(url, token)
    requests = 0
    cpu = _cpu()
    started = time.perf_counter()
    for _ in bare_pages(http, LIST, {"state": 0}):
        requests += 1
    rows: list[dict[str, Any]] = []
    params = {"state": 1, "ordering": "-date", "date_0": since.isoformat()}
    for body in bare_pages(http, LIST, params):
        requests += 1
        rows += body["results"]

    def detail(row: dict[str, Any]) -> dict[str, Any] | None:
        d = http.get(DETAIL.format(row["id"])).json()
        p = d.get("percentile")
        return d if isinstance(p, int | float) and p < PERCENTILE_BELOW else None

    with ThreadPoolExecutor(DETAIL_CONCURRENCY) as pool:
        matched = [d for d in pool.map(detail, rows) if d is not None]
    requests += len(rows)
    lookups = sorted({USER.format(d["user_id"]) for d in matched}) + sorted(
        {EXAM.format(d["exam_id"]) for d in matched}
    )
    with ThreadPoolExecutor(DETAIL_CONCURRENCY) as pool:
        list(pool.map(lambda path: http.get(path).json(), lookups))
    requests += len(lookups)
    elapsed = time.perf_counter() - started
    http.close()
    return {
        "seconds": elapsed,
        "cpu": _cpu() - cpu,
        "requests": requests,
        "matched": len(matched),
        "peak_rss": _peak_rss(),
    }


def _child(side: str, url: str, token: str, since: date, db: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-backlog-") as tmp:
        argv = [sys.executable, "-m", "bench.backlog", side, url, token, since.isoformat(), tmp]
        out = subprocess.run(
            argv + (["--db", db] if db else []), capture_output=True, text=True, timeout=600
        )
    if out.returncode != 0:
        where = " on PostgreSQL" if db else ""
        raise RuntimeError(f"backlog {side}{where} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _on_postgres(admin: str, url: str, token: str, since: date) -> dict[str, Any]:
    """The notifier's side on a fresh PostgreSQL database (dropped after)."""
    from tests import pg

    db = pg.create_database(admin, prefix="bench")
    try:
        return _child("notifier", url, token, since, db)
    finally:
        pg.drop_database(admin, db)


def measure(rounds: int = 3, postgres: bool = True, attempts: int = ATTEMPTS) -> dict[str, Any]:
    """Seed a sandbox with `attempts` (20,000) completed today, then run each side
    `rounds` times, in turn within a round: bare httpx, the notifier on SQLite and (with
    `postgres`) the notifier on PostgreSQL. Each round's ratios are taken side by side;
    the median ratio counts, so a burst of noise on the machine does not decide the
    result. PostgreSQL's side shares the rounds (and the seeded sandbox) with SQLite's
    rather than running its own: the same comparison in two thirds of the time."""
    since = date.today() - timedelta(days=2)
    admin = pg_admin_url() if postgres else None
    rounds_out: list[dict[str, Any]] = []
    with Child.start("sandbox") as sandbox:
        control = Control(sandbox.url)
        # Started 5 to 20 hours ago, so every one has completed by now.
        control.history(attempts, days_ago_min=0.2, days_ago_max=0.85)
        for _ in range(rounds):
            one: dict[str, Any] = {}
            for side in ("bare", "notifier", "pg"):
                if side == "pg" and admin is None:
                    continue
                control.reset()
                cpu = sandbox.cpu()
                if side == "pg":
                    assert admin is not None
                    one[side] = _on_postgres(admin, sandbox.url, sandbox.token, since)
                else:
                    one[side] = _child(side, sandbox.url, sandbox.token, since)
                one[side]["served"] = control.total()
                one[side]["sandbox_cpu"] = sandbox.cpu() - cpu
            one["ratio"] = one["notifier"]["seconds"] / one["bare"]["seconds"]
            if "pg" in one:
                one["pg_ratio"] = one["pg"]["seconds"] / one["notifier"]["seconds"]
            # CPU seconds per request, each side's own process: robust to the machine's
            # load in a way the wall-clock ratio is not (other work shares the cores).
            for side in ("bare", "notifier"):
                one[side]["cpu_per_request"] = one[side]["cpu"] / max(1, one[side]["requests"])
            one["cpu_ratio"] = one["notifier"]["cpu_per_request"] / one["bare"]["cpu_per_request"]
            rounds_out.append(one)
        control.close()
    middle = sorted(rounds_out, key=lambda r: r["ratio"])[len(rounds_out) // 2]
    out = {
        "ratio": middle["ratio"],
        "bare": middle["bare"],
        "notifier": middle["notifier"],
        "ratios": [r["ratio"] for r in rounds_out],
        "cpu_ratio": statistics.median(r["cpu_ratio"] for r in rounds_out),
        "cpu_ratios": [r["cpu_ratio"] for r in rounds_out],
        "peak_rss": max(r["notifier"]["peak_rss"] for r in rounds_out),
        "attempts": attempts,
    }
    if admin is not None:
        pg_middle = sorted(rounds_out, key=lambda r: r["pg_ratio"])[len(rounds_out) // 2]
        out["pg"] = {
            "ratio": pg_middle["pg_ratio"],
            "ratios": [r["pg_ratio"] for r in rounds_out],
            "pg": pg_middle["pg"],
            "sqlite": pg_middle["notifier"],
        }
    return out


def pg_admin_url() -> str:
    """PostgreSQL for the PostgreSQL side: NOTIFIER_TEST_PG_URL (`make bench` starts one
    as the tests do), else a cluster started with tests/pg.py."""
    url = os.environ.get("NOTIFIER_TEST_PG_URL")
    if url:
        return url
    from tests import pg

    return pg.Cluster(pg.default_root()).start().url()


def rss(sizes: list[int]) -> list[dict[str, Any]]:
    """The notifier side alone, once per backlog size, each in a fresh sandbox: its
    peak RSS (VmHWM) and time, to show how memory grows with the backlog."""
    since = date.today() - timedelta(days=2)
    out = []
    for n in sizes:
        with Child.start("sandbox") as sandbox:
            control = Control(sandbox.url)
            control.history(n, days_ago_min=0.2, days_ago_max=0.85)
            one = _child("notifier", sandbox.url, sandbox.token, since)
            control.close()
        out.append({"attempts": n, **one})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.backlog",
        epilog="python -m bench.backlog rss --attempts 20000 60000: the notifier side's "
        "peak RSS at each backlog size",
    )
    parser.add_argument("side", choices=["notifier", "bare", "rss"])
    parser.add_argument("url", nargs="?")
    parser.add_argument("token", nargs="?")
    parser.add_argument("since", type=date.fromisoformat, nargs="?")
    parser.add_argument("workdir", type=Path, nargs="?")
    parser.add_argument("--db", help="NOTIFIER_DB for the notifier side (default: SQLite)")
    parser.add_argument(
        "--attempts", type=int, nargs="+", default=[ATTEMPTS], help="rss: the backlog sizes"
    )
    args = parser.parse_args(argv)
    if args.side == "rss":
        for row in rss(args.attempts):
            print(json.dumps(row), flush=True)
        return
    if None in (args.url, args.token, args.since, args.workdir):
        parser.error(f"{args.side} needs url, token, since and workdir")
    if args.side == "notifier":
        result = run_notifier(args.url, args.token, args.since, args.workdir, args.db)
    else:
        result = run_bare(args.url, args.token, args.since)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
