"""No global state (issue 18 part 2): two Apps in one process, two institutes with two
rules files, each with a channel named `terminal` and a template of its own, render and
send each with their own templates through their own channel table. (With the old
module-global template table, the App built last made both send its wording.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.runtime.app import App
from notifier.runtime.compose import build
from notifier.runtime.config import load_rules
from notifier.sandbox.standins import WebhookReceiver
from notifier.settings import Settings
from notifier.state import NewDelivery, SqliteStore
from notifier.testpress.client import TestpressClient

RULE = """\
rules:
  - name: failed
    event: attempt.completed
    when: {{result: Fail}}
    message: "{said} {{{{ student }}}}"
    notify: [terminal]
"""
ALERT = {
    "event": "attempt.completed",
    "key": "7",
    "data": {"id": 7, "student": "Asha Verma", "exam_title": "Algebra", "result": "Fail"},
    "reasons": [{"field": "result", "op": "eq", "expected": "Fail", "actual": "Fail"}],
}


def _app(tmp: Path, channels: str, said: str) -> App:
    tmp.mkdir()
    rules = tmp / "rules.yaml"
    rules.write_text(f"channels:\n  terminal: {channels}\n" + RULE.format(said=said))
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, NOTIFIER_RULES=str(rules), NOTIFIER_DB=str(tmp / "notifier.db")
    )
    client = TestpressClient("http://127.0.0.1:9", username="u", password="p")
    store = SqliteStore(settings.db_path)
    return build(settings, ruleset=load_rules(rules, settings), store=store, client=client).app


def _queue(app: App) -> None:
    row = NewDelivery("failed", "terminal", "attempt.completed", "7", [ALERT])
    app.store.seen.record("attempts", ["7"], [row], now=app.clock())


def test_two_apps_in_one_process_render_with_their_own_templates_and_channels(
    tmp_path: Path, webhook_receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    school = _app(tmp_path / "school", "{type: console}", "School A says")
    academy = _app(
        tmp_path / "academy", f"{{type: webhook, url: '{webhook_receiver.url}'}}", "Academy B says"
    )
    try:
        _queue(school)
        _queue(academy)
        assert school.deliverer.run_pass().sent == 1
        assert academy.deliverer.run_pass().sent == 1
    finally:
        school.close()
        academy.close()
        school.store.close()
        academy.store.close()
    printed = capsys.readouterr().out
    assert printed == "[failed] School A says Asha Verma because result Fail\n"
    [hook] = webhook_receiver.received
    assert hook.json["text"] == "[failed] Academy B says Asha Verma because result Fail"
