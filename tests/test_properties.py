"""Bad input never crashes (issue 4, part 8), property-based: random and mutated rules
files give either a valid load or exit status 2 with `PATH:LINE:COL: message` lines and
no traceback; random API records never stop a cycle, and the good record beside them
still alerts."""

from __future__ import annotations

import contextlib
import io
import json
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifier.cli import main
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.testpress.client import TestpressClient
from tests.e2e import RULES
from tests.kit import RecordingChannel

ENV = {
    "SLACK_BOT_TOKEN": "xoxb-properties",
    "SMTP_HOST": "127.0.0.1",
    "SMTP_FROM": "notifier@school.example",
    "LMS_URL": "https://lms.school.example/hook",
    "LMS_SECRET": "whsec_dGVzdC1zaWduaW5nLXNlY3JldC1mb3ItZTJlLTEyMzQ1",
}
YAML_BITS = [
    ":", ": ", "-", "- ", "[", "]", "{", "}", ",", "\n", "  ", "\t", "#", "'", '"', "&a",
    "*a", "!!str", "%", "@", "`", "|", ">", "${", "${NOPE}", "}", "?", "~", "null", "1e9",
    "when:", "notify:", "lt:", "in:", "some:", "count:", "matches: '['", "any:", "not:",
    "rules:", "channels:", "type: slack", "name: x", "event: attempt.completed", "\x00",
    "\ufeff", "é", "0x1F", ".inf", "<<: *a",
]  # fmt: skip
LOCATED = re.compile(r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): \S")
# Characters YAML does not allow anywhere in a file. A file holding one is reported
# over two lines, at 1:1 (see the xfail test below); the other properties steer clear.
NOT_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _printable(content: bytes) -> bytes:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return content  # not UTF-8 at all: must be reported as such
    return NOT_YAML.sub("?", text).encode()


@st.composite
def mutated_rules(draw: st.DrawFn) -> str:
    """The example rules file with a few edits: cut, insert YAML-ish text, swap or
    duplicate lines."""
    text = RULES
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["cut", "insert", "swap", "dup", "replace"]))
        lines = text.split("\n")
        if how == "cut" and text:
            start = draw(st.integers(0, len(text) - 1))
            text = text[:start] + text[start + draw(st.integers(1, 30)) :]
        elif how == "insert":
            at = draw(st.integers(0, len(text)))
            bit = draw(st.sampled_from(YAML_BITS) | st.text(max_size=8))
            text = text[:at] + bit + text[at:]
        elif how == "swap" and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif how == "dup":
            i = draw(st.integers(0, len(lines) - 1))
            text = "\n".join(lines[: i + 1] + lines[i:])
        elif how == "replace":
            words = re.findall(r"[A-Za-z_-]+|\d+", text)
            word = draw(st.sampled_from(words))
            text = text.replace(word, draw(st.sampled_from(YAML_BITS) | st.text(max_size=6)), 1)
    return text


def _check(content: bytes) -> None:
    """`notifier check` on `content`: exit 0, or 2 with every line located."""
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        for key, value in ENV.items():
            mp.setenv(key, value)
        mp.chdir(tmp)
        path = Path(tmp) / "rules.yaml"
        path.write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = main(["check", str(path)])  # an exception here fails the test
    assert status in (0, 2), (status, err.getvalue())
    if status == 0:
        assert "rules" in out.getvalue()
        return
    lines = err.getvalue().splitlines()
    assert lines, "exit 2 without a message"
    for line in lines:
        located = LOCATED.match(line)
        assert located and located["path"] == str(path), line
        assert int(located["line"]) >= 1 and int(located["col"]) >= 1, line
    assert "Traceback" not in err.getvalue()


FAST = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@FAST
@given(mutated_rules())
def test_mutated_rules_files_load_or_exit_2_with_located_messages(text: str) -> None:
    _check(_printable(text.encode("utf-8", "surrogatepass")))


@FAST
@given(st.text(max_size=200) | st.binary(max_size=100))
def test_random_rules_files_load_or_exit_2_with_located_messages(content: str | bytes) -> None:
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    _check(_printable(raw))


def test_a_control_character_is_reported_on_one_located_line() -> None:
    _check(b"channels: {}\nrules:\x1f []\n")


# --- API records -----------------------------------------------------------------------

PROPERTY_RULES = """\
channels:
  lms:
    type: console

rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [lms]
"""
GOOD_ID = 987654321


def _good(now: datetime) -> dict[str, Any]:
    return {
        "id": GOOD_ID, "date": now.isoformat(), "exam_id": 6, "user_id": 51,
        "email": "a@school.example", "name": "Asha Verma", "phone": None,
        "correct_answers_count": 5, "incorrect_answers_count": 3, "unanswered_count": 12,
        "score": "4.25", "percentage": "25.21", "time_taken": "0:10:00.000033",
        "remaining_time": "0:49:59", "result": "Fail", "state": "Completed",
        "last_started_time": now.isoformat(), "last_answer_updated_time": now.isoformat(),
        "speed": 480, "exam_url": "/api/v2.5/admin/exams/6/",
        "user_url": "/api/v2.5/admin/users/51/",
    }  # fmt: skip


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=6,
)
FIELDS = list(_good(datetime.now(UTC)))


@st.composite
def bad_record(draw: st.DrawFn) -> Any:
    """A record with some fields dropped, some given random values, some extra keys; or
    not an object at all."""
    if draw(st.integers(0, 9)) == 0:
        return draw(JSON)
    record = dict(_good(datetime.now(UTC) - timedelta(hours=1)))
    record["id"] = draw(st.integers(1, 10_000))
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=6)):
        if draw(st.booleans()):
            record.pop(name, None)
        else:
            record[name] = draw(JSON)
    record.update(draw(st.dictionaries(st.text(max_size=6), JSON, max_size=2)))
    return record


def _transport(page: Any) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v2.5/admin/attempts/":
            if request.url.params.get("state") == "0":
                return httpx.Response(200, json={"count": 0, "next": None, "results": []})
            return httpx.Response(200, content=json.dumps(page).encode())
        if path.startswith("/api/v2.5/admin/users/"):
            return httpx.Response(200, json={"id": 51, "display_name": "Asha Verma"})
        if path.startswith("/api/v2.5/admin/exams/"):
            return httpx.Response(200, json={"id": 6, "title": "Algebra"})
        return httpx.Response(404, json={"detail": "Not found."})

    return httpx.MockTransport(handle)


def _cycle(page: Any) -> RecordingChannel:
    """One cycle of the real App (alerting on history, no baseline) over `page`."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "rules.yaml").write_text(PROPERTY_RULES)
        conf = Settings(  # type: ignore[call-arg]
            _env_file=None,
            TESTPRESS_BASE_URL="https://institute.example",
            TESTPRESS_TOKEN="properties-token",
            NOTIFIER_RULES=str(Path(tmp) / "rules.yaml"),
            NOTIFIER_DB=str(Path(tmp) / "n.db"),
        )
        client = TestpressClient(
            "https://institute.example",
            token="properties-token",
            transport=_transport(page),
            sleep=lambda s: None,
        )
        channel = RecordingChannel("lms")
        store = SqliteStore(conf.db_path)
        ruleset = load_rules(conf.rules_path, conf)
        app = build(
            conf, ruleset=ruleset, store=store, client=client, channels={"lms": channel}
        ).app
        try:
            app.cycle(since=(datetime.now(UTC) - timedelta(days=2)).date())  # never raises
        finally:
            app.close()
            store.close()
    return channel


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(bad_record(), max_size=6))
# Found by Hypothesis (1 run in 4): an extra field of Infinity, which json.dumps wrote
# into the outbox as `Infinity`, and the cycle's commit failed on SQLite's json_extract.
@example([{**_good(datetime.now(UTC) - timedelta(hours=1)), "id": 7, "": float("inf")}])
def test_bad_records_never_stop_a_cycle_and_the_good_one_still_alerts(bad: list[Any]) -> None:
    page = {"count": len(bad) + 1, "next": None, "results": [_good(datetime.now(UTC)), *bad]}
    channel = _cycle(page)
    assert str(GOOD_ID) in {a.key for n in channel.sent for a in n.alerts}


@settings(max_examples=60, deadline=None, database=None)
@given(JSON | st.fixed_dictionaries({"count": JSON, "next": JSON, "results": JSON}))
def test_a_page_of_any_shape_never_stops_a_cycle(page: Any) -> None:
    _cycle(page)
