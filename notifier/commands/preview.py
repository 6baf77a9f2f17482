"""`notifier preview [--days N]`: what the current rules would have sent over the last N
days, so an admin can tune a threshold before enabling a rule. The reading and tallying
is `notifier.drafts.period` (shared with the console's preview of a draft); this module
prints it."""

from __future__ import annotations

import argparse
import io
from datetime import UTC, datetime
from typing import TextIO

from notifier.drafts.period import SAMPLES, Preview, read_period
from notifier.obs.logs import redact, register_secrets
from notifier.rules.schema import RuleSet
from notifier.runtime.config import load_rules
from notifier.runtime.sources import make_sources, sources_for
from notifier.runtime.wiring import make_client
from notifier.settings import load_settings
from notifier.sources.base import Source
from notifier.testpress.client import TestpressClient
from notifier.text import one_line

__all__ = ["Preview", "cmd_preview", "preview_command", "print_preview", "run_preview"]


def run_preview(
    ruleset: RuleSet,
    client: TestpressClient,
    *,
    days: float = 1.0,
    samples: int = SAMPLES,
    now: datetime | None = None,
    sources: dict[str, Source] | None = None,
    timezone: str = "Asia/Kolkata",
) -> Preview:
    """Read the last `days` days through every source the rules need, evaluate, tally.
    Never sends, never writes state."""
    return read_period(
        ruleset,
        client,
        make_sources() if sources is None else sources,
        sources_for(ruleset.kinds_used()),
        days=days,
        samples=samples,
        now=now,
        timezone=timezone,
    )


def print_preview(p: Preview, ruleset: RuleSet, out: TextIO) -> None:
    days = f"{p.days:g} day{'' if p.days == 1 else 's'}"
    print(f"Preview of {ruleset.path} over the last {days} (since {_iso(p.since)})", file=out)
    read = ", ".join(f"{name}: {count} events" for name, count in p.events.items())
    print(f"read {read or 'nothing (no rule needs a source)'}", file=out)
    for name, error in p.errors.items():
        print(f"{name}: could not be read completely: {one_line(error, 300)}", file=out)
    for rule in ruleset.rules:
        count = p.matches.get(rule.name, 0)
        print(f"\n{rule.name} ({rule.event}): {count} match{'' if count == 1 else 'es'}", file=out)
        for tally in p.channels.get(rule.name, []):
            print(f"  {tally.channel} ({tally.type}): {tally.count} alerts", file=out)
            for sample in tally.samples:
                print(f"    {one_line(sample, 400)}", file=out)
    for name in ruleset.disabled:
        print(f"\n{name}: disabled (enabled: false), never fires", file=out)
    print("\nNothing was sent and no state was written.", file=out)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="minutes")


def preview_command(
    ruleset: RuleSet,
    client: TestpressClient,
    out: TextIO,
    days: float,
    samples: int = SAMPLES,
    *,
    now: datetime | None = None,
    sources: dict[str, Source] | None = None,
    timezone: str = "Asia/Kolkata",
) -> int:
    """Run and print; 0 when every source was read, 1 when one could not be."""
    result = run_preview(
        ruleset, client, days=days, samples=samples, now=now, sources=sources, timezone=timezone
    )
    print_preview(result, ruleset, out)
    return 1 if result.errors else 0


def cmd_preview(args: argparse.Namespace) -> int:
    """`notifier preview`: the client alone (no store, no channels), its secrets known
    to the redaction before anything is read."""
    settings = load_settings()
    register_secrets(
        s.get_secret_value() if s else None
        for s in (settings.testpress_token, settings.testpress_password)
    )
    ruleset = load_rules(args.path or settings.rules_path, None)
    client = make_client(settings)
    try:
        out = io.StringIO()
        code = preview_command(
            ruleset, client, out, args.days, args.samples, timezone=settings.timezone
        )
        print(redact(out.getvalue()), end="")
        return code
    finally:
        client.close()
