"""Records as the real API writes them, quirks included.

Which quirk a record shows is a function of its id, so the same record always looks
the same and a page of any size shows every variant: `Z` or `+05:30` times, a
percentage of `0` (a number) or `"45.00"` (a string), a null `remaining_time`, and
`time_taken` as a Python timedelta string.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from notifier.sandbox.content import KINDS, ContentAttempt, Row
from notifier.sandbox.data import Institute
from notifier.sandbox.model import Attempt, Question, fmt_time

Json = dict[str, Any]


def _money(value: float) -> str:
    return f"{value:.2f}"


def _percentage(a: Attempt) -> object:
    if a.percentage == 0 and a.id % 3:
        return 0
    return _money(a.percentage)


def _taken(a: Attempt, now: datetime) -> timedelta:
    return (a.completed_at or now) - a.started_at


def attempt_record(inst: Institute, a: Attempt, base: str, now: datetime) -> Json:
    """The list endpoint's record: exactly the fields of the documented sample."""
    user = inst.users.get(a.user_id)
    exam = inst.exams[a.exam_id]
    zulu = a.id % 2 == 0
    taken = _taken(a, now)
    remaining = max(timedelta(0), timedelta(minutes=exam.duration_minutes) - taken)
    minutes = max(taken.total_seconds() / 60, 1.0)
    return {
        "id": a.id,
        "date": fmt_time(a.started_at, zulu),
        "exam_id": a.exam_id,
        "user_id": a.user_id,
        "email": user.email if user else None,
        "name": user.display_name if user else None,
        "phone": user.phone if user else None,
        "correct_answers_count": a.correct,
        "incorrect_answers_count": a.incorrect,
        "unanswered_count": a.unanswered,
        "score": _money(a.score),
        "percentage": _percentage(a),
        "time_taken": str(taken),
        "remaining_time": None
        if a.id % 5 == 0
        else str(timedelta(seconds=int(remaining.total_seconds()))),
        "result": a.result if a.state == "Completed" else "NA",
        "state": a.state,
        "last_started_time": fmt_time(a.started_at, not zulu),
        "last_answer_updated_time": fmt_time(a.completed_at, not zulu),
        "speed": int((a.correct + a.incorrect) / minutes * 60) if a.state == "Completed" else 0,
        "exam_url": f"{base}/api/v2.5/admin/exams/{a.exam_id}/",
        "user_url": f"{base}/api/v2.5/admin/users/{a.user_id}/",
    }


def answers(inst: Institute, a: Attempt) -> list[tuple[Question, str, list[int], int]]:
    """(question, "Correct"/"Incorrect"/"Unanswered", selected ids, seconds) per question,
    agreeing with the attempt's counts; a guesser answers most questions in under 5 s."""
    exam = inst.exams[a.exam_id]
    rng = inst.rng("answers", a.id)
    order = list(range(len(exam.questions)))
    rng.shuffle(order)
    outcome = ["Unanswered"] * len(order)
    for pos, index in enumerate(order):
        if pos < a.correct:
            outcome[index] = "Correct"
        elif pos < a.correct + a.incorrect:
            outcome[index] = "Incorrect"
    rows = []
    for q, res in zip(exam.questions, outcome, strict=True):
        wrong = [aid for aid, _ in q.answers if aid != q.correct_answer_id]
        selected = {"Correct": [q.correct_answer_id], "Incorrect": [rng.choice(wrong)]}.get(res, [])
        quick = a.guesser and rng.random() < 0.85
        seconds = rng.randint(1, 4) if quick else rng.randint(5, 150)
        rows.append((q, res, selected, 0 if res == "Unanswered" and not quick else seconds))
    return rows


def _stats(rows: list[tuple[Question, str, list[int], int]]) -> Json:
    counts = {"Correct": 0, "Incorrect": 0, "Unanswered": 0}
    score = 0.0
    for q, res, _, _ in rows:
        counts[res] += 1
        score += q.marks if res == "Correct" else -q.negative_marks if res == "Incorrect" else 0
    return {
        "correct_answers_count": counts["Correct"],
        "incorrect_answers_count": counts["Incorrect"],
        "unanswered_count": counts["Unanswered"],
        "score": _money(score),
    }


def attempt_detail(inst: Institute, a: Attempt, base: str, now: datetime) -> Json:
    """The single-attempt response: the list record plus percentile, sections, stats."""
    out = attempt_record(inst, a, base, now)
    rows = answers(inst, a)
    user = inst.users.get(a.user_id)
    by_section: dict[int, list[Any]] = {}
    by_subject: dict[str, list[Any]] = {}
    by_level: dict[str, list[Any]] = {}
    for row in rows:
        q = row[0]
        by_section.setdefault(q.section_id, []).append(row)
        by_subject.setdefault(q.subject_name, []).append(row)
        if q.difficulty:
            by_level.setdefault(q.difficulty, []).append(row)
    sections = [
        {"id": a.id * 10 + i, "order": i, "section_id": sid,
         "time_taken": str(timedelta(seconds=sum(r[3] for r in group))), **_stats(group)}
        for i, (sid, group) in enumerate(sorted(by_section.items()))
    ]  # fmt: skip
    subjects = [
        {"subject_id": group[0][0].subject_id, "subject_name": name, "total_count": len(group),
         "parent_subject_id": None, "is_leaf": True, "partial_correct_answers_count": 0,
         **_stats(group)}
        for name, group in sorted(by_subject.items())
    ]  # fmt: skip
    levels = {}
    for level, group in by_level.items():
        stats = _stats(group)
        del stats["score"]
        levels[level] = {**stats, "partial_correct_answers_count": 0, "total_count": len(group)}
    out.update(
        percentile="NA" if a.percentile is None or a.state != "Completed" else a.percentile,
        username=user.username if user else None,
        sections=sections,
        subject_stats=subjects,
        difficulty_level_stats=levels,
        institute_attempt_id=100000 + a.id,
    )
    return out


def user_answer_rows(inst: Institute, a: Attempt) -> list[tuple[Json, Json]]:
    """(user answer, exam question) pairs in question order, for the v3 user_answers page."""
    pairs = []
    for q, res, selected, seconds in answers(inst, a):
        answer = {
            "id": a.id * 1000 + q.order,
            "exam_question_id": q.id,
            "selected_answers": selected,
            "result": res,
            "duration": seconds,
            "review": q.order % 7 == 3,
            "guessed": None,
        }
        question = {
            "id": q.id, "question_id": 900000 + q.id, "section_id": q.section_id,
            "question_html": q.html, "type": "MCQ, Single Correct",
            "marks": _money(q.marks), "negative_marks": _money(q.negative_marks),
            "partial_marks": None, "direction": None,
            "answers": [{"id": aid, "text_html": text} for aid, text in q.answers],
            "difficulty_level": q.difficulty, "order": q.order, "is_bonus": False,
            "exam_id": a.exam_id,
        }  # fmt: skip
        pairs.append((answer, question))
    return pairs


def content_attempt(ca: ContentAttempt, cc: Json) -> Json:
    """A chapter-content attempt in the documented shape (+05:30 times, string states)."""
    out: Json = {
        "id": ca.id, "user_id": ca.user_id, "course_id": cc["course_id"],
        "chapter_id": cc["chapter_id"], "chapter_content_id": ca.chapter_content_id,
        "content_type": ca.kind, "state": ca.state,
        "remaining_time": "0.00" if ca.kind in ("assessment", "quiz") else None,
        "assessment_id": None, "user_video_conference_id": None, "user_video_id": None,
        "user_live_stream_id": None, "user_content_id": None, "user_attachment_id": None,
        "created": fmt_time(ca.created, zulu=False),
        "completed_on": fmt_time(ca.completed_on, zulu=False),
    }  # fmt: skip
    link = KINDS[ca.kind][3]
    if link:
        out[link] = ca.link_id
    if ca.kind in ("assessment", "quiz"):
        out["correct_answers_count"] = ca.correct
        out["incorrect_answers_count"] = ca.incorrect
    return out


def attendance_row(row: Row) -> Json:
    """One attendance line. Every fourth row says `joined_time` (the docs' field table)
    instead of `join_time` (the docs' sample); some emails come in another case."""
    email = row.email.upper() if row.email and row.id % 5 == 2 else row.email
    duration = None
    if row.leave_time is not None:
        duration = int((row.leave_time - row.join_time).total_seconds())
    return {
        "name": row.name,
        "email": email,
        "joined_time" if row.id % 4 == 3 else "join_time": fmt_time(row.join_time, zulu=False),
        "leave_time": fmt_time(row.leave_time, zulu=False),
        "duration": duration,
    }
