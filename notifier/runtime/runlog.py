"""The two lines `notifier run` logs at INFO around its life: what it starts with, and
what it finished when it stops cleanly.

An operator reading a log (or a container's) first wants to know which notifier this
is and what it watches: the version, the state store (a PostgreSQL URL's password
shown as `***`), the sources it polls and how often, push on or off, and the rules
file with how many rules and channels. At a clean stop (SIGTERM, SIGINT, or the end of
`--once`) one line says why it stopped, how long it ran, what it got through (cycles,
pushed webhooks, sends) and what it leaves for the next start. A stop that is not
clean (an exception) has its traceback instead, not this line.

Both lines carry the same facts as fields (`start`, `stop`) for JSON logs.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from notifier import __version__
from notifier.obs.metrics import Metrics
from notifier.runtime.app import App
from notifier.settings import Settings
from notifier.settings.dburl import redact_url
from notifier.state import Store

log = logging.getLogger("notifier.run")


@dataclass
class Finished:
    """What a run got through, read while the store is still open."""

    cycles: int
    webhooks: int
    sent: int
    left: Mapping[str, int]  # outbox rows by status


class RunLog:
    """Logs the start line and the clean-stop line; `on_signal` notes the signal."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._began = clock()
        self.signal: str | None = None

    def on_signal(self, signum: int) -> None:
        self.signal = signal.Signals(signum).name

    def started(self, settings: Settings, app: App) -> str:
        """The start line, from the settings and the App's rules and sources."""
        ruleset = app.ruleset
        sources = app.sources_in_use()
        store = redact_url(settings.db) if settings.db_is_postgres else f"sqlite {settings.db}"
        polled = (
            f"polling {', '.join(sources)} every {settings.poll_interval:g} s"
            if sources
            else "polling nothing (no rule needs a source)"
        )
        push = "push on" if settings.push_configured and settings.http_addr else "push off"
        rules = _n(len(ruleset.rules), "rule")
        if ruleset.disabled:
            rules += f" and {len(ruleset.disabled)} disabled"
        line = (
            f"notifier {__version__} started: store {store}; {polled}; {push}; "
            f"rules {ruleset.path} ({rules}, {_n(len(ruleset.channels), 'channel')})"
        )
        fields = {
            "version": __version__,
            "store": store,
            "sources": sources,
            "poll_interval": settings.poll_interval,
            "push": push == "push on",
            "rules_path": str(ruleset.path),
            "rules": len(ruleset.rules),
            "disabled_rules": len(ruleset.disabled),
            "channels": len(ruleset.channels),
        }
        log.info(line, extra={"start": fields})
        return line

    def finished(self, app: App, store: Store, metrics: Metrics) -> Finished:
        """What the run got through; flushes the push summary's last part first."""
        app.intake.summary.flush()
        return Finished(
            cycles=int(_sample(metrics.registry, "notifier_cycles_total")),
            webhooks=app.intake.counts.webhooks,
            sent=int(_sample(metrics.registry, "notifier_deliveries_total", outcome="sent")),
            left=store.outbox.delivery_counts(),
        )

    def stopped(self, done: Finished, once: bool = False) -> str:
        """The clean-stop line, logged once everything is closed."""
        why = "after its one cycle (--once)" if once else f"on {self.signal or 'request'}"
        left = ", ".join(
            f"{done.left.get(s, 0)} {s}" for s in ("queued", "retrying") if done.left.get(s)
        )
        line = (
            f"notifier stopped cleanly {why}, up {_uptime(self._clock() - self._began)}: "
            f"finished {_n(done.cycles, 'cycle')}, {_n(done.webhooks, 'pushed webhook')}, "
            f"{_n(done.sent, 'delivery', 'deliveries')} sent; "
            + (f"left for the next start: {left}" if left else "nothing left to send")
        )
        fields = {
            "uptime_seconds": round(self._clock() - self._began, 3),
            "signal": self.signal,
            "cycles": done.cycles,
            "webhooks": done.webhooks,
            "sent": done.sent,
            "queued": done.left.get("queued", 0),
            "retrying": done.left.get("retrying", 0),
        }
        log.info(line, extra={"stop": fields})
        return line


def _sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels (0 when it has none)."""
    total = 0.0
    for family in registry.collect():
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def _n(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def _uptime(seconds: float) -> str:
    """'42 s', '3 min 5 s', '2 h 14 min', '3 d 4 h'."""
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"
