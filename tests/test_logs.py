"""Log lines (contract section 9): text or JSON on standard error, from the chosen
level up, each JSON line an object of its own, and never a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from notifier.channels import CHANNEL_TYPES
from notifier.obs import logs
from notifier.obs.logs import register_secrets, setup_logging
from notifier.rules.load import load_ruleset_text
from notifier.runtime.wiring import secrets_of
from notifier.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    secrets, ordered = set(logs._SECRETS), list(logs._ORDERED)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._SECRETS.clear()
    logs._SECRETS.update(secrets)
    logs._ORDERED[:] = ordered  # the short test secrets would redact words elsewhere


def test_json_lines_parse_one_by_one_and_hold_no_secret(capsys: pytest.CaptureFixture[str]) -> None:
    register_secrets(["s3cr3t-token-value"])
    setup_logging("INFO", "json")
    log = logging.getLogger("notifier.test")
    log.debug("not shown at INFO")
    log.info("cycle finished", extra={"cycle": {"events": 2}})
    log.warning('line one\nline two "quoted" with s3cr3t-token-value inside')
    try:
        raise ValueError("boom s3cr3t-token-value")
    except ValueError:
        log.exception("it failed")
    err = capsys.readouterr().err
    assert "s3cr3t-token-value" not in err
    lines = [json.loads(line) for line in err.splitlines()]
    assert [e["level"] for e in lines] == ["INFO", "WARNING", "ERROR"]
    assert all({"time", "level", "logger", "message"} <= set(e) for e in lines)
    assert lines[0]["logger"] == "notifier.test" and lines[0]["cycle"] == {"events": 2}
    assert lines[1]["message"] == 'line one\nline two "quoted" with [redacted] inside'
    assert "ValueError: boom [redacted]" in lines[2]["exception"]


def test_text_lines_and_the_level(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("WARNING", "text")
    log = logging.getLogger("notifier.test")
    log.info("quiet")
    log.warning("source attempts could not be read")
    err = capsys.readouterr().err
    assert "quiet" not in err
    assert err.rstrip().endswith("WARNING notifier.test: source attempts could not be read")


def test_json_fields_are_redacted_before_they_are_encoded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    quoted = 'pa"ss\\word\t9'  # JSON escapes it: redacting the encoded line would miss it
    register_secrets([quoted, "k7"])
    setup_logging("INFO", "json")
    log = logging.getLogger("notifier.test")
    log.info("sent", extra={"detail": {"reply": f"echo {quoted}", "codes": [quoted, 3]}})
    log.info("short one", extra={"token": "k7", "word": "k7x is not it"})
    first, second = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert quoted not in json.dumps(first) and quoted not in str(first)
    assert first["detail"] == {"reply": "echo [redacted]", "codes": ["[redacted]", 3]}
    assert second["token"] == "[redacted]" and second["word"] == "k7x is not it"


def test_short_secrets_are_redacted_as_whole_tokens_and_urls_structurally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_secrets(["Qz5"])
    setup_logging("INFO", "text")
    log = logging.getLogger("notifier.test")
    log.warning("login Qz5 failed; Qz5x and aQz5 are other words")
    log.warning("cannot reach postgresql://u:unknown-pw@db/x?sslpassword=kp%21&sslmode=require")
    log.warning("dsn host=db password='two words' user=u")
    first, second, third = capsys.readouterr().err.splitlines()
    assert first.endswith("login [redacted] failed; Qz5x and aQz5 are other words")
    assert second.endswith("postgresql://u:[redacted]@db/x?sslpassword=[redacted]&sslmode=require")
    assert third.endswith("dsn host=db password=[redacted] user=u")


def test_a_slack_incoming_webhook_url_is_a_secret_in_logs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    hook = "https://hooks.slack.com/services/T0001/B0002/abcdefghijklmnopqrstuvwx"
    rules = f"""
channels:
  team: {{type: slack, webhook_url: "{hook}"}}
rules:
  - name: failed
    event: attempt.completed
    when: {{result: Fail}}
    notify: [team]
"""
    ruleset = load_ruleset_text(rules, "rules.yaml", None, {}, channel_types=CHANNEL_TYPES)
    register_secrets(secrets_of(Settings(_env_file=None), ruleset))  # type: ignore[call-arg]
    setup_logging("INFO", "text")
    logging.getLogger("notifier.test").error(
        "post failed: %s; retried %s", hook, "/services/T0001/B0002/abcdefghijklmnopqrstuvwx"
    )
    err = capsys.readouterr().err
    assert "post failed:" in err and "retried" in err
    assert "abcdefghijklmnopqrstuvwx" not in err and "hooks.slack.com/services" not in err
    assert err.count("/") < 4  # other slashes are left alone: only the URL and path went
