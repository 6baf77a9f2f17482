"""Slack's Request URL for clicks on alerts: `POST /slack/actions` (contract section
13), added when SLACK_SIGNING_SECRET is set.

Slack posts a form with one field, `payload` (the `block_actions` JSON), signed with the
app's signing secret: `X-Slack-Signature` is `v0=` + HMAC-SHA256 of
`v0:<X-Slack-Request-Timestamp>:<body>`. slack_sdk's `SignatureVerifier` checks it in
constant time and refuses a timestamp more than 5 minutes from now (a replay). A request
that passes is answered 200 at once (Slack wants an answer within 3 s) and the click is
handed to the click handler (`notifier.actions.slack_clicks`), which does the work on
its own threads. Refused, with nothing done, and logged (rate-limited) without the
body: 401 for a missing, stale or wrong signature, 400 for a body without a JSON
`payload`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from notifier.events import JSONValue
from notifier.web.http import HttpServer, Request, Response
from notifier.web.refusals import RefusalLog

log = logging.getLogger(__name__)

PATH = "/slack/actions"
MAX_BODY = 256 * 1024  # a block_actions payload carries the message: a few KiB to ~50 KiB
MAX_AGE = 5 * 60  # seconds: what SignatureVerifier allows either side of now


class _Clock(Clock):
    def __init__(self, now: Callable[[], float]):
        self._now = now

    def now(self) -> float:
        return self._now()


def slack_actions_handler(
    signing_secret: str,
    submit: Callable[[JSONValue], None],
    *,
    clock: Callable[[], float] = time.time,
    refusals: RefusalLog | None = None,
) -> Callable[[Request], Response]:
    """The route's handler: verify, answer, and `submit` the payload for later."""
    verifier = SignatureVerifier(signing_secret, clock=_Clock(clock))
    refused = refusals or RefusalLog(log)

    def refuse(request: Request, status: int, reason: str) -> Response:
        refused.refused(PATH, request.client, reason)  # never the body: it holds a response_url
        return Response.json(status, {"error": reason})

    def handle(request: Request) -> Response:
        stamp = request.headers.get("x-slack-request-timestamp", "")
        signature = request.headers.get("x-slack-signature", "")
        if not stamp.isdigit() or not signature:
            return refuse(request, 401, "no Slack signature")
        if abs(clock() - int(stamp)) > MAX_AGE:
            return refuse(request, 401, "stale Slack request timestamp")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return refuse(request, 400, "the body is not UTF-8")
        if not verifier.is_valid(text, stamp, signature):
            return refuse(request, 401, "Slack signature does not verify")
        fields = parse_qs(text)
        try:
            payload = json.loads(fields["payload"][-1])
        except (KeyError, ValueError, RecursionError):
            return refuse(request, 400, "no JSON payload field")
        submit(payload)
        return Response(200)

    return handle


def add_slack_actions_route(
    server: HttpServer,
    signing_secret: str,
    submit: Callable[[JSONValue], None],
    *,
    clock: Callable[[], float] = time.time,
) -> None:
    """Serve `POST /slack/actions` on `server` (before it starts)."""
    handler = slack_actions_handler(signing_secret, submit, clock=clock)
    server.route("POST", PATH, handler, max_body=MAX_BODY)
    log.info("accepting Slack's clicks on %s", PATH)


__all__ = ["MAX_AGE", "PATH", "add_slack_actions_route", "slack_actions_handler"]
