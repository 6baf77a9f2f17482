"""`notifier demo` / `make demo`: the real loop against the sandbox institute, with Slack,
email and webhook delivered to loopback stand-ins, for about 45 seconds, then a summary
of what each channel received. Needs no credentials and no network.

The sandbox also sends its signed webhooks, as Testpress does, to the notifier's push
endpoints on a loopback port: most exam and course alerts arrive by push, within
moments of the student finishing, and the poll (every few seconds here) finds them
already seen; the summary says how many came each way."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from notifier.channels.base import Alert, Notification
from notifier.commands.demo_clicks import ADMIN, APP_TOKEN, ClickScene, play_clicks, print_clicks
from notifier.console.passwords import hash_password
from notifier.delivery.render import console_line, plain_text
from notifier.events import Reason
from notifier.obs.logs import setup_logging
from notifier.rules.schema import Rule, RuleSet
from notifier.rules.templates import TemplateTable
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.sandbox import Sandbox, webhooks
from notifier.sandbox.histories import finish_stories, seed_stories
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver, free_port
from notifier.settings import load_settings
from notifier.state import Store
from notifier.state.rows import Row

DEMO_SECONDS = 45.0
WEBHOOK_SECRET = "whsec_ZGVtby1zaWduaW5nLXNlY3JldC0wMTIzNDU2Nzg5"  # demo only


def _after_baseline(db: Path, stop: threading.Event, then: Callable[[], None]) -> None:
    """Run `then` once the first cycle has recorded the exam attempts' baseline."""
    while not stop.wait(0.2):
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                row = conn.execute("SELECT 1 FROM meta WHERE key = 'baseline:attempts'").fetchone()
        except sqlite3.Error:
            row = None
        if row:
            then()
            return


SHOWN = 5  # lines shown per channel in the summary; the rest are counted


def _notification(row: Row, first_only: bool = False) -> Notification:
    """An outbox row as the Notification its channel was given."""

    alerts = []
    for raw in json.loads(row["alerts"])[: 1 if first_only else None]:
        reasons = tuple(Reason.from_dict(r) for r in raw.get("reasons", []))
        alerts.append(Alert(raw["event"], raw["key"], raw["data"], reasons))
    return Notification(row["id"], row["rule"], row["channel"], tuple(alerts))


def print_one_per_rule(store: Store, rules: Sequence[Rule]) -> None:
    """One alert of each rule that fired, as a person reads it (the history rules'
    wording names the events that made them fire)."""
    first: dict[str, Row] = {}
    for row in store.outbox.deliveries():
        first.setdefault(row["rule"], row)
    print("\n=== one alert of each rule ===")
    for rule in rules:
        found = first.get(rule.name)
        if found is None:
            print(f"{rule.name}: nothing yet")
            continue
        print(f"{rule.name}: {plain_text(_notification(found, first_only=True))}")


def console_lines(store: Store, ruleset: RuleSet) -> list[str]:
    """What the console channels printed (above, among the log), from the store's sent
    deliveries: the console has no stand-in to ask."""

    names = {name for name, ch in ruleset.channels.items() if ch.type == "console"}
    rows = [row for row in store.outbox.deliveries("sent") if row["channel"] in names]
    templates = TemplateTable.of(ruleset.rules)  # as the console rendered them
    return [console_line(_notification(row), templates.get(row["rule"])) for row in rows]


def _first_line(text: object) -> str:
    """A grouped message's first line (a Slack post's says what it groups), and how
    many lines more: one line per message in the summary."""
    lines = str(text or "").splitlines() or [""]
    return lines[0] + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")


def print_some(title: str, lines: list[str]) -> None:
    """`title`, the first SHOWN lines, and how many more there were."""
    print(title)
    for line in lines[:SHOWN]:
        print(f"  {line}")
    if len(lines) > SHOWN:
        print(f"  ... and {len(lines) - SHOWN} more")


def run_demo(seconds: float = DEMO_SECONDS, rules_path: Path | None = None) -> int:
    setup_logging()
    rules_path = rules_path or Path(os.environ.get("NOTIFIER_RULES", "rules.yaml"))
    push_port = free_port()
    push_url = f"http://127.0.0.1:{push_port}"
    with (
        tempfile.TemporaryDirectory(prefix="notifier-demo-") as tmp,
        Sandbox(seed=7, activity=True, history=500, push_to=push_url) as sandbox,
        FakeSlack() as slack,
        WebhookReceiver(secret=WEBHOOK_SECRET) as webhook,
        SmtpSink() as smtp,
    ):
        os.environ.update(
            {
                "TESTPRESS_BASE_URL": sandbox.url,
                "TESTPRESS_USERNAME": sandbox.username,
                "TESTPRESS_PASSWORD": sandbox.password,
                "SLACK_BOT_TOKEN": "xoxb-demo-token",
                # Clicks on alerts (issue 19), over the fake Slack's Socket Mode.
                "SLACK_APP_TOKEN": APP_TOKEN,
                "NOTIFIER_SLACK_ADMINS": ADMIN,
                "SLACK_API_URL": slack.url,
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp.port),
                "SMTP_SECURITY": "none",
                "SMTP_FROM": "notifier@school.example",
                "LMS_WEBHOOK_URL": webhook.url,
                "LMS_WEBHOOK_SECRET": WEBHOOK_SECRET,
                "NOTIFIER_DB": str(Path(tmp) / "notifier.db"),
                "NOTIFIER_POLL_INTERVAL": "3",
                "NOTIFIER_CONFERENCE_SETTLE_MINUTES": "0.1",
                "NOTIFIER_RETRY_INITIAL_SECONDS": "1",
                # History rules: the first start reads back 30 days into history
                # (Meera went quiet 8 days ago), and the daily inactivity check runs
                # at the first cycle after that read-back.
                "NOTIFIER_INACTIVITY_CHECK_AT": "00:00",
                "TESTPRESS_WEBHOOK_PUBLIC_KEY": webhooks.PUBLIC_KEY,
                "TESTPRESS_WEBHOOK_PRIVATE_KEY": webhooks.PRIVATE_KEY,
                "NOTIFIER_CONSOLE_ADDR": f"127.0.0.1:{free_port()}",
            }
        )
        for name in ("TESTPRESS_TOKEN", "SMTP_USERNAME", "SMTP_PASSWORD", "SLACK_SIGNING_SECRET"):
            os.environ.pop(name, None)
        settings = load_settings()
        setup_logging(settings.log_level, settings.log_format)  # NOTIFIER_LOG_LEVEL=DEBUG: more
        ruleset = load_rules(rules_path, settings)
        print(f"demo: sandbox institute at {sandbox.url}; rules {ruleset.summary()}")
        print(f"demo: running the notifier loop for {seconds:.0f} s (first cycle is a baseline)\n")
        parts = build(settings, ruleset=ruleset, http_addr=f"127.0.0.1:{push_port}")
        app, store = parts.app, parts.store
        print(f"demo: the sandbox pushes its webhooks to {push_url}/webhooks/testpress/...")
        if parts.console is not None:  # a demo user, for the demo's own store only
            password = secrets.token_urlsafe(12)
            store.users.add("demo", "admin", hash_password(password), time.time())
            print(f"demo: the console is at {parts.console.url} (user demo, password {password})")
        timer = threading.Timer(seconds, app.stop.set)
        timer.start()
        stories = seed_stories(sandbox.institute, datetime.now(UTC))
        story = threading.Thread(  # after the baseline: Asha's 3rd fail, Ravi's drop
            target=_after_baseline,
            args=(settings.db_path, app.stop, lambda: finish_stories(stories, datetime.now(UTC))),
            daemon=True,
        )
        story.start()
        scene = ClickScene()  # the sandbox clicks: a follow-up, a mute, a held alert
        clicker = threading.Thread(
            target=play_clicks,
            args=(scene, slack, parts.actions, settings.db_path, stories, app.stop),
            name="demo-clicks",
            daemon=True,
        )
        clicker.start()
        try:
            app.run_forever()
        except KeyboardInterrupt:
            print("\ndemo: interrupted")
        finally:
            timer.cancel()
        clicker.join(timeout=5)
        counts = store.outbox.delivery_counts()
        print_one_per_rule(store, ruleset.rules)
        console = console_lines(store, ruleset)
        pushed = app.intake.counts
        parts.close()  # the server, its writer, the app, the store

        print("\n=== what each channel received ===")
        posts = [f"{p.channel}: {_first_line(p.text)}" for p in slack.received]
        print_some(f"slack ({len(posts)} messages):", posts)
        mails = [f"to {m.message['To']}: {m.message['Subject']}" for m in smtp.received]
        print_some(f"email ({len(mails)} messages):", mails)
        verified = sum(1 for r in webhook.received if r.verified)
        hooks = [
            f"{r.json.get('rule')}: {_first_line(r.json.get('text'))}" for r in webhook.received
        ]
        print_some(f"webhook ({len(hooks)} requests, {verified} with a valid signature):", hooks)
        print_some(f"console ({len(console)} lines, printed above as they were sent):", console)
        print_clicks(
            scene,
            lambda row: plain_text(_notification(row, first_only=True)),
            ZoneInfo(settings.timezone),
        )
        print(  # the examples are a sample (10 kept), the counts say how many
            f"\nby push: {pushed.webhooks} webhooks received, {pushed.completions} completions, "
            f"{pushed.queued} deliveries queued the moment they arrived (the rest came by poll):"
        )
        for line in pushed.examples[:SHOWN]:
            print(f"  {line}")
        print(
            f"\nsummary: deliveries sent {counts['sent']}, queued {counts['queued']}, "
            f"retrying {counts['retrying']}, dead {counts['dead']}"
        )
        return 0
