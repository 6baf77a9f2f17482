"""Loopback stand-ins that speak the real protocols: a Slack Web API, a webhook receiver
and an SMTP server. `notifier demo` delivers to them instead of the internet, and the
tests use them to drive the real channel code over real sockets.

Each has `start()`, `stop()`, is a context manager, has `.url` (or `.port`), and records
what it received in a thread-safe list (`.received`, a copy). HTTP stand-ins can be
scripted: `script([...])` queues answers consumed one per request, each a tuple
`(status, body, headers)` (body: a dict as JSON, str or bytes; headers optional) or the
string `"hang"` (never answer until `stop()`). They print nothing themselves:
`on_receive`, when set, is called with each recorded item as it arrives (from the
stand-in's thread), which is how `notifier sandbox --standins` shows what they got.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

# The SMTP stand-in and the fake Slack's parts live in their own modules, re-exported so
# every stand-in has one home.
from notifier.sandbox.slack_socket_standin import SocketModeStandin
from notifier.sandbox.slack_workspace import SlackWorkspace, channel_id
from notifier.sandbox.smtp_standin import ReceivedMail, SmtpSink, free_port

Scripted = tuple[Any, ...] | int | str


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True  # otherwise every answer stalls ~40 ms
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stand-ins print nothing."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:  # the sender died mid-request: nothing was delivered
            self.close_connection = True
            return
        self.server.owner._handle(self, body)

    def do_GET(self) -> None:
        self.server.owner._handle(self, b"")

    def answer(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        if isinstance(body, dict | list):
            payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
        elif isinstance(body, str):
            payload, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, ctype = bytes(body or b""), "text/plain"
        try:
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            if "content-type" not in sent and payload:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (timeout): nothing to answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: _HttpStandin


class _HttpStandin:
    """Shared plumbing: the server thread, the script queue, the received list."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[Scripted] = []
        self._received: list[Any] = []
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.on_receive: Callable[[Any], None] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def received(self) -> list[Any]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()
            self._script.clear()

    def script(self, answers: Iterable[Scripted]) -> None:
        """Queue answers, consumed in order by the next requests; then back to normal."""
        with self._lock:
            self._script.extend(answers)

    def _next_scripted(self) -> Scripted | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def _record(self, item: Any) -> None:
        with self._lock:
            self._received.append(item)
        if self.on_receive is not None:
            self.on_receive(item)

    def _play(self, handler: _Handler, scripted: Scripted) -> None:
        if isinstance(scripted, str):  # "hang"
            self._stopping.wait()
            return
        if isinstance(scripted, int):
            handler.answer(scripted, {"ok": 200 <= scripted < 300})
            return
        status, body, *rest = scripted
        headers: dict[str, str] | None = rest[0] if rest else None
        handler.answer(int(status), body, headers)

    def _handle(self, handler: _Handler, body: bytes) -> None:
        raise NotImplementedError

    def start(self) -> _HttpStandin:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.owner = self
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # releases hanging handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- Slack ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackPost:
    """One `chat.postMessage` call or incoming-webhook post as the fake saw it (also
    one `chat.update` or `chat.postEphemeral` call: `path` says which)."""

    path: str
    channel: str | None
    text: str | None
    blocks: list[dict[str, Any]] | None
    authorization: str | None
    at: float  # time.monotonic() when it arrived
    mrkdwn: bool = True  # False when the post asked Slack not to format `text`
    ts: str | None = None  # the message's ts: answered to a post, asked by an update
    user: str | None = None  # chat.postEphemeral's user


class FakeSlack(_HttpStandin):
    """The Slack Web API's `chat.postMessage` (JSON or form body, as slack_sdk sends it)
    and incoming webhooks at `/webhook/...`; for clicks on alerts (issue 19),
    `chat.update` (of a message it was posted: else `message_not_found`),
    `chat.postEphemeral`, and `apps.connections.open` (an `xapp-` token) answering
    the `ws://` URL of its Socket Mode stand-in (`.socket`). Without an
    `Authorization: Bearer` header the API answers `not_authed`, as Slack does.
    `.url` is what SLACK_API_URL takes; `.webhook_url` is an incoming-webhook URL.

    `.received` holds posts (API and webhook); `.api` (a SlackWorkspace) the
    messages as they read after their updates, the `chat.update` and
    `chat.postEphemeral` calls, and makes the payload of a click (`.api.click`).
    Scripted answers apply to every method."""

    def __init__(self) -> None:
        super().__init__()
        self.socket = SocketModeStandin()
        self.api = SlackWorkspace(self.socket.url)

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/webhook/T000/B000/standin"

    def start(self) -> FakeSlack:
        super().start()
        self.socket.start()
        return self

    def stop(self) -> None:
        self.socket.stop()
        super().stop()

    def _handle(self, handler: _Handler, body: bytes) -> None:
        path = handler.path.split("?")[0]
        fields = _parse_body(handler.headers.get("Content-Type", ""), body)
        blocks = fields.get("blocks")
        if isinstance(blocks, str):
            try:
                blocks = json.loads(blocks)
            except ValueError:
                blocks = None
        auth = handler.headers.get("Authorization")
        method = path.removeprefix("/api/") if path.startswith("/api/") else None
        if method not in _METHODS and not path.startswith("/webhook/"):
            handler.answer(404, {"ok": False, "error": "unknown_method"})
            return
        channel = fields.get("channel")
        mrkdwn = fields.get("mrkdwn", True) not in (False, "false", "False", "0", 0)
        post = SlackPost(
            path,
            channel,
            fields.get("text"),
            blocks,
            auth,
            time.monotonic(),
            mrkdwn,
            ts=fields.get("ts") if method == "chat.update" else f"{time.time():.6f}",
            user=fields.get("user"),
        )
        if method in (None, "chat.postMessage"):
            self._record(post)
        else:
            self.api.seen(method, post)
        scripted = self._next_scripted()
        if scripted is not None:
            self._play(handler, scripted)
        elif method is None:
            handler.answer(200, "ok")
        elif not (auth or "").startswith("Bearer "):
            handler.answer(200, {"ok": False, "error": "not_authed"})
        else:
            handler.answer(200, self.api.answer(method, post, auth or ""))


_METHODS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "apps.connections.open")


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    if "json" in content_type:
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}
    form = parse_qs(body.decode("utf-8", "replace"))
    return {key: values[-1] for key, values in form.items()}


# --- webhooks -------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookRequest:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    json: Any  # None when the body is not JSON
    verified: bool  # the Standard Webhooks signature checked out (False without a secret)
    status: int = 204  # what the receiver answered (0 when it hung)


class WebhookReceiver(_HttpStandin):
    """Records every request; with a `secret` (whsec_...) checks the Standard Webhooks
    signature with the `standardwebhooks` library and answers 401 when it fails, else
    204. Scripted answers take precedence (the request is still recorded). `delay`
    (seconds) makes every answer that slow, as a busy receiver would be; the request is
    recorded when it arrives, before the delay."""

    def __init__(self, secret: str | None = None, delay: float = 0.0):
        super().__init__()
        self.secret = secret
        self.delay = delay

    @property
    def url(self) -> str:
        return f"{self.base_url}/hooks/testpress"

    def _handle(self, handler: _Handler, body: bytes) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        verified = False
        if self.secret:
            try:
                Webhook(self.secret).verify(body, headers)
                verified = True
            except (WebhookVerificationError, ValueError):
                verified = False
        scripted = self._next_scripted()
        if scripted is not None:
            status = 0 if isinstance(scripted, str) else _status_of(scripted)
        else:
            status = 401 if self.secret and not verified else 204
        self._record(WebhookRequest(handler.path, headers, body, parsed, verified, status))
        if self.delay > 0 and self._stopping.wait(self.delay):
            return
        if scripted is not None:
            self._play(handler, scripted)
        elif status == 401:
            handler.answer(401, {"error": "bad signature"})
        else:
            handler.answer(204)


def _status_of(scripted: Any) -> int:
    return int(scripted if isinstance(scripted, int) else scripted[0])


__all__ = [
    "FakeSlack",
    "ReceivedMail",
    "SlackPost",
    "SmtpSink",
    "SlackWorkspace",
    "SocketModeStandin",
    "WebhookReceiver",
    "WebhookRequest",
    "channel_id",
    "free_port",
]
