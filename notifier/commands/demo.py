"""`notifier demo` / `make demo`: the real loop against the sandbox institute, with Slack,
email and webhook delivered to loopback stand-ins, for about 45 seconds, then a summary
of what each channel received. Needs no credentials and no network."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

DEMO_SECONDS = 45.0
WEBHOOK_SECRET = "whsec_ZGVtby1zaWduaW5nLXNlY3JldC0wMTIzNDU2Nzg5"  # demo only


def run_demo(seconds: float = DEMO_SECONDS, rules_path: Path | None = None) -> int:
    from notifier.app import App, make_client
    from notifier.config import load_rules
    from notifier.obs.logs import setup_logging
    from notifier.sandbox import Sandbox
    from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
    from notifier.settings import load_settings
    from notifier.state import SqliteStore

    setup_logging()
    rules_path = rules_path or Path(os.environ.get("NOTIFIER_RULES", "rules.yaml"))
    with (
        tempfile.TemporaryDirectory(prefix="notifier-demo-") as tmp,
        Sandbox(seed=7, activity=True, history=500) as sandbox,
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
            }
        )
        for name in ("TESTPRESS_TOKEN", "SMTP_USERNAME", "SMTP_PASSWORD"):
            os.environ.pop(name, None)
        settings = load_settings()
        ruleset = load_rules(rules_path, settings)
        print(f"demo: sandbox institute at {sandbox.url}; rules {ruleset.summary()}")
        print(f"demo: running the notifier loop for {seconds:.0f} s (first cycle is a baseline)\n")
        store = SqliteStore(settings.db_path)
        app = App(settings, ruleset, store, make_client(settings))
        timer = threading.Timer(seconds, app.stop.set)
        timer.start()
        try:
            app.run_forever()
        except KeyboardInterrupt:
            print("\ndemo: interrupted")
        finally:
            timer.cancel()
        counts = store.delivery_counts()
        app.close()
        store.close()

        print("\n=== what each channel received ===")
        print(f"slack ({len(slack.received)} messages):")
        for post in slack.received[:5]:
            print(f"  {post.channel}: {post.text}")
        print(f"email ({len(smtp.received)} messages):")
        for message in smtp.received[:5]:
            print(f"  to {message.message['To']}: {message.message['Subject']}")
        verified = sum(1 for r in webhook.received if r.verified)
        print(f"webhook ({len(webhook.received)} requests, {verified} with a valid signature):")
        for request in webhook.received[:5]:
            print(f"  {request.json.get('rule')}: {request.json.get('text')}")
        print(
            f"\nsummary: deliveries sent {counts['sent']}, queued {counts['queued']}, "
            f"retrying {counts['retrying']}, dead {counts['dead']}"
        )
        return 0
