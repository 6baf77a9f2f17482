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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import Channel, SendContext
from notifier.config import RulesError, load_rules
from notifier.delivery.deliverer import Deliverer, PassResult, RetryPolicy
from notifier.delivery.policy import Policy, plan
from notifier.delivery.templates import activate
from notifier.events import SOURCE_OF_KIND, Kept
from notifier.intake import INBOX_KEPT, Intake
from notifier.obs.logs import redact, register_secrets
from notifier.recall import evaluate_with_history, once_per_spell
from notifier.rules.evaluate import Match
from notifier.rules.history import HISTORY_MAX_DAYS, earlier_dicts, keep_seconds, kept_fields
from notifier.rules.schema import RuleSet
from notifier.settings import Settings
from notifier.sources.base import PollContext, PollResult, Source
from notifier.state import NewDelivery, Store
from notifier.testpress.client import TestpressClient, TestpressError

log = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0
MIN_PASS_BUDGET = 5.0  # seconds a delivery pass in the run loop may hand out sends
PRUNE_MARGIN = 3 * 86400.0  # the day date filters are widened by, and two to spare
DEAD_KEPT = 30 * 86400.0
WAKE_SLICE = 0.2  # seconds between checks of `stop` while waiting for a push or a poll


def make_sources() -> dict[str, Source]:
    from notifier.sources.attempts import AttemptsSource
    from notifier.sources.conferences import ConferencesSource
    from notifier.sources.content import ContentAttemptsSource
    from notifier.sources.inactivity import InactivitySource

    return {
        "attempts": AttemptsSource(),
        "content_attempts": ContentAttemptsSource(),
        "conferences": ConferencesSource(),
        "inactivity": InactivitySource(),  # last: it reads what the others recorded
    }


def build_channels(ruleset: RuleSet, settings: Settings) -> dict[str, Channel]:
    ctx = SendContext(settings=settings)
    return {
        name: CHANNEL_TYPES[ch.type].build(name, ch.config, ctx)
        for name, ch in ruleset.channels.items()
    }


def secrets_of(settings: Settings, ruleset: RuleSet | None = None) -> list[str | None]:
    values: list[str | None] = [
        s.get_secret_value() if s is not None else None
        for s in (
            settings.testpress_token,
            settings.testpress_password,
            settings.slack_bot_token,
            settings.smtp_password,
        )
    ]
    if ruleset is not None:
        for ch in ruleset.channels.values():
            secret = getattr(ch.config, "secret", None)
            if secret is not None:
                values.append(secret.get_secret_value())
                values.append(secret.get_secret_value().removeprefix("whsec_"))
    return values


@dataclass
class CycleResult:
    sources_ok: bool = True
    queued: int = 0
    events: int = 0
    delivery: PassResult = field(default_factory=PassResult)


class App:
    def __init__(
        self,
        settings: Settings,
        ruleset: RuleSet,
        store: Store,
        client: TestpressClient,
        *,
        channels: dict[str, Channel] | None = None,
        clock: Any = time.time,
        stop: threading.Event | None = None,
    ):
        self.settings = settings
        self.ruleset = ruleset
        self.store = store
        self.client = client
        self.clock = clock
        self.stop = stop or threading.Event()
        # Set by the push endpoints once a webhook is recorded: the loop processes the
        # inbox and delivers at once instead of at the next poll.
        self.wake = threading.Event()
        self.sources = make_sources()
        self.intake = Intake(store, client, self.sources, clock, self._plan)
        self.channels = channels if channels is not None else build_channels(ruleset, settings)
        activate(ruleset.rules)  # the rules' message templates, used when rendering
        register_secrets(secrets_of(settings, ruleset))
        self.deliverer = Deliverer(
            store,
            self.channels,
            concurrency=settings.delivery_concurrency,
            policy=RetryPolicy(settings.retry_initial_seconds, settings.retry_max_hours),
            clock=clock,
            stop=self.stop,
        )
        self._rules_mtime = _mtime(ruleset.path)
        self.store.set_meta("rules_loaded_at", _now_iso(clock()))
        self.store.set_meta("rules_path", str(ruleset.path))
        self.store.set_meta("rules_error", "")

    def close(self) -> None:
        self.deliverer.close()
        for channel in self.channels.values():
            channel.close()
        self.client.close()

    # -- one cycle ------------------------------------------------------------------------

    def cycle(self, since: date | None = None, budget: float | None = None) -> CycleResult:
        """Poll every source in use, queue what matched, then one delivery pass (bounded
        by `budget` seconds in the run loop; `run --once` sends everything due)."""
        result = CycleResult()
        # Pushed webhooks first: a completion pushed before the first poll alerts,
        # where the first poll's baseline would have marked it seen silently.
        result.queued += self.process_inbox_safely()
        for name in self.sources_in_use():
            if self.stop.is_set():
                break
            ok, queued, events = self.poll_source(name, since)
            result.sources_ok &= ok
            result.queued += queued
            result.events += events
        result.delivery = self.deliverer.run_pass(budget)
        self.prune_if_due()
        return result

    def prune_if_due(self) -> None:
        """At most once an hour: drop seen keys and sent deliveries older than any poll
        can reach again (the lookback window, plus the day the date filters are widened
        by, plus a margin), and dead deliveries after 30 days."""
        now = self.clock()
        last = float(self.store.get_meta("pruned_at") or 0)
        if now - last < PRUNE_EVERY:
            return
        keep = (self.settings.lookback_hours * 3600) + PRUNE_MARGIN
        counts = self.store.prune(
            seen_before=now - keep, sent_before=now - keep, dead_before=now - DEAD_KEPT
        )
        counts["inbox"] = self.store.inbox_prune(now - INBOX_KEPT)
        counts.update(
            self.store.prune_history(
                before=now - keep_seconds(self.ruleset.rules),
                activity_before=now - HISTORY_MAX_DAYS * 86400.0,
            )
        )
        self.store.set_meta("pruned_at", str(now))
        if any(counts.values()):
            log.info("pruned the state store: %s", counts)

    def sources_in_use(self) -> list[str]:
        used = {SOURCE_OF_KIND[kind] for kind in self.ruleset.kinds_used()}
        return [name for name in self.sources if name in used]

    def poll_source(self, name: str, since: date | None) -> tuple[bool, int, int]:
        """Poll one source and record its events and deliveries in one transaction.
        Returns (read without errors, deliveries queued, events seen)."""
        source = self.sources[name]
        first = not self.store.has_baseline(name)
        now = self.clock()
        rules = [r for r in self.ruleset.rules if r.event in source.kinds]
        # When the rules stop pinning a filter the source pushed into its query, items
        # it never looked at come into view: record them as a baseline, so a changed
        # rule starts from now instead of alerting on history.
        filters = json.dumps(source.query_filters(rules), sort_keys=True, default=str)
        previous = self.store.get_meta(f"filters:{name}")
        rebase = previous is not None and previous != filters
        ctx = PollContext(
            client=self.client,
            store=self.store,
            rules=rules,
            now=datetime.fromtimestamp(now, UTC),
            lookback_hours=self.settings.lookback_hours,
            baseline=(first and since is None) or rebase,
            since=since if first else None,
            conference_settle_minutes=self.settings.conference_settle_minutes,
            extra_conferences=self.ruleset.sources.conferences,
            history_fields=kept_fields(self.ruleset.rules),
            inactivity_check_at=self.settings.inactivity_check_at,
            timezone=self.settings.timezone,
            reconcile_minutes=self.settings.reconcile_minutes,
        )
        try:
            polled = source.poll(ctx)
        except TestpressError as exc:
            message = redact(str(exc))
            log.error("source %s could not be read: %s", name, message)
            self.store.source_polled(name, ok=False, error=message, now=now)
            return False, 0, 0
        except Exception as exc:  # noqa: BLE001 - one source's surprise never stops the rest
            message = redact(f"unexpected {type(exc).__name__}: {exc}")[:500]
            log.exception("source %s failed", name)
            self.store.source_polled(name, ok=False, error=message, now=now)
            return False, 0, 0
        matches, kept = self.evaluate(polled, now)
        seen = list(polled.seen)
        if name == "inactivity":
            matches, marks = once_per_spell(self.store, matches)
            seen += marks
        deliveries = self._deliveries(matches, now)
        queued = self.store.record(
            name, seen, deliveries, baseline=first, state=polled.state, now=now, history=kept
        )
        if previous != filters:
            self.store.set_meta(f"filters:{name}", filters)
        error = "; ".join(polled.errors[:3]) if polled.errors else None
        if error and len(polled.errors) > 3:
            error += f" (and {len(polled.errors) - 3} more)"
        self.store.source_polled(name, ok=True, error=redact(error) if error else None, now=now)
        if ctx.baseline:
            log.info(
                "%s: baseline recorded (%d items); alerts start from now", name, len(polled.seen)
            )
        read = len(polled.events) if polled.read is None else polled.read
        if not ctx.baseline and read:
            log.info("%s: %d new events, %d deliveries queued", name, read, queued)
        return not polled.errors, queued, read

    # -- pushed webhooks ---------------------------------------------------------------------

    def process_inbox(self) -> int:
        """Pending pushed webhooks -> deliveries (notifier.intake). Returns how many
        were queued."""
        return self.intake.process(self.ruleset.rules, self.sources_in_use())

    def _plan(self, polled: PollResult, now: float) -> tuple[list[NewDelivery], list[Kept]]:
        """A pushed batch's deliveries and history, evaluated as a poll's are."""
        matches, kept = self.evaluate(polled, now)
        return self._deliveries(matches, now), kept

    def _deliveries(self, matches: list[Match], now: float) -> list[NewDelivery]:
        planner = _Planner(self.store, self.ruleset, now)
        return [planner.delivery(m, channel) for m in matches for channel in m.rule.notify]

    def evaluate(self, polled: PollResult, now: float) -> tuple[list[Match], list[Kept]]:
        return evaluate_with_history(self.store, self.ruleset.rules, polled, now)

    def process_inbox_safely(self) -> int:
        try:
            return self.process_inbox()
        except Exception:  # noqa: BLE001 - the rows stay pending; the poll is the net
            log.exception("processing pushed webhooks failed; trying again next cycle")
            return 0

    def on_push(self) -> None:
        """Called by the push endpoints after a webhook is committed to the inbox."""
        self.wake.set()

    # -- hot reload -------------------------------------------------------------------------

    def reload_rules_if_changed(self) -> None:
        """A changed rules file takes effect at the next cycle; an invalid one is
        reported (log and `status`) and the last good rules keep running."""
        mtime = _mtime(self.ruleset.path)
        if mtime == self._rules_mtime:
            return
        self._rules_mtime = mtime
        try:
            ruleset = load_rules(self.ruleset.path, self.settings)
        except RulesError as exc:
            text = "\n".join(str(p) for p in exc.problems)
            log.error("rules file changed but is invalid; keeping the last good rules:\n%s", text)
            self.store.set_meta("rules_error", text)
            return
        old_channels = self.channels
        self.ruleset = ruleset
        activate(ruleset.rules)  # channels render with the new rules' templates
        self.channels = build_channels(ruleset, self.settings)
        register_secrets(secrets_of(self.settings, ruleset))
        self.deliverer.set_channels(self.channels)
        for channel in old_channels.values():
            channel.close()
        self.store.set_meta("rules_loaded_at", _now_iso(self.clock()))
        self.store.set_meta("rules_error", "")
        log.info("rules reloaded: %s", ruleset.summary())

    # -- the loop ---------------------------------------------------------------------------

    def run_forever(self, since: date | None = None) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.reload_rules_if_changed()
            try:
                self.cycle(since, budget=max(MIN_PASS_BUDGET, self.settings.poll_interval))
            except Exception:  # noqa: BLE001 - the loop never dies on one bad cycle
                log.exception("cycle failed; trying again next interval")
            since = None
            self._wait_for_next_poll(started + self.settings.poll_interval)

    def _wait_for_next_poll(self, next_poll: float) -> None:
        """Until `next_poll` (monotonic), handle pushes as they come: each wake
        processes the inbox and runs a delivery pass at once."""
        while not self.stop.is_set():
            remaining = next_poll - time.monotonic()
            if remaining <= 0:
                return
            if not self.wake.wait(min(WAKE_SLICE, remaining)):
                continue
            self.wake.clear()
            if self.process_inbox_safely():
                try:
                    self.deliverer.run_pass(max(MIN_PASS_BUDGET, self.settings.poll_interval))
                except Exception:  # noqa: BLE001 - as a cycle: the loop never dies
                    log.exception("delivery pass after a push failed")


class _Planner:
    """Plans each delivery's group and send time (notifier.delivery.policy), remembering the
    groups planned earlier in the same cycle, which the store does not hold yet."""

    def __init__(self, store: Store, ruleset: RuleSet, now: float):
        self.store = store
        self.ruleset = ruleset
        self.now = now
        self.planned: dict[tuple[str, str, str], float] = {}

    def pending_group(self, rule: str, channel: str, group: str) -> float | None:
        planned = self.planned.get((rule, channel, group))
        return planned if planned is not None else self.store.pending_group(rule, channel, group)

    def last_group_send(self, rule: str, channel: str, group: str) -> float | None:
        return self.store.last_group_send(rule, channel, group)

    def delivery(self, match: Any, channel: str) -> NewDelivery:
        rule = match.rule
        policy = getattr(rule, "policy", None) or Policy()
        channel_def = self.ruleset.channels.get(channel)
        quiet = getattr(channel_def, "quiet_hours", None)
        alert = [_alert(match)]
        kind, key = match.event.kind, match.event.key
        if policy.is_default and quiet is None:
            return NewDelivery(rule.name, channel, kind, key, alert)
        decided = plan(
            policy,
            rule=rule.name,
            channel=channel,
            data=match.event.data,
            now=self.now,
            history=self,
            channel_quiet=quiet,
        )
        if decided.group is not None:
            self.planned.setdefault((rule.name, channel, decided.group), decided.not_before)
        return NewDelivery(rule.name, channel, kind, key, alert, decided.group, decided.not_before)


def _alert(match: Any) -> dict[str, Any]:
    data = match.event.data
    if getattr(match.rule, "history", None) is not None:
        data = {**data, "history": earlier_dicts(match.history)}
    return {
        "event": match.event.kind,
        "key": match.event.key,
        "data": data,
        "reasons": [r.to_dict() for r in match.reasons],
    }


def _mtime(path: Any) -> float | None:
    try:
        return float(Path(path).stat().st_mtime_ns)
    except OSError:
        return None


def _now_iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def make_client(settings: Settings, stop: threading.Event | None = None) -> TestpressClient:
    """The Testpress client `run` uses. With `stop`, a retry's wait (a long Retry-After)
    ends as soon as the process is asked to stop."""
    settings.require_testpress()
    return TestpressClient(
        settings.testpress_base_url or "",
        token=settings.testpress_token,
        username=settings.testpress_username,
        password=settings.testpress_password,
        verify=settings.ssl_verify,
        sleep=stop.wait if stop is not None else time.sleep,
    )
