"""Running as a service (contract section 9), in process against the sandbox: what
`/metrics`, `/healthz` and `/readyz` answer as cycles run, and the notifier's own
trouble arriving in a channel as `notifier.health` events, then resolving."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifier.sandbox.faults import FaultConfig
from notifier.web.http import HttpServer
from notifier.web.service import service_server
from tests import loopback
from tests.inprocess import CHANNELS, Rig, rig

RULES = """\
rules:
  - name: failed-exam
    event: attempt.completed
    when: {result: Fail}
    notify: [hook]
  - name: low-percentile
    event: attempt.completed
    when: {percentile: {lt: 101}}   # needs the detail endpoint
    notify: [hook]
  - name: trouble
    event: notifier.health
    notify: [hook]
"""

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Rig, HttpServer]]:
    with rig(tmp_path, RULES, quick_failures=True, NOTIFIER_POLL_INTERVAL="10") as r:
        monkeypatch.setenv("HOOK_URL", r.webhook.url)  # for reloads of the rules file
        assert r.app.liveness is not None
        server = service_server("127.0.0.1:0", r.app.liveness, r.app.metrics)
        with server:
            yield r, server


def get(server: HttpServer, path: str) -> tuple[int, str]:
    return loopback.get(server.port, path)


def scrape(server: HttpServer) -> Samples:
    status, text = get(server, "/metrics")
    assert status == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def complete(r: Rig, name: str, result: str) -> None:
    inst = r.sandbox.institute
    exam = inst.add_exam(title=f"Mock for {name}")
    user = inst.add_user(name=name, email=f"{name.lower()}@school.example")
    now = datetime.now(UTC)
    attempt = inst.start_attempt(exam, user, started_at=now - timedelta(minutes=30))
    inst.complete_attempt(attempt, result=result, completed_at=now)


def write_rules(r: Rig, text: str) -> None:
    path = Path(r.app.ruleset.path)
    path.write_text(text)
    bump = path.stat().st_mtime + 10
    os.utime(path, (bump, bump))


def test_every_metric_family_moves_as_cycles_requests_events_and_deliveries_happen(
    service: tuple[Rig, HttpServer],
) -> None:
    r, server = service
    r.cycle()  # the baseline
    before = scrape(server)

    complete(r, "Asha", "Fail")
    r.webhook.script([500, 400])  # failed-exam: retry; low-percentile: dead
    r.cycle()
    r.clock.advance(5)
    r.cycle()  # the retry goes out
    r.sandbox.faults = FaultConfig(error_rate=1.0)
    r.cycle()  # attempts cannot be read
    r.sandbox.faults = FaultConfig()
    write_rules(r, "channels: {nope")
    r.app.reload_rules_if_changed()
    write_rules(r, CHANNELS + RULES)
    r.app.reload_rules_if_changed()
    r.cycle()
    after = scrape(server)

    def moved(name: str, by: float | None = None, **labels: str) -> None:
        delta = value(after, name, **labels) - value(before, name, **labels)
        assert delta > 0 if by is None else delta == by, (name, labels, delta)

    moved("notifier_cycles_total", 4)
    moved("notifier_cycle_duration_seconds_count", 4)
    moved("notifier_testpress_requests_total", endpoint="/api/v2.5/admin/attempts/", status="200")
    moved(
        "notifier_testpress_requests_total", endpoint="/api/v2.5/admin/attempts/{id}/", status="200"
    )
    errors = [
        k for k in after if k[0] == "notifier_testpress_requests_total" and k[1][1][1] >= "500"
    ]
    assert errors, "the failing requests are counted by status"
    moved("notifier_source_last_success_timestamp_seconds", source="attempts")
    moved("notifier_source_errors_total", 1, source="attempts")
    moved("notifier_events_total", 1, kind="attempt.completed")
    moved("notifier_matches_total", 1, rule="failed-exam")
    moved("notifier_matches_total", 1, rule="low-percentile")
    # Health events: the dead delivery; the bad rules file, and its end.
    moved("notifier_matches_total", 3, rule="trouble")
    moved("notifier_deliveries_total", 1, channel="hook", outcome="retry")
    moved("notifier_deliveries_total", 1, channel="hook", outcome="dead")
    moved("notifier_deliveries_total", 4, channel="hook", outcome="sent")  # retry + health
    moved("notifier_outbox_rows", 1, status="dead")
    moved("notifier_alert_latency_seconds_count", 4, channel="hook")
    assert value(after, "notifier_alert_latency_seconds_sum", channel="hook") >= 5  # the retry
    moved("notifier_rules_reloads_total", 1, result="ok")
    moved("notifier_rules_reloads_total", 1, result="error")
    # Label values stay bounded: no raw id or query string in any endpoint.
    endpoints = {
        dict(labels)["endpoint"]
        for name, labels in after
        if name == "notifier_testpress_requests_total"
    }
    assert endpoints >= {"/api/v2.5/admin/attempts/", "/api/v2.5/admin/attempts/{id}/"}
    for endpoint in endpoints:
        bare = endpoint.replace("v2.5", "").replace("v3", "")
        assert "?" not in endpoint and not any(c.isdigit() for c in bare), endpoint


def test_healthz_and_readyz_follow_the_loop_and_the_store(
    service: tuple[Rig, HttpServer],
) -> None:
    r, server = service
    status, body = get(server, "/readyz")
    assert status == 503 and "the first cycle has not finished yet" in json.loads(body)["reasons"]
    status, body = get(server, "/healthz")
    assert status == 200, body  # a loop that just started is alive

    r.cycle()
    assert get(server, "/readyz")[0] == 200
    status, body = get(server, "/healthz")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["cycles"] == 1
    assert health["sources"]["attempts"]["ok"] is True

    # A failing Testpress alone is not a reason to restart the notifier.
    r.sandbox.faults = FaultConfig(error_rate=1.0)
    r.cycle()
    status, body = get(server, "/healthz")
    assert status == 200 and json.loads(body)["sources"]["attempts"]["ok"] is False

    # A loop that stopped turning is (limit: max(3 * 10 s, 60 s)).
    r.clock.advance(61)
    status, body = get(server, "/healthz")
    assert status == 503
    assert json.loads(body)["reasons"] == ["no cycle finished in the last 61 s (limit 60 s)"]
    r.cycle()
    assert get(server, "/healthz")[0] == 200

    # So is a state store that no longer answers.
    Path(r.store.path).rename(Path(r.store.path).with_suffix(".moved"))
    status, body = get(server, "/healthz")
    assert status == 503 and json.loads(body)["store"] == "failing"


def _health(r: Rig) -> list[dict[str, object]]:
    return [a for a in r.alerts("trouble")]


def test_the_notifiers_own_trouble_arrives_in_a_channel_and_resolves(
    service: tuple[Rig, HttpServer],
) -> None:
    """Sandbox faults make the attempts source fail; after 3 failed cycles over 300 s
    (the default NOTIFIER_HEALTH_AFTER_SECONDS) one event says so, and one more when
    it is read again. A bad rules file and dead deliveries likewise."""
    r, _ = service
    r.cycle()
    r.sandbox.faults = FaultConfig(error_rate=1.0)
    for _ in range(3):
        r.cycle()
        assert _health(r) == []  # three failed cycles, but over 200 s only
        r.clock.advance(100)
    r.cycle()  # the 4th, 300 s after the first
    r.cycle()
    [start] = _health(r)  # once, however long it lasts
    assert start["event"] == "notifier.health"
    since = start["data"]["since"]
    assert start["key"] == f"source_failing:attempts:{since}"
    assert start["data"]["problem"] == "source_failing"
    assert start["data"]["subject"] == "attempts"
    assert start["data"]["resolved"] is False
    assert "HTTP 50" in start["data"]["detail"]
    assert "cannot read the attempts source" in r.texts()[-1]

    r.sandbox.faults = FaultConfig()
    r.cycle()
    r.cycle()
    [_, end] = _health(r)
    assert end["key"] == f"source_failing:attempts:{since}:resolved"
    assert end["data"]["resolved"] is True and end["data"]["since"] == since
    assert "reads the attempts source again" in r.texts()[-1]

    # A changed rules file that does not load: the last good rules carry the news.
    write_rules(r, CHANNELS + RULES + "  - name: bad\n    event: exam.graded\n    notify: [hook]\n")
    r.app.reload_rules_if_changed()
    r.cycle()
    problem = _health(r)[-1]["data"]
    assert (problem["problem"], problem["resolved"]) == ("rules_invalid", False)
    assert problem["subject"] == str(r.app.ruleset.path)
    assert "unknown event 'exam.graded'" in str(problem["detail"])
    write_rules(r, CHANNELS + RULES)
    r.app.reload_rules_if_changed()
    r.cycle()
    assert _health(r)[-1]["data"]["problem"] == "rules_invalid"
    assert _health(r)[-1]["data"]["resolved"] is True

    # Dead deliveries, until they are replayed and sent.
    complete(r, "Ravi", "Fail")
    r.webhook.script([400, 400])  # both of Ravi's alerts die
    r.cycle()
    r.cycle()
    dead = _health(r)[-1]
    assert dead["data"]["problem"] == "deliveries_dead" and dead["data"]["subject"] == "hook"
    assert "2 dead deliveries" in str(dead["data"]["detail"])
    assert r.store.outbox.replay(None, r.clock()) == 2
    r.cycle()
    assert _health(r)[-1]["data"]["resolved"] is True
    assert len(_health(r)) == 6
    assert len(r.alerts("failed-exam")) == 1  # the replayed one, once
