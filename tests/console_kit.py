"""The console over real HTTP for tests: its own listener on loopback (built as `notifier
run` builds it: `runtime.compose.console_server`) on a store of either backend, and an
httpx client that keeps cookies and signs in through the form like a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from notifier.actions.service import Actions
from notifier.console.passwords import hash_password
from notifier.rules.schema import RuleSet
from notifier.runtime.compose import console_server
from notifier.runtime.config import load_rules
from notifier.settings import Settings
from notifier.state import Store
from tests.inprocess import Clock

PASSWORD = "correct horse battery"
RULES = """\
channels:
  hook:
    type: webhook
    url: http://127.0.0.1:9/hook
  terminal:
    type: console
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook, terminal]
  - name: low-score
    event: attempt.completed
    when:
      percentage: {lt: 40}
    notify: [hook]
"""

CSRF = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class ConsoleRig:
    url: str
    store: Store
    clock: Clock
    ruleset: RuleSet

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10)

    def add_user(self, name: str, role: str, password: str = PASSWORD) -> None:
        self.store.users.add(name, role, hash_password(password), self.clock())


def csrf_of(page: str) -> str:
    match = CSRF.search(page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def sign_in(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form, filled in and posted like a browser does."""
    form = client.get("/login")
    return client.post(
        "/login", data={"csrf": csrf_of(form.text), "name": name, "password": password}
    )


def signed_in(rig: ConsoleRig, name: str, role: str) -> httpx.Client:
    rig.add_user(name, role)
    client = rig.client()
    answer = sign_in(client, name)
    assert answer.status_code == 303, answer.text
    return client


def post_form(client: httpx.Client, path: str, data: dict[str, Any]) -> httpx.Response:
    """A form posted from its page: the page's CSRF token with it."""
    token = csrf_of(client.get(path.split("?")[0] if path != "/logout" else "/").text)
    return client.post(path, data={"csrf": token, **data})


@contextmanager
def console(
    store: Store,
    tmp_path: Path,
    *,
    url: str | None = None,
    rules: str = RULES,
    env: dict[str, str] | None = None,
) -> Iterator[ConsoleRig]:
    path = tmp_path / "rules.yaml"
    path.write_text(rules)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        NOTIFIER_CONSOLE_ADDR="127.0.0.1:0",
        NOTIFIER_CONSOLE_URL=url or "",
        NOTIFIER_RULES=str(path),
        **(env or {}),
    )
    ruleset = load_rules(path, settings)
    clock = Clock()
    with ExitStack() as stack:
        actions = Actions(store, clock=clock)
        stack.callback(actions.close)
        server = console_server(
            settings, store, rules=lambda: ruleset, actions=actions, clock=clock, stack=stack
        )
        assert server is not None
        yield ConsoleRig(server.url, store, clock, ruleset)
