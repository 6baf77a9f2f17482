"""`notifier run [--once] [--since DAY]`: the service. Settings and rules are read and
checked, then the composition root (`notifier.runtime.compose.build`) builds the parts
as a service runs them (the instance lock on SQLite, the replicas' lease on
PostgreSQL, the HTTP server) and the loop runs until a signal stops it."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from types import FrameType

from notifier.obs.logs import register_secrets, setup_logging
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.runtime.runlog import RunLog
from notifier.runtime.wiring import secrets_of
from notifier.settings import ConfigError, load_settings


def cmd_run(args: argparse.Namespace) -> int:
    stop, runlog = threading.Event(), RunLog()
    _stop_on_signals(stop, runlog.on_signal)  # first: a signal while starting up is clean too
    setup_logging()
    settings = load_settings()
    setup_logging(settings.log_level, settings.log_format)
    register_secrets(secrets_of(settings))
    if settings.push_problems():
        raise ConfigError(settings.push_problems())
    # Rules in the store are read once the store is open (the file then seeds version 1).
    ruleset = None if settings.rules_in_store else load_rules(settings.rules_path, settings)
    with build(
        settings, ruleset=ruleset, stop=stop, instance=True, replicas=not args.once
    ) as parts:
        runlog.started(settings, parts.app)
        code = 0
        if args.once:
            code = 0 if parts.app.cycle(args.since).sources_ok else 1
        else:
            parts.app.run_forever(args.since)
        finished = runlog.finished(parts.app, parts.store, parts.metrics)
    runlog.stopped(finished, once=args.once)  # once the server, app and store are closed
    return code


def _stop_on_signals(stop: threading.Event, noted: Callable[[int], None] | None = None) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        if noted is not None and not stop.is_set():
            noted(signum)  # the first signal is the one the stop line names
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
