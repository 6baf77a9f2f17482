"""`python -m bench` (`make bench`): every figure of issues 6, 12, 13, 19, 20, 21 and 23.

python -m bench              every figure
python -m bench a d          only some (a b c d e f g h k m p r s v; e comes with a)
python -m bench --json out.json   also write the raw measurements

Every figure is printed with its target and whether it was met; the exit status is 1
when any target is missed (0 when all are met), so `make bench` fails then. Each part's
seconds are printed after the table (and to stderr as it goes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Any

from bench.table import Row, render_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "parts", nargs="*", default=[], help="a b c d e f g h k m p r s v (default: all)"
    )
    parser.add_argument("--json", metavar="PATH", help="write the raw measurements here")
    args = parser.parse_args(argv)
    parts = set(args.parts or "abcdefghkmprsv")
    if "e" in parts:
        parts.add("a")
    started = time.perf_counter()
    raw: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    steps = [
        ("f", "start-up", "bench.startup"),
        ("b", "idle cycles", "bench.idle"),
        ("d", "delivery", "bench.delivery"),
        ("c", "latency", "bench.latency"),
        ("a", "backlog", "bench.backlog"),
        ("g", "history rules over a year", "bench.history"),
        ("h", "history read-back of a new store", "bench.readback"),
        ("k", "the console's pages over a year", "bench.console"),
        ("v", "rules draft preview", "bench.drafts"),
        ("p", "push", "bench.push"),
        ("m", "mass exam ending", "bench.massend"),
        ("r", "delivery on PostgreSQL replicas", "bench.replicas"),
        ("s", "Slack clicks", "bench.clicks"),
    ]
    for part, label, module in steps:
        if part not in parts:
            continue
        print(f"bench: measuring {label} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        raw[part] = __import__(module, fromlist=["measure"]).measure()
        seconds[part] = time.perf_counter() - t0
        print(f"bench:   {seconds[part]:.0f} s", file=sys.stderr, flush=True)
    from bench.table import rows_for

    rows: list[Row] = rows_for(raw, parts)
    elapsed = time.perf_counter() - started
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} "
        f"{platform.machine()}"
    )
    print(render_table(rows))
    per_part = ", ".join(f"{part} {s:.0f} s" for part, s in seconds.items())
    print(f"\n{machine}; bench took {elapsed:.0f} s ({per_part})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": machine, "seconds": elapsed, "parts": seconds, "raw": raw}, f, indent=2
            )
    missed = [row.figure for row in rows if row.met is False]
    for figure in missed:
        print(f"bench: target missed: {figure}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
