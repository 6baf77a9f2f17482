"""`notifier run [--once] [--since DAY]`: the service. Settings and rules are read and
checked, then the composition root (`notifier.runtime.compose.build`) builds the parts
as a service runs them (the instance lock on SQLite, the replicas' lease on
PostgreSQL, the HTTP server) and the loop runs until a signal stops it."""

from __future__ import annotations

import argparse
import signal
import threading
from types import FrameType

from notifier.obs.logs import register_secrets, setup_logging
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.runtime.wiring import secrets_of
from notifier.settings import ConfigError, load_settings


def cmd_run(args: argparse.Namespace) -> int:
    stop = threading.Event()
    _stop_on_signals(stop)  # first: a signal while starting up is a clean stop too
    setup_logging()
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    register_secrets(secrets_of(settings))
    if settings.push_problems():
        raise ConfigError(settings.push_problems())
    ruleset = load_rules(settings.rules_path, settings)
    with build(
        settings, ruleset=ruleset, stop=stop, instance=True, replicas=not args.once
    ) as parts:
        if args.once:
            result = parts.app.cycle(args.since)
            return 0 if result.sources_ok else 1
        parts.app.run_forever(args.since)
        return 0


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
