"""Slack: `chat.postMessage` through slack_sdk's WebClient at SLACK_API_URL, or an
incoming webhook."""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from notifier.channels.base import (
    Block,
    Message,
    MessageRef,
    Outcome,
    SendContext,
    SlackMessage,
    classify_status,
    lazy_module,
    load_now,
)
from notifier.channels.email import tls_context
from notifier.httpstatus import parse_retry_after as _parse_retry_after
from notifier.settings import Settings

if TYPE_CHECKING:
    import httpx
    import slack_sdk
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError
else:  # loaded when the first Slack channel is built (`notifier check` never is)
    httpx = lazy_module("httpx")
    slack_sdk = lazy_module("slack_sdk")


class SlackConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["slack"]
    channel: str | None = None
    webhook_url: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> SlackConfig:
        if bool(self.channel) == bool(self.webhook_url):
            raise ValueError("give exactly one of 'channel' or 'webhook_url'")
        if self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            raise ValueError("webhook_url must be an http(s) URL")
        return self

    def missing_settings(self, settings: Settings) -> list[str]:
        if self.channel and settings.slack_bot_token is None:
            return ["SLACK_BOT_TOKEN"]
        return []


log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
# Slack's chat.postMessage allows about one message a second per Slack channel, with
# short bursts; incoming webhooks the same per webhook.
PACE_SECONDS = 1.0
# A send never waits longer than this for its turn; past it, it returns a retry so a
# delivery thread is not parked behind a long queue for one Slack channel.
MAX_PACE_WAIT = 5.0
# Slack errors that mean "try again later" although HTTP said 200.
RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


class SlackPacer:
    """Keeps consecutive posts to one Slack channel at least `interval` seconds apart,
    across every rules-file channel and thread that posts there, without delaying other
    Slack channels (each key has its own slot).

    `turn(key)` waits for `key`'s slot and holds it while the caller posts;
    `next_allowed_in(key)` only asks, so the delivery loop can leave a delivery queued
    instead of handing it to a thread that would wait. `defer(key, seconds)` pushes a
    key's next slot out (after Slack said 429 with Retry-After). Thread-safe. `clock`
    and `sleep` are injectable so tests move time instead of waiting for it."""

    def __init__(
        self,
        interval: float = PACE_SECONDS,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ):
        self.interval = interval
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}
        self._turns: dict[str, threading.Lock] = {}

    def next_allowed_in(self, key: str) -> float:
        """Seconds until `key` may post; 0.0 when it may post now."""
        with self._lock:
            return max(0.0, self._next.get(key, 0.0) - self._clock())

    @contextmanager
    def turn(self, key: str) -> Iterator[None]:
        """Post to `key` inside this block, in its turn: one post at a time per key, each
        starting at least `interval` after the previous one ENDED (its answer came back).
        Spacing the ends, not the starts, keeps posts that far apart when they arrive at
        Slack too, however long the previous one took on its way."""
        with self._lock:
            turn = self._turns.setdefault(key, threading.Lock())
        with turn:
            wait = self.next_allowed_in(key)
            if wait > 0:
                self._sleep(wait)
            try:
                yield
            finally:
                with self._lock:
                    ended = self._clock() + self.interval
                    self._next[key] = max(self._next.get(key, 0.0), ended)

    def defer(self, key: str, seconds: float) -> None:
        """Nobody posts to `key` for `seconds` from now."""
        with self._lock:
            until = self._clock() + seconds
            self._next[key] = max(self._next.get(key, 0.0), until)


# Shared by every Slack channel of the process (two rules-file channels may name the same
# Slack channel); the delivery loop may ask it `next_allowed_in(SlackChannel.pace_key)`.
PACER = SlackPacer()


def _lower(headers: Mapping[str, object] | None) -> dict[str, str]:
    try:
        return {str(k).lower(): str(v) for k, v in dict(headers or {}).items()}
    except (TypeError, ValueError):
        return {}


def _ref(answer: object) -> MessageRef | None:
    """The posted message's `ts` and channel id from `chat.postMessage`'s answer."""
    data = getattr(answer, "data", None)
    if not isinstance(data, dict) or not isinstance(data.get("ts"), str):
        return None
    channel = data.get("channel")
    return MessageRef("slack", data["ts"], channel if isinstance(channel, str) else None)


def _code(error: object) -> str | None:
    """Slack's error code when it is one (`channel_not_found`), else None: other text
    (an HTML error page) is not quoted in a reason."""
    if isinstance(error, str) and re.fullmatch(r"[a-z0-9_.]{1,80}", error):
        return error
    return None


def web_client(settings: Settings, timeout: float = DEFAULT_TIMEOUT) -> WebClient:
    """slack_sdk's WebClient at SLACK_API_URL with the bot token, its own retries off
    (the caller decides what a failure means). Shared with the click handler's
    `chat.update` and `chat.postEphemeral` (notifier.actions.slack_web)."""
    base_url = settings.slack_api_url
    if not base_url.endswith("/"):
        base_url += "/"
    token = settings.slack_bot_token
    return slack_sdk.WebClient(
        token=token.get_secret_value() if token else None,
        base_url=base_url,
        timeout=timeout,  # type: ignore[arg-type]  # typed int; urllib takes floats
        ssl=tls_context(settings.ssl_verify),
        retry_handlers=[],
    )


def classify_api_error(exc: SlackApiError) -> Outcome:
    """A SlackApiError as an Outcome: 429 or `ratelimited` → retry after Retry-After;
    5xx and Slack's transient errors → retry; any other error → final, its code as the
    reason."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = getattr(response, "data", None)
    error = _code(data.get("error")) if isinstance(data, dict) else None
    headers = _lower(getattr(response, "headers", None))
    retry_after = _parse_retry_after(headers.get("retry-after"))
    if status == 429 or error == "ratelimited":
        return Outcome.retry("slack: ratelimited", retry_after, "ratelimited")
    label = error or f"HTTP {status}"
    answer = error or str(status)
    if status in (408,) or status >= 500 or error in RETRYABLE_ERRORS:
        return Outcome.retry(f"slack: {label}", retry_after, answer)
    return Outcome.final(f"slack: {label}", answer)


class SlackChannel:
    """Posts through `chat.postMessage` (bot token) or an incoming webhook.

    slack_sdk's own retries are off (`retry_handlers=[]`): the outbox retries, with the
    backoff and the dead letters the contract promises. Classification: 429 or
    `ratelimited` → retry after Retry-After; 5xx and Slack's transient errors → retry;
    any other Slack error (`channel_not_found`, `invalid_auth`, `not_in_channel`) →
    final, the code as the reason; timeouts and connection errors → retry. A post
    through the API is sent with `chat.postMessage`'s channel id and `ts` as its ref
    (an incoming webhook gives none)."""

    message_type: ClassVar[type[Message]] = SlackMessage

    def __init__(
        self,
        name: str,
        config: SlackConfig,
        settings: Settings,
        *,
        pacer: SlackPacer | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_pace_wait: float = MAX_PACE_WAIT,
    ):
        self.name = name
        self.config = config
        self.settings = settings
        self.pacer = pacer or PACER
        self.timeout = timeout
        self.max_pace_wait = max_pace_wait
        self._client: WebClient | None = None
        self._http: httpx.Client | None = None
        self._lock = threading.Lock()
        load_now(slack_sdk, httpx)  # on the thread building the channels (lazy_module)

    @property
    def pace_key(self) -> str:
        """The pacer key: the Slack channel, or the incoming webhook (one channel each)."""
        if self.config.webhook_url:  # the URL is a secret: key on its hash, safe to log
            return "webhook:" + hashlib.sha256(self.config.webhook_url.encode()).hexdigest()[:16]
        return f"{self.settings.slack_api_url}|{self.config.channel}"

    def send(self, message: SlackMessage) -> Outcome:
        text, blocks = message.text, message.blocks
        if self.pacer.next_allowed_in(self.pace_key) > self.max_pace_wait:
            return Outcome.retry("paced", self.pacer.next_allowed_in(self.pace_key))
        if not self.config.webhook_url:
            self._web_client()  # set up first: its cost must not eat into the pace gap
        with self.pacer.turn(self.pace_key):
            if self.config.webhook_url:
                outcome = self._post_webhook(text, blocks)
            else:
                outcome = self._post_api(text, blocks)
        if outcome.retry_after:
            self.pacer.defer(self.pace_key, outcome.retry_after)
        return outcome

    def _web_client(self) -> WebClient:
        with self._lock:
            if self._client is None:
                self._client = web_client(self.settings, self.timeout)
            return self._client

    def _post_api(self, text: str, blocks: list[Block]) -> Outcome:

        client = self._web_client()
        assert self.config.channel is not None  # SlackConfig: a channel or a webhook_url
        try:
            answer = client.chat_postMessage(
                channel=self.config.channel,
                text=text,
                blocks=blocks,
                mrkdwn=False,  # the fallback text is shown as written, never formatted
                unfurl_links=False,  # no previews of anything that looks like a URL
                unfurl_media=False,
            )
        except slack_sdk.errors.SlackApiError as exc:
            return self._classify_api_error(exc)
        except slack_sdk.errors.SlackClientError as exc:  # a request slack_sdk refuses to make
            return Outcome.final(f"slack: {type(exc).__name__}")
        except TimeoutError:
            return Outcome.retry("slack: timeout")
        except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
            reason = getattr(exc, "reason", None)
            if isinstance(reason, TimeoutError):
                return Outcome.retry("slack: timeout")
            return Outcome.retry(f"slack: connection failed ({type(exc).__name__})")
        return Outcome.sent(_ref(answer), "ok")

    def _classify_api_error(self, exc: SlackApiError) -> Outcome:
        return classify_api_error(exc)

    def _http_client(self) -> httpx.Client:
        with self._lock:
            if self._http is None:
                self._http = httpx.Client(
                    timeout=self.timeout, verify=tls_context(self.settings.ssl_verify)
                )
            return self._http

    def _post_webhook(self, text: str, blocks: list[Block]) -> Outcome:
        """Incoming webhooks answer `ok`, or an HTTP error with a code in the body
        (`channel_not_found`, `invalid_payload`). The URL is itself a secret: it never
        appears in a reason."""

        assert self.config.webhook_url is not None  # only a webhook channel posts here
        try:
            response = self._http_client().post(
                self.config.webhook_url,
                json={
                    "text": text,
                    "blocks": blocks,
                    "mrkdwn": False,
                    "unfurl_links": False,
                    "unfurl_media": False,
                },
            )
        except httpx.TimeoutException:
            return Outcome.retry("slack webhook: timeout")
        except httpx.HTTPError as exc:
            return Outcome.retry(f"slack webhook: connection failed ({type(exc).__name__})")
        outcome = classify_status(response.status_code, response.headers)
        if outcome.ok:
            return outcome
        code = _code(response.text.strip())
        reason = f"slack webhook: {outcome.reason}" + (f" {code}" if code else "")
        answer = f"{outcome.answer} {code}" if code else outcome.answer
        if outcome.retryable:
            return Outcome.retry(reason, outcome.retry_after, answer)
        return Outcome.final(reason, answer)

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
            self._client = None


def build(name: str, config: SlackConfig, ctx: SendContext) -> SlackChannel:
    """`ctx.extra` may hold `slack_pacer` (a SlackPacer to share; default the process-wide
    PACER) and `send_timeout` (seconds; default 10)."""
    return SlackChannel(
        name,
        config,
        ctx.settings,
        pacer=ctx.extra.get("slack_pacer"),
        timeout=float(ctx.extra.get("send_timeout", DEFAULT_TIMEOUT)),
    )
