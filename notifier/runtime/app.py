"""One cycle = poll -> evaluate -> enqueue -> deliver; and the run loop around it.

Thin wiring: each stage lives in its own module. A source that fails is recorded and
skipped (the next cycle picks up what it missed); the others are still processed and
deliveries still attempted.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

from notifier.channels.base import SomeChannel
from notifier.delivery.deliverer import Deliverer
from notifier.delivery.planner import Planner
from notifier.events import Event, Kept
from notifier.obs.liveness import Liveness
from notifier.obs.logs import redact, register_secrets
from notifier.obs.metrics import Metrics
from notifier.rules.evaluate import Match
from notifier.rules.history import kept_fields
from notifier.rules.schema import RuleSet
from notifier.rules.templates import TemplateTable
from notifier.runtime.config import RulesError
from notifier.runtime.cycle import CycleResult, PollerGate, took_over
from notifier.runtime.intake import Intake, between_polls
from notifier.runtime.poison import commit_isolated
from notifier.runtime.recall import evaluate_with_history, once_per_spell
from notifier.runtime.rules_source import FileRules, RulesSource
from notifier.runtime.sources import sources_for
from notifier.runtime.upkeep import prune_if_due
from notifier.runtime.wiring import RulesWiring
from notifier.settings import Settings
from notifier.sources.base import PollContext, PollResult, Source, poll_parts
from notifier.sources.health import HealthWatch
from notifier.sources.readback import ReadBack
from notifier.state import NewDelivery, Store
from notifier.testpress.client import TestpressClient, TestpressError

log = logging.getLogger(__name__)

__all__ = ["App", "CycleResult"]

MIN_PASS_BUDGET = 5.0  # seconds a delivery pass in the run loop may hand out sends


class App:
    """One cycle, the run loop and hot reload over parts built elsewhere (the
    composition root, `notifier.runtime.compose.build`). The constructor only keeps
    its parts; `start()` makes the start-up writes (the rules' templates and secrets,
    the rules' meta in the store)."""

    def __init__(
        self,
        settings: Settings,
        ruleset: RuleSet,
        store: Store,
        client: TestpressClient,
        *,
        sources: dict[str, Source],
        channels: dict[str, SomeChannel],
        deliverer: Deliverer,
        health: HealthWatch,
        wiring: RulesWiring,
        readback: ReadBack,
        metrics: Metrics,
        stop: threading.Event,
        clock: Callable[[], float] = time.time,
        liveness: Liveness | None = None,
        poller: PollerGate | None = None,
        rules_source: RulesSource | None = None,
    ):
        self.settings = settings
        self.poller = poller
        self.ruleset = ruleset
        self.store = store
        self.client = client
        self.clock = clock
        self.stop = stop
        # Set by the push endpoints once a webhook is recorded: the loop processes the
        # inbox and delivers at once instead of at the next poll.
        self.wake = threading.Event()
        self.sources = sources
        self.metrics = metrics
        self.liveness = liveness
        self.health = health
        self._polled_last = True
        self.intake = Intake(store, client, self.sources, clock, self._plan)
        self.channels = channels
        self.wiring = wiring
        self.deliverer = deliverer
        self.readback = readback
        # The file NOTIFIER_RULES, or the active version in the store: asked each cycle.
        self.rules_source = rules_source or FileRules(wiring, ruleset.path)

    def start(self) -> None:
        """What taking up the rules writes: their secrets (for the log redaction), the
        rules' meta that `status` reads, the sources no rule polls cleared of errors, the
        metrics' labels; and, on a new store, the start of the read-back of the recent
        past (history from day one, notifier.sources.readback)."""
        register_secrets(self.wiring.secrets(self.ruleset))
        self._rules_loaded(self.ruleset)
        new_store = not any(self.store.seen.has_baseline(name) for name in self.sources)
        self.readback.begin(self.sources_in_use(), new_store)
        self.rules_source.mark()
        self.store.meta.set_meta("rules_loaded_at", _now_iso(self.clock()))
        self.store.meta.set_meta("rules_path", str(self.ruleset.path))
        self.store.meta.set_meta("rules_error", "")

    def close(self) -> None:
        self.deliverer.close()
        for channel in self.channels.values():
            channel.close()
        self.client.close()

    # -- one cycle ------------------------------------------------------------------------

    def cycle(self, since: date | None = None, budget: float | None = None) -> CycleResult:
        """Poll every source in use, queue what matched, then one delivery pass (bounded
        by `budget` seconds in the run loop; `run --once` sends everything due)."""
        started = time.monotonic()
        result = CycleResult()
        # Pushed webhooks first: a completion pushed before the first poll alerts,
        # where the first poll's baseline would have marked it seen silently.
        result.queued += self.process_inbox()
        polling = self.poller is None or self.poller.is_poller()  # any replica takes pushes
        if polling and not self._polled_last:  # took over: the monitor as the last poller left it
            self.health = HealthWatch(self.store, self.settings.health_after_seconds)
        self._polled_last = polling
        read_back = not polling
        for name in self.sources_in_use() if polling else []:
            if self.stop.is_set():
                break
            if name == "inactivity":  # last: it reads the activity the read-back keeps
                read_back = True
                if (
                    not self.readback.slice(self.ruleset.rules, budget)
                    and self.readback.holds_inactivity()
                ):
                    continue
            ok, queued, events = self.poll_source(name, since, result)
            result.sources += 1
            result.sources_ok &= ok
            result.queued += queued
            result.events += events
            if not ok:
                result.failed.append(name)
        if not read_back:
            self.readback.slice(self.ruleset.rules, budget)
        if polling:  # one monitor for all replicas: the poller's (it sees the polls)
            self.queue_health(result)
        else:
            self.health.pending.clear()
        result.delivery = self.deliverer.run_pass(budget)
        prune_if_due(self.store, self.settings.lookback_hours, self.ruleset.rules, self.clock())
        seconds = time.monotonic() - started
        self.metrics.cycle_done(seconds)
        self.metrics.outbox(self.store.outbox.delivery_counts())
        self.metrics.poisoned(self.store.faults.poisoned_counts())
        if self.liveness is not None:
            self.liveness.cycle_finished()
        level = logging.DEBUG if result.idle else logging.INFO  # a quiet cycle: DEBUG
        log.log(level, result.summary(seconds), extra={"cycle": result.fields(seconds)})
        return result

    def queue_health(self, result: CycleResult) -> None:
        """The notifier's own trouble (notifier.sources.health) through the rules and
        the outbox like any event; no baseline applies to it."""
        now = self.clock()
        self.health.check_deliveries(now)

        def plan(events: list[Event]) -> tuple[list[NewDelivery], list[Kept]]:
            matches, kept = evaluate_with_history(
                self.store, self.ruleset.rules, PollResult(events=events), now
            )
            return self._deliveries(matches, now, result), kept

        events = self.health.flush(plan, now)
        result.health += len(events)

    def _source_done(self, name: str, *, read: bool, error: str | None, now: float) -> None:
        """Record a poll everywhere it shows: status, metrics, /healthz, health events."""
        self.store.sources.source_polled(name, ok=read, error=error, now=now)
        self.metrics.source_polled(name, ok=read and error is None, read=read, at=now)
        if self.liveness is not None:
            self.liveness.source_polled(name, read and error is None, error)
        self.health.source_polled(name, read and error is None, error, now)

    def sources_in_use(self) -> list[str]:
        used = sources_for(self.ruleset.kinds_used())
        return [name for name in self.sources if name in used]

    def poll_source(
        self, name: str, since: date | None, result: CycleResult | None = None
    ) -> tuple[bool, int, int]:
        """Poll one source and record its events and deliveries, a part at a time (one
        transaction each). Returns (read without errors, deliveries queued, events seen)."""
        result = result if result is not None else CycleResult()
        source = self.sources[name]
        first = not self.store.seen.has_baseline(name)
        now = self.clock()
        rules = [r for r in self.ruleset.rules if r.event in source.kinds]
        # When the rules stop pinning a filter the source pushed into its query, items
        # it never looked at come into view: record them as a baseline, so a changed
        # rule starts from now instead of alerting on history.
        filters = json.dumps(source.query_filters(rules), sort_keys=True, default=str)
        previous = self.store.meta.get_meta(f"filters:{name}")
        rebase = previous is not None and previous != filters
        ctx = PollContext(
            client=self.client,
            store=self.store,
            rules=rules,
            now=datetime.fromtimestamp(now, UTC),
            lookback_hours=self.settings.lookback_hours,
            # A source of the notifier's own events (what people did) has no backlog.
            baseline=((first and since is None) or rebase) and getattr(source, "baselines", True),
            since=since if first else None,
            conference_settle_minutes=self.settings.conference_settle_minutes,
            extra_conferences=self.ruleset.sources.conferences,
            history_fields=kept_fields(self.ruleset.rules),
            inactivity_check_at=self.settings.inactivity_check_at,
            timezone=self.settings.timezone,
            reconcile_minutes=self.settings.reconcile_minutes,
        )

        def commit(part: PollResult) -> int:
            matches, kept = evaluate_with_history(self.store, self.ruleset.rules, part, now)
            seen = list(part.seen)
            if name == "inactivity":
                matches, marks = once_per_spell(self.store, matches)
                seen += marks
            deliveries = self._deliveries(matches, now, result)
            return self.store.seen.record(
                name,
                seen,
                deliveries,
                baseline=first and part.last,
                state=part.state if part.last else None,
                now=now,
                history=kept,
            )

        # Each part in its own transaction as soon as it is ready; the cursor and the
        # baseline mark with the last (a store error is not the source's: it is raised).
        queued = read = seen = 0
        errors: list[str] = []
        parts = poll_parts(source, ctx)
        while (part := _next_part(name, parts)) is not None:
            if isinstance(part, str):  # the source failed: the parts before stay recorded
                self._source_done(name, read=False, error=part, now=now)
                return False, queued, read
            queued += commit_isolated(self.store, name, part, commit, now)
            errors += part.errors
            seen += len(part.seen)
            n = len(part.events) if part.read is None else part.read
            read += n
            if not ctx.baseline:
                self.metrics.events_seen(_kinds(source, part.events, n))
        if previous != filters:
            self.store.meta.set_meta(f"filters:{name}", filters)
        error = "; ".join(errors[:3]) if errors else None
        if error and len(errors) > 3:
            error += f" (and {len(errors) - 3} more)"
        if error:
            log.warning(
                "source %s was read in part: %s", name, redact(error), extra={"source": name}
            )
        self._source_done(name, read=True, error=redact(error) if error else None, now=now)
        if ctx.baseline:
            log.info("%s: baseline recorded (%d items); alerts start from now", name, seen)
        if not ctx.baseline and read:
            log.debug("%s: %d new events, %d deliveries queued", name, read, queued)
        return not errors, queued, read

    # -- pushed webhooks ---------------------------------------------------------------------

    def process_inbox(self) -> int:
        """Pending pushed webhooks -> deliveries (notifier.runtime.intake). Returns how many
        were queued. A failure leaves the rows pending (the poll is the net)."""
        try:
            return self.intake.process(self.ruleset.rules, self.sources_in_use())
        except Exception:  # noqa: BLE001 - the loop never dies on one bad batch
            log.exception("processing pushed webhooks failed; trying again next cycle")
            return 0

    def _plan(
        self, source: str, polled: PollResult, now: float
    ) -> tuple[list[NewDelivery], list[Kept]]:
        """A pushed batch's deliveries and history, evaluated (and counted in
        `notifier_events_total`) as a poll's are."""
        self.metrics.events_seen(_kinds(self.sources[source], polled.events, len(polled.seen)))
        matches, kept = evaluate_with_history(self.store, self.ruleset.rules, polled, now)
        return self._deliveries(matches, now), kept

    def _deliveries(
        self, matches: list[Match], now: float, result: CycleResult | None = None
    ) -> list[NewDelivery]:
        """One delivery per (match, channel), planned (grouping, quiet hours); every
        match counts in `notifier_matches_total` (polls, pushes and health events)."""
        planner = Planner(self.store.outbox, self.ruleset, now)
        deliveries = []
        for m in matches:
            self.metrics.matched(m.rule.name)
            if result is not None:
                result.matches += 1
            deliveries += [planner.delivery(m, channel) for channel in m.rule.notify]
        return deliveries

    def on_push(self) -> None:
        """Called by the push endpoints after a webhook is committed to the inbox."""
        self.wake.set()

    # -- hot reload -------------------------------------------------------------------------

    def reload_rules_if_changed(self) -> None:
        """A changed rules file (or a new active version in the store) takes effect at
        the next cycle; an invalid one is reported (log and `status`) and the last good
        rules keep running."""
        if not self.rules_source.changed():
            return
        try:
            ruleset = self.rules_source.load()
        except RulesError as exc:
            text = "\n".join(str(p) for p in exc.problems)
            log.error("rules changed but are invalid; keeping the last good rules:\n%s", text)
            self.store.meta.set_meta("rules_error", text)
            self.metrics.rules_reloaded(ok=False)
            self.health.rules_loaded(str(self.ruleset.path), text, self.clock())
            return
        old_channels = self.channels
        self.ruleset = ruleset
        self.channels = self.wiring.channels(ruleset)
        register_secrets(self.wiring.secrets(ruleset))
        self.deliverer.set_channels(self.channels, TemplateTable.of(ruleset.rules))
        for channel in old_channels.values():
            channel.close()
        self.store.meta.set_meta("rules_loaded_at", _now_iso(self.clock()))
        self.store.meta.set_meta("rules_path", str(ruleset.path))
        self.store.meta.set_meta("rules_error", "")
        self.metrics.rules_reloaded(ok=True)
        self.health.rules_loaded(str(ruleset.path), None, self.clock())
        self._rules_loaded(ruleset)
        log.info("rules reloaded: %s", ruleset.summary())

    def _rules_loaded(self, ruleset: RuleSet) -> None:
        used = sources_for(ruleset.kinds_used())
        self.store.log.clear_source_errors(used)  # no rule polls the others: nothing to fix
        self.metrics.known(
            [s for s in used if s in self.sources],
            [r.name for r in ruleset.rules],
            ruleset.channels,
        )
        if self.liveness is not None:
            self.liveness.rules_loaded()

    # -- the loop ---------------------------------------------------------------------------

    def run_forever(self, since: date | None = None) -> None:
        failed = False
        while not self.stop.is_set():
            started = time.monotonic()
            self.reload_rules_if_changed()
            polled = self.poller is None or self.poller.is_poller()
            try:
                if failed:  # a pass that failed half-way left its claims: none is in flight
                    self.store.outbox.release_all_claims()
                    failed = False
                self.cycle(since, budget=max(MIN_PASS_BUDGET, self.settings.poll_interval))
            except Exception:  # noqa: BLE001 - the loop never dies on one bad cycle
                failed = True
                log.exception("cycle failed; trying again next interval")
            if polled:  # --since is for the first poll, whichever replica makes it
                since = None
            between_polls(
                started + self.settings.poll_interval,
                stop=self.stop,
                wake=self.wake,
                process=self.process_inbox,
                deliver=lambda: self.deliverer.run_pass(MIN_PASS_BUDGET),
                poll_now=lambda: took_over(self.poller),
            )


def _next_part(name: str, parts: Iterator[PollResult]) -> PollResult | str | None:
    """The source's next part (None after the last), or the error it failed with (the
    parts before it stay recorded; the cursor did not move)."""
    try:
        return next(parts, None)
    except TestpressError as exc:
        message = redact(str(exc))
        log.warning("source %s could not be read: %s", name, message, extra={"source": name})
    except Exception as exc:  # noqa: BLE001 - one source's surprise never stops the rest
        message = redact(f"unexpected {type(exc).__name__}: {exc}")[:500]
        log.exception("source %s failed", name, extra={"source": name})
    return message


def _kinds(source: Source, events: list[Event], read: int) -> dict[str, int]:
    """New events by kind: those in hand, and those read that no rule wanted (counted
    under the source's first kind)."""
    counts: dict[str, int] = {}
    for event in events:
        counts[event.kind] = counts.get(event.kind, 0) + 1
    if read > len(events):
        counts[source.kinds[0]] = counts.get(source.kinds[0], 0) + read - len(events)
    return counts


def _now_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
