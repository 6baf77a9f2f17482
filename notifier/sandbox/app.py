"""`Sandbox`: the institute, its API server and its activity, started and stopped as one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType

from notifier.sandbox.activity import Ticker, populate
from notifier.sandbox.auth import TokenIssuer
from notifier.sandbox.control import SandboxApi
from notifier.sandbox.data import Institute
from notifier.sandbox.faults import FaultConfig
from notifier.sandbox.server import SandboxServer
from notifier.sandbox.webhooks import Pusher


class Sandbox:
    """A stand-in Testpress institute served on 127.0.0.1.

    `port=0` picks a free port (see `url` after `start`). `activity=True` makes students
    act every second; `history=N` adds N completed attempts from earlier days at start.
    `token_ttl` (seconds) puts an `exp` in tokens and rejects them after it.
    `push_to` (the notifier's base URL) sends the institute's signed webhooks there as
    attempts start and complete (`pusher.sent` lists them).
    `clock_offset` (seconds) puts the institute's clock ahead of this machine's (or
    behind, when negative): every time it stamps on its own is shifted.
    """

    def __init__(
        self,
        seed: int = 1,
        port: int = 0,
        activity: bool = False,
        history: int = 0,
        username: str = "admin",
        password: str = "sandbox",
        token_ttl: float | None = None,
        tick_seconds: float = 1.0,
        push_to: str | None = None,
        clock_offset: float = 0.0,
    ) -> None:
        self.seed = seed
        self.port = port
        self.activity = activity
        self.history = history
        self.username = username
        self.password = password
        self.institute = Institute(seed)
        self.institute.clock_offset = clock_offset
        populate(self.institute)
        self._issuer = TokenIssuer(username, token_ttl)
        self._api = SandboxApi(self.institute, self._issuer, password)
        self._server: SandboxServer | None = None
        self._thread: threading.Thread | None = None
        self.ticker = Ticker(self.institute, tick_seconds)
        self.token = ""
        self.pusher = Pusher(push_to) if push_to else None

    def start(self) -> Sandbox:
        """Seed history, bind, serve in a background thread, start activity; returns self."""
        if self.history:
            self.institute.seed_history(self.history)
        self._server = SandboxServer(("127.0.0.1", self.port), self._api)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="sandbox-http", daemon=True,
        )  # fmt: skip
        self._thread.start()
        self.token = self._issuer.issue()
        if self.pusher is not None:
            self.pusher.attach(self.institute)
        if self.activity:
            self.ticker.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def new_token(self) -> str:
        """Issue another valid token (as a login would), without counting a login."""
        return self._issuer.issue()

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests per endpoint name since the last reset (faulty answers included)."""
        return self._api.counts()

    @property
    def request_log(self) -> list[tuple[float, str, int, str]]:
        """(time.monotonic() on arrival, endpoint name, status, path) of every counted
        request since the last reset: e.g. requests per second during a 429 storm."""
        return self._api.request_log()

    def reset_counts(self) -> None:
        self._api.reset_counts()

    @property
    def between_pages(self) -> Callable[[str, int], None] | None:
        """Called with (endpoint name, page number) after each page of a list
        (`attempts`, `content_attempts`, `conference`) is answered and before the
        client can ask for the next: a test changes the institute while it is paged."""
        return self._api.between_pages

    @between_pages.setter
    def between_pages(self, hook: Callable[[str, int], None] | None) -> None:
        self._api.between_pages = hook

    @property
    def before_answer(self) -> Callable[[str], None] | None:
        """Called with the endpoint name (`attempt`, `attempts`, ...) on the server's
        thread before each request is answered: a test may hold requests there (a
        client stuck half-way through a poll)."""
        return self._api.before_answer

    @before_answer.setter
    def before_answer(self, hook: Callable[[str], None] | None) -> None:
        self._api.before_answer = hook

    @property
    def faults(self) -> FaultConfig:
        """The live fault configuration; change its fields in place, or assign a new one."""
        return self._api.faults.config

    @faults.setter
    def faults(self, config: FaultConfig) -> None:
        self._api.faults.replace(config)

    def expire_tokens(self) -> None:
        """Every token issued so far (including `token`) now gets 401; logins still work."""
        self._issuer.expire_all()

    def stop(self) -> None:
        """Stop activity and the server; slow answers in flight are abandoned."""
        self.ticker.stop()
        if self.pusher is not None:
            self.pusher.stop()
        if self._api.session is not None:
            self._api.session.stop()
        if self._server is not None:
            self._server.stopping.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
