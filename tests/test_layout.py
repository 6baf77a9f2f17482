"""The layout issue 18 states (docs/architecture.md): at most six modules at the
package's top level, an explicit source table, and one composition root that owns
what it opens."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from notifier.runtime.compose import build
from notifier.runtime.sources import SOURCES, sources_for
from notifier.settings import Settings
from notifier.state.lock import AlreadyRunning

PACKAGE = Path(__file__).resolve().parent.parent / "notifier"
RULES = """\
channels:
  out:
    type: console
rules:
  - name: failed
    event: attempt.completed
    when: {result: Fail}
    notify: [out]
"""


def test_at_most_six_modules_at_the_top_level() -> None:
    modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(modules) <= 6, modules


def test_each_source_in_the_table_is_polled_for_its_own_kinds() -> None:
    for name, row in SOURCES.items():
        for kind in row.make().kinds:
            assert name in sources_for([kind])


def _settings(tmp_path: Path) -> Settings:
    (tmp_path / "rules.yaml").write_text(RULES)
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        TESTPRESS_BASE_URL="http://127.0.0.1:9",
        TESTPRESS_TOKEN="layout-token",
        NOTIFIER_RULES=str(tmp_path / "rules.yaml"),
        NOTIFIER_DB=str(tmp_path / "notifier.db"),
    )


def test_build_starts_the_app_and_closes_what_it_opened(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with build(settings, instance=True) as parts:
        assert parts.store.meta.get_meta("rules_path") == str(settings.rules_path)
        with pytest.raises(AlreadyRunning):  # one copy on one SQLite store
            build(settings, instance=True)
    with build(settings, instance=True) as again:  # the lock and the store were released
        assert again.app.sources_in_use() == ["attempts"]


def test_the_notifier_on_sqlite_never_loads_the_postgresql_driver(tmp_path: Path) -> None:
    """psycopg is 13 MB of a process's memory: `notifier run` on SQLite (its parts built,
    its heartbeat asked for) and `notifier status` go without it."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    code = f"""
import sys
from notifier.runtime.compose import build
from notifier.settings import Settings
settings = Settings(_env_file=None, NOTIFIER_DB={str(tmp_path / "state.db")!r},
    NOTIFIER_RULES={str(rules)!r}, TESTPRESS_BASE_URL="http://127.0.0.1:9",
    TESTPRESS_TOKEN="t")
with build(settings, instance=True, replicas=True):
    pass
from notifier.commands import deliveries, status
print("psycopg" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_notifier_check_loads_neither_the_http_client_nor_slack_sdk(tmp_path: Path) -> None:
    """Start-up (figure f): `notifier check` validates every channel type from its
    settings model and never loads httpx or slack_sdk (a quarter of its time), nor the
    store or the sandbox; building the channels loads them, before any worker runs."""
    (tmp_path / "rules.yaml").write_text(
        "channels:\n"
        "  team: {type: slack, channel: '#x'}\n"
        "  hook: {type: webhook, url: 'http://127.0.0.1:9/h'}\n"
        "rules:\n"
        "  - {name: r, event: attempt.completed, when: {result: Fail}, notify: [team, hook]}\n"
    )
    code = """
import sys
from notifier.cli import main
status = main(["check", "rules.yaml"])
loaded = [m for m in ("httpx", "slack_sdk", "sqlite_utils", "notifier.sandbox")
          if type(sys.modules.get(m)).__name__ == "module"]
print(status, loaded)
from notifier.channels import CHANNEL_TYPES
from notifier.channels.base import SendContext
from notifier.settings import load_settings
types = CHANNEL_TYPES["slack"]
types.build("team", types.config(type="slack", channel="#x"), SendContext(load_settings()))
print([m for m in ("httpx", "slack_sdk") if type(sys.modules[m]).__name__ == "module"])
"""
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-t", "TESTPRESS_BASE_URL": "http://127.0.0.1:9"}
    env["TESTPRESS_TOKEN"] = "t"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    lines = out.stdout.splitlines()
    assert lines[0].startswith("rules.yaml: OK"), out.stderr[-2000:]
    assert lines[1:] == ["0 []", "['httpx', 'slack_sdk']"], out.stderr[-2000:]
