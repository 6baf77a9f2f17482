"""Security (issue 4, part 7): Testpress text cannot mention, link or format its way out
in Slack nor add an email header; webhook signatures are checked and a tampered body is
refused; no secret shows in any output on any failing path; the state store is private;
TLS certificates are verified unless NOTIFIER_TLS_VERIFY says otherwise."""

from __future__ import annotations

import json
import os
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from notifier.channels.base import Alert, Notification
from notifier.channels.slack import SlackPacer
from notifier.delivery.slack_blocks import ZWJ
from notifier.runtime.wiring import make_client
from notifier.sandbox import Sandbox
from notifier.sandbox.standins import FakeSlack, SmtpSink, WebhookReceiver
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressError
from tests.e2e import WEBHOOK_SECRET, Harness, open_harness
from tests.rendering import Rendering, build_channel, slack_texts

EVIL_NAME = "Eve <!channel> <@U123> <https://evil.example|click here> *bold* _it_ &amp;"
EVIL_TITLE = "Quiz <!here>\r\nBcc: victim@evil.example\nX-Injected: yes"
MENTIONS = ("<!channel>", "<!here>", "<@U123>", "<https://evil.example", "<!", "<@", "<#", "<http")


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=13) as harness:
        yield harness


def test_hostile_names_and_titles_cannot_escape_in_slack_or_email(h: Harness) -> None:
    inst = h.sandbox.institute
    exam = inst.add_exam(title=EVIL_TITLE)
    eve = inst.add_user(name=EVIL_NAME, email="eve@school.example", username="eve")
    assert h.notifier("run", "--once").returncode == 0  # baseline
    inst.complete_attempt(inst.start_attempt(exam, eve), result="Fail")
    out = h.notifier("run", "--once")
    assert out.returncode == 0, out.stderr

    [post] = h.slack.received
    texts = [("text", post.text or ""), *slack_texts(post.blocks)]
    assert any("&lt;!channel&gt;" in text for _, text in texts)  # shown, escaped
    for kind, text in texts:
        for mention in MENTIONS:
            assert mention not in text, (kind, text)
        if kind == "mrkdwn" and "Eve" in text:
            # The name is bold (contract section 15): our two `*` around it, and every
            # formatting character of Testpress text wrapped in zero-width joiners.
            assert text.startswith("*Eve ")
            for char in "*_~`":
                bare = text.replace(f"{ZWJ}{char}{ZWJ}", "")
                assert bare.count(char) == (2 if char == "*" else 0), (char, text)
    assert post.mrkdwn is False  # Slack shows the fallback text as written, unformatted

    [mail] = h.smtp.received
    assert sorted(mail.rcpt_tos) == ["head@school.example", "office@school.example"]
    assert "Bcc" not in mail.message and "X-Injected" not in mail.message
    subject = mail.message["Subject"]
    assert subject.startswith("[failed-exam]")
    assert "\r" not in subject and "\n" not in subject

    [hook] = h.webhook.received
    assert hook.verified and hook.json["alerts"][0]["data"]["student"] == EVIL_NAME


def test_the_receiver_refuses_a_tampered_body(webhook_secret_receiver: WebhookReceiver) -> None:
    from notifier.channels.webhook import WebhookChannel, WebhookConfig

    config = WebhookConfig.model_validate(
        {"type": "webhook", "url": webhook_secret_receiver.url, "secret": WEBHOOK_SECRET}
    )
    channel = WebhookChannel("lms", config, Settings(_env_file=None))  # type: ignore[call-arg]
    alert = Alert("attempt.completed", "1", {"id": 1, "student": "Asha", "result": "Fail"})
    note = Notification("msg_1", "failed-exam", "lms", (alert,))
    body, headers = Rendering(channel).request(note)
    channel.close()

    tampered = body.replace(b'"Fail"', b'"Pass"')
    assert tampered != body
    assert (
        httpx.post(webhook_secret_receiver.url, content=tampered, headers=headers).status_code
        == 401
    )
    assert httpx.post(webhook_secret_receiver.url, content=body, headers=headers).status_code == 204
    assert [r.verified for r in webhook_secret_receiver.received] == [False, True]


@pytest.fixture
def webhook_secret_receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret=WEBHOOK_SECRET) as receiver:
        yield receiver


# --- secrets ---------------------------------------------------------------------------

TP_TOKEN = "tp-token-SECRET-4f1c9a"
TP_PASSWORD = "tp-password-SECRET-77ab"
SLACK_TOKEN = "xoxb-slack-SECRET-d3e8"
SMTP_PASSWORD = "smtp-password-SECRET-19"
LMS_SECRET = "whsec_bG1zLXNlY3JldC1TRUNSRVQtc2lnbmluZy1rZXk="
SECRETS = (TP_TOKEN, TP_PASSWORD, SLACK_TOKEN, SMTP_PASSWORD, LMS_SECRET, LMS_SECRET[6:])


def _assert_clean(*outputs: str) -> None:
    for output in outputs:
        for secret in SECRETS:
            assert secret not in output, f"{secret!r} leaked in:\n{output[-2000:]}"


def _outputs(h: Harness, *args: str) -> list[str]:
    out = h.notifier(*args)
    return [out.stdout, out.stderr]


def test_no_secret_appears_in_any_output_on_any_failing_path(tmp_path: Path) -> None:
    seen: list[str] = []
    with (
        Sandbox(seed=17, password=TP_PASSWORD) as sandbox,
        FakeSlack() as slack,
        WebhookReceiver() as webhook,
        SmtpSink(username="mailer", password="the-right-one") as smtp,
    ):
        h = Harness(tmp_path, sandbox, slack, webhook, smtp)
        env = {
            "TESTPRESS_PASSWORD": TP_PASSWORD,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SMTP_USERNAME": "mailer",
            "SMTP_PASSWORD": SMTP_PASSWORD,  # wrong: 535 from the server
            "LMS_SECRET": LMS_SECRET,
        }
        h.extra_env = dict(env)
        seen += _outputs(h, "run", "--once")  # the baseline

        inst = sandbox.institute
        exam = inst.add_exam(title="Algebra")
        user = inst.add_user(name="Asha Verma", email="asha@school.example")
        inst.complete_attempt(inst.start_attempt(exam, user), result="Fail")
        # Every far end fails, and echoes the secret it was given back in its answer.
        slack.script([(200, {"ok": False, "error": "invalid_auth", "token": SLACK_TOKEN})])
        webhook.script([(500, f"bad signature, secret {LMS_SECRET}")])
        seen += _outputs(h, "run", "--once")
        seen += _outputs(h, "status")
        seen += _outputs(h, "status", "--json")
        report = json.loads(h.notifier("status", "--json").stdout)
        assert report["deliveries"]["dead"] >= 2  # Slack invalid_auth, SMTP 535

        # Testpress refuses the token, then the password (both end in exit 1).
        h.extra_env = {**env, "TESTPRESS_TOKEN": TP_TOKEN, "TESTPRESS_USERNAME": ""}
        seen += _outputs(h, "run", "--once")
        seen += _outputs(h, "status", "--json")
        h.extra_env = {**env, "TESTPRESS_PASSWORD": TP_PASSWORD + "-wrong"}
        failed = h.notifier("run", "--once")
        assert failed.returncode == 1
        seen += [failed.stdout, failed.stderr, *_outputs(h, "status")]

        # A webhook secret that is not valid base64 is a rules-file error (exit 2).
        h.extra_env = {**env, "LMS_SECRET": "whsec_not-base64-SECRET-!!"}
        bad = h.notifier("check")
        assert bad.returncode == 2
        seen += [bad.stdout, bad.stderr, *_outputs(h, "run", "--once")]
        assert "not-base64-SECRET" not in bad.stderr

        rows = SqliteStore(h.db)
        stored = json.dumps(list(rows.outbox.deliveries()), default=str)
        rows.close()
    _assert_clean(*seen, stored)
    everything = "\n".join(seen)
    for reported in (  # every failing path was really taken, and reported
        "slack: invalid_auth",
        "SMTP 535",
        "hooks/testpress: HTTP 500",
        "the TESTPRESS_TOKEN was refused",
        "login refused for user admin",
        "must be a Standard Webhooks secret",
    ):
        assert reported in everything


# --- the state store and TLS ---------------------------------------------------------------


def test_the_state_store_is_readable_by_its_owner_only(h: Harness) -> None:
    old = os.umask(0o022)
    try:
        assert h.notifier("run", "--once").returncode == 0
    finally:
        os.umask(old)
    for suffix in ("", "-wal", "-shm"):
        path = Path(f"{h.db}{suffix}")
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server with a self-signed certificate for 127.0.0.1 answering every
    request with `{"ok": true, ...}`; yields its URL and the certificate (a CA bundle)."""
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = json.dumps({"ok": True, "ts": "1.0", "results": [], "next": None}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


def _tls_settings(url: str, verify: str | None) -> Settings:
    env: dict[str, Any] = {
        "TESTPRESS_BASE_URL": url,
        "TESTPRESS_TOKEN": "tls-test-token",
        "SLACK_BOT_TOKEN": "xoxb-tls",
        "SLACK_API_URL": f"{url}/api/",
    }
    if verify is not None:
        env["NOTIFIER_TLS_VERIFY"] = verify
    return Settings(_env_file=None, **env)  # type: ignore[call-arg]


def _channel(kind: str, config: dict[str, Any], st: Settings) -> Any:
    pacer = SlackPacer(interval=0.0)
    return Rendering(build_channel(kind, config, st, slack_pacer=pacer, send_timeout=5))


@pytest.mark.parametrize("verify", [None, "true", "false", "bundle"])
def test_tls_certificates_are_verified_unless_the_setting_says_otherwise(
    https_server: tuple[str, Path], verify: str | None
) -> None:
    url, cert = https_server
    st = _tls_settings(url, str(cert) if verify == "bundle" else verify)
    trusted = verify in ("false", "bundle")
    note = Notification("msg_tls", "r", "x", (Alert("attempt.completed", "1", {"id": 1}),))

    for kind, config in (("webhook", {"url": f"{url}/hook"}), ("slack", {"channel": "#a"})):
        channel = _channel(kind, config, st)
        try:
            outcome = channel.send(note)
        finally:
            channel.close()
        assert outcome.ok is trusted, (kind, outcome)

    client = make_client(st)
    client.max_attempts = 1  # a refused certificate would be retried; once shows it
    try:
        if trusted:
            assert client.get("/api/v2.5/admin/exams/1/")["ok"] is True
        else:
            with pytest.raises(TestpressError):
                client.get("/api/v2.5/admin/exams/1/")
    finally:
        client.close()
