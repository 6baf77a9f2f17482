"""Pure evaluation: rules compiled by the real loader, run against event data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.events import Event, Reason
from notifier.rules.evaluate import Match, evaluate, match_rule, prefilter
from notifier.rules.schema import Rule
from notifier.runtime.config import load_rules

MakeRule = Callable[..., Rule]


@pytest.fixture(scope="module")
def make_rule(tmp_path_factory: pytest.TempPathFactory) -> MakeRule:
    """A rule with the given `when`, loaded through load_rules like any rules file."""
    folder = tmp_path_factory.mktemp("rules")
    count = 0

    def make(when: Any, event: str = "attempt.completed", name: str = "r") -> Rule:
        nonlocal count
        count += 1
        path = folder / f"rules{count}.yaml"
        rule = {"name": name, "event": event, "when": when, "notify": ["t"]}
        path.write_text(
            yaml.safe_dump(
                {"channels": {"t": {"type": "console"}}, "rules": [rule]}, sort_keys=False
            )
        )
        return load_rules(path, env={}).rules[0]

    return make


def fires(rule: Rule, data: dict[str, Any], kind: str = "attempt.completed") -> bool:
    return match_rule(rule, Event(kind, "1", data)) is not None


# (when, data that matches, data that does not)
OPERATORS = [
    ({"result": "Fail"}, {"result": "Fail"}, {"result": "Pass"}),
    ({"result": {"eq": "Fail"}}, {"result": "Fail"}, {"result": "fail"}),
    ({"result": {"ne": "Pass"}}, {"result": "Fail"}, {"result": "Pass"}),
    ({"percentile": {"lt": 30}}, {"percentile": 29.9}, {"percentile": 30}),
    ({"percentile": {"lte": 30}}, {"percentile": 30.0}, {"percentile": 30.1}),
    ({"percentile": {"gt": 30}}, {"percentile": 31}, {"percentile": 30}),
    ({"percentile": {"gte": 30}}, {"percentile": 30}, {"percentile": 29}),
    ({"exam_id": {"in": [133, 134]}}, {"exam_id": 134}, {"exam_id": 135}),
    ({"exam_id": {"not_in": [133, 134]}}, {"exam_id": 135}, {"exam_id": 133}),
    ({"email": {"contains": "@school"}}, {"email": "a@school.example"}, {"email": "a@x.example"}),
    ({"email": {"matches": r"^a\d+@"}}, {"email": "a12@x.example"}, {"email": "ba12@x.example"}),
    ({"email": {"exists": True}}, {"email": "a@x.example"}, {"email": None}),
    ({"email": {"exists": False}}, {}, {"email": "a@x.example"}),
    ({"percentile": {"gte": 10, "lt": 30}}, {"percentile": 10}, {"percentile": 30}),
    ({"score": 90}, {"score": 90.0}, {"score": 89.5}),  # numbers compare as numbers
]


@pytest.mark.parametrize(("when", "yes", "no"), OPERATORS)
def test_each_operator_holds_and_fails(make_rule: MakeRule, when: Any, yes: Any, no: Any) -> None:
    rule = make_rule(when)
    assert fires(rule, yes)
    assert not fires(rule, no)


def test_contains_on_a_list_field_is_membership(make_rule: MakeRule) -> None:
    rule = make_rule({"answers": {"some": {"selected_answers": {"contains": 3}}}})
    assert fires(rule, {"answers": [{"selected_answers": [1, 3]}]})
    assert not fires(rule, {"answers": [{"selected_answers": [1, 33]}]})


NULL_CASES = [
    ({"percentile": {"eq": 30}}, False),
    ({"percentile": {"ne": 30}}, False),  # ne fails on null too
    ({"percentile": {"lt": 30}}, False),
    ({"percentile": {"gte": 0}}, False),
    ({"percentile": {"in": [30]}}, False),
    ({"percentile": {"not_in": [30]}}, False),
    ({"email": {"contains": "a"}}, False),
    ({"email": {"matches": ".*"}}, False),
    ({"email": {"ne": None}}, False),
    ({"email": {"exists": True}}, False),
    ({"email": {"exists": False}}, True),
    ({"email": {"eq": None}}, True),
    ({"email": None}, True),
]


@pytest.mark.parametrize("data", [{}, {"percentile": None, "email": None}], ids=["missing", "null"])
@pytest.mark.parametrize(("when", "expected"), NULL_CASES)
def test_missing_or_null_fails_every_comparison(
    make_rule: MakeRule, when: Any, expected: bool, data: dict[str, Any]
) -> None:
    assert fires(make_rule(when), data) is expected


def test_ne_null_holds_for_a_present_value(make_rule: MakeRule) -> None:
    assert fires(make_rule({"email": {"ne": None}}), {"email": "a@x.example"})
    assert not fires(make_rule({"email": {"eq": None}}), {"email": "a@x.example"})


def test_type_mismatches_fail_without_raising(make_rule: MakeRule) -> None:
    assert not fires(make_rule({"percentile": {"lt": 30}}), {"percentile": "12"})
    assert not fires(make_rule({"percentile": {"ne": 30}}), {"percentile": "12"})
    assert not fires(make_rule({"result": "Fail"}), {"result": ["Fail"]})
    assert not fires(make_rule({"email": {"matches": "a"}}), {"email": 1})
    assert not fires(make_rule({"date": {"gt": "2026-01-01T00:00:00+00:00"}}), {"date": "soon"})
    assert not fires(make_rule({"percentile": {"eq": 1}}), {"percentile": True})


def test_empty_or_missing_when_matches_every_event_of_the_kind(make_rule: MakeRule) -> None:
    whens: list[Any] = [None, {}]
    for when in whens:
        rule = make_rule(when)
        match = match_rule(rule, Event("attempt.completed", "7", {}))
        assert match is not None and match.reasons == ()
        assert match_rule(rule, Event("conference.attendance", "7", {})) is None


def test_any_all_not(make_rule: MakeRule) -> None:
    either = make_rule({"any": [{"result": "Fail"}, {"percentile": {"lt": 30}}]})
    assert fires(either, {"result": "Fail", "percentile": 90})
    assert fires(either, {"result": "Pass", "percentile": 10})
    assert not fires(either, {"result": "Pass", "percentile": 90})
    both = make_rule({"all": [{"result": "Fail"}, {"percentile": {"lt": 30}}]})
    assert fires(both, {"result": "Fail", "percentile": 10})
    assert not fires(both, {"result": "Fail", "percentile": 90})
    neither = make_rule({"not": {"result": "Pass"}})
    assert fires(neither, {"result": "Fail"})
    assert not fires(neither, {})  # a missing field fails every comparison, under `not` too
    assert not fires(neither, {"result": "Pass"})


LISTS = [
    # (condition on subject_stats, list, fires)
    (
        {"some": {"subject_name": "History", "score": {"lt": 0}}},
        [{"subject_name": "History", "score": -1}],
        True,
    ),
    (
        {"some": {"subject_name": "History", "score": {"lt": 0}}},
        [{"subject_name": "History", "score": 1}, {"subject_name": "Maths", "score": -1}],
        False,
    ),
    ({"some": {"score": {"lt": 0}}}, [], False),
    ({"some": {"score": {"lt": 0}}}, None, False),
    ({"every": {"score": {"gt": 0}}}, [{"score": 1}, {"score": 2}], True),
    ({"every": {"score": {"gt": 0}}}, [{"score": 1}, {"score": 0}], False),
    ({"every": {"score": {"gt": 0}}}, [], True),  # every over [] holds
    ({"every": {"score": {"gt": 0}}}, None, False),  # ... over null fails
    ({"every": {"score": {"gt": 0}}}, [{"score": 1}, "junk"], False),
    (
        {"count": {"where": {"score": {"lt": 0}}, "gte": 2}},
        [{"score": -1}, {"score": -2}, {"score": 3}],
        True,
    ),
    ({"count": {"where": {"score": {"lt": 0}}, "gte": 2}}, [{"score": -1}, {"score": 3}], False),
    ({"count": {"eq": 0}}, [], True),
    ({"count": {"eq": 0}}, None, False),  # count over a missing list fails
]


@pytest.mark.parametrize(("cond", "items", "expected"), LISTS)
def test_some_every_count(make_rule: MakeRule, cond: Any, items: Any, expected: bool) -> None:
    rule = make_rule({"subject_stats": cond})
    assert fires(rule, {"subject_stats": items}) is expected
    if items is None:
        assert not fires(rule, {})


def test_times_compare_as_datetimes_across_offsets(make_rule: MakeRule) -> None:
    rule = make_rule(
        {"join_time": {"gte": "2026-11-25T10:00:00+05:30"}}, event="conference.attendance"
    )
    kind = "conference.attendance"
    assert fires(rule, {"join_time": "2026-11-25T04:30:00Z"}, kind)  # the same instant
    assert fires(rule, {"join_time": "2026-11-25T05:00:00+00:00"}, kind)
    assert not fires(rule, {"join_time": "2026-11-25T09:59:00+05:30"}, kind)
    assert not fires(rule, {"join_time": "2026-11-25T04:29:59+00:00"}, kind)
    equal = make_rule({"join_time": "2026-11-25T10:00:00+05:30"}, event=kind)
    assert fires(equal, {"join_time": "2026-11-25T04:30:00+00:00"}, kind)


def test_reasons_say_why_a_rule_fired(make_rule: MakeRule) -> None:
    rule = make_rule(
        {
            "result": "Fail",
            "percentile": {"lt": 30},
            "answers": {"count": {"where": {"duration": {"lt": 5}}, "gte": 2}},
            "subject_stats": {"some": {"score": {"lt": 0}}},
            "sections": {"every": {"score": {"gte": 0}}},
            "any": [{"exam_id": 1}, {"exam_id": 2}, {"user_id": 9}],
            "not": {"email": {"contains": "test"}},
        }
    )
    data = {
        "result": "Fail",
        "percentile": 12.5,
        "answers": [{"duration": 1}, {"duration": 2}, {"duration": 60}],
        "subject_stats": [{"score": -1}, {"score": 5}],
        "sections": [{"score": 0}, {"score": 3}],
        "exam_id": 2,
        "user_id": 9,
        "email": "a@school.example",
    }
    match = match_rule(rule, Event("attempt.completed", "68701", data))
    assert isinstance(match, Match)
    assert match.rule is rule and match.event.key == "68701"
    count = {"where": {"duration": {"lt": 5}}, "gte": 2}
    assert match.reasons == (
        Reason("result", "eq", "Fail", "Fail"),
        Reason("percentile", "lt", 30, 12.5),
        Reason("answers", "count", count, 2),
        Reason("subject_stats", "some", {"score": {"lt": 0}}, 1),
        Reason("sections", "every", {"score": {"gte": 0}}, 2),
        Reason("exam_id", "eq", 2, 2),  # only the `any` branches that held
        Reason("user_id", "eq", 9, 9),
        Reason("email", "not", {"email": {"contains": "test"}}, {"email": "a@school.example"}),
    )
    assert all(r.to_dict() for r in match.reasons)  # JSON-friendly, for the outbox


def test_time_reasons_show_the_rule_text(make_rule: MakeRule) -> None:
    rule = make_rule({"date": {"lt": "2026-01-01T00:00:00+05:30"}})
    match = match_rule(rule, Event("attempt.completed", "1", {"date": "2025-12-31T10:00:00Z"}))
    assert match is not None
    assert match.reasons == (
        Reason("date", "lt", "2026-01-01T00:00:00+05:30", "2025-12-31T10:00:00Z"),
    )


def test_evaluate_ignores_rules_of_other_kinds(make_rule: MakeRule) -> None:
    failed = make_rule({"result": "Fail"}, name="failed")
    anyone = make_rule(None, name="anyone")
    early = make_rule({"duration": {"lt": 600}}, event="conference.attendance", name="early")
    event = Event("attempt.completed", "5", {"result": "Fail", "duration": 10})
    assert [m.rule.name for m in evaluate([failed, early, anyone], event)] == ["failed", "anyone"]
    event = Event("conference.attendance", "12:a@x", {"duration": 10, "result": "Fail"})
    assert [m.rule.name for m in evaluate([failed, early, anyone], event)] == ["early"]


def test_prefilter_tests_only_the_conditions_already_in_hand(make_rule: MakeRule) -> None:
    rule = make_rule({"result": "Fail", "percentile": {"lt": 30}})
    assert rule.stages == {"list", "detail"}
    assert not prefilter(rule, {"result": "Pass"}, {"list"})
    assert prefilter(rule, {"result": "Fail"}, {"list"})
    assert not prefilter(rule, {"result": "Fail", "percentile": 50}, {"list", "detail"})
    assert prefilter(rule, {"result": "Fail", "percentile": 10}, {"list", "detail"})
    # A combination that mixes stages waits for every stage it reads.
    mixed = make_rule({"any": [{"result": "Fail"}, {"percentile": {"lt": 30}}]})
    assert prefilter(mixed, {"result": "Pass"}, {"list"})
    assert not prefilter(mixed, {"result": "Pass", "percentile": 90}, {"list", "detail"})
    answers = make_rule({"result": "Fail", "answers": {"some": {"guessed": True}}})
    assert answers.stages == {"list", "answers"}
    assert not prefilter(answers, {"result": "Pass"}, {"list", "lookup", "detail"})


def test_pinned_values_let_sources_narrow_their_queries(make_rule: MakeRule) -> None:
    assert make_rule({"exam_id": 133}).pinned("exam_id") == 133
    assert make_rule({"exam_id": {"in": [134]}}).pinned("exam_id") == 134
    assert make_rule({"exam_id": {"in": [1, 2]}}).pinned("exam_id") is None
    assert make_rule({"any": [{"exam_id": 1}]}).pinned("exam_id") is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["result", "percentile", "email", "date", "exam_id", "answers", "subject_stats", "x"]


@settings(max_examples=150, deadline=None)
@given(data=st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6))
def test_evaluation_never_raises_on_arbitrary_data(data: dict[str, Any]) -> None:
    matches = evaluate(ARBITRARY_RULES, Event("attempt.completed", "1", data))
    assert {m.rule.name for m in matches} <= {r.name for r in ARBITRARY_RULES}
    for rule in ARBITRARY_RULES:
        prefilter(rule, data, {"list"})


ARBITRARY_RULES: list[Rule] = []


@pytest.fixture(scope="module", autouse=True)
def _arbitrary_rules(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Rules using every operator, for the property test (hypothesis cannot take a
    function-scoped fixture)."""
    path = Path(tmp_path_factory.mktemp("arbitrary")) / "rules.yaml"
    whens = [
        {"result": "Fail", "percentile": {"lt": 30, "gte": 0, "ne": 5}},
        {"exam_id": {"in": [1, 2], "not_in": [3]}, "email": {"contains": "a", "matches": "a+"}},
        {"date": {"gt": "2026-01-01T00:00:00+00:00", "exists": True}},
        {"answers": {"some": {"duration": {"lt": 5}}, "every": {"review": False}}},
        {"subject_stats": {"count": {"where": {"subject_name": {"matches": "H"}}, "gte": 1}}},
        {"any": [{"result": None}, {"not": {"percentile": {"lte": 1}}}]},
        {"answers": {"some": {"selected_answers": {"contains": 1}}}},
    ]
    rules = [
        {"name": f"r{i}", "event": "attempt.completed", "when": when, "notify": ["t"]}
        for i, when in enumerate(whens)
    ]
    path.write_text(yaml.safe_dump({"channels": {"t": {"type": "console"}}, "rules": rules}))
    ARBITRARY_RULES[:] = load_rules(path, env={}).rules


def test_not_never_matches_because_a_field_is_missing(make_rule: MakeRule) -> None:
    """A missing or null field fails every comparison, inside `not` too: only
    `exists: false` and `eq: null` can match it."""
    not_fail = make_rule({"not": {"result": "Fail"}})
    assert fires(not_fail, {"result": "Pass"})
    assert not fires(not_fail, {"result": "Fail"})
    assert not fires(not_fail, {}) and not fires(not_fail, {"result": None})
    not_low = make_rule({"not": {"percentile": {"lt": 30}}})
    assert fires(not_low, {"percentile": 50}) and not fires(not_low, {})
    not_present = make_rule({"not": {"percentile": {"exists": True}}})
    assert fires(not_present, {}) and not fires(not_present, {"percentile": 3})
    not_null = make_rule({"not": {"percentile": {"eq": None}}})
    assert fires(not_null, {"percentile": 3}) and not fires(not_null, {})
    not_either = make_rule({"not": {"any": [{"result": "Fail"}, {"percentile": {"lt": 30}}]}})
    assert fires(not_either, {"result": "Pass", "percentile": 80})
    assert not fires(not_either, {"result": "Pass"})  # percentile unknown
    double = make_rule({"not": {"not": {"result": "Fail"}}})
    assert fires(double, {"result": "Fail"}) and not fires(double, {})
    not_some = make_rule({"not": {"sections": {"some": {"score": {"lt": 0}}}}})
    assert fires(not_some, {"sections": [{"score": 1}]}) and not fires(not_some, {})
