"""Commands (contract section 2): the arguments parsed here, each command run by its
module in `notifier/commands/`, errors mapped to exit codes (`commands/exits.py`).

Exit status 2 is a configuration problem (one located problem a line, no traceback),
1 anything else that stopped the command.

This module imports only the standard library at import time, and each command's
module is imported when that command runs: the named exceptions to the rule against
imports inside functions (ruff PLC0415), so `notifier --help` answers at once and
`notifier check` never loads the HTTP server, the store's drivers or the sandbox.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

FILTER_STATUSES = ("queued", "retrying", "dead", "sent", "muted")
DEFAULT_LIMIT = 50


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
    _add_deliveries(sub)
    replay = sub.add_parser("replay", help="queue dead (or muted) deliveries again")
    replay.add_argument("ids", nargs="*", metavar="ID", help="delivery ids")
    replay.add_argument("--all", action="store_true", help="every dead delivery")
    sub.add_parser("demo", help="run the notifier against the sandbox institute")
    _add_sandbox(sub)
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
    _add_backup(sub)
    _add_rules(sub)
    _add_users(sub)
    _add_mutes(sub)
    return parser


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number of days")
    return number


def _add_deliveries(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`notifier deliveries`, beside the other commands."""
    p = sub.add_parser("deliveries", help="what was sent, queued or died, newest first")
    p.add_argument("--status", choices=FILTER_STATUSES, help="only deliveries in this state")
    p.add_argument("--rule", metavar="NAME", help="only this rule's deliveries")
    p.add_argument("--channel", metavar="NAME", help="only this channel's deliveries")
    p.add_argument(
        "--since", type=_parse_date, metavar="YYYY-MM-DD", help="queued on or after this day"
    )
    p.add_argument(
        "--limit",
        type=_limit,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"at most N, newest first (default {DEFAULT_LIMIT}; 0 for all)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of objects")


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`notifier sandbox` (its module, with the sandbox institute and standardwebhooks,
    is imported only when it runs: parsing it took a third of `notifier check`)."""
    sandbox = sub.add_parser("sandbox", help="serve the sandbox institute alone")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--seed", type=int, default=1)
    sandbox.add_argument(
        "--push-to",
        metavar="URL",
        help="send the institute's signed webhooks to URL/webhooks/testpress/... "
        "(the notifier's base URL)",
    )
    sandbox.add_argument(
        "--standins",
        action="store_true",
        help="also start Slack, SMTP and webhook stand-ins that print what they receive",
    )
    sandbox.add_argument(
        "--write-env", type=Path, metavar="PATH", help="also write the printed .env to PATH"
    )


def _add_users(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`notifier users` (contract section 14); the roles are `notifier.state.people.ROLES`
    (named here so that parsing imports no store)."""
    users = sub.add_parser("users", help="the console's users (add, list, remove, passwd)")
    verbs = users.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = verbs.add_parser("add", help="add a user; the password is read from stdin or a prompt")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=("viewer", "editor", "admin"), required=True)
    verbs.add_parser("list", help="every user and their role")
    remove = verbs.add_parser("remove", help="remove a user (their sessions end)")
    remove.add_argument("name", metavar="NAME")
    passwd = verbs.add_parser("passwd", help="a new password (their sessions end)")
    passwd.add_argument("name", metavar="NAME")


def _add_backup(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = sub.add_parser(
        "backup", help="copy the SQLite state store to PATH, safely while a notifier runs"
    )
    backup.add_argument(
        "path", type=Path, metavar="PATH", help="the copy's file (a folder: a dated file in it)"
    )


def _add_rules(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`notifier rules export|import`: the rules' versions kept in the state store."""
    rules = sub.add_parser("rules", help="the rules' versions kept in the state store")
    verbs = rules.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = verbs.add_parser("export", help="print a version's YAML (default: the active one)")
    export.add_argument("--version", type=_version, metavar="N", help="the version's number")
    export.add_argument(
        "--tests", action="store_true", help="print the rule tests kept beside it instead"
    )
    imported = verbs.add_parser("import", help="add FILE as a new version and make it active")
    imported.add_argument("file", type=Path, metavar="FILE", help="a rules file")
    imported.add_argument("--note", required=True, metavar="TEXT", help="what changed and why")
    imported.add_argument(
        "--tests",
        type=Path,
        metavar="FILE",
        help="rule tests kept beside the version (default: rules.tests.yaml beside FILE, if any)",
    )


def _version(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a version number (1, 2, ...)")
    return int(value)


def _add_mutes(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`notifier mute`, `mutes`, `unmute` (contract section 13; `commands/mutes.py`)."""
    mute = sub.add_parser("mute", help="hold a student's or a rule's alerts for a while")
    mute.add_argument("--student", metavar="ID|EMAIL", help="the student's user id or email")
    mute.add_argument("--rule", metavar="NAME", help="the rule (with --student: both must match)")
    mute.add_argument("--channel", metavar="NAME", help="only on this channel")
    mute.add_argument(
        "--for", dest="duration", required=True, metavar="DURATION", help="e.g. 30m, 12h, 7d"
    )
    mute.add_argument("--reason", default="", metavar="TEXT", help="why, for the others")
    mutes = sub.add_parser("mutes", help="the mutes: active, and ended in the last 7 days")
    mutes.add_argument("--json", action="store_true", help="print a JSON list of objects")
    unmute = sub.add_parser("unmute", help="lift a mute now")
    unmute.add_argument("id", metavar="ID", help="the mute's id (see `notifier mutes`)")


def _limit(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number (0 for all)")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from notifier.commands.exits import exit_status  # noqa: PLC0415 - start-up time (above)

    return exit_status(COMMANDS[args.command], args)


# Each command's module, imported when it runs (start-up time: see the module docstring).


def cmd_run(args: argparse.Namespace) -> int:
    from notifier.commands.run import cmd_run as run  # noqa: PLC0415 - start-up time

    return run(args)


def cmd_check(args: argparse.Namespace) -> int:
    from notifier.commands.check import cmd_check as check  # noqa: PLC0415 - start-up time
    from notifier.commands.check import in_store  # noqa: PLC0415 - start-up time

    if in_store(args):  # the store's drivers only when the rules are kept there
        from notifier.commands.check_store import cmd_check_store  # noqa: PLC0415 - start-up time

        return cmd_check_store(args)
    return check(args)


def cmd_status(args: argparse.Namespace) -> int:
    from notifier.commands.status import cmd_status as status  # noqa: PLC0415 - start-up time

    return status(args)


def cmd_deliveries(args: argparse.Namespace) -> int:
    from notifier.commands.deliveries import cmd_deliveries as show  # noqa: PLC0415 - start-up time

    return show(args)


def cmd_replay(args: argparse.Namespace) -> int:
    from notifier.commands.deliveries import cmd_replay as replay  # noqa: PLC0415 - start-up time

    return replay(args)


def cmd_demo(args: argparse.Namespace) -> int:
    from notifier.commands.demo import run_demo  # noqa: PLC0415 - start-up time

    return run_demo()


def cmd_sandbox(args: argparse.Namespace) -> int:
    from notifier.commands.sandbox import run_sandbox  # noqa: PLC0415 - start-up time

    return run_sandbox(args)


def cmd_backup(args: argparse.Namespace) -> int:
    from notifier.commands.backup import run_backup  # noqa: PLC0415 - start-up time
    from notifier.settings import load_settings  # noqa: PLC0415 - start-up time

    return run_backup(load_settings().db, args.path)


def cmd_users(args: argparse.Namespace) -> int:
    from notifier.commands.users import cmd_users as users  # noqa: PLC0415 - start-up time

    return users(args)


def cmd_test(args: argparse.Namespace) -> int:
    from notifier.commands.ruletest import cmd_test as test  # noqa: PLC0415 - start-up time

    return test(args)


def cmd_preview(args: argparse.Namespace) -> int:
    from notifier.commands.preview import cmd_preview as preview  # noqa: PLC0415 - start-up time

    return preview(args)


def cmd_schema(args: argparse.Namespace) -> int:
    from notifier.drafts.jsonschema import schema_text  # noqa: PLC0415 - start-up time

    sys.stdout.write(schema_text())
    return 0


def cmd_migrate_store(args: argparse.Namespace) -> int:
    from notifier.commands.migrate_store import run_migrate_store  # noqa: PLC0415 - start-up time

    return run_migrate_store(args.to)


def cmd_rules(args: argparse.Namespace) -> int:
    from notifier.commands.rules import cmd_rules as rules  # noqa: PLC0415 - start-up time

    return rules(args)


def cmd_mute(args: argparse.Namespace) -> int:
    from notifier.commands.mutes import cmd_mute as mute  # noqa: PLC0415 - start-up time

    return mute(args)


def cmd_mutes(args: argparse.Namespace) -> int:
    from notifier.commands.mutes import cmd_mutes as mutes  # noqa: PLC0415 - start-up time

    return mutes(args)


def cmd_unmute(args: argparse.Namespace) -> int:
    from notifier.commands.mutes import cmd_unmute as unmute  # noqa: PLC0415 - start-up time

    return unmute(args)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "check": cmd_check,
    "status": cmd_status,
    "replay": cmd_replay,
    "deliveries": cmd_deliveries,
    "demo": cmd_demo,
    "sandbox": cmd_sandbox,
    "test": cmd_test,
    "preview": cmd_preview,
    "schema": cmd_schema,
    "migrate-store": cmd_migrate_store,
    "backup": cmd_backup,
    "rules": cmd_rules,
    "users": cmd_users,
    "mute": cmd_mute,
    "mutes": cmd_mutes,
    "unmute": cmd_unmute,
}
