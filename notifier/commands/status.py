"""`notifier status [--json]`: sources, deliveries, poisoned rows, replicas and rules at
a glance (contract section 2), read from the state store; never creates one."""

from __future__ import annotations

import argparse
import json
import sys
import time

from notifier.commands.deliveries import StatusReport, in_use_only, status_extras, status_lines
from notifier.obs.logs import redact
from notifier.runtime.config import RulesError, load_rules
from notifier.runtime.poison import status_lines as poison_lines
from notifier.runtime.poison import status_of
from notifier.settings import Settings, load_settings
from notifier.state import iso, open_store
from notifier.state.exists import missing_store
from notifier.state.lock import InstanceLock


def status_report(settings: Settings) -> StatusReport:
    """The `status --json` object (contract section 2)."""

    store = open_store(settings.db)
    try:
        report: StatusReport = {
            "sources": store.sources.source_statuses(),
            "deliveries": store.outbox.delivery_counts(),
            "poisoned": status_of(store.faults),
        }
        report["deliveries"]["retrying"] = report["deliveries"].pop("retrying", 0)
        if settings.db_is_postgres:
            report["replicas"] = store.replicas.replicas_status()  # type: ignore[attr-defined]
            running = bool(report["replicas"]["live"])
        else:
            running = InstanceLock(settings.db_path).holder() is not None
        report.update(status_extras(store, running))
        if running:  # a service runs: report what it loaded
            report["rules"] = {
                "path": store.meta.get_meta("rules_path") or str(settings.rules_path),
                "loaded_at": store.meta.get_meta("rules_loaded_at"),
                "error": store.meta.get_meta("rules_error") or None,
            }
        else:
            error = None
            try:
                report["sources"] = in_use_only(
                    report["sources"], load_rules(settings.rules_path, settings)
                )
            except RulesError as exc:
                error = "\n".join(str(p) for p in exc.problems)
            report["rules"] = {
                "path": str(settings.rules_path),
                "loaded_at": iso(time.time()),
                "error": error,
            }
        return report
    finally:
        store.close()


def cmd_status(args: argparse.Namespace) -> int:

    settings = load_settings()
    missing = missing_store(settings.db)
    if missing is not None:  # say so; never create an empty store
        print(f"notifier: {missing}", file=sys.stderr)
        return 1
    report = status_report(settings)
    if args.json:
        print(redact(json.dumps(report, indent=2)))
        return 0
    first, dead = status_lines(report, settings.db_path)
    lines = [*first, "sources:"]
    for name, s in report["sources"].items() or {}.items():
        state = "ok" if s["last_error"] is None else f"error: {s['last_error']}"
        lines.append(f"  {name}: last success {s['last_success'] or 'never'}; {state}")
    if not report["sources"]:
        lines.append("  (not polled yet)")
    d = report["deliveries"]
    lines.append(
        f"deliveries: {d['queued']} queued, {d['retrying']} retrying, "
        f"{d['dead']} dead, {d['sent']} sent" + (f", {d['muted']} muted" if d.get("muted") else "")
    )
    lines += dead
    lines += poison_lines(report["poisoned"])
    if "replicas" in report:
        live, poller = report["replicas"]["live"], report["replicas"]["poller"]
        names = ", ".join(
            f"{x['host']} pid {x['pid']}" + (" (polling)" if x["id"] == poller else "")
            for x in live
        )
        lines.append(f"replicas: {len(live)} running" + (f": {names}" if names else ""))
    r = report["rules"]
    lines.append(
        f"rules: {r['path']} loaded {r['loaded_at']}" + (" (invalid)" if r["error"] else "")
    )
    if r["error"]:
        lines += ["  " + line for line in r["error"].splitlines()]
    print(redact("\n".join(lines)))
    return 0
