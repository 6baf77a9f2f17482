"""Prometheus metrics (contract section 9): the families dashboards rely on, by their
fixed names, in a registry of our own.

Each `Metrics` owns a `CollectorRegistry` (never the process-wide default), so two apps
in one test process, or a test and the code under test, never see each other's counts.
The stages call the small methods below as things happen; `/metrics` serialises the
registry. Label values are bounded by construction: sources, event kinds, rule and
channel names come from the rules file, statuses and outcomes from short fixed lists,
and a Testpress endpoint is a path template (`/api/v2.5/admin/attempts/{id}/`), never
a raw id or a query string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

OUTBOX_STATUSES = ("queued", "retrying", "dead", "muted")
ACTIONS = ("follow_up", "mute", "unmute")  # what people do (contract section 13)
ACTION_SOURCES = ("slack", "console", "cli")
POISON_TABLES = ("inbox", "outbox", "records")  # as notifier.state.base.POISON_TABLES
OUTCOMES = ("sent", "retry", "dead")
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# An alert may wait for a digest or quiet hours: minutes to a day are normal.
LATENCY_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 86400)

# A path segment kept as it is: a word, or an API version (`v2.5`); anything else is
# an identifier and becomes `{id}`.
_WORD = re.compile(r"^(?:[A-Za-z][A-Za-z_-]*|v\d+(?:\.\d+)*)$")


# A segment that is not a word: `{id}`; one pass of one regex (a backlog's first cycle
# names 20,000 detail paths, so this runs once per request).
_PLAIN = re.compile(r"/(?!/)[^:#\x00-\x20\x7f]*\Z")
_ID_SEGMENT = re.compile(r"(?:^|(?<=/))(?!(?:[A-Za-z][A-Za-z_-]*|v\d+(?:\.\d+)*)(?:/|$))[^/]+")


def endpoint_template(path: str) -> str:
    """`/api/v2.5/admin/attempts/68701/?page=2` -> `/api/v2.5/admin/attempts/{id}/`."""
    # The client's paths: the part before `?` is the path; anything urlsplit reads
    # otherwise (a scheme, `//host`, a fragment, spaces) goes through urlsplit.
    path = path.partition("?")[0] if _PLAIN.match(path) else urlsplit(path).path
    return _ID_SEGMENT.sub("{id}", path or "/")


class Metrics:
    """The notifier's metric families, registered in `registry` (a new one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.cycles = Counter("notifier_cycles", "Poll cycles finished.", registry=r)
        self.cycle_duration = Histogram(
            "notifier_cycle_duration_seconds",
            "Time one cycle took: polls, evaluation and its delivery pass.",
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.testpress_requests = Counter(
            "notifier_testpress_requests",
            "HTTP requests to the Testpress API, by endpoint template and status "
            "(`timeout` or `error` when no answer came).",
            ["endpoint", "status"],
            registry=r,
        )
        self._request_series: dict[tuple[str, str], Counter] = {}
        self.source_last_success = Gauge(
            "notifier_source_last_success_timestamp_seconds",
            "Unix time of the last poll of the source that read it without errors.",
            ["source"],
            registry=r,
        )
        self.source_errors = Counter(
            "notifier_source_errors",
            "Polls of the source that failed, wholly or in part.",
            ["source"],
            registry=r,
        )
        self.events = Counter(
            "notifier_events", "New events detected, by kind.", ["kind"], registry=r
        )
        self.matches = Counter(
            "notifier_matches", "Events a rule matched, by rule.", ["rule"], registry=r
        )
        self.deliveries = Counter(
            "notifier_deliveries",
            "Delivery tries by channel and outcome (sent, retry, dead), one per outbox row.",
            ["channel", "outcome"],
            registry=r,
        )
        self.outbox_rows = Gauge(
            "notifier_outbox_rows",
            "Outbox rows waiting, dead or muted, by status (as of the last cycle).",
            ["status"],
            registry=r,
        )
        self.poisoned_rows = Gauge(
            "notifier_poisoned_rows",
            "Rows set aside as dead after failing in processing (contract section 7, "
            "no poison), by table (inbox, outbox, records; as of the last cycle).",
            ["table"],
            registry=r,
        )
        # The series `delivered` counts in, by their labels (see there).
        self._delivered: dict[tuple[str, str], Counter] = {}
        self._latency: dict[str, Histogram] = {}
        self.alert_latency = Histogram(
            "notifier_alert_latency_seconds",
            "From an event's detection to its delivery, by channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rules_reloads = Counter(
            "notifier_rules_reloads",
            "Reloads of a changed rules file, by result (ok, error).",
            ["result"],
            registry=r,
        )
        self.webhooks = Counter(
            "notifier_webhooks",
            "Testpress's webhooks answered by the push endpoints, by endpoint (exam, "
            "chapter-content) and status (200 recorded; 400, 401 refused; 503 not recorded).",
            ["endpoint", "status"],
            registry=r,
        )
        self.actions = Counter(
            "notifier_actions",
            "What people did to alerts, by action (follow_up, mute, unmute) and where "
            "(slack, console, cli); a repeated click that changed nothing is not counted.",
            ["action", "source"],
            registry=r,
        )
        for action in ACTIONS:
            for where in ACTION_SOURCES:
                self.actions.labels(action, where)
        for status in OUTBOX_STATUSES:
            self.outbox_rows.labels(status)
        for table in POISON_TABLES:
            self.poisoned_rows.labels(table)
        for result in ("ok", "error"):
            self.rules_reloads.labels(result)

    # -- what the stages report ------------------------------------------------------------

    def known(self, sources: Iterable[str], rules: Iterable[str], channels: Iterable[str]) -> None:
        """Create the series of what the rules use at zero, so a rate() has a start."""
        for source in sources:
            self.source_errors.labels(source)
        for rule in rules:
            self.matches.labels(rule)
        for channel in channels:
            for outcome in OUTCOMES:
                self.deliveries.labels(channel, outcome)

    def testpress_request(self, path: str, status: int | str) -> None:
        key = (endpoint_template(path), str(status))
        child = self._request_series.get(key)
        if child is None:  # `labels()` takes a lock and checks its labels: once a series
            child = self._request_series[key] = self.testpress_requests.labels(*key)
        child.inc()

    def cycle_done(self, seconds: float) -> None:
        self.cycles.inc()
        self.cycle_duration.observe(seconds)

    def source_polled(self, source: str, *, ok: bool, read: bool, at: float) -> None:
        """A poll ended: `read` when the source was read (its last success moves), `ok`
        when also without partial errors (else one more error)."""
        if read:
            self.source_last_success.labels(source).set(at)
        if not ok:
            self.source_errors.labels(source).inc()

    def events_seen(self, counts: Mapping[str, int]) -> None:
        for kind, n in counts.items():
            if n:
                self.events.labels(kind).inc(n)

    def matched(self, rule: str) -> None:
        self.matches.labels(rule).inc()

    def delivered(
        self, channel: str, outcome: str, rows: int = 1, latencies: Iterable[float] = ()
    ) -> None:
        """A try of `rows` outbox rows (one message) ended with `outcome`; sent rows
        give their latencies. The labelled series are kept per channel: `labels()`
        checks and looks its values up under a lock, about 2% of a webhook send's CPU,
        and these series are never removed, so the one it returns never changes."""
        counter = self._delivered.get((channel, outcome))
        if counter is None:  # two workers may both ask: labels() gives both the same
            counter = self._delivered[channel, outcome] = self.deliveries.labels(channel, outcome)
        counter.inc(rows)
        for seconds in latencies:
            latency = self._latency.get(channel)
            if latency is None:
                latency = self._latency[channel] = self.alert_latency.labels(channel)
            latency.observe(max(0.0, seconds))

    def outbox(self, counts: Mapping[str, int]) -> None:
        for status in OUTBOX_STATUSES:
            self.outbox_rows.labels(status).set(counts.get(status, 0))

    def acted(self, action: str, source: str) -> None:
        self.actions.labels(action, source).inc()

    def poisoned(self, counts: Mapping[str, int]) -> None:
        for table in POISON_TABLES:
            self.poisoned_rows.labels(table).set(counts.get(table, 0))

    def webhook(self, endpoint: str, status: int) -> None:
        self.webhooks.labels(endpoint, str(status)).inc()

    def rules_reloaded(self, ok: bool) -> None:
        self.rules_reloads.labels("ok" if ok else "error").inc()

    # -- exposition ------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every family, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
