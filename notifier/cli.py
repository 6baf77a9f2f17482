"""Commands (contract section 2): parse arguments, call the app, map errors to exit codes.

Exit status 2 is a configuration problem (one located problem a line, no traceback),
1 anything else that stopped the command. Imports are made inside each command so
`notifier check` starts fast and never loads what it does not use.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notifier", description="Watch a Testpress institute and alert admins."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="poll, evaluate and deliver until stopped")
    run.add_argument("--once", action="store_true", help="one cycle, then exit")
    run.add_argument(
        "--since",
        type=_parse_date,
        metavar="YYYY-MM-DD",
        help="on a new state store, alert on items from this date instead of baselining",
    )
    check = sub.add_parser("check", help="validate the rules file and the settings it needs")
    check.add_argument("path", nargs="?", type=Path, help="rules file (default NOTIFIER_RULES)")
    status = sub.add_parser("status", help="sources, deliveries and rules at a glance")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    from notifier.commands.deliveries import add_parser as add_deliveries

    add_deliveries(sub, _parse_date)
    replay = sub.add_parser("replay", help="queue dead deliveries again")
    replay.add_argument("ids", nargs="*", metavar="ID", help="delivery ids")
    replay.add_argument("--all", action="store_true", help="every dead delivery")
    sub.add_parser("demo", help="run the notifier against the sandbox institute")
    sandbox = sub.add_parser("sandbox", help="serve the sandbox institute alone")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--seed", type=int, default=1)
    sandbox.add_argument(
        "--push-to",
        metavar="URL",
        help="send the institute's signed webhooks to URL/webhooks/testpress/... "
        "(the notifier's base URL)",
    )
    test = sub.add_parser("test", help="run rule tests (events in, expected alerts out)")
    test.add_argument("tests", type=Path, metavar="TESTS.yaml", help="the rule tests file")
    preview = sub.add_parser(
        "preview", help="show what the rules would have sent over the last days; sends nothing"
    )
    preview.add_argument("--days", type=_positive, default=1.0, help="how far back (default 1)")
    preview.add_argument(
        "--samples", type=int, default=3, help="rendered samples per rule and channel"
    )
    preview.add_argument("path", nargs="?", type=Path, help="rules file (default NOTIFIER_RULES)")
    sub.add_parser("schema", help="print the JSON Schema of the rules file")
    migrate = sub.add_parser(
        "migrate-store", help="copy a stopped notifier's SQLite state to PostgreSQL"
    )
    migrate.add_argument(
        "--to", required=True, metavar="postgresql://...", help="the target database URL"
    )
    return parser


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of days")
    return number


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from notifier.runtime.config import RulesError
    from notifier.settings import ConfigError
    from notifier.state.lock import AlreadyRunning

    try:
        return int(COMMANDS[args.command](args) or 0)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except RulesError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    except AlreadyRunning as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def cmd_check(args: argparse.Namespace) -> int:
    from notifier.runtime.config import load_rules
    from notifier.settings import load_settings

    settings = load_settings()
    ruleset = load_rules(args.path or settings.rules_path, settings)
    print(ruleset.summary())
    from notifier.commands.checknotes import history_notes

    for note in history_notes(ruleset, settings):
        print(note)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from notifier.obs.liveness import Liveness
    from notifier.obs.logs import register_secrets, setup_logging
    from notifier.obs.metrics import Metrics
    from notifier.runtime.app import App, make_client, secrets_of
    from notifier.runtime.config import load_rules
    from notifier.settings import load_settings
    from notifier.state import open_store
    from notifier.state.lock import InstanceLock

    stop = threading.Event()
    _stop_on_signals(stop)  # first: a signal while starting up is a clean stop too
    setup_logging()
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    register_secrets(secrets_of(settings))
    if settings.push_problems():
        from notifier.settings import ConfigError

        raise ConfigError(settings.push_problems())
    ruleset = load_rules(settings.rules_path, settings)
    metrics = Metrics()
    client = make_client(settings, stop, metrics)
    with ExitStack() as stack:
        if not settings.db_is_postgres:  # one copy on SQLite; any number on PostgreSQL
            stack.enter_context(InstanceLock(settings.db_path))
        store = open_store(settings.db)
        stack.callback(store.close)
        poller = None
        if settings.db_is_postgres and not args.once:
            from notifier.state.postgres_replicas import join_replicas

            poller = join_replicas(store, settings.poll_interval)
            stack.callback(poller.stop)
        store.release_all_claims()
        liveness = Liveness(settings.poll_interval, store.ping)
        server, writer = _http_server(settings, liveness, metrics, store)
        app = App(
            settings,
            ruleset,
            store,
            client,
            stop=stop,
            metrics=metrics,
            liveness=liveness,
            poller=poller,
        )
        stack.callback(app.close)  # on the way out: the server, the writer, the app, ...
        if writer is not None:
            stack.callback(writer.close)
            writer.notify = app.on_push  # one recorded before this waits for the first cycle
        if server is not None:
            stack.callback(server.close)
        if args.once:
            result = app.cycle(args.since)
            return 0 if result.sources_ok else 1
        app.run_forever(args.since)
        return 0
    return 0  # pragma: no cover - the block always returns


def _http_server(settings: Any, liveness: Any, metrics: Any, store: Any) -> tuple[Any, Any]:
    """The HTTP server on NOTIFIER_HTTP_ADDR, started (None when it is empty), with
    Testpress's webhook endpoints when both keys are set, and their inbox writer (None
    without them). Routes beyond the service endpoints are added here, before
    `start()`."""
    if not settings.http_addr:
        if settings.push_configured:
            import logging

            logging.getLogger("notifier.cli").warning(
                "TESTPRESS_WEBHOOK_* are set but NOTIFIER_HTTP_ADDR is not: "
                "no webhooks are accepted"
            )
        return None, None
    from notifier.settings import ConfigError
    from notifier.web.http import AddressError
    from notifier.web.push import configure_push
    from notifier.web.service import service_server

    try:
        server = service_server(settings.http_addr, liveness, metrics)
    except AddressError as exc:
        raise ConfigError([f"NOTIFIER_HTTP_ADDR: {exc}"]) from None
    writer = configure_push(server, settings, store, lambda: None, metrics)
    server.start()
    return server, writer


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def status_report(settings: Any) -> dict[str, Any]:
    """The `status --json` object (contract section 2)."""
    from notifier.commands.deliveries import in_use_only, status_extras
    from notifier.runtime.config import RulesError, load_rules
    from notifier.runtime.poison import status_of
    from notifier.state import iso, open_store
    from notifier.state.lock import InstanceLock

    store = open_store(settings.db)
    try:
        report: dict[str, Any] = {
            "sources": store.source_statuses(),
            "deliveries": store.delivery_counts(),
            "poisoned": status_of(store),
        }
        report["deliveries"]["retrying"] = report["deliveries"].pop("retrying", 0)
        if settings.db_is_postgres:
            report["replicas"] = store.replicas_status()  # type: ignore[attr-defined]
            running = bool(report["replicas"]["live"])
        else:
            running = InstanceLock(settings.db_path).holder() is not None
        report.update(status_extras(store, running))
        if running:  # a service runs: report what it loaded
            report["rules"] = {
                "path": store.get_meta("rules_path") or str(settings.rules_path),
                "loaded_at": store.get_meta("rules_loaded_at"),
                "error": store.get_meta("rules_error") or None,
            }
        else:
            import time

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
    from notifier.commands.deliveries import status_lines
    from notifier.obs.logs import redact
    from notifier.runtime.poison import status_lines as poison_lines
    from notifier.settings import load_settings
    from notifier.state.exists import missing_store

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
        f"{d['dead']} dead, {d['sent']} sent"
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


def cmd_migrate_store(args: argparse.Namespace) -> int:
    from notifier.commands.migrate_store import run_migrate_store

    return run_migrate_store(args.to)


def cmd_demo(args: argparse.Namespace) -> int:
    from notifier.commands.demo import run_demo

    return run_demo()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from notifier.sandbox import serve

    serve(port=args.port, seed=args.seed, push_to=args.push_to)
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from notifier.commands.ruletest import run_tests
    from notifier.settings import load_settings

    return run_tests(args.tests, sys.stdout, lambda: load_settings().rules_path)


def cmd_preview(args: argparse.Namespace) -> int:
    from notifier.commands.preview import preview_command
    from notifier.obs.logs import redact, register_secrets
    from notifier.runtime.app import make_client
    from notifier.runtime.config import load_rules
    from notifier.settings import load_settings

    settings = load_settings()
    register_secrets(
        s.get_secret_value() if s else None
        for s in (settings.testpress_token, settings.testpress_password)
    )
    ruleset = load_rules(args.path or settings.rules_path, None)
    client = make_client(settings)
    try:
        import io

        out = io.StringIO()
        code = preview_command(
            ruleset, client, out, args.days, args.samples, timezone=settings.timezone
        )
        print(redact(out.getvalue()), end="")
        return code
    finally:
        client.close()


def cmd_schema(args: argparse.Namespace) -> int:
    from notifier.commands.schema import schema_text

    sys.stdout.write(schema_text())
    return 0


def _deliveries(name: str) -> Any:
    """A command of `notifier.commands.deliveries`, imported when it runs."""

    def command(args: argparse.Namespace) -> int:
        from notifier.commands import deliveries

        return int(getattr(deliveries, name)(args))

    return command


COMMANDS = {
    "run": cmd_run,
    "check": cmd_check,
    "status": cmd_status,
    "replay": _deliveries("cmd_replay"),
    "deliveries": _deliveries("cmd_deliveries"),
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
    "test": cmd_test,
    "preview": cmd_preview,
    "schema": cmd_schema,
    "migrate-store": cmd_migrate_store,
}
