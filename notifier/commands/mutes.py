"""`notifier mute`, `notifier mutes [--json]`, `notifier unmute ID` (contract section 13):
the mutes from the command line, through the same service Slack and the console use,
so a mute made in one place shows in the others. `by` is the OS user.

A rule or channel name is checked against the rules file (an unknown one is refused
with exit 2 and the closest name: a mute on a misspelt rule would silently hold
nothing); a student is a Testpress user id or an email, as the alerts carry them.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from notifier.actions.service import LONGEST_MUTE, Actions, Mute, UnknownMute
from notifier.rules.hints import did_you_mean
from notifier.rules.policy import parse_duration
from notifier.runtime.config import load_rules
from notifier.settings import ConfigError, Settings, load_settings
from notifier.state import open_store
from notifier.state.exists import missing_store
from notifier.text import one_line

# `mutes` shows the mutes that ended this many days back (its help says so, in cli.py).
ENDED_DAYS = 7


def who() -> str:
    """The OS user running the command (a container's uid may have no name: `uid N`)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"


def duration_of(text: str) -> timedelta:
    """`30m`, `12h`, `7d` as the rules file reads them; a configuration problem if not
    a positive duration."""
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ConfigError([f"--for: {exc}"]) from None
    if seconds <= 0:
        raise ConfigError([f"--for: {text!r} is not a positive duration like 30m, 12h or 7d"])
    if seconds > LONGEST_MUTE.total_seconds():
        raise ConfigError([f"--for: {text!r} is longer than {LONGEST_MUTE.days} days"])
    return timedelta(seconds=seconds)


def student_of(text: str | None) -> str | None:
    """A Testpress user id or an email, as the alerts carry them: a name would match
    nothing, so it is refused."""
    value = (text or "").strip()
    if not value:
        return None
    if not (value.isdigit() or ("@" in value and " " not in value)):
        raise ConfigError(
            [f"--student: {value!r} is not a user id or an email (a name matches nothing)"]
        )
    return value


def _check_names(settings: Settings, rule: str | None, channel: str | None) -> None:
    """Refuse a rule or channel the rules file does not name, with the closest one."""
    if rule is None and channel is None:
        return
    ruleset = load_rules(settings.rules_path, settings)
    problems = []
    rules = [r.name for r in ruleset.rules] + list(ruleset.disabled)
    if rule is not None and rule not in rules:
        problems.append(
            f"--rule: no rule {rule!r} in {settings.rules_path}{did_you_mean(rule, rules)}"
        )
    channels = list(ruleset.channels)
    if channel is not None and channel not in channels:
        problems.append(
            f"--channel: no channel {channel!r} in {settings.rules_path}"
            + did_you_mean(channel, channels)
        )
    if problems:
        raise ConfigError(problems)


def cmd_mute(args: argparse.Namespace) -> int:
    if not (args.student or "").strip() and not (args.rule or "").strip():
        raise ConfigError(["notifier mute: give --student, --rule or both"])
    student = student_of(args.student)
    duration = duration_of(args.duration)
    settings = load_settings()
    _check_names(settings, args.rule, args.channel)
    store = open_store(settings.db)
    try:
        mute = Actions(store, per_thread=False).mute(
            student=student,
            rule=args.rule,
            channel=args.channel,
            duration=duration,
            by=who(),
            reason=args.reason,
            source="cli",
        )
    finally:
        store.close()
    print(mute.id)
    zone = ZoneInfo(settings.timezone)
    print(f"muted {mute.scope()} until {_when(mute.until, zone)}", file=sys.stderr)
    return 0


def cmd_mutes(args: argparse.Namespace) -> int:
    settings = load_settings()
    problem = missing_store(settings.db)
    if problem is not None:  # nothing is muted on a store no one made
        print("[]" if args.json else "no mutes")
        return 0
    store = open_store(settings.db)
    try:
        mutes = Actions(store, per_thread=False).mutes(include_ended_days=ENDED_DAYS)
    finally:
        store.close()
    if args.json:
        print(json.dumps([m.to_json() for m in mutes], indent=2, ensure_ascii=False))
        return 0
    print(table(mutes, ZoneInfo(settings.timezone)))
    return 0


def cmd_unmute(args: argparse.Namespace) -> int:
    settings = load_settings()
    problem = missing_store(settings.db)
    if problem is not None:
        print(f"notifier: no mute {args.id}: {problem}", file=sys.stderr)
        return 1
    store = open_store(settings.db)
    try:
        mute = Actions(store, per_thread=False).unmute(args.id, by=who(), source="cli")
    except UnknownMute:
        print(f"notifier: no mute {args.id} (see `notifier mutes`)", file=sys.stderr)
        return 1
    finally:
        store.close()
    ended = _when(mute.ended_at, ZoneInfo(settings.timezone)) if mute.ended_at else "-"
    print(f"{mute.id} ({mute.scope()}) ended {ended}")
    return 0


def _when(at: datetime | None, zone: ZoneInfo) -> str:
    return "-" if at is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def table(mutes: list[Mute], zone: ZoneInfo) -> str:
    if not mutes:
        return f"no mutes (none active, none ended in the last {ENDED_DAYS} days)"
    header = ("ID", "STUDENT", "RULE", "CHANNEL", "UNTIL", "ENDED", "BY", "REASON")
    body = [
        (
            m.id,
            m.student or "*",
            m.rule or "*",
            m.channel or "*",
            _when(m.until, zone),
            _when(m.ended_at, zone) if m.ended_at else "active",
            m.by,
            one_line(m.reason or "", 50),
        )
        for m in mutes
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *body]]  # fmt: skip
    lines.append(f"(times in {zone.key}; newest first; * is any)")
    return "\n".join(lines)


__all__ = ["cmd_mute", "cmd_mutes", "cmd_unmute", "duration_of"]
