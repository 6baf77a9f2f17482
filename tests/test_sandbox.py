"""The sandbox institute over real HTTP: what a Testpress client meets when it talks to it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from notifier.sandbox import FaultConfig, Institute, Sandbox
from notifier.sandbox.activity import populate
from tests.waiting import wait_until

ATTEMPTS = "/api/v2.5/admin/attempts/"
CONTENT = "/api/v3/admin/chapter-content-attempts/"


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=1) as sandbox:
        yield sandbox


def client(sb: Sandbox, token: str | None = None, **kw: Any) -> httpx.Client:
    headers = {"Authorization": f"JWT {token or sb.token}"}
    return httpx.Client(base_url=sb.url, headers=headers, **kw)


def follow(c: httpx.Client, path: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
    """Every page, taking only path and query from `next` (its host may be foreign)."""
    url: str | None = path
    first = True
    while url:
        resp = c.get(url, params=params if first else None)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        yield body
        first = False
        nxt = body["next"]
        if nxt:
            parts = urlsplit(nxt)
            url = f"{parts.path}?{parts.query}"
        else:
            url = None


def all_ids(c: httpx.Client, **params: Any) -> list[int]:
    return [r["id"] for page in follow(c, ATTEMPTS, params) for r in page["results"]]


# -- authentication -------------------------------------------------------------------------


def test_every_api_call_needs_a_valid_token_and_login_gives_one(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.url) as anon:
        missing = anon.get(ATTEMPTS)
        assert missing.status_code == 401 and missing.json()["detail"]
        bad = anon.get(ATTEMPTS, headers={"Authorization": "JWT a.b.c"})
        assert bad.status_code == 401 and "detail" in bad.json()
        wrong = anon.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "x"})
        assert wrong.status_code == 400
        assert wrong.json() == {"non_field_errors": ["Unable to log in with provided credentials."]}
        for version in ("v2.5", "v2.2"):
            login = anon.post(
                f"/api/{version}/auth-token/",
                json={"username": sb.username, "password": sb.password},
            )
            assert login.status_code == 200
            token = login.json()["token"]
            assert token.count(".") == 2
            ok = anon.get(ATTEMPTS, headers={"Authorization": f"JWT {token}"})
            assert ok.status_code == 200
    assert sb.request_counts["auth"] == 3


def test_expired_tokens_get_401_until_a_fresh_login(sb: Sandbox) -> None:
    with client(sb) as c:
        assert c.get(ATTEMPTS).status_code == 200
        sb.expire_tokens()
        expired = c.get(ATTEMPTS)
        assert expired.status_code == 401
        assert expired.json() == {"detail": "Signature has expired."}
        login = c.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "sandbox"})
        fresh = c.get(ATTEMPTS, headers={"Authorization": f"JWT {login.json()['token']}"})
        assert fresh.status_code == 200


def test_tokens_carry_exp_and_die_after_their_lifetime() -> None:
    with Sandbox(token_ttl=0) as sandbox, client(sandbox) as c:
        payload = sandbox.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert isinstance(claims["exp"], int)
        resp = c.get(ATTEMPTS)
    assert resp.status_code == 401 and resp.json() == {"detail": "Signature has expired."}


def test_unknown_paths_answer_404_with_detail(sb: Sandbox) -> None:
    with client(sb) as c:
        for path in ("/api/v2.5/admin/nothing/", "/api/v2.5/admin/attempts", ATTEMPTS + "999/"):
            resp = c.get(path)
            assert resp.status_code == 404 and "detail" in resp.json()


# -- exam attempts --------------------------------------------------------------------------


def test_pages_of_200_cover_every_attempt_once_with_relative_and_foreign_next_links(
    sb: Sandbox,
) -> None:
    sb.institute.seed_history(450)
    with client(sb) as c:
        pages = list(follow(c, ATTEMPTS, {"state": 1}))
    assert [len(p["results"]) for p in pages] == [200, 200, 50]
    assert all(p["count"] == 450 and p["per_page"] == 200 for p in pages)
    links = [p["next"] for p in pages[:-1]]
    assert links[0].startswith("/api/v2.5/admin/attempts/?") and "state=1" in links[0]
    assert urlsplit(links[1]).netloc not in ("", urlsplit(sb.url).netloc)
    ids = [r["id"] for p in pages for r in p["results"]]
    assert sorted(ids) == ids and len(set(ids)) == 450
    assert pages[0]["previous"] is None and pages[1]["previous"]


def test_list_records_have_the_documented_fields_and_quirks(sb: Sandbox) -> None:
    sb.institute.seed_history(300)
    with client(sb) as c:
        records = [r for p in follow(c, ATTEMPTS) for r in p["results"]]
    documented = {
        "id", "date", "exam_id", "user_id", "email", "name", "phone", "correct_answers_count",
        "incorrect_answers_count", "unanswered_count", "score", "percentage", "time_taken",
        "remaining_time", "result", "state", "last_started_time", "last_answer_updated_time",
        "speed", "exam_url", "user_url",
    }  # fmt: skip
    assert all(set(r) == documented for r in records)
    assert all(isinstance(r["score"], str) and "." in r["score"] for r in records)
    assert {r["date"][-1] for r in records} == {"Z", "0"}  # "...Z" and "...+05:30"
    assert any(r["date"].endswith("+05:30") for r in records)
    assert all(r["time_taken"].count(":") == 2 for r in records)
    assert any(r["remaining_time"] is None for r in records)
    assert records[0]["exam_url"] == f"{sb.url}/api/v2.5/admin/exams/{records[0]['exam_id']}/"
    assert records[0]["user_url"] == f"{sb.url}/api/v2.5/admin/users/{records[0]['user_id']}/"


def test_filters_by_state_start_date_exam_and_user_and_orders(sb: Sandbox) -> None:
    inst = sb.institute
    day = datetime(2024, 3, 10, 6, 0, tzinfo=UTC)
    exam, other_exam = inst.add_exam("Filter exam"), inst.add_exam("Other exam")
    asha = inst.add_user(name="Asha Verma", email="asha@school.example", username="asha")
    early = inst.start_attempt(exam, asha, started_at=day - timedelta(days=3))
    on_day = inst.start_attempt(exam, 1, started_at=day)
    later = inst.start_attempt(other_exam, asha, started_at=day + timedelta(days=2))
    running = inst.start_attempt(exam, 2)
    for aid, pct in ((early, 90.0), (on_day, 10.0), (later, 50.0)):
        inst.complete_attempt(aid, percentage=pct)
    with client(sb) as c:
        assert all_ids(c, state=0) == [running]
        assert all_ids(c, state=1) == [early, on_day, later]
        assert all_ids(c, state=3) == []
        assert all_ids(c, date_0="2024-03-10", date_1="2024-03-12") == [on_day, later]
        assert all_ids(c, date_1="2024-03-10") == [early, on_day]
        assert all_ids(c, exams=exam) == [early, on_day, running]
        assert all_ids(c, users=asha) == [early, later]
        assert all_ids(c, users=asha, exams=exam) == [early]
        assert all_ids(c, state=1, ordering="-date") == [later, on_day, early]
        assert all_ids(c, state=1, ordering="date") == [early, on_day, later]
        assert all_ids(c, state=1, ordering="-correct_answers_count") == [early, later, on_day]
        bad = c.get(ATTEMPTS, params={"date_0": "10/03/2024"})
        assert bad.status_code == 400 and "date_0" in bad.json()
        running_record = c.get(ATTEMPTS, params={"state": 0}).json()["results"][0]
        assert (running_record["state"], running_record["result"]) == ("Running", "NA")


def test_detail_adds_percentile_sections_and_stats(sb: Sandbox) -> None:
    inst = sb.institute
    exam = inst.add_exam("Detail exam", questions=30, sections=3)
    hidden = inst.add_exam("No percentile", show_percentile=False)
    aid = inst.start_attempt(exam, 1)
    inst.complete_attempt(aid, result="Fail", percentage=20.0, percentile=12.5)
    other = inst.start_attempt(hidden, 2)
    inst.complete_attempt(other, result="Pass")
    with client(sb) as c:
        d = c.get(f"{ATTEMPTS}{aid}/").json()
        assert c.get(f"{ATTEMPTS}{other}/").json()["percentile"] == "NA"
    assert (d["id"], d["result"], d["state"], d["percentile"]) == (aid, "Fail", "Completed", 12.5)
    assert d["username"] == inst.users[1].username
    assert d["institute_attempt_id"]
    assert len(d["sections"]) == 3
    assert sum(s["unanswered_count"] for s in d["sections"]) == d["unanswered_count"]
    assert all(s["subject_name"] for s in d["subject_stats"])
    assert sum(s["total_count"] for s in d["subject_stats"]) == 30
    assert d["correct_answers_count"] == 6
    assert set(d["difficulty_level_stats"]) <= {"easy", "medium", "hard"}


def test_user_answers_page_by_50_and_join_to_their_questions(sb: Sandbox) -> None:
    inst = sb.institute
    exam = inst.add_exam("Long exam", questions=120)
    aid = inst.start_attempt(exam, 3)
    inst.complete_attempt(aid, percentage=50.0, guesser=True)
    path = f"/api/v3/admin/attempts/{aid}/user_answers/"
    with client(sb) as c:
        pages = list(follow(c, path))
    assert [len(p["results"]["user_answers"]) for p in pages] == [50, 50, 20]
    answers = []
    for page in pages:
        questions = {q["id"]: q for q in page["results"]["exam_questions"]}
        for answer in page["results"]["user_answers"]:
            question = questions[answer["exam_question_id"]]
            assert "<style" in question["question_html"] and "&amp;" in question["question_html"]
            answers.append(answer)
    assert sum(a["result"] == "Correct" for a in answers) == 60
    quick = sum(a["duration"] < 5 for a in answers)
    assert quick >= 60  # a guesser answers most questions in under 5 seconds


def test_exam_and_user_lookups(sb: Sandbox) -> None:
    inst = sb.institute
    exam = inst.add_exam("Algebra Mock 3")
    user = inst.add_user(name="Ravi Kumar", email=None, username="ravi")
    with client(sb) as c:
        e = c.get(f"/api/v2.5/admin/exams/{exam}/").json()
        u = c.get(f"/api/v2.5/admin/users/{user}/").json()
    assert e["title"] == "Algebra Mock 3" and {
        "duration",
        "pass_percentage",
        "show_percentile",
    } <= set(e)
    assert u == {"id": user, "display_name": "Ravi Kumar", "first_name": "Ravi",
                 "last_name": "Kumar", "username": "ravi", "email": None}  # fmt: skip


def test_the_pages_of_a_query_share_one_scan_and_a_change_is_seen_at_once() -> None:
    """Reading a query's pages one after another filters the attempts once; an attempt
    that starts or completes between two pages is in the next page's answer."""
    inst = Institute(seed=3)
    inst.add_user(name="Ravi", email="ravi@school.example", username="ravi")
    exam = inst.add_exam("Memo exam")
    inst.seed_history(500, days_ago_min=1, days_ago_max=3)
    since = (datetime.now(UTC) - timedelta(days=4)).date()
    count, first = inst.query_attempts(state=1, date_0=since, ordering="date", limit=200)
    memo = inst._attempts_memo
    again, second = inst.query_attempts(
        state=1, date_0=since, ordering="date", offset=200, limit=200
    )
    assert inst._attempts_memo is memo  # the second page reused the first one's scan
    assert count == again == 500 and not {a.id for a in first} & {a.id for a in second}
    running = inst.start_attempt(exam, 1)
    assert inst.query_attempts(state=0)[0] == 1
    assert inst.query_attempts(state=1, date_0=since, ordering="date")[0] == 500
    inst.complete_attempt(running)
    count, page = inst.query_attempts(state=1, date_0=since, ordering="date", offset=500)
    assert count == 501 and [a.id for a in page] == [running]


def test_100000_history_seeds_and_a_filtered_page_answers(sb: Sandbox) -> None:
    sb.institute.seed_history(100_000)
    since = (datetime.now(UTC) - timedelta(days=5)).date().isoformat()
    with client(sb) as c:
        page = c.get(ATTEMPTS, params={"state": 1, "date_0": since, "exams": 1}).json()
        whole = c.get(ATTEMPTS, params={"page": 500}).json()
    assert 0 < page["count"] < 100_000 and len(page["results"]) == min(200, page["count"])
    assert all(r["exam_id"] == 1 and r["date"][:10] >= since[:8] for r in page["results"])
    assert whole["count"] == 100_000 and whole["next"] is None and len(whole["results"]) == 200


def test_request_counts_per_endpoint_and_reset(sb: Sandbox) -> None:
    aid = sb.institute.start_attempt(1, 1)
    with client(sb) as c:
        c.get(ATTEMPTS)
        c.get(ATTEMPTS)
        c.get(f"{ATTEMPTS}{aid}/")
        c.get(f"/api/v3/admin/attempts/{aid}/user_answers/")
        c.get(CONTENT)
        assert c.get(f"{sb.url}/_sandbox/stats").json() == sb.request_counts
    assert sb.request_counts == {
        "attempts": 2, "attempt": 1, "user_answers": 1, "content_attempts": 1,
    }  # fmt: skip
    sb.reset_counts()
    assert sb.request_counts == {}


# -- faults ---------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_but_never_on_login(sb: Sandbox) -> None:
    sb.faults.rate_limit_every = 2
    sb.faults.rate_limit_retry_after = 7
    with client(sb) as c:
        statuses = [c.get(ATTEMPTS).status_code for _ in range(4)]
        limited = c.get(ATTEMPTS)
        limited = limited if limited.status_code == 429 else c.get(ATTEMPTS)
        login = c.post("/api/v2.5/auth-token/", json={"username": "admin", "password": "sandbox"})
    assert statuses == [200, 429, 200, 429]
    assert limited.headers["Retry-After"] == "7"
    assert login.status_code == 200


def test_errors_malformed_bodies_and_bad_records(sb: Sandbox) -> None:
    sb.institute.seed_history(40)
    with client(sb) as c:
        sb.faults.error_rate = 1.0
        assert {c.get(ATTEMPTS).status_code for _ in range(30)} == {500, 502, 503}
        assert c.get(f"{sb.url}/_sandbox/stats").status_code == 200
        sb.faults.error_rate = 0.0
        sb.faults.malformed_rate = 1.0
        resp = c.get(ATTEMPTS)
        assert resp.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.text)
        sb.faults = FaultConfig(bad_record_rate=0.5, seed=4)
        records = c.get(ATTEMPTS).json()["results"]
    broken = [r for r in records if r.get("id") == "abc" or "date" not in r or r.get("score") == {}]
    assert 5 < len(broken) < 35


def test_slow_answers_outlast_a_client_timeout(sb: Sandbox) -> None:
    sb.faults = FaultConfig(slow_rate=1.0, slow_seconds=3.0)
    with client(sb, timeout=0.3) as c, pytest.raises(httpx.ReadTimeout):
        c.get(ATTEMPTS)
    sb.faults = FaultConfig()


def test_control_endpoints_steer_a_sandbox_without_a_token(sb: Sandbox) -> None:
    with httpx.Client(base_url=sb.url) as c:
        aid = c.post("/_sandbox/attempts", json={"exam_id": 2, "user_id": 4}).json()["id"]
        done = c.post(
            f"/_sandbox/attempts/{aid}/complete", json={"result": "Fail", "percentile": 9}
        )
        assert done.status_code == 200
        assert c.post("/_sandbox/history", json={"n": 25}).json() == {"attempts": 26}
        assert c.post("/_sandbox/faults", json={"error_rate": 1.0}).status_code == 200
        assert sb.faults.error_rate == 1.0
        assert c.post("/_sandbox/faults", json={"eror_rate": 1.0}).status_code == 400
        c.post("/_sandbox/faults", json={})
        headers = {"Authorization": f"JWT {sb.token}"}
        detail = c.get(f"{ATTEMPTS}{aid}/", headers=headers).json()
        assert (detail["result"], detail["percentile"], detail["exam_id"]) == ("Fail", 9.0, 2)
        assert c.get("/_sandbox/stats").json() == {"attempt": 1}
        c.post("/_sandbox/reset-counts")
        assert c.get("/_sandbox/stats").json() == {}
        c.post("/_sandbox/expire-tokens")
        assert c.get(ATTEMPTS, headers=headers).status_code == 401


# -- chapter contents and live classes ------------------------------------------------------


def test_content_attempts_side_load_what_their_page_references(sb: Sandbox) -> None:
    inst = sb.institute
    video = inst.add_content_attempt(5, "video")
    exam = inst.add_content_attempt(6, "assessment")
    notes = inst.add_content_attempt(7, "notes")
    inst.complete_content_attempt(video, watched_percentage=80)
    inst.complete_content_attempt(exam, state="Pending Evaluation")
    inst.complete_content_attempt(exam, state="Evaluation Completed", percentage=35.0, rank=4)
    with client(sb) as c:
        body = c.get(CONTENT).json()
        videos = c.get(CONTENT, params={"content_type": 3}).json()["results"]
        started = c.get(CONTENT, params={"state": 0}).json()["results"]["content_attempts"]
        evaluated = c.get(CONTENT, params={"state": 3, "user_ids": 6}).json()["results"]
        today = datetime.now(UTC).date()
        window = {"completed_after": (today - timedelta(days=1)).isoformat(),
                  "completed_before": (today + timedelta(days=1)).isoformat()}  # fmt: skip
        completed = c.get(CONTENT, params=window).json()["results"]["content_attempts"]
    res = body["results"]
    assert body["per_page"] == 250 and body["count"] == 3
    kinds = {ca["id"]: ca["content_type"] for ca in res["content_attempts"]}
    assert kinds == {video: "video", exam: "assessment", notes: "notes"}
    assert {cc["content_type"] for cc in res["chapter_contents"]} == {"Video", "Exam", "Notes"}
    assert {u["id"] for u in res["users"]} == {5, 6, 7}
    assert [v["watched_percentage"] for v in res["user_videos"]] == [80]
    assert [ca["id"] for ca in videos["content_attempts"]] == [video]
    assert videos["user_exams"] == [] and len(videos["user_videos"]) == 1
    assert [ca["id"] for ca in started] == [notes]
    assert [ca["state"] for ca in evaluated["content_attempts"]] == ["Evaluation Completed"]
    assert evaluated["user_exams"][0]["percentage"] == "35.00"
    assert evaluated["user_exams"][0]["rank"] == 4
    assert {ca["id"] for ca in completed} == {video, exam}


def test_content_attempts_page_by_250(sb: Sandbox) -> None:
    for i in range(260):
        sb.institute.add_content_attempt(i % 50 + 1, "attachment")
    with client(sb) as c:
        pages = list(follow(c, CONTENT))
    assert [len(p["results"]["content_attempts"]) for p in pages] == [250, 10]
    assert len(pages[1]["results"]["users"]) == 10


def test_conference_attendance_pages_rejoins_and_open_rows(sb: Sandbox) -> None:
    inst = sb.institute
    conf = inst.add_conference("Live class: Polity doubts")
    start = datetime(2024, 6, 10, 10, 0, tzinfo=UTC)
    for uid in range(1, 23):
        inst.join_conference(conf, uid, at=start)
    inst.leave_conference(conf, 1, at=start + timedelta(minutes=5))
    inst.join_conference(conf, 1, at=start + timedelta(minutes=8))
    inst.join_conference(conf, name="Guest viewer", at=start)
    inst.leave_conference(conf, 2, at=start + timedelta(minutes=3))
    with client(sb) as c:
        pages = list(follow(c, f"/api/v3/admin/attempts/{conf}/video-conference/"))
        content = c.get(CONTENT, params={"content_type": 7, "user_ids": 1}).json()["results"]
    assert [len(p["results"]) for p in pages] == [20, 4] and pages[0]["per_page"] == 20
    rows = [r for p in pages for r in p["results"]]
    first = inst.users[1].email
    mine = [r for r in rows if r["email"] and r["email"].lower() == first]
    assert len(mine) == 2 and mine[0]["duration"] == 300 and mine[1]["leave_time"] is None
    assert any("joined_time" in r for r in rows) and any("join_time" in r for r in rows)
    assert any(r["email"] is None for r in rows)
    left_early = next(r for r in rows if r["name"] == inst.users[2].display_name)
    assert left_early["duration"] == 180
    uvc = content["user_video_conferences"][0]
    assert uvc["video_conference"]["id"] == conf and uvc["duration"] == 300
    inst.end_conference(conf, at=start + timedelta(minutes=60))
    with client(sb) as c:
        rows = c.get(f"/api/v3/admin/attempts/{conf}/video-conference/").json()["results"]
    assert all(r["leave_time"] and r["duration"] is not None for r in rows)


# -- generated data and activity ------------------------------------------------------------


def _snapshot(seed: int) -> tuple[Any, ...]:
    inst = Institute(seed)
    populate(inst)
    inst.seed_history(50, now=datetime(2025, 1, 1, tzinfo=UTC))
    users = [u.as_json() for u in inst.users.values()]
    exams = [(e.as_json(), [q.html for q in e.questions]) for e in inst.exams.values()]
    attempts = [(a.exam_id, a.user_id, a.started_at, a.percentage) for a in inst.attempts.values()]
    return users, exams, attempts


def test_same_seed_gives_the_same_institute() -> None:
    assert _snapshot(7) == _snapshot(7)
    assert _snapshot(7) != _snapshot(8)
    users = _snapshot(7)[0]
    assert len(users) == 50 and sum(u["email"] is None for u in users) >= 3
    assert all(u["display_name"] for u in users)


def test_activity_makes_students_finish_exams_join_classes_and_use_content() -> None:
    with Sandbox(seed=2, activity=True, tick_seconds=0.02) as sandbox:
        inst = sandbox.institute
        seen: dict[str, Any] = {}

        def enough() -> bool:
            with inst.lock:
                seen["done"] = [a for a in inst.attempts.values() if a.state == "Completed"]
                seen["finished"] = [ca for ca in inst.content_attempts.values() if ca.completed_on]
                seen["rows"] = sum(len(conf.rows) for conf in inst.conferences.values())
            return len(seen["done"]) >= 40 and bool(seen["finished"]) and seen["rows"] > 5

        wait_until(enough, interval=0.05, message="40 completions, content and class rows")
        done, finished, rows = seen["done"], seen["finished"], seen["rows"]
    assert any(a.result == "Fail" for a in done) and any(a.result == "Pass" for a in done)
    assert any(a.percentile is not None and a.percentile < 30 for a in done)
    assert finished and rows > 5
