"""Testpress's webhooks on the HTTP server (contract section 10):
`POST /webhooks/testpress/exam` and `POST /webhooks/testpress/chapter-content`.

A request is answered 200 only once its payload is committed to the inbox (state
store `Inbox`); the run loop, woken at once, turns it into alerts. Only what a
push can be trusted with is recorded (`kept_payload`: the attempt, the signed values
and the state, a few hundred bytes however the unsigned fields are padded), under its
received key (`received_key`): a verified body already received (same endpoint,
attempt, state and hash) is answered 200 and not stored again. Refused, and recorded
nowhere (and logged at most a few lines a minute, `notifier.web.refusals`):

- 400: the body is not a JSON object, or has no `attempt_id`;
- 401: `key` is not the institute's public key, or `hash` does not verify
  (notifier.testpress.push.verify: constant-time, the notes' fields);
- 413: a body over 1 MiB (the server answers it before reading the body), and a
  client that does not send its request within the server's request deadline is
  disconnected (notifier.web.http).

Without both keys the routes are not added: the paths are 404 like any other.

Commits are grouped: handler threads hand their payload to one writer thread, which
commits every payload waiting in one transaction (one disk sync however many arrive
together) and then releases them; so a burst of webhooks costs a few syncs, not one
each, and every answer still waits for its own commit.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from notifier.obs.metrics import Metrics
from notifier.settings import Settings
from notifier.state import Handle, InboxHandle
from notifier.testpress.push import (
    KINDS,
    Kind,
    PushKeys,
    attempt_id_of,
    kept_payload,
    received_key,
    verify,
)
from notifier.testpress.safetext import no_constant
from notifier.web.http import HttpServer, Request, Response
from notifier.web.refusals import RefusalLog

log = logging.getLogger(__name__)

PATHS: dict[Kind, str] = {
    "exam": "/webhooks/testpress/exam",
    "chapter-content": "/webhooks/testpress/chapter-content",
}
MAX_BODY = 1024 * 1024
COMMIT_TIMEOUT = 5.0  # seconds a request waits for its commit before a 503
BATCH = 500  # payloads committed in one transaction at most


@dataclass
class _Item:
    kind: str
    key: str
    body: str
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


class InboxWriter:
    """The one thread that writes the inbox; `add` waits until its payload is
    committed. `notify` is called after each commit (it wakes the run loop)."""

    def __init__(
        self,
        open_store: Callable[[], InboxHandle],
        notify: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ):
        self._open_store = open_store
        self.notify = notify
        self._clock = clock
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="inbox-writer", daemon=True)
        self._thread.start()

    def add(self, kind: str, key: str, body: str, timeout: float = COMMIT_TIMEOUT) -> bool:
        """True once the payload is durably recorded (or was already, under `key`);
        False when it could not be."""
        item = _Item(kind, key, body)
        self._queue.put(item)
        return item.done.wait(timeout) and item.ok

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(10)

    def _run(self) -> None:
        store = self._open_store()
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                items = [item]
                while len(items) < BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    items.append(more)
                self._commit(store, items)
        finally:
            store.close()

    def _commit(self, store: InboxHandle, items: list[_Item]) -> None:
        added: list[int] = []  # a batch of replays only adds nothing, and wakes no one
        try:
            added = store.inbox.inbox_receive(
                [(i.kind, i.key, i.body) for i in items], self._clock()
            )
            ok = True
        except Exception:  # noqa: BLE001 - answered 503; Testpress or the poll makes up
            log.exception("could not record %d pushed webhooks", len(items))
            ok = False
        for item in items:
            item.ok = ok
            item.done.set()
        if ok and added:
            self.notify()


def push_handler(
    kind: Kind,
    keys: PushKeys,
    writer: InboxWriter,
    metrics: Metrics | None = None,
    refusals: RefusalLog | None = None,
) -> Callable[[Request], Response]:
    """The handler of one webhook endpoint; each answer counts in
    `notifier_webhooks_total{endpoint,status}`."""
    refused = refusals or RefusalLog(log)

    def refuse(request: Request, status: int, reason: str) -> Response:
        # The client and the reason only: never the payload, the key or the hash.
        refused.refused(PATHS[kind], request.client, reason)
        return Response.json(status, {"error": reason})

    def handle(request: Request) -> Response:
        response = answer(request)
        if metrics is not None:
            metrics.webhook(kind, response.status)
        return response

    def answer(request: Request) -> Response:
        try:
            # Invalid UTF-8 inside a name becomes U+FFFD (contract section 7): the
            # hashed fields are numbers, so a genuine payload still verifies.
            text = request.body.decode("utf-8", "replace")
            payload = json.loads(text, parse_constant=no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError):
            return refuse(request, 400, "the body is not JSON")
        if not isinstance(payload, dict):
            return refuse(request, 400, "the body is not a JSON object")
        if attempt_id_of(payload) is None:
            return refuse(request, 400, "the payload has no attempt_id")
        verdict = verify(kind, payload, keys)
        if verdict == "wrong_key":
            return refuse(request, 401, "key is not the institute's public key")
        if verdict != "ok":
            return refuse(request, 401, "hash does not verify")
        kept = json.dumps(kept_payload(kind, payload), separators=(",", ":"))
        if not writer.add(kind, received_key(kind, payload), kept):
            return Response.json(503, {"error": "not recorded; send it again"})
        log.debug("recorded a %s webhook for attempt %s", kind, payload.get("attempt_id"))
        return Response.json(200, {"ok": True})

    return handle


def add_push_routes(
    server: HttpServer,
    keys: PushKeys,
    writer: InboxWriter,
    metrics: Metrics | None = None,
    refusals: RefusalLog | None = None,
) -> None:
    """Serve both webhook endpoints on `server` (before it starts), with one refusal
    log (one limit) for both."""
    refusals = refusals or RefusalLog(log)
    for kind in KINDS:
        handler = push_handler(kind, keys, writer, metrics, refusals)
        server.route("POST", PATHS[kind], handler, max_body=MAX_BODY)


def configure_push(
    server: HttpServer,
    settings: Settings,
    store: Handle,
    notify: Callable[[], None],
    metrics: Metrics | None = None,
    *,
    refusals: RefusalLog | None = None,
) -> InboxWriter | None:
    """Add the webhook endpoints when both keys are set (else they stay 404). The
    writer records on its own connection (`store.for_thread()`); close it after the
    server."""
    public, private = settings.testpress_webhook_public_key, settings.testpress_webhook_private_key
    if not public or private is None:
        return None
    writer = InboxWriter(store.for_thread, notify)
    add_push_routes(server, PushKeys(public, private), writer, metrics, refusals)
    log.info("accepting Testpress's webhooks on %s and %s", *PATHS.values())
    return writer
