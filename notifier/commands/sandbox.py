"""`notifier sandbox`: serve the sandbox institute alone, for trying rules by hand (and
for the benchmarks), and print a ready `.env` for `notifier run` against it.

With `--standins` it also starts the loopback stand-ins the demo uses (a Slack Web API,
an SMTP server, a webhook receiver), puts their settings in that `.env`, and prints a
line for everything each one receives: an admin tries every channel of their rules
without a real Slack workspace or mail server. `--write-env PATH` writes the same
`.env` to a file, so `notifier run` in that folder needs nothing pasted.

The first lines (`Sandbox institute at URL`, `  username:`, `  password:`, `  token:`)
keep their old shape: scripts (.ci/container_host.py, the push tests) read them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifier.sandbox import Sandbox
from notifier.settings import ConfigError

if TYPE_CHECKING:  # the stand-ins need the demo extras: imported at run time only for --standins
    from notifier.sandbox.smtp_standin import ReceivedMail
    from notifier.sandbox.standins import SlackPost, WebhookRequest

T = TypeVar("T")

ENV_BEGIN = "# --- .env for `notifier run` against this sandbox (written by `notifier sandbox`)"
ENV_END = "# --- end of .env"
STANDIN_SLACK_TOKEN = "xoxb-sandbox-standin"  # the stand-in only checks it is a Bearer token
STANDIN_WEBHOOK_SECRET = "whsec_c2FuZGJveC1zdGFuZGluLXNpZ25pbmcta2V5LTAx"  # throwaway


def run_sandbox(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; 0 then. 2 when `--write-env` would overwrite a
    file the sandbox did not write (an admin's real .env); 1 when `--standins` lacks
    aiosmtpd or websockets (the `demo` extra)."""

    target: Path | None = args.write_env
    if target is not None and target.exists() and not _ours(target):
        raise ConfigError([f"--write-env: {target} exists and was not written by the sandbox"])
    if args.standins:
        try:
            import aiosmtpd  # noqa: F401, PLC0415 - only asks whether it is installed
            import websockets  # noqa: F401, PLC0415 - the fake Slack's Socket Mode
        except ImportError as exc:
            print(
                f"notifier sandbox --standins needs {exc.name}: "
                "pip install 'testpress-notifier[demo]' (make sandbox does)",
                file=sys.stderr,
            )
            return 1
    serve(args.port, args.seed, args.push_to, args.standins, target)
    return 0


def _ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as f:
            return f.readline().rstrip("\n") == ENV_BEGIN
    except (OSError, UnicodeDecodeError):
        return False


def serve(
    port: int = 8765,
    seed: int = 1,
    push_to: str | None = None,
    standins: bool = False,
    write_env: Path | None = None,
) -> None:
    """The sandbox (with activity and 1,000 earlier attempts) and, with `standins`, the
    stand-ins, until a signal. Prints the sandbox's throwaway credentials: they exist
    only to be pasted into `TESTPRESS_*` settings."""

    done = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: done.set())
    with ExitStack() as stack:
        sandbox = Sandbox(seed=seed, port=port, activity=True, history=1000, push_to=push_to)
        stack.enter_context(sandbox)
        say(f"Sandbox institute at {sandbox.url}")
        say(f"  username: {sandbox.username}")
        say(f"  password: {sandbox.password}")
        say(f"  token:    {sandbox.token}")
        if sandbox.pusher is not None:
            pusher = sandbox.pusher
            say(f"Pushing webhooks to {pusher.url} (/webhooks/testpress/...)")
            say(f"  webhook public key:  {pusher.public_key}")
            say(f"  webhook private key: {pusher.private_key}")
        env = sandbox_env(sandbox)
        if standins:
            env.update(start_standins(stack))
        lines = env_lines(env)
        if write_env is not None:  # before it is printed: a reader of the output may look
            write_env.touch(mode=0o600)  # it holds tokens: readable by its owner only
            write_env.write_text("\n".join(lines) + "\n", encoding="utf-8")
        say("\n".join(lines))
        if write_env is not None:
            say(f"(written to {write_env}: run `notifier run` in {write_env.parent.resolve()})")
        say("Press Ctrl+C to stop.")
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


_PRINT_LOCK = threading.Lock()


def say(text: str) -> None:
    """One print at a time (stand-ins print from their own threads), flushed at once."""
    with _PRINT_LOCK:
        print(text, flush=True)


def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The settings `notifier run` needs for this sandbox (and its push, if on)."""
    env = {
        "TESTPRESS_BASE_URL": sandbox.url,
        "TESTPRESS_TOKEN": sandbox.token,  # valid while this sandbox runs
        "NOTIFIER_DB": "notifier-sandbox.db",  # not the store you use for your institute
        "NOTIFIER_POLL_INTERVAL": "5",
    }
    if sandbox.pusher is not None:
        parts = urlsplit(sandbox.pusher.url)
        env["TESTPRESS_WEBHOOK_PUBLIC_KEY"] = sandbox.pusher.public_key
        env["TESTPRESS_WEBHOOK_PRIVATE_KEY"] = sandbox.pusher.private_key
        if parts.hostname and parts.port:
            env["NOTIFIER_HTTP_ADDR"] = f"{parts.hostname}:{parts.port}"
    return env


def start_standins(stack: ExitStack) -> dict[str, str]:
    """Start the three stand-ins (stopped by `stack`), each printing what it receives;
    returns their settings. `LMS_WEBHOOK_URL` and `LMS_WEBHOOK_SECRET` are the names
    the repository's rules.yaml reads for its webhook channel."""

    # aiosmtpd and websockets are demo extras the image lacks: imported only for --standins.
    from notifier.sandbox.standins import (  # noqa: PLC0415
        FakeSlack,
        SmtpSink,
        WebhookReceiver,
    )

    slack, smtp, webhook = FakeSlack(), SmtpSink(), WebhookReceiver()
    slack.on_receive = _printer(_slack_line)
    smtp.on_receive = _printer(_mail_line)
    webhook.on_receive = _printer(_webhook_line)
    for standin in (slack, smtp, webhook):
        stack.enter_context(standin)
    say(f"Slack stand-in at {slack.url}, SMTP at {smtp.host}:{smtp.port}, "
        f"webhook receiver at {webhook.url}: each prints what it receives")  # fmt: skip
    return {
        "SLACK_API_URL": slack.url,
        "SLACK_BOT_TOKEN": STANDIN_SLACK_TOKEN,
        "SMTP_HOST": smtp.host,
        "SMTP_PORT": str(smtp.port),
        "SMTP_SECURITY": "none",
        "SMTP_FROM": "notifier@sandbox.example",
        "LMS_WEBHOOK_URL": webhook.url,
        "LMS_WEBHOOK_SECRET": STANDIN_WEBHOOK_SECRET,
    }


def env_lines(env: dict[str, str]) -> list[str]:
    return [ENV_BEGIN, *(f"{key}={value}" for key, value in env.items()), ENV_END]


def _printer(line: Callable[[T], str]) -> Callable[[T], None]:
    def receive(item: T) -> None:
        try:
            text = line(item)
        except Exception as exc:  # a stand-in thread must never die of a strange body
            text = f"(could not show what arrived: {type(exc).__name__})"
        say(" ".join(text.split()))  # one line each, whatever the message holds

    return receive


def _slack_line(post: SlackPost) -> str:
    where = post.channel or "incoming webhook"
    return f"slack {where}: {post.text or '(blocks only)'}"


def _mail_line(mail: ReceivedMail) -> str:
    return f"email to {', '.join(mail.rcpt_tos)}: {mail.message['Subject']}"


def _webhook_line(request: WebhookRequest) -> str:
    body = request.json if isinstance(request.json, dict) else {}
    what = body.get("text") or request.body[:200].decode("utf-8", "replace")
    return f"webhook {request.path} ({_signature(request)}): {what}"


def _signature(request: WebhookRequest) -> str:
    """Whether the Standard Webhooks signature checks out with LMS_WEBHOOK_SECRET. The
    receiver accepts every request either way, so rules without a secret work too."""
    if "webhook-signature" not in request.headers:
        return "unsigned"

    try:
        Webhook(STANDIN_WEBHOOK_SECRET).verify(request.body, request.headers)
    except (WebhookVerificationError, ValueError):
        return "signature does not match LMS_WEBHOOK_SECRET"
    return "signature valid"


__all__ = ["ENV_BEGIN", "ENV_END", "run_sandbox", "serve"]
