"""The plain-Python path for Testpress records (`notifier.testpress.plain`) gives what
pydantic gives: the same dicts, key for key and type for type (an int stays an int),
the same records skipped, on arbitrary records of the kinds real servers send."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.testpress.models import (
    Attempt,
    AttemptDetail,
    ChapterContent,
    ConferenceRow,
    ContentAttempt,
    Course,
    Exam,
    ExamQuestion,
    TestpressModel,
    User,
    UserAnswer,
    UserExam,
    UserVideo,
    UserVideoConference,
    parse_records,
)
from notifier.testpress.parse import (
    to_count,
    to_float,
    to_id,
    to_ref,
    to_seconds,
    to_text,
    to_time,
)
from notifier.testpress.plain import _bool, _dict, _list, _One, _plan, parse_data

MODELS: list[type[TestpressModel]] = [
    Attempt,
    AttemptDetail,
    ExamQuestion,
    UserAnswer,
    User,
    Exam,
    ContentAttempt,
    UserVideo,
    UserExam,
    Course,
    ChapterContent,
    UserVideoConference,
]

# What real servers send for one field, right and wrong (testpress-api-notes.md).
SCALARS = st.one_of(
    st.none(),
    st.sampled_from(["", "NA", "n/a", " N/A ", "na ", " ", "\x00", "Pass", "Completed"]),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "90.00",
            " 12 ",
            "12.0",
            "1e3",
            "abc",
            "2:47:53.076906",
            "1 day, 2:03:04",
            "-1 day, 23:59:59",
            "1 02:03:04",
            "05:30",
            "0:00:00",
            "2026-12-07T06:52:03.651309Z",
            "2026-12-07T12:22:03+05:30",
            "2026-12-07 06:52:03",
            "2026-13-07T06:52:03Z",
            "\u202e42\ud800",
        ]
    ),
    st.text(max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


NULLS = st.sampled_from([None, "", "NA", "n/a", " N/A ", "na "])
NUMBERS = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(-1e9, 1e9),
    st.sampled_from(["90.00", " 12 ", "12.0", "1e3", "0", "-3.5"]),
)
# What each coercion is usually given: a value of its kind (or null); any value at all
# now and then, so the refusals are compared too.
USUAL: dict[Any, st.SearchStrategy[Any]] = {
    to_id: st.one_of(st.integers(0, 10**9), st.integers(0, 10**9).map(str), st.just(12.0)),
    to_ref: st.one_of(NULLS, st.integers(0, 10**9), st.integers(0, 10**9).map(str)),
    to_count: st.one_of(NULLS, NUMBERS),
    to_float: st.one_of(NULLS, NUMBERS),
    to_seconds: st.one_of(
        NULLS,
        NUMBERS,
        st.sampled_from(["2:47:53.076906", "1 day, 2:03:04", "-1 day, 23:59:59", "1 02:03:04"]),
        st.sampled_from(["05:30", "0:00:00", "12:00:00.5"]),
    ),
    to_time: st.one_of(
        NULLS,
        st.datetimes().map(lambda t: t.isoformat() + "Z"),
        st.sampled_from(["2026-12-07T12:22:03+05:30", "2026-12-07 06:52:03", "2026-12-07"]),
        st.integers(0, 2 * 10**9),
    ),
    to_text: st.one_of(NULLS, st.text(max_size=12), st.integers()),
    _bool: st.one_of(NULLS, st.booleans()),
    _dict: st.one_of(NULLS, st.dictionaries(st.text(max_size=4), VALUES, min_size=2, max_size=4)),
    _list: st.one_of(NULLS, st.lists(VALUES, max_size=4)),
}


def _value(coerce: Any, depth: int) -> st.SearchStrategy[Any]:
    usual = USUAL.get(coerce)
    if usual is None:
        model = getattr(coerce, "model", None)
        if model is not None and depth == 0:  # a nested record, or a list of them
            inner = _records(model, depth + 1)
            one = isinstance(coerce, _One)
            usual = st.one_of(NULLS, inner if one else st.lists(inner, max_size=3))
        else:  # `object` fields
            usual = st.one_of(NULLS, VALUES)
    return st.one_of(usual, usual, usual, usual, usual, usual, usual, usual, usual, VALUES)


def _records(model: type[TestpressModel], depth: int = 0) -> st.SearchStrategy[Any]:
    """Dicts with some of the model's fields, each usually a value of its kind, nested
    records where the model has them, and extra keys; now and then not a dict at all."""
    plan = _plan(model)
    assert plan is not None
    coercions = dict(plan.fields) | dict(plan.nested)
    fields = {name: _value(coercions[name], depth) for name in model.model_fields}
    id_field = model.model_fields.get("id")
    required = {"id": fields.pop("id")} if id_field and id_field.is_required() else {}
    extras = st.dictionaries(
        st.sampled_from(["extra", "_private", "model_config", "Id", "percentile "]),
        st.one_of(NULLS, VALUES),
        max_size=2,
    )
    record = st.tuples(st.fixed_dictionaries(required, optional=fields), extras).map(
        lambda parts: {**parts[0], **{k: v for k, v in parts[1].items() if k not in parts[0]}}
    )
    return st.one_of(record, record, record, record, record, record, record, VALUES)


def _dumped(value: object) -> str:
    """Type-strict and order-strict: 1 and 1.0 differ, and so do key orders."""
    return json.dumps(value, allow_nan=True)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_model_but_aliased_ones_has_a_plan(model: type[TestpressModel]) -> None:
    assert _plan(model) is not None
    assert _plan(ConferenceRow) is None  # an aliased field: always pydantic


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("cleaned", [True, False])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_plain_path_gives_what_pydantic_gives(
    model: type[TestpressModel], cleaned: bool, data: st.DataObject
) -> None:
    page = data.draw(st.lists(_records(model), min_size=1, max_size=3))
    # The plan reads nested text as clean when its parent was cleaned: as pydantic does.
    wanted = [r.to_data() for r in parse_records(model, page, where="t", cleaned=cleaned)]
    got = parse_data(model, page, where="t", cleaned=cleaned)
    assert _dumped(got) == _dumped(wanted)


def test_a_real_detail_and_its_odd_values(caplog: pytest.LogCaptureFixture) -> None:
    detail = {
        "id": "17",
        "date": "2026-12-07T12:22:03.651309+05:30",
        "exam_id": "2",
        "user_id": 23,
        "score": "9.50",
        "percentage": "NA",
        "time_taken": "1:49:29.420798",
        "last_answer_updated_time": "2026-12-07T08:41:33Z",
        "speed": 6,
        "percentile": 68.62,
        "sections": [{"id": 10, "time_taken": "0:01:51", "score": "2.00"}, "junk", {"id": "x"}],
        "difficulty_level_stats": {"easy": 3},
        "institute_attempt_id": "",
        "new_field": "kept",
    }
    with caplog.at_level(logging.WARNING):
        [data] = parse_data(AttemptDetail, [detail], where="attempt 17", cleaned=True)
    assert data["id"] == 17 and data["exam_id"] == 2
    assert data["score"] == 9.5 and data["percentage"] is None
    assert data["time_taken"] == 6569.42
    assert data["last_answer_updated_time"] == "2026-12-07T08:41:33+00:00"
    assert data["institute_attempt_id"] is None and data["new_field"] == "kept"
    assert data["sections"] == [
        {
            "id": 10,
            "order": None,
            "section_id": None,
            "time_taken": 111.0,
            "correct_answers_count": None,
            "incorrect_answers_count": None,
            "unanswered_count": None,
            "score": 2.0,
        }
    ]
    # Each skipped section is told once, at its own index.
    skipped = [r.getMessage() for r in caplog.records]
    assert len(skipped) == 2, skipped
    assert "record #1: not an object" in skipped[0]
    assert "record #2 (id 'x')" in skipped[1]


def test_a_bad_record_is_skipped_and_told_at_its_index(caplog: pytest.LogCaptureFixture) -> None:
    page = [{"id": 1, "score": "7"}, {"id": 2, "score": "lots"}, {"id": 3, "date": "NA"}]
    with caplog.at_level(logging.WARNING):
        rows = parse_data(Attempt, page, where="/attempts/", cleaned=True)
    assert [r["id"] for r in rows] == [1, 3]
    assert rows[0]["score"] == 7.0 and rows[1]["date"] is None
    [message] = [r.getMessage() for r in caplog.records]
    assert "record #1 (id 2)" in message and "score" in message and "lots" in message
