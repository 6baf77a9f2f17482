"""The composition root: every part of the notifier built from `Settings`, in one place.

`notifier run`, `notifier demo`, the in-process test rig and the benchmarks all call
`build`; they differ only in the overrides they pass (a clock, a store, a client, the
channels or the channel table, an HTTP address), each a typed keyword. `build` opens
what it is not given, starts the HTTP server, then `App.start()`; `Parts.close()`
closes, in reverse order, what `build` opened (a store or client passed in stays the
caller's to close... except that `App.close` closes the client, as it always has).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from types import TracebackType
from zoneinfo import ZoneInfo

from starlette.routing import Mount

from notifier.actions.mutes import StoreMutes
from notifier.actions.service import Actions
from notifier.actions.slack_clicks import SlackClicks
from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import SomeChannel
from notifier.console.app import console_app, templates
from notifier.console.context import Console, ThreadStores
from notifier.delivery.deliverer import Deliverer, RetryPolicy
from notifier.obs.liveness import Liveness
from notifier.obs.metrics import Metrics
from notifier.rules.schema import RuleSet
from notifier.rules.templates import TemplateTable
from notifier.runtime.app import App
from notifier.runtime.cycle import PollerGate
from notifier.runtime.drafts import draft_service
from notifier.runtime.rules_source import StoredRules
from notifier.runtime.slack_mirroring import wire_slack_mirror
from notifier.runtime.slack_socket import wire_slack_actions
from notifier.runtime.sources import make_sources
from notifier.runtime.wiring import ChannelTable, RulesWiring, make_client
from notifier.settings import ConfigError, Settings, slack_buttons
from notifier.sources.base import Source
from notifier.sources.health import HealthWatch
from notifier.sources.readback import ReadBack
from notifier.state import Store, open_store
from notifier.state.lock import InstanceLock
from notifier.testpress.client import TestpressClient
from notifier.web.http import AddressError, HttpServer
from notifier.web.push import InboxWriter, configure_push
from notifier.web.service import service_server

log = logging.getLogger(__name__)

Clock = Callable[[], float]

# Allocations between young collections (CPython's default is 700). A backlog's cycle
# allocates a few hundred containers per detail, nearly all freed by reference counts;
# at 700 the collector ran about once a detail and promoted enough to trigger repeated
# full collections over every module and schema (issue 22: GC went from 1 s to 0.26 s
# of a 31 s backlog, peak memory the same).
GC_YOUNG_THRESHOLD = 10_000


@dataclass
class Parts:
    """The notifier, assembled: the app and every part it was built from."""

    settings: Settings
    ruleset: RuleSet
    store: Store
    client: TestpressClient
    sources: dict[str, Source]
    channels: dict[str, SomeChannel]
    deliverer: Deliverer
    metrics: Metrics
    liveness: Liveness
    app: App
    actions: Actions  # what people do to alerts: for the Slack handler and the console
    server: HttpServer | None = None
    console: HttpServer | None = None  # the console's own listener
    writer: InboxWriter | None = None
    poller: PollerGate | None = None
    clicks: SlackClicks | None = None
    stack: ExitStack = field(default_factory=ExitStack)

    def close(self) -> None:
        """The server first (no request arrives half-way), its inbox writer, the app
        (deliverer, channels, client), then the replicas' heartbeat, the store and the
        instance lock: whichever of them `build` opened."""
        self.stack.close()

    def __enter__(self) -> Parts:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def build(
    settings: Settings,
    *,
    ruleset: RuleSet | None = None,
    store: Store | None = None,
    client: TestpressClient | None = None,
    channels: Mapping[str, SomeChannel] | None = None,
    channel_types: ChannelTable = CHANNEL_TYPES,
    clock: Clock = time.time,
    stop: threading.Event | None = None,
    metrics: Metrics | None = None,
    http_addr: str | None = None,
    instance: bool = False,
    replicas: bool = False,
) -> Parts:
    """Build the notifier from `settings`; every keyword is an override.

    - `ruleset`: rules already loaded (default: `settings.rules_path`, read with
      `channel_types`; with NOTIFIER_RULES_IN_STORE, the store's active version);
      `channel_types`: the channel table every rules version is checked and built
      with; `channels`: senders to use instead of building them.
    - `store`, `client`: used as given instead of opened from the settings.
    - `clock`, `stop`, `metrics`: the app's time, its stop event, its registry.
    - `http_addr`: where the HTTP server listens (default `NOTIFIER_HTTP_ADDR`; empty:
      no server), with the service endpoints and, when both keys are set, Testpress's
      webhooks.
    - `instance`: as `notifier run` starts: one copy per SQLite store (the instance
      lock), and claims a stopped process left released. `replicas`: join the other
      replicas of a PostgreSQL store (the poller lease).
    """
    young, middle, old = gc.get_threshold()
    if 0 < young < GC_YOUNG_THRESHOLD:  # process-wide; 0 means someone turned it off
        gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)
    stop = stop if stop is not None else threading.Event()
    metrics = metrics if metrics is not None else Metrics()
    wiring = RulesWiring(settings, channel_types)
    if ruleset is None and not settings.rules_in_store:
        ruleset = wiring.load(settings.rules_path)  # before anything is opened
    stack = ExitStack()
    try:
        client = client if client is not None else make_client(settings, stop, metrics)
        if instance and not settings.db_is_postgres:  # one copy on SQLite
            stack.enter_context(InstanceLock(settings.db_path))
        if store is None:
            store = open_store(settings.db)
            stack.callback(store.close)
        rules_source = None
        if settings.rules_in_store:  # the active version (the file imported as the first)
            rules_source = StoredRules(wiring, store.rules, settings.rules_path, clock)
            ruleset = ruleset if ruleset is not None else rules_source.first()
        assert ruleset is not None
        poller = None
        if replicas and settings.db_is_postgres:
            # A named exception to "imports at the top", as in `open_store`: psycopg
            # (13 MB of a process's memory, ~40 ms) loads only for a PostgreSQL store.
            from notifier.state.postgres_replicas import (  # noqa: PLC0415 - memory on SQLite
                join_replicas,
            )

            heartbeat = join_replicas(store, settings.poll_interval)
            stack.callback(heartbeat.stop)
            poller = heartbeat
        if instance:
            store.outbox.release_all_claims()
        liveness = Liveness(settings.poll_interval, store.ping, clock)
        server, writer = _http_server(
            settings if http_addr is None else settings.model_copy(update={"http_addr": http_addr}),
            liveness,
            metrics,
            store,
        )
        built = dict(channels) if channels is not None else wiring.channels(ruleset)
        deliverer = Deliverer(
            store,
            built,
            templates=TemplateTable.of(ruleset.rules),  # this rule set's, no one else's
            mutes=StoreMutes(clock),
            slack_buttons=slack_buttons(settings),
            concurrency=settings.delivery_concurrency,
            console_url=settings.console_url,
            policy=RetryPolicy(settings.retry_initial_seconds, settings.retry_max_hours),
            clock=clock,
            stop=stop,
            metrics=metrics,
        )
        actions = Actions(store, metrics, clock=clock)
        stack.callback(actions.close)
        sources = make_sources()
        app = App(
            settings,
            ruleset,
            store,
            client,
            sources=sources,
            channels=built,
            deliverer=deliverer,
            health=HealthWatch(store, settings.health_after_seconds),
            wiring=wiring,
            readback=ReadBack(store, client, settings.history_days, clock=clock, stop=stop),
            metrics=metrics,
            stop=stop,
            clock=clock,
            liveness=liveness,
            poller=poller,
            rules_source=rules_source,
        )
        stack.callback(app.close)
        if writer is not None:
            stack.callback(writer.close)
            writer.notify = app.on_push  # one recorded before this waits for the first cycle
        clicks = wire_slack_actions(settings, actions, server, stack, stop, clock)
        wire_slack_mirror(settings, actions, lambda: app.ruleset, stack, stop, clock)
        if server is not None:
            stack.callback(server.close)
            server.start()  # every route is added by now
        console = console_server(
            settings, store, rules=lambda: app.ruleset, actions=actions, clock=clock, stack=stack
        )
        app.start()
    except BaseException:
        stack.close()
        raise
    return Parts(
        settings=settings,
        ruleset=ruleset,
        store=store,
        client=client,
        sources=sources,
        channels=built,
        deliverer=deliverer,
        metrics=metrics,
        liveness=liveness,
        app=app,
        actions=actions,
        server=server,
        console=console,
        writer=writer,
        poller=poller,
        clicks=clicks,
        stack=stack,
    )


def _http_server(
    settings: Settings, liveness: Liveness, metrics: Metrics, store: Store
) -> tuple[HttpServer | None, InboxWriter | None]:
    """The HTTP server on `settings.http_addr` (None when it is empty), with
    Testpress's webhook endpoints when both keys are set, and their inbox writer (None
    without them), not started yet: routes beyond these are added before `start()`."""
    if not settings.http_addr:
        if settings.push_configured:
            logging.getLogger("notifier.cli").warning(
                "TESTPRESS_WEBHOOK_* are set but NOTIFIER_HTTP_ADDR is not: "
                "no webhooks are accepted"
            )
        return None, None
    try:
        server = service_server(settings.http_addr, liveness, metrics)
    except AddressError as exc:
        raise ConfigError([f"NOTIFIER_HTTP_ADDR: {exc}"]) from None
    writer = configure_push(server, settings, store, lambda: None, metrics)
    return server, writer  # started by `build` once every route is added


def console_server(
    settings: Settings,
    store: Store,
    *,
    rules: Callable[[], RuleSet],
    actions: Actions,
    clock: Clock,
    stack: ExitStack,
) -> HttpServer | None:
    """The console on `NOTIFIER_CONSOLE_ADDR`, a listener of its own (the same hardened
    server as the service endpoints), started, closed by `stack`; None when the address
    is empty. It reads `rules()` (the rules in force now) and the store through handles
    of its own threads, and changes things only through `actions`."""
    if not settings.console_addr:
        return None
    stores = ThreadStores(store)
    console = Console(
        stores=stores,
        actions=actions,
        rules=rules,
        templates=templates(),
        clock=clock,
        zone=ZoneInfo(settings.timezone),
        public_url=settings.console_url,
        drafts=lambda handle: draft_service(settings, handle, audit=handle.audit.add),
    )
    try:
        server = HttpServer(settings.console_addr)
    except AddressError as exc:
        raise ConfigError([f"NOTIFIER_CONSOLE_ADDR: {exc}"]) from None
    stack.callback(console.close)
    stack.callback(server.close)
    server.app.router.routes.append(Mount("", app=console_app(console)))
    server.start()
    log.info("the console is on %s", settings.console_url or server.url)
    return server
