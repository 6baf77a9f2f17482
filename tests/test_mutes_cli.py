"""Mutes from the command line (contract section 13), over the real `notifier` command,
the sandbox institute and a webhook receiver, on both backends: a mute holds a matching
alert as `muted` (not sent; shown by `status`, `deliveries --status muted`), `replay
ID` sends it, `mutes --json` lists it, `unmute` ends it (its events reach a webhook
rule once), and bad input is refused with what and where."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import WEBHOOK_RULES, Harness, ok, open_harness

RULES = (
    WEBHOOK_RULES
    + """
  - name: mutes-made
    event: mute.created
    notify: [lms]

  - name: mutes-ended
    event: mute.ended
    notify: [lms]
"""
)
MUTE_KEYS = {
    "id", "student", "rule", "channel", "until", "by", "reason", "created_at", "ended_at",
    "ended_by", "active",
}  # fmt: skip


@pytest.fixture
def h(tmp_path: Path, db: str) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=5, rules=RULES, extra_env={"NOTIFIER_DB": db}) as harness:
        yield harness


def received(h: Harness, rule: str) -> list[dict[str, Any]]:
    return [
        alert
        for request in h.webhook.received
        if request.status < 300 and request.json["rule"] == rule
        for alert in request.json["alerts"]
    ]


def test_a_mute_made_by_the_cli_holds_an_alert_until_replayed_and_unmute_ends_it(
    h: Harness,
) -> None:
    ok(h, "run", "--once")  # the baseline
    inst = h.sandbox.institute
    exam = inst.add_exam(title="Chemistry")
    asha = inst.add_user(name="Asha Verma", email="asha@school.example")
    ravi = inst.add_user(name="Ravi Kumar", email="ravi@school.example")

    mute_id = ok(
        h, "mute", "--student", str(asha), "--rule", "failed-exam", "--for", "7d",
        "--reason", "on leave this week",
    ).strip()  # fmt: skip
    assert mute_id.startswith("mute_") and len(mute_id.split()) == 1
    for user in (asha, ravi):
        inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    ok(h, "run", "--once")

    assert [a["data"]["student"] for a in received(h, "failed-exam")] == ["Ravi Kumar"]
    [made] = received(h, "mutes-made")
    assert made["key"] == f"{mute_id}:created"
    assert made["data"]["student"] == str(asha) and made["data"]["by"] == getpass.getuser()
    [held] = json.loads(ok(h, "deliveries", "--status", "muted", "--json"))
    assert held["student"] == "Asha Verma" and held["status"] == "muted"
    assert held["last_error"] == f"muted by {mute_id}" and held["sent_at"] is None
    report = json.loads(ok(h, "status", "--json"))
    assert report["deliveries"]["muted"] == 1 and report["deliveries"]["sent"] == 2
    assert "1 muted" in ok(h, "status")

    [listed] = json.loads(ok(h, "mutes", "--json"))
    assert set(listed) == MUTE_KEYS
    assert listed["id"] == mute_id and listed["active"] is True and listed["ended_at"] is None
    assert (listed["student"], listed["rule"], listed["channel"]) == (
        str(asha),
        "failed-exam",
        None,
    )
    assert listed["reason"] == "on leave this week" and listed["by"] == getpass.getuser()
    assert mute_id in ok(h, "mutes") and "active" in ok(h, "mutes")

    # Not sent by itself, cycle after cycle; `replay ID` sends it.
    ok(h, "run", "--once")
    assert len(received(h, "failed-exam")) == 1
    sent = json.loads(ok(h, "deliveries", "--status", "sent", "--rule", "failed-exam", "--json"))
    done = h.notifier("replay", held["id"], sent[0]["id"])
    assert done.returncode == 1
    assert done.stdout == "1 muted deliveries queued to be sent now\n"
    assert done.stderr == (
        f"notifier: delivery {sent[0]['id']} is sent, not dead nor muted: nothing replayed\n"
    )
    ok(h, "run", "--once")
    students = sorted(a["data"]["student"] for a in received(h, "failed-exam"))
    assert students == ["Asha Verma", "Ravi Kumar"]
    assert json.loads(ok(h, "status", "--json"))["deliveries"]["muted"] == 0

    # Lifted: its end is an event, once.
    assert ok(h, "unmute", mute_id).startswith(f"{mute_id} (student {asha}, rule failed-exam)")
    again = h.notifier("unmute", mute_id)  # lifting it again changes nothing
    assert again.returncode == 0
    ok(h, "run", "--once")
    ok(h, "run", "--once")
    [ended] = received(h, "mutes-ended")
    assert ended["key"] == f"{mute_id}:ended" and ended["data"]["lifted"] is True
    assert ended["data"]["ended_by"] == getpass.getuser()
    assert len(received(h, "mutes-made")) == 1
    [listed] = json.loads(ok(h, "mutes", "--json"))
    assert listed["active"] is False and listed["ended_at"] is not None

    unknown = h.notifier("unmute", "mute_nosuch")
    assert unknown.returncode == 1
    assert unknown.stderr == "notifier: no mute mute_nosuch (see `notifier mutes`)\n"


def test_bad_mutes_are_refused_with_what_and_where(h: Harness, db: str) -> None:
    def refused(*args: str) -> str:
        done = h.notifier("mute", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
        return done.stderr

    rules = str(h.tmp / "rules.yaml")
    assert refused("--rule", "faild-exam", "--for", "1d") == (
        f"--rule: no rule 'faild-exam' in {rules}; did you mean 'failed-exam'?\n"
    )
    assert refused("--student", "7", "--channel", "lsm", "--for", "1d") == (
        f"--channel: no channel 'lsm' in {rules}; did you mean 'lms'?\n"
    )
    assert refused("--channel", "lms", "--for", "1d") == (
        "notifier mute: give --student, --rule or both\n"
    )
    assert "is not a duration like" in refused("--student", "7", "--for", "7x")
    assert "not a positive duration" in refused("--student", "7", "--for", "0")
    assert "longer than 400 days" in refused("--student", "7", "--for", "99999d")
    assert refused("--student", "Asha Verma", "--for", "1d") == (
        "--student: 'Asha Verma' is not a user id or an email (a name matches nothing)\n"
    )
    assert h.notifier("mute", "--student", "7").returncode == 2  # --for is required
    assert json.loads(ok(h, "mutes", "--json")) == []  # nothing was made
    assert ok(h, "mutes").startswith("no mutes")
