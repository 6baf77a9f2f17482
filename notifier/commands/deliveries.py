"""What was sent, in plain sight (contract section 15): `notifier deliveries`, `replay
ID` naming what it could not queue, and the parts of `status` about the store itself
(whether a notifier runs on it, the latest dead deliveries, a store that does not
exist).

Kept out of `cli.py` so the commands module stays small; this module imports only the
standard library at import time (the parser is built on every command).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TypedDict, cast
from zoneinfo import ZoneInfo

from notifier.actions.service import Actions
from notifier.commands.mutes import who
from notifier.events import best_label
from notifier.obs.logs import redact
from notifier.rules.schema import RuleSet
from notifier.runtime.sources import sources_for
from notifier.settings import load_settings
from notifier.state import Store, iso, open_store
from notifier.state.base import SourceStatus
from notifier.state.exists import missing_store
from notifier.state.lock import InstanceLock
from notifier.state.rows import Row
from notifier.state.store import ReplicasStatus
from notifier.text import one_line

DEAD_SHOWN = 5  # in `status`: the latest few, then a pointer to `deliveries --status dead`
KEYS = (
    "id", "rule", "channel", "student", "status", "tries", "last_error", "created_at", "sent_at",
)  # fmt: skip


def cmd_deliveries(args: argparse.Namespace) -> int:
    settings = load_settings()
    problem = missing_store(settings.db)
    if problem is not None:
        print(f"notifier: {problem}", file=sys.stderr)
        return 1
    zone = ZoneInfo(settings.timezone)
    since = None
    if args.since is not None:  # the day as the institute counts it
        since = datetime.combine(args.since, datetime.min.time(), zone).timestamp()
    store = open_store(settings.db)
    try:
        rows = store.log.delivery_list(
            status=args.status,
            rule=args.rule,
            channel=args.channel,
            since=since,
            limit=args.limit or None,
        )
    finally:
        store.close()
    shown = [delivery_view(row) for row in rows]
    if args.json:
        print(redact(json.dumps(shown, indent=2, ensure_ascii=False)))
        return 0
    print(redact(table(shown, zone, more=bool(args.limit) and len(shown) == args.limit)))
    return 0


class DeliveryView(TypedDict):
    """A delivery as `deliveries` and `status` show it."""

    id: str
    rule: str
    channel: str
    student: str | None
    status: str
    tries: int
    last_error: str | None
    created_at: str | None
    sent_at: str | None


def delivery_view(row: Row) -> DeliveryView:
    """A stored row (as the store reads it) as people read it: its student, times in
    ISO 8601."""
    return {
        "id": row["id"],
        "rule": row["rule"],
        "channel": row["channel"],
        "student": _student(row.get("alerts")),
        "status": row["status"],
        "tries": int(row["attempts"] or 0),
        "last_error": row["last_error"] or None,
        "created_at": iso(row["created_at"]),
        "sent_at": iso(row["sent_at"]),
    }


def _student(alerts: str | None) -> str | None:  # the alerts column as read (JSON text)
    """The best human label of the student the row's first alert is about."""
    try:
        first = (json.loads(alerts) if isinstance(alerts, str) else alerts or [])[0]
        data = first.get("data") or {}
    except (ValueError, IndexError, AttributeError, TypeError):
        return None
    return best_label(
        data.get("student"),
        data.get("name"),
        data.get("username"),
        data.get("email"),
        user_id=data.get("user_id"),
    )


def table(rows: list[DeliveryView], zone: ZoneInfo, *, more: bool = False) -> str:
    """A readable table, times in the institute's time zone, errors cut to one line."""
    if not rows:
        return "no deliveries match"

    def when(text: str | None) -> str:
        if text is None:
            return "-"
        return datetime.fromisoformat(text).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    header = ("ID", "RULE", "CHANNEL", "STUDENT", "STATUS", "TRIES", "QUEUED", "SENT", "ERROR")
    body = [
        (
            r["id"],
            r["rule"],
            r["channel"],
            one_line(r["student"] or "-", 24),
            r["status"],
            str(r["tries"]),
            when(r["created_at"]),
            when(r["sent_at"]),
            one_line(r["last_error"] or "", 70),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *body]]  # fmt: skip
    lines.append(f"(times in {zone.key}; newest first)")
    if more:
        lines.append(f"showing the newest {len(rows)}: --limit N for more, --limit 0 for all")
    return "\n".join(lines)


# -- replay --------------------------------------------------------------------------------


def cmd_replay(args: argparse.Namespace) -> int:
    """Queue dead deliveries again, and muted ones named by id (sent now, whatever
    mutes hold: `--all` is the dead ones only, a mute is meant). Each id that does not
    exist, or is neither dead nor muted, is named and makes the exit status 1; the
    others named are still queued."""
    if not args.ids and not args.all:
        print(
            "nothing replayed: give delivery ids "
            "(see `notifier deliveries --status dead`), or --all"
        )
        return 0
    settings = load_settings()
    problem = missing_store(settings.db)
    if problem is not None:
        print(f"notifier: {problem}", file=sys.stderr)
        return 1
    store = open_store(settings.db)
    problems: list[str] = []
    muted = 0
    try:
        if args.all:
            count = store.outbox.replay(None, time.time())
        else:
            done = Actions(store, per_thread=False).replay(args.ids, by=who(), source="cli")
            for id_, status in done.refused.items():
                if status == "unknown":
                    problems.append(f"no delivery {id_}: nothing replayed")
                else:
                    problems.append(
                        f"delivery {id_} is {status}, not dead nor muted: nothing replayed"
                    )
            muted = len(done.muted)
            count = len(done.queued) - muted
    finally:
        store.close()
    if count or not muted:
        print(f"{count} dead deliveries queued again")
    if muted:
        print(f"{muted} muted deliveries queued to be sent now")
    for line in problems:
        print(f"notifier: {line}", file=sys.stderr)
    return 1 if problems else 0


# -- status --------------------------------------------------------------------------------


class DeadDelivery(TypedDict):
    """A dead delivery as `status` lists it (a DeliveryView without status, sent_at)."""

    id: str
    rule: str
    channel: str
    student: str | None
    tries: int
    last_error: str | None
    created_at: str | None


class RulesStatus(TypedDict):
    path: str
    loaded_at: str | None
    error: str | None


class StatusReport(TypedDict, total=False):
    """The `status --json` object (contract section 2), in the order it is printed."""

    sources: dict[str, SourceStatus]
    deliveries: dict[str, int]
    poisoned: dict[str, object]
    replicas: ReplicasStatus  # on PostgreSQL
    running: bool
    dead_latest: list[DeadDelivery]
    rules: RulesStatus


def status_extras(store: Store, running: bool) -> StatusReport:
    """What `status` adds about the store: whether a notifier runs on it now, and the
    latest dead deliveries (how many there are is in `deliveries.dead`)."""
    dead = store.log.delivery_list(status="dead", limit=DEAD_SHOWN)
    return {
        "running": running,
        "dead_latest": [
            cast(
                DeadDelivery,
                {k: v for k, v in delivery_view(row).items() if k not in ("status", "sent_at")},
            )
            for row in dead
        ],
    }


def in_use_only(sources: dict[str, SourceStatus], ruleset: RuleSet) -> dict[str, SourceStatus]:
    """The sources with no error shown for a source no rule uses any more (nothing will
    poll it again, so its last error is no problem of today)."""
    used = sources_for(ruleset.kinds_used())
    return {name: s if name in used else {**s, "last_error": None} for name, s in sources.items()}


def status_lines(report: StatusReport, db_path: Path) -> tuple[list[str], list[str]]:
    """The text `status` prints about the store itself: a line to go first (whether a
    notifier runs on it), and lines to follow the delivery counts (the latest dead)."""
    head: list[str] = []
    if report.get("running"):
        pid = None
        if "replicas" not in report:
            pid = InstanceLock(db_path).holder()
        head.append("notifier: running on this store" + (f" (pid {pid})" if pid else ""))
    else:
        head.append("notifier: not running on this store")
    dead_lines = []
    latest = report.get("dead_latest") or []
    for d in latest:
        dead_lines.append(
            f"  dead {d['id']} ({d['rule']} -> {d['channel']}"
            + (f", {d['student']}" if d.get("student") else "")
            + f"): {one_line(d['last_error'] or 'no error recorded', 200)}"
        )
    total = int(report.get("deliveries", {}).get("dead", 0))
    if latest:
        more = f"{total - len(latest)} more: " if total > len(latest) else ""
        dead_lines.append(
            f"  ({more}see `notifier deliveries --status dead`; `notifier replay ID`)"
        )
    return head, dead_lines
