"""The console's actions over real HTTP, on both store backends, against the in-process
notifier and the sandbox: follow up, mute (a student, a rule; `POST /mutes` with its
fields), lift, replay, user changes; each through `Actions` (source "console"), each
in the audit log, each refused to a viewer (403, nothing changed); a mute made in the
console is what `notifier mutes` shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from notifier.console.passwords import hash_password
from tests.console_kit import PASSWORD, csrf_of, sign_in
from tests.inprocess import Rig, rig

RULES = """
rules:
  - name: failed-exam
    event: attempt.completed
    when:
      result: Fail
    notify: [hook]
"""


@pytest.fixture
def running(tmp_path: Path, db: str) -> Iterator[Rig]:
    with rig(tmp_path, RULES, db=db, NOTIFIER_CONSOLE_ADDR="127.0.0.1:0") as r:
        assert r.cycle().sources_ok  # the baseline
        for name, role in (("ann", "editor"), ("vera", "viewer"), ("root", "admin")):
            r.store.users.add(name, role, hash_password(PASSWORD), r.clock())
        yield r


@contextmanager
def signed_in(r: Rig, name: str, password: str = PASSWORD) -> Iterator[httpx.Client]:
    assert r.console_url
    with httpx.Client(base_url=r.console_url, timeout=10) as client:
        assert sign_in(client, name, password).status_code == 303
        yield client


def _fail(r: Rig, name: str) -> int:
    inst = r.sandbox.institute
    user = inst.add_user(name=name, email=f"{name.split()[0].lower()}@school.example")
    inst.complete_attempt(inst.start_attempt(inst.add_exam(title="Algebra"), user), result="Fail")
    return user


def _post(client: httpx.Client, page: str, data: dict[str, str]) -> httpx.Response:
    return client.post(page, data={"csrf": csrf_of(client.get(page).text), **data})


def _audit(client: httpx.Client) -> str:
    return client.get("/audit").text


def test_follow_up_from_the_alert_page_is_recorded_once_and_audited(running: Rig) -> None:
    _fail(running, "Asha Verma")
    running.cycle()
    [delivery] = [r.json["id"] for r in running.webhook.received if r.status < 300]
    page = f"/alerts/{delivery}"
    with signed_in(running, "vera") as viewer:
        token = csrf_of(viewer.get("/").text)
        refused = viewer.post(page, data={"csrf": token, "action": "follow_up"})
        assert refused.status_code == 403
    assert running.actions is not None
    assert running.actions.delivery(delivery).followed_up is None  # nothing changed
    with signed_in(running, "ann") as editor:
        done = _post(editor, page, {"action": "follow_up"})
        assert done.status_code == 303 and done.headers["location"].endswith("done=followed_up")
        shown = editor.get(page).text
        followed_row = shown[shown.index("<th>Followed up</th>") :][:120]
        assert "by ann at" in followed_row, followed_row
        _post(editor, page, {"action": "follow_up"})  # a second click: still the first
        followed = running.actions.delivery(delivery).followed_up
        assert followed is not None and followed.by == "ann"
        log = _audit(editor)
        assert log.count("<td>follow_up</td>") == 1 and "<td>console</td>" in log


def test_post_mutes_creates_a_mute_that_notifier_mutes_shows_and_lifts_it(
    running: Rig, db: str, tmp_path: Path
) -> None:
    fields = {"student": "", "rule": "failed-exam", "channel": "hook", "for": "2d"}
    with signed_in(running, "vera") as viewer:
        assert _post(viewer, "/mutes", {**fields, "reason": "x"}).status_code == 403
    with signed_in(running, "ann") as editor:
        bad = _post(editor, "/mutes", {**fields, "for": "a while"})
        assert bad.status_code == 400 and "for: " in bad.text
        nothing = _post(editor, "/mutes", {**fields, "rule": "", "for": "1d"})
        assert nothing.status_code == 400 and "give a student, a rule, or both" in nothing.text
        by_name = _post(editor, "/mutes", {**fields, "student": "Asha Verma"})
        assert by_name.status_code == 400 and "student: a user id or an email" in by_name.text
        too_long = _post(editor, "/mutes", {**fields, "for": "500d"})
        assert too_long.status_code == 400 and "for: " in too_long.text
        assert running.actions is not None and running.actions.mutes() == []
        made = _post(editor, "/mutes", {**fields, "reason": "exam week"})
        assert made.status_code == 303
        env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFIER_")}
        env.update(NOTIFIER_DB=db, NOTIFIER_RULES=str(tmp_path / "rules.yaml"))
        listed = subprocess.run(
            [sys.executable, "-m", "notifier", "mutes", "--json"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        [mute] = json.loads(listed.stdout)
        assert (mute["rule"], mute["channel"], mute["student"]) == ("failed-exam", "hook", None)
        assert mute["by"] == "ann" and mute["reason"] == "exam week" and mute["active"]
        page = editor.get("/mutes").text
        assert mute["id"] in page and "exam week" in page

        assert _post(editor, "/mutes", {"lift": mute["id"]}).status_code == 303
        assert running.actions is not None
        [lifted] = running.actions.mutes()
        assert lifted.ended_at is not None and not lifted.active
        log = _audit(editor)
        assert "<td>mute</td>" in log and "<td>unmute</td>" in log


def test_muting_the_student_from_an_alert_holds_their_next_alert(running: Rig) -> None:
    _fail(running, "Asha Verma")
    running.cycle()
    [first] = [r.json for r in running.webhook.received if r.status < 300]
    asha = first["alerts"][0]["data"]["user_id"]
    with signed_in(running, "ann") as editor:
        done = _post(editor, f"/alerts/{first['id']}", {"action": "mute_student", "for": "7d"})
        assert done.status_code == 303
        inst = running.sandbox.institute
        exam = inst.add_exam(title="Physics")
        inst.complete_attempt(inst.start_attempt(exam, asha), result="Fail")
        running.cycle()
        assert len([r for r in running.webhook.received if r.status < 300]) == 1  # held
        held = editor.get("/alerts", params={"status": "muted"}).text
        assert "Asha Verma" in held


def test_replay_from_the_alert_page_sends_a_dead_delivery_again(running: Rig) -> None:
    _fail(running, "Ravi Kumar")
    running.webhook.script([410])  # refused for good: dead
    running.cycle()
    [dead] = running.store.log.delivery_list(status="dead")
    with signed_in(running, "vera") as viewer:
        token = csrf_of(viewer.get("/").text)
        page = viewer.get(f"/alerts/{dead['id']}").text
        assert "Replay" not in page and "HTTP 410" in page  # the latest error
        assert viewer.post(f"/alerts/{dead['id']}", data={"csrf": token, "action": "replay"})
    assert running.store.log.delivery_statuses([dead["id"]]) == {dead["id"]: "dead"}
    with signed_in(running, "ann") as editor:
        done = _post(editor, f"/alerts/{dead['id']}", {"action": "replay"})
        assert done.status_code == 303
        running.cycle()
        assert running.store.log.delivery_statuses([dead["id"]]) == {dead["id"]: "sent"}
        again = _post(editor, f"/alerts/{dead['id']}", {"action": "replay"})
        assert again.status_code == 409 and "it is sent" in again.text
        assert "<td>replay</td>" in _audit(editor)


def test_admins_add_remove_and_change_users_and_each_change_is_audited(running: Rig) -> None:
    with signed_in(running, "root") as admin:
        added = _post(
            admin,
            "/users",
            {"action": "add", "name": "dev", "role": "viewer", "password": "p" * 12},
        )
        assert added.status_code == 303
        short = _post(admin, "/users", {"action": "add", "name": "x", "role": "viewer"})
        assert short.status_code == 400 and "password: " in short.text
        with signed_in(running, "dev", "p" * 12) as dev:
            assert dev.get("/").status_code == 200
            assert _post(admin, "/users", {"action": "role", "name": "dev", "role": "editor"})
            assert running.store.users.get("dev").role == "editor"  # type: ignore[union-attr]
            assert _post(admin, "/users", {"action": "remove", "name": "dev"}).status_code == 303
            assert dev.get("/").status_code == 303  # their session ended with them
        log = _audit(admin)
        for action in ("user.add", "user.role", "user.remove"):
            assert f"<td>{action}</td>" in log
        assert "$argon2" not in log and "p" * 12 not in log
