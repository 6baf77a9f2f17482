"""Log lines (contract section 9): text or JSON on standard error, from the chosen
level up, each JSON line an object of its own, and never a secret."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from notifier.obs.logs import register_secrets, setup_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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
