"""Webhook: POST the contract's JSON body, signed with Standard Webhooks headers when a
secret is given."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator
from standardwebhooks import Webhook

from notifier.channels.base import (
    Message,
    MessageRef,
    Outcome,
    SendContext,
    WebhookMessage,
    classify_status,
    lazy_module,
)
from notifier.channels.email import tls_context
from notifier.events import JSONValue
from notifier.settings import Settings

if TYPE_CHECKING:
    import httpcore
    import httpx
else:  # loaded when the first webhook channel is built (`notifier check` never is)
    httpx = lazy_module("httpx")
    httpcore = lazy_module("httpcore")


class WebhookConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["webhook"]
    url: str
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        raw = value.get_secret_value()
        body = raw.removeprefix("whsec_")
        try:
            base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be a Standard Webhooks secret: whsec_ and base64") from None
        return value

    def missing_settings(self, settings: Settings) -> list[str]:
        return []


DEFAULT_TIMEOUT = 10.0
# httpcore's errors of a POST made on its pool (httpx would have made them its own),
# other than timeouts: each is a failed connection, worth another try.
_CORE_ERRORS = (
    "NetworkError",
    "ProtocolError",
    "ProxyError",
    "UnsupportedProtocol",
    "ConnectionNotAvailable",
)


def _connection_errors() -> tuple[type[Exception], ...]:
    """httpx's errors and `_CORE_ERRORS` as classes (httpcore is loaded lazily, as
    httpx is); made only when a POST raised."""
    return (httpx.HTTPError, *(getattr(httpcore, name) for name in _CORE_ERRORS))


# Headers in which a receiver may answer its own id for what it was sent, in order.
ID_HEADERS = ("webhook-id", "x-message-id")


def safe_url(url: str) -> str:
    """`scheme://host[:port]/path` only: no user:password, query or fragment, which may
    carry tokens. This is what reasons and logs may show of a URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    return f"{parts.scheme}://{host}{port}{parts.path}"


# One encoder for every body: `json.dumps` with options builds a new one each call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def encode_body(body: Mapping[str, JSONValue]) -> bytes:
    """The JSON bytes sent and signed (serialised once: the signature covers exactly
    these bytes). Values JSON cannot hold (dates) become strings."""
    return _ENCODER.encode(body).encode()


class WebhookChannel:
    """POSTs the contract's JSON body; with a secret, adds the Standard Webhooks headers
    (`webhook-id` = the delivery id, stable across retries, so receivers can de-duplicate).

    One httpx.Client per sending thread (`PerThread`: connection reuse, and no pool
    lock shared by the workers). The answer goes through `classify_status` (2xx sent;
    408, 429, 5xx retry honouring Retry-After; other 4xx final); timeouts and
    connection errors retry. Reasons show the URL as
    `scheme://host/path` and never the secret. A sent outcome's ref is the id the
    receiver answered in a `webhook-id` or `x-message-id` header, else the id sent
    (the delivery id, the `webhook-id` of a signed send)."""

    message_type: ClassVar[type[Message]] = WebhookMessage

    def __init__(
        self,
        name: str,
        config: WebhookConfig,
        settings: Settings,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
    ):

        self.name = name
        self.config = config
        self._clock = clock
        self._target = safe_url(config.url)
        self._signer: Webhook | None = None
        if config.secret is not None:
            self._signer = Webhook(config.secret.get_secret_value())
        self._stamped = (-1, "")  # (second, its `sent_at` text): one strftime a second
        self._url = httpx.URL(config.url)
        # What httpx's transport would hand its pool for this URL, made once.
        self._core_url = httpcore.URL(
            scheme=self._url.raw_scheme,
            host=self._url.raw_host,
            port=self._url.port,
            target=self._url.raw_path,
        )
        self._host = [(b"Host", self._url.netloc)]
        self._timeout = httpx.Timeout(timeout).as_dict()
        verify = tls_context(settings.ssl_verify)
        self._clients = PerThread(
            lambda: httpx.Client(timeout=timeout, verify=verify, follow_redirects=False),
            self._url,
        )

    def request(self, message: WebhookMessage) -> tuple[bytes, dict[str, str]]:
        """The body bytes and headers one send uses (also handy for tests and `notifier
        test`): the rendered body, stamped with `sent_at` now."""
        now = int(self._clock())
        second, stamp = self._stamped
        if second != now:
            stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._stamped = (now, stamp)
        body = encode_body({**message.body, "sent_at": stamp})
        headers = {"Content-Type": "application/json", "User-Agent": "testpress-notifier"}
        if self._signer is not None:
            headers["webhook-id"] = message.id
            headers["webhook-timestamp"] = str(now)
            headers["webhook-signature"] = self._signer.sign(
                msg_id=message.id, timestamp=datetime.fromtimestamp(now, UTC), data=body.decode()
            )
        return body, headers

    def send(self, message: WebhookMessage) -> Outcome:

        body, headers = self.request(message)
        try:
            status, answered = self._post(body, headers)
        except (httpx.TimeoutException, httpcore.TimeoutException):
            return Outcome.retry(f"POST {self._target}: timeout")
        except _connection_errors() as exc:
            return Outcome.retry(f"POST {self._target}: connection failed ({type(exc).__name__})")
        outcome = classify_status(status, answered)
        if outcome.ok:
            return Outcome.sent(self._ref(message, headers, answered), outcome.answer)
        reason = f"POST {self._target}: {outcome.reason}"
        if outcome.retryable:
            return Outcome.retry(reason, outcome.retry_after, outcome.answer)
        return Outcome.final(reason, outcome.answer)

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, httpx.Headers]:
        """The POST, straight to the connection pool under the client's transport for
        the URL when it has one (its keep-alive connections, or the proxy the
        environment names): the client's own layer (building and merging the request,
        cookies, redirects, hooks) was about a third of a send's CPU, and httpx's
        request and response objects around the pool's about a fifth of what was left
        (bench d's sixth pass); a webhook needs none of it. Its status and headers."""
        client, transport, pool = self._clients.here()
        if pool is not None:
            sent = [
                *self._host,
                (b"Content-Length", str(len(body)).encode()),
                *((k.encode("ascii"), v.encode("ascii")) for k, v in headers.items()),
            ]
            answer = pool.handle_request(
                httpcore.Request(
                    b"POST",
                    self._core_url,
                    headers=sent,
                    content=body,
                    extensions={"timeout": self._timeout},
                )  # fmt: skip
            )
            try:
                answer.read()
            finally:
                answer.close()
            return answer.status, httpx.Headers(answer.headers)
        if transport is None:
            response = client.post(self._url, content=body, headers=headers)
            return response.status_code, response.headers
        request = httpx.Request(
            "POST", self._url, content=body, headers=headers, extensions={"timeout": self._timeout}
        )
        response = transport.handle_request(request)
        try:
            response.read()
        finally:
            response.close()
        return response.status_code, response.headers

    @staticmethod
    def _ref(
        message: WebhookMessage, sent: dict[str, str], answered: Mapping[str, str]
    ) -> MessageRef:
        """The receiver's own id for the message when it answers one, else ours."""
        for header in ID_HEADERS:
            value = answered.get(header)
            if isinstance(value, str) and value.strip():
                return MessageRef("webhook", value.strip()[:200])
        return MessageRef("webhook", sent.get("webhook-id", message.id))

    def close(self) -> None:
        self._clients.close()


class PerThread:
    """An httpx client, and its transport for one URL, for each thread that sends.

    The delivery workers of a channel (NOTIFIER_DELIVERY_CONCURRENCY of them) sent
    through one shared client, whose connection pool takes one lock several times per
    request, and each wait there hands the GIL to another thread and waits to get it
    back. With a client each (bench d, side by side, with outcomes written in one
    statement: about 0.8 of the bare client's rate before, 0.84-0.90 after), a worker
    keeps its own keep-alive connection and never waits for another's. Clients are made
    on a thread's first send and closed together; the delivery workers' threads live
    as long as the process, so there are never more than they are."""

    def __init__(self, make: Callable[[], httpx.Client], url: httpx.URL):
        self._make = make
        self._url = url
        self._local = threading.local()
        self._lock = threading.Lock()  # guards `_made` (a close while a worker starts)
        self._made: list[httpx.Client] = []

    def here(
        self,
    ) -> tuple[httpx.Client, httpx.BaseTransport | None, httpcore.ConnectionPool | None]:
        """This thread's client, the transport it would pick for the URL (None when
        this httpx does not say: then the client sends) and that transport's connection
        pool (None unless it is httpx's own HTTP transport)."""
        mine: (
            tuple[httpx.Client, httpx.BaseTransport | None, httpcore.ConnectionPool | None] | None
        ) = getattr(self._local, "mine", None)
        if mine is None:
            client = self._make()
            transport = direct_transport(client, self._url)
            mine = (client, transport, core_pool(transport))
            with self._lock:
                self._made.append(client)
            self._local.mine = mine
        return mine

    def close(self) -> None:
        with self._lock:
            made, self._made = self._made, []
        for client in made:
            client.close()


def direct_transport(client: httpx.Client, url: httpx.URL) -> httpx.BaseTransport | None:
    """The transport `client` would use for `url` (a proxy from the environment
    included), or None when this httpx does not say (then the client sends)."""
    pick = getattr(client, "_transport_for_url", None)
    transport = pick(url) if callable(pick) else None
    return transport if isinstance(transport, httpx.BaseTransport) else None


def core_pool(transport: httpx.BaseTransport | None) -> httpcore.ConnectionPool | None:
    """The connection pool (or proxy) of httpx's own HTTP transport, whose
    `handle_request` only converts a request to the pool's and its answer back; None
    for any other transport (a mock, a test's, one a later httpx reshapes)."""
    if type(transport) is not httpx.HTTPTransport:
        return None
    pool = getattr(transport, "_pool", None)
    return pool if isinstance(pool, httpcore.ConnectionPool) else None


def build(name: str, config: WebhookConfig, ctx: SendContext) -> WebhookChannel:
    """`ctx.extra["send_timeout"]` overrides the 10 s timeout (tests)."""
    timeout = float(ctx.extra.get("send_timeout", DEFAULT_TIMEOUT))
    return WebhookChannel(name, config, ctx.settings, timeout=timeout)
