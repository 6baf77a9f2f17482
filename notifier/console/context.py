"""What every console page is given: the parts it reads (`Console`), and one request as
a page handler sees it (`Ctx`: the signed-in session, the form, the query, and
`render`).

Handlers are plain synchronous functions run on a worker thread (`routing.py`); the
store is used through a handle of that thread's own (`ThreadStores`: a SQLite
connection belongs to the thread that opened it)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2
from starlette.responses import HTMLResponse

from notifier.actions.service import Actions
from notifier.console.throttle import SignInThrottle
from notifier.drafts.service import DraftService
from notifier.rules.schema import RuleSet
from notifier.state import Store
from notifier.state.people import ROLES, Session

Clock = Callable[[], float]
# Pages served at once: a few people use the console, and each of these threads holds a
# store handle of its own (on PostgreSQL, a connection; and one more for `Actions`).
PAGE_THREADS = 8


class ThreadStores:
    """A store handle per worker thread, opened on first use, all closed at `close`."""

    def __init__(self, store: Store):
        self.store = store
        self._local = threading.local()
        self._opened: list[Store] = []
        self._lock = threading.Lock()

    def get(self) -> Store:
        handle: Store | None = getattr(self._local, "store", None)
        if handle is None:
            handle = self._local.store = self.store.for_thread()
            with self._lock:
                self._opened.append(handle)
        return handle

    def close(self) -> None:
        with self._lock:
            opened, self._opened = self._opened, []
        for handle in opened:
            handle.close()


@dataclass
class Console:
    """The console's parts, built once by the composition root."""

    stores: ThreadStores
    actions: Actions  # every change goes through it (source "console")
    rules: Callable[[], RuleSet]  # the rules in force now (a reload swaps them)
    templates: jinja2.Environment
    clock: Clock
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    public_url: str | None = None  # NOTIFIER_CONSOLE_URL
    # The rules pages' service on a thread's store handle (`notifier.drafts.service`).
    drafts: Callable[[Store], DraftService] | None = None
    throttle: SignInThrottle = field(init=False)
    pool: ThreadPoolExecutor = field(init=False)  # the page handlers' threads

    def __post_init__(self) -> None:
        self.throttle = SignInThrottle(self.clock)
        self.pool = ThreadPoolExecutor(PAGE_THREADS, thread_name_prefix="console")

    def close(self) -> None:
        """After the listener: the handlers' threads, then their store handles."""
        self.pool.shutdown(wait=True)
        self.stores.close()

    @property
    def secure(self) -> bool:
        """Cookies are `Secure` when the console's public address is https."""
        return bool(self.public_url and self.public_url.lower().startswith("https://"))

    def when(self, ts: float | datetime | None) -> str:
        """A time (Unix seconds or a datetime) as people here read it:
        `2026-12-07 18:05 IST`."""
        if ts is None:
            return ""
        moment = ts if isinstance(ts, datetime) else datetime.fromtimestamp(float(ts), UTC)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M %Z")


def drafts(ctx: Ctx) -> DraftService:
    """The rules pages' service on this request's thread's store handle."""
    assert ctx.console.drafts is not None, "the composition root gives the console its drafts"
    return ctx.console.drafts(ctx.store)


def may(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may (viewer < editor < admin)."""
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


@dataclass
class Ctx:
    """One request, as a page handler sees it."""

    console: Console
    method: str
    path: str
    query: Mapping[str, str]
    form: Mapping[str, str]
    params: Mapping[str, str]
    client: str
    cookies: Mapping[str, str]
    session: Session | None = None

    @property
    def store(self) -> Store:
        return self.console.stores.get()

    @property
    def user(self) -> str:
        return self.session.user if self.session else ""

    def may(self, needed: str) -> bool:
        return self.session is not None and may(self.session.role, needed)

    def render(self, template: str, status: int = 200, **values: object) -> HTMLResponse:
        page = self.console.templates.get_template(template).render(
            user=self.user,
            role=self.session.role if self.session else "",
            csrf=self.session.csrf if self.session else "",
            may=self.may,
            when=self.console.when,
            path=self.path,
            **values,
        )
        return HTMLResponse(page, status)
