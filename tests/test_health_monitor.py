"""The health monitor's bookkeeping (notifier.sources.health), with time passed in:
when a problem starts, that it is told once, and once more when it ends, across a
restart too."""

from __future__ import annotations

import json

from notifier.sources.health import DeadSummary, HealthMonitor

T0 = 1_790_000_000.0


def test_a_source_is_failing_after_three_cycles_and_the_grace_period_both() -> None:
    m = HealthMonitor(after_seconds=300)
    assert m.source_polled("attempts", False, "HTTP 503", T0) == []
    assert m.source_polled("attempts", False, "HTTP 503", T0 + 400) == []  # 2 cycles only
    [start] = m.source_polled("attempts", False, "HTTP 502", T0 + 401)
    assert start.kind == "notifier.health"
    assert start.key == "source_failing:attempts:2026-09-21T14:13:20+00:00"
    assert start.data["since"] == "2026-09-21T14:13:20+00:00"  # the first failure
    assert start.data["detail"] == "3 polls in a row failed; the latest: HTTP 502"
    assert m.source_polled("attempts", False, "HTTP 503", T0 + 500) == []  # told once
    [end] = m.source_polled("attempts", True, None, T0 + 600)
    assert end.key == start.key + ":resolved" and end.data["resolved"] is True
    assert m.source_polled("attempts", True, None, T0 + 700) == []


def test_a_success_in_between_starts_the_count_again() -> None:
    m = HealthMonitor(after_seconds=0)
    m.source_polled("attempts", False, "x", T0)
    m.source_polled("attempts", False, "x", T0 + 1)
    assert m.source_polled("attempts", True, None, T0 + 2) == []  # never started: no end
    m.source_polled("attempts", False, "x", T0 + 3)
    assert m.source_polled("attempts", False, "x", T0 + 4) == []
    [start] = m.source_polled("attempts", False, "x", T0 + 5)
    assert start.data["since"].endswith(":23+00:00")  # T0 + 3


def test_the_state_survives_a_restart_as_json() -> None:
    m = HealthMonitor(after_seconds=0)
    for i in range(3):
        m.source_polled("conferences", False, "timeout", T0 + i)
    m.deliveries_checked({"teachers": DeadSummary(2, "HTTP 404")}, T0)
    restarted = HealthMonitor(after_seconds=0, state=json.loads(json.dumps(m.state())))
    assert restarted.source_polled("conferences", False, "timeout", T0 + 9) == []
    assert restarted.deliveries_checked({"teachers": DeadSummary(3)}, T0 + 9) == []
    assert [e.data["problem"] for e in restarted.deliveries_checked({}, T0 + 10)] == [
        "deliveries_dead"
    ]
    [end] = restarted.source_polled("conferences", True, None, T0 + 11)
    assert end.key == "source_failing:conferences:2026-09-21T14:13:20+00:00:resolved"


def test_rules_and_dead_deliveries() -> None:
    m = HealthMonitor(after_seconds=300)
    [bad] = m.rules_loaded("rules.yaml", "rules.yaml:3:5: unknown key\nrules.yaml:9:1: x", T0)
    assert bad.key == "rules_invalid:rules.yaml:2026-09-21T14:13:20+00:00"
    assert bad.data["detail"] == "rules.yaml:3:5: unknown key (and 1 more problems)"
    assert m.rules_loaded("rules.yaml", "rules.yaml:1:1: other", T0 + 60) == []
    [ok] = m.rules_loaded("rules.yaml", None, T0 + 120)
    assert ok.data["resolved"] is True and ok.data["since"] == bad.data["since"]

    [dead] = m.deliveries_checked({"lms": DeadSummary(1, "HTTP 410"), "ops": DeadSummary(0)}, T0)
    assert dead.data["subject"] == "lms"
    assert dead.data["detail"] == "1 dead deliveries; the latest error: HTTP 410"
    assert m.deliveries_checked({"lms": DeadSummary(4)}, T0 + 1) == []
    [gone] = m.deliveries_checked({"lms": DeadSummary(0)}, T0 + 2)
    assert gone.key == dead.key + ":resolved"
