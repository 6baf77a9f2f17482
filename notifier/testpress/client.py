"""The Testpress admin API over HTTP: authentication, paging and retries, nothing else.

- Auth: `Authorization: JWT <token>`, either a fixed token or one got by logging in
  (`POST /api/v2.5/auth-token/`) on first use and cached. A 401 costs at most one new
  login per failing call, and threads that hit a 401 together share that one login:
  repeated logins can lock the admin account. A login the server refused (400/401/403)
  is not tried again by this client; the credentials cannot have changed under it.
- Paging: `next` is followed until null; only its path and query are used, on the
  configured base URL (the docs' samples point `next` at another host).
- Retries: timeouts, connection errors, 408, 429, 5xx and a 2xx body that is not JSON
  are retried a bounded number of times with exponential backoff and full jitter,
  waiting at least what a `Retry-After` asks (capped by `max_wait`). The loop is
  explicit rather than stamina's so the wait is computed from the response and
  `sleep` can be injected: tests see every wait and never wait.

Errors never contain the token or the password, and query strings are left out of them.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias
from urllib.parse import urljoin, urlsplit

import httpx
from pydantic import SecretStr

from notifier.events import JSONObject, JSONScalar, JSONValue
from notifier.httpstatus import is_retryable_status, parse_retry_after
from notifier.testpress.direct import DirectGet
from notifier.testpress.pacing import SharedPause, backoff_delay
from notifier.testpress.safetext import loads

log = logging.getLogger(__name__)

LOGIN_PATH = "/api/v2.5/auth-token/"
# A request's query parameters (httpx sends null ones as empty).
Query: TypeAlias = Mapping[str, JSONScalar]
USER_AGENT = "testpress-notifier/0.1"


class TestpressError(Exception):
    """A call to Testpress failed. `retryable` says whether the same call could succeed
    later (the next cycle picks up what was missed); `status` is the HTTP status if any."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class Page:
    """One page of a paginated response. `results` is a list for most endpoints and an
    object of side-loaded lists for user answers and chapter-content attempts."""

    results: JSONValue  # Testpress's JSON: made typed models by the source that reads it
    count: int | None
    next: str | None
    raw: JSONObject = field(repr=False)


def _secret(value: SecretStr | str | None) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value or None


def _verify(value: bool | str) -> bool | ssl.SSLContext:
    """httpx 0.28 deprecates `verify=<path>`; a CA bundle path becomes a context."""
    if isinstance(value, str):
        return ssl.create_default_context(cafile=value)
    return value


class TestpressClient:
    """A thread-safe client for one institute. One pooled `httpx.Client` is shared by
    every thread (sources fetch details on a small pool)."""

    __test__ = False

    def __init__(
        self,
        base_url: str,
        *,
        token: SecretStr | str | None = None,
        username: str | None = None,
        password: SecretStr | str | None = None,
        verify: bool | str = True,
        timeout: float = 20.0,
        max_attempts: int = 6,
        max_wait: float = 120.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], object] = time.sleep,
        on_request: Callable[[str, int | str], object] | None = None,
    ):
        """`on_request(path, status)` is told of every request made: its path and the
        HTTP status, or `timeout` / `error` when no answer came (for metrics)."""
        self.base_url = base_url.rstrip("/")
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        self._fixed_token = _secret(token)
        self._username = username or None
        self._password = _secret(password)
        self._token = self._fixed_token
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self._sleep = sleep
        self._on_request = on_request
        self._lock = threading.Lock()  # guards the token and the login generation
        self._login_gen = 0  # bumped by every login attempt
        self._refused: TestpressError | None = None
        self._count_lock = threading.Lock()
        self._pause = SharedPause(sleep)  # a 429's Retry-After holds every thread
        self._requests = 0
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            verify=_verify(verify),
            transport=transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=16),
            headers={"Accept": "application/json", "User-Agent": USER_AGENT},
            follow_redirects=False,
        )
        self._direct = DirectGet.for_client(self._http)  # GETs skip the client's layers

    # -- public -------------------------------------------------------------------------

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far, logins and retries included."""
        return self._requests

    def get(self, path: str, params: Query | None = None) -> JSONValue:
        """One JSON document, e.g. `get("/api/v2.5/admin/attempts/68701/")`."""
        body, _ = self._call("GET", path, params)
        return body

    def pages(self, path: str, params: Query | None = None) -> Iterator[Page]:
        """Every page of a paginated endpoint, following `next` until it is null. A body
        that is a bare list is one page. A `next` pointing back at a page already read
        ends the walk (a server bug must not loop forever)."""
        seen: set[str] = set()
        current: str = path
        query: Query | None = params
        while True:
            body, url = self._call("GET", current, query)
            if isinstance(body, list):
                yield Page(results=body, count=len(body), next=None, raw={"results": body})
                return
            if not isinstance(body, dict):
                raise TestpressError(
                    f"GET {_clean(path)}: expected a JSON object, got {type(body).__name__}",
                    retryable=True,
                )
            nxt = body.get("next")
            nxt = nxt if isinstance(nxt, str) and nxt.strip() else None
            yield Page(
                results=body.get("results"), count=_int(body.get("count")), next=nxt, raw=body
            )
            if nxt is None:
                return
            seen.add(str(url))
            current = local_path(self._base_path, urljoin(str(url), nxt))
            query = None
            if str(self._http.build_request("GET", current).url) in seen:
                log.warning("GET %s: `next` points back at a page already read", _clean(path))
                return

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TestpressClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"TestpressClient({self.base_url!r})"

    # -- auth ---------------------------------------------------------------------------

    def _call(self, method: str, path: str, params: Query | None) -> tuple[JSONValue, httpx.URL]:
        """One authenticated call: on a 401 with a login-based token, log in once more
        (or reuse the token another thread just got) and repeat the call once."""
        token, gen = self._current_token()
        for repeat in (False, True):
            response, body = self._send(method, path, params=params, token=token)
            if response.status_code != 401:
                return body, response.url
            where = f"{method} {_clean(path)}"
            if self._fixed_token is not None:
                raise TestpressError(
                    f"{where}: HTTP 401: the TESTPRESS_TOKEN was refused", status=401
                )
            if self._username is None:
                raise TestpressError(f"{where}: HTTP 401: no credentials configured", status=401)
            if repeat:
                raise TestpressError(
                    f"{where}: HTTP 401 again after logging in again as {self._username}",
                    status=401,
                )
            log.info("%s: HTTP 401, logging in again as %s", where, self._username)
            token, gen = self._login_once(gen)
        raise AssertionError("unreachable")  # pragma: no cover

    def _current_token(self) -> tuple[str | None, int]:
        with self._lock:
            token, gen = self._token, self._login_gen
        if token is None and self._username is not None and self._fixed_token is None:
            return self._login_once(gen)
        return token, gen

    def _login_once(self, seen_gen: int) -> tuple[str, int]:
        """Log in unless another thread already did since generation `seen_gen`."""
        with self._lock:
            if self._refused is not None:
                raise self._refused
            if self._login_gen != seen_gen:
                if self._token is None:
                    raise TestpressError(
                        f"login for user {self._username} failed; see the earlier error",
                        retryable=True,
                    )
                return self._token, self._login_gen
            self._login_gen += 1
            self._token = None
            try:
                self._token = self._login()
            except TestpressError as exc:
                if not exc.retryable:
                    self._refused = exc
                raise
            return self._token, self._login_gen

    def _login(self) -> str:
        payload = {"username": self._username, "password": self._password or ""}
        response, body = self._send("POST", LOGIN_PATH, json_body=payload, token=None)
        status = response.status_code
        if status in (400, 401, 403):
            raise TestpressError(
                f"login refused for user {self._username} (HTTP {status})", status=status
            )
        if not 200 <= status < 300:
            raise TestpressError(
                f"login for user {self._username} failed: HTTP {status}", status=status
            )
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TestpressError(
                f"login for user {self._username} returned no token", status=status, retryable=True
            )
        log.info("logged in to Testpress as %s", self._username)
        return token

    # -- transport and retries --------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Query | None = None,
        json_body: JSONValue = None,
        token: str | None,
    ) -> tuple[httpx.Response, JSONValue]:
        """Send with retries. Returns a 2xx response with its parsed body, or a 401
        response (the caller decides about logging in). Raises TestpressError for any
        other failure."""
        slept_until = 0.0  # when this call's own last retry wait ends (monotonic)
        for attempt in range(1, self.max_attempts + 1):
            status: int | None = None
            retry_after: float | None = None
            self._pause.wait_out(slept_until)
            with self._count_lock:
                self._requests += 1
            try:
                if method == "GET" and self._direct is not None and path[:1] == "/":
                    response = self._direct.get(path, params, token)
                else:
                    headers = {"Authorization": f"JWT {token}"} if token else {}
                    response = self._http.request(
                        method, path, params=params, json=json_body, headers=headers
                    )
            except httpx.TimeoutException as exc:
                self._observe(path, "timeout")
                reason = f"timed out ({type(exc).__name__})"
            except httpx.TransportError as exc:
                self._observe(path, "error")
                if _certificate_refused(exc):
                    raise TestpressError(
                        f"{_where(method, path)}: the server's TLS certificate was not trusted "
                        "(see NOTIFIER_TLS_VERIFY)"
                    ) from None
                reason = f"connection error ({type(exc).__name__})"
            else:
                status = response.status_code
                self._observe(path, status)
                if 200 <= status < 300:
                    try:
                        # Invalid UTF-8 becomes U+FFFD (`text` decodes with
                        # "replace"), and so do NUL, controls and lone surrogates
                        # (notifier.testpress.safetext): the edge for everything polled.
                        return response, loads(response.text)
                    except json.JSONDecodeError:
                        reason = f"HTTP {status} with a body that is not JSON"
                elif is_retryable_status(status):
                    reason = f"HTTP {status}"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    if status == 429 and retry_after is not None:
                        self._pause.pause(min(retry_after, self.max_wait))
                elif status == 401 or path == LOGIN_PATH:
                    return response, None
                else:
                    raise TestpressError(
                        f"{_where(method, path)}: HTTP {status}"
                        f"{_detail(response, self._secrets())}",
                        status=status,
                    )
            if attempt == self.max_attempts:
                raise TestpressError(
                    f"{_where(method, path)}: {reason}; gave up after {attempt} attempts",
                    status=status,
                    retryable=True,
                )
            delay = backoff_delay(attempt, retry_after, self.max_wait)
            log.warning(
                "%s: %s; retry %d of %d in %.1f s",
                _where(method, path),
                reason,
                attempt,
                self.max_attempts - 1,
                delay,
            )
            slept_until = time.monotonic() + delay
            self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _observe(self, path: str, status: int | str) -> None:
        if self._on_request is not None:
            self._on_request(path, status)

    def _secrets(self) -> list[str]:
        return [s for s in (self._token, self._fixed_token, self._password) if s]


def local_path(base_path: str, url: str) -> str:
    """Path and query of `url`, relative to our base URL's path (its host is ignored:
    a `next` link may name another host, and we only ever talk to our own)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if base_path and path.startswith(base_path + "/"):
        path = path[len(base_path) :]
    return path + (f"?{parts.query}" if parts.query else "")


def _where(method: str, path: str) -> str:
    """`GET /path` for a message: made only when one is (parsing the path is not free)."""
    return f"{method} {_clean(path)}"


def _clean(path: str) -> str:
    """A path for messages: no query string (it is not needed and may hold anything)."""
    return urlsplit(path).path or path


def _int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _detail(response: httpx.Response, secrets: list[str]) -> str:
    """The server's `{"detail": ...}` text, short and scrubbed, for an error message."""
    try:
        body = response.json()
    except ValueError:
        return ""
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str) or not detail.strip():
        return ""
    text = " ".join(detail.split())[:200]
    for secret in secrets:
        text = text.replace(secret, "[redacted]")
    return f": {text}"


def _certificate_refused(exc: BaseException) -> bool:
    """A TLS certificate that failed verification: retrying cannot help."""
    current: BaseException | None = exc
    visited: set[int] = set()
    while current is not None and id(current) not in visited:  # chains can loop
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        visited.add(id(current))
        current = current.__cause__ or current.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
