"""The Testpress client's HTTP behaviour: auth, paging, retries, secrets (respx)."""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
import respx

from notifier.testpress.client import TestpressClient, TestpressError

BASE = "https://myinstitute.testpress.in"
LIST = "/api/v2.5/admin/attempts/"
DETAIL = "/api/v2.5/admin/attempts/68701/"
LOGIN = "/api/v2.5/auth-token/"
TOKEN = "tok-SECRET-9f8e7d6c5b"
PASSWORD = "pw-SECRET-1a2b3c4d"


class Sleeps(list[float]):
    """An injected `sleep` that records each wait instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        yield mock


def make(sleeps: Sleeps, **kwargs: Any) -> TestpressClient:
    kwargs.setdefault("token", TOKEN)
    return TestpressClient(BASE, sleep=sleeps, **kwargs)


def page(results: list[Any], next_: str | None, count: int = 5) -> httpx.Response:
    body = {"count": count, "next": next_, "previous": None, "per_page": 2, "results": results}
    return httpx.Response(200, json=body)


# -- paging -----------------------------------------------------------------------------------


def test_pages_follow_relative_and_absolute_next_on_the_configured_host(api, sleeps):
    def attempts(request: httpx.Request) -> httpx.Response:
        number = request.url.params.get("page", "1")
        if number == "1":
            return page([{"id": 1}, {"id": 2}], f"{LIST}?page=2&state=1")
        if number == "2":
            # The docs' samples point `next` at another host: it must not be called.
            return page(
                [{"id": 3}, {"id": 4}], f"https://sandbox.testpress.in{LIST}?page=3&state=1"
            )
        return page([{"id": 5}], None)

    route = api.get(LIST).mock(side_effect=attempts)
    with make(sleeps) as client:
        pages = list(client.pages(LIST, {"state": 1}))

    assert [[r["id"] for r in p.results] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [p.count for p in pages] == [5, 5, 5]
    assert pages[-1].next is None
    assert route.call_count == 3
    assert {call.request.url.host for call in route.calls} == {"myinstitute.testpress.in"}
    assert [call.request.url.params.get("state") for call in route.calls] == ["1", "1", "1"]
    assert client.requests_made == 3


def test_pages_keep_a_path_prefix_of_the_base_url(sleeps):
    with respx.mock(base_url="https://host.example/prefix", assert_all_called=False) as mock:
        route = mock.get(LIST).mock(
            side_effect=[
                page([{"id": 1}], f"https://other.example/prefix{LIST}?page=2"),
                page([{"id": 2}], None),
            ]
        )
        client = TestpressClient("https://host.example/prefix/", token=TOKEN, sleep=sleeps)
        assert [p.results[0]["id"] for p in client.pages(LIST)] == [1, 2]
    assert [c.request.url.path for c in route.calls] == [f"/prefix{LIST}"] * 2


def test_a_next_pointing_back_at_a_read_page_ends_the_walk(api, sleeps):
    api.get(LIST).mock(return_value=page([{"id": 1}], f"{BASE}{LIST}"))
    with make(sleeps) as client:
        assert len(list(client.pages(LIST))) == 1


def test_a_bare_list_body_is_one_page(api, sleeps):
    api.get(LIST).mock(return_value=httpx.Response(200, json=[{"id": 1}]))
    with make(sleeps) as client:
        pages = list(client.pages(LIST))
    assert [p.results for p in pages] == [[{"id": 1}]]


def test_nan_and_infinity_in_a_body_are_read_as_null(api, sleeps):
    """Python's decoder takes them as floats, and json.dumps writes them back as
    `Infinity`: no webhook receiver could parse that body, and SQL JSON refuses it."""
    body = b'{"count": 1, "next": null, "results": [{"id": 1, "score": NaN, "x": -Infinity}]}'
    api.get(LIST).mock(return_value=httpx.Response(200, content=body))
    with make(sleeps) as client:
        [only] = list(client.pages(LIST))
    assert only.results == [{"id": 1, "score": None, "x": None}]
    json.dumps(only.results, allow_nan=False)  # strict JSON again


def test_a_get_carries_the_clients_headers_the_token_and_the_query(sleeps):
    """GETs go straight to the client's transport (issue 22): the request must still be
    the one `httpx.Client` would have sent, on the transport the client was given."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"id": 68701})

    transport = httpx.MockTransport(answer)
    client = TestpressClient(
        "https://host.example/prefix/", token=TOKEN, sleep=sleeps, transport=transport
    )
    with client:
        assert client.get(DETAIL, {"state": 1, "exams": None}) == {"id": 68701}
        assert client.get(f"{LIST}?page=2") == {"id": 68701}
        assert client.get("api/v2.5/admin/users/7/") == {"id": 68701}  # no leading slash
    first, second, third = seen
    assert str(first.url) == f"https://host.example/prefix{DETAIL}?state=1&exams="
    assert str(second.url) == f"https://host.example/prefix{LIST}?page=2"
    assert str(third.url) == "https://host.example/prefix/api/v2.5/admin/users/7/"
    for request in seen:
        assert request.headers["Authorization"] == f"JWT {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"].startswith("testpress-notifier/")
        assert request.headers["Host"] == "host.example"


def test_a_redirect_is_not_followed(api, sleeps):
    """A 3xx is an answer, as before: the client never followed redirects (a token must
    not be sent to wherever a Location points)."""
    moved = api.get(DETAIL).mock(
        return_value=httpx.Response(302, headers={"Location": "https://elsewhere.example/"})
    )
    with make(sleeps) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert caught.value.status == 302 and moved.call_count == 1


# -- auth -------------------------------------------------------------------------------------


def test_a_fixed_token_is_sent_as_jwt(api, sleeps):
    route = api.get(DETAIL).mock(return_value=httpx.Response(200, json={"id": 68701}))
    with make(sleeps) as client:
        assert client.get(DETAIL) == {"id": 68701}
    assert route.calls.last.request.headers["Authorization"] == f"JWT {TOKEN}"


def test_login_happens_once_and_the_token_is_reused(api, sleeps):
    login = api.post(LOGIN).mock(return_value=httpx.Response(200, json={"token": "tok1"}))
    detail = api.get(DETAIL).mock(return_value=httpx.Response(200, json={"id": 68701}))
    with make(sleeps, token=None, username="admin", password=PASSWORD) as client:
        for _ in range(3):
            client.get(DETAIL)
    assert login.call_count == 1
    assert json.loads(login.calls.last.request.content) == {
        "username": "admin",
        "password": PASSWORD,
    }
    assert [c.request.headers["Authorization"] for c in detail.calls] == ["JWT tok1"] * 3


def test_a_401_logs_in_once_more_and_repeats_the_call(api, sleeps):
    login = api.post(LOGIN).mock(
        side_effect=[
            httpx.Response(200, json={"token": "old"}),
            httpx.Response(200, json={"token": "new"}),
        ]
    )

    def detail(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "JWT new":
            return httpx.Response(200, json={"id": 68701})
        return httpx.Response(401, json={"detail": "Signature has expired."})

    api.get(DETAIL).mock(side_effect=detail)
    with make(sleeps, token=None, username="admin", password=PASSWORD) as client:
        assert client.get(DETAIL) == {"id": 68701}
        assert client.get(DETAIL) == {"id": 68701}
    assert login.call_count == 2


def test_a_second_401_is_an_error_not_a_loop(api, sleeps):
    login = api.post(LOGIN).mock(return_value=httpx.Response(200, json={"token": "tok"}))
    detail = api.get(DETAIL).mock(return_value=httpx.Response(401, json={"detail": "no"}))
    client = make(sleeps, token=None, username="admin", password=PASSWORD)
    with client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert caught.value.status == 401
    assert not caught.value.retryable
    assert login.call_count == 2
    assert detail.call_count == 2


def test_concurrent_401s_cause_one_login(api, sleeps):
    threads = 6
    barrier = threading.Barrier(threads, timeout=5)
    tokens = iter(["tok1", "tok2", "tok3", "tok4"])
    login = api.post(LOGIN).mock(
        side_effect=lambda request: httpx.Response(200, json={"token": next(tokens)})
    )

    def detail(request: httpx.Request) -> httpx.Response:
        if request.headers["Authorization"] == "JWT tok1":
            barrier.wait()  # every thread has sent with the expiring token
            return httpx.Response(401)
        return httpx.Response(200, json={"auth": request.headers["Authorization"]})

    api.get(DETAIL).mock(side_effect=detail)
    client = make(sleeps, token=None, username="admin", password=PASSWORD)
    with client, ThreadPoolExecutor(threads) as pool:
        results = list(pool.map(lambda _: client.get(DETAIL), range(threads)))
    assert results == [{"auth": "JWT tok2"}] * threads
    assert login.call_count == 2  # the first login and one after the 401s


def test_a_refused_fixed_token_is_an_error_without_login(api, sleeps):
    login = api.post(LOGIN).mock(return_value=httpx.Response(200, json={"token": "x"}))
    api.get(DETAIL).mock(return_value=httpx.Response(401))
    with make(sleeps) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert "TESTPRESS_TOKEN was refused" in str(caught.value)
    assert caught.value.status == 401
    assert login.call_count == 0


def test_a_refused_login_names_the_user_and_is_not_tried_again(api, sleeps):
    login = api.post(LOGIN).mock(
        return_value=httpx.Response(400, json={"non_field_errors": ["Unable to log in"]})
    )
    detail = api.get(DETAIL).mock(return_value=httpx.Response(200, json={}))
    with make(sleeps, token=None, username="admin", password=PASSWORD) as client:
        for _ in range(2):
            with pytest.raises(TestpressError, match="login refused for user admin"):
                client.get(DETAIL)
    assert login.call_count == 1  # repeated logins could lock the account
    assert detail.call_count == 0


# -- retries ----------------------------------------------------------------------------------


def test_429_waits_at_least_retry_after_then_succeeds(api, sleeps):
    route = api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(200, json={"id": 68701}),
        ]
    )
    with make(sleeps) as client:
        assert client.get(DETAIL) == {"id": 68701}
    assert route.call_count == 2
    assert len(sleeps) == 1 and sleeps[0] >= 7


def test_retry_after_is_capped_by_max_wait(api, sleeps):
    api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(503, headers={"Retry-After": "3600"}),
            httpx.Response(200, json={}),
        ]
    )
    with make(sleeps, max_wait=30) as client:
        client.get(DETAIL)
    assert sleeps == [30]


def test_5xx_is_retried_then_succeeds(api, sleeps, caplog):
    caplog.set_level(logging.WARNING)
    route = api.get(DETAIL).mock(
        side_effect=[httpx.Response(502), httpx.Response(500), httpx.Response(200, json={"a": 1})]
    )
    with make(sleeps) as client:
        assert client.get(DETAIL) == {"a": 1}
    assert route.call_count == 3
    assert len(sleeps) == 2
    assert all(0 <= s <= 120 for s in sleeps)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 502" in retries[0].getMessage()


def test_retries_are_bounded(api, sleeps):
    route = api.get(DETAIL).mock(return_value=httpx.Response(503))
    with make(sleeps, max_attempts=4) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert route.call_count == 4
    assert len(sleeps) == 3
    assert caught.value.retryable
    assert caught.value.status == 503
    assert "gave up after 4 attempts" in str(caught.value)


def test_error_messages_leave_out_the_query_string(api, sleeps):
    api.get(LIST).mock(return_value=httpx.Response(400))
    with make(sleeps) as client, pytest.raises(TestpressError) as caught:
        client.get(f"{LIST}?users=q-MARKER", {"exams": "p-MARKER"})
    assert str(caught.value) == f"GET {LIST}: HTTP 400"


def test_404_is_not_retried(api, sleeps):
    route = api.get(DETAIL).mock(return_value=httpx.Response(404, json={"detail": "Not found."}))
    with make(sleeps) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert route.call_count == 1
    assert sleeps == []
    assert caught.value.status == 404
    assert not caught.value.retryable
    assert "Not found." in str(caught.value)


def test_timeouts_and_connection_errors_are_retried(api, sleeps):
    route = api.get(DETAIL).mock(
        side_effect=[
            httpx.ReadTimeout("slow"),
            httpx.ConnectError("refused"),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    with make(sleeps) as client:
        assert client.get(DETAIL) == {"ok": True}
    assert route.call_count == 3


def test_timeouts_exhausted_are_a_retryable_error(api, sleeps):
    api.get(DETAIL).mock(side_effect=httpx.ConnectTimeout("slow"))
    with make(sleeps, max_attempts=2) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert caught.value.retryable
    assert caught.value.status is None
    assert "timed out" in str(caught.value)


def test_a_malformed_page_is_retried(api, sleeps):
    route = api.get(LIST).mock(
        side_effect=[
            httpx.Response(200, text='{"count": 3, "results": [{"id"'),
            page([{"id": 1}], None),
        ]
    )
    with make(sleeps) as client:
        assert [p.results for p in client.pages(LIST)] == [[{"id": 1}]]
    assert route.call_count == 2


# -- secrets ----------------------------------------------------------------------------------


def test_errors_and_logs_never_contain_the_token_or_password(api, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []

    api.get("/echo/").mock(return_value=httpx.Response(403, json={"detail": f"bad JWT {TOKEN}"}))
    api.get(DETAIL).mock(return_value=httpx.Response(401))
    api.get(LIST).mock(return_value=httpx.Response(503))
    with make(sleeps, max_attempts=2) as client:
        for path in ("/echo/", DETAIL, LIST):
            with pytest.raises(TestpressError) as caught:
                client.get(path)
            errors.append(str(caught.value))

    api.post(LOGIN).mock(return_value=httpx.Response(401, json={"detail": "no"}))
    with make(sleeps, token=None, username="admin", password=PASSWORD) as client:
        with pytest.raises(TestpressError) as caught:
            client.get(DETAIL)
        errors.append(str(caught.value))
        assert repr(client) == f"TestpressClient({BASE!r})"

    assert "login refused for user admin" in errors[-1]
    for text in [*errors, caplog.text]:
        assert TOKEN not in text
        assert PASSWORD not in text


def test_a_429_pauses_every_later_request_not_only_the_one_told(api, sleeps):
    api.get(DETAIL).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "5"}),
            httpx.Response(200, json={"id": 68701}),
        ]
    )
    other = api.get(LIST).mock(return_value=page([], None, 0))
    with make(sleeps) as client:
        client.get(DETAIL)
        client.get(LIST)  # the injected sleep does not pass time: the pause still holds
    assert other.call_count == 1
    assert len(sleeps) == 2 and sleeps[0] >= 5 and sleeps[1] > 4.5


def test_an_untrusted_certificate_is_final_not_retried(api, sleeps):
    import ssl

    def refuse(request: httpx.Request) -> httpx.Response:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed: self-signed")
        except ssl.SSLCertVerificationError as exc:
            raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED]") from exc

    route = api.get(DETAIL).mock(side_effect=refuse)
    with make(sleeps) as client, pytest.raises(TestpressError) as caught:
        client.get(DETAIL)
    assert route.call_count == 1 and sleeps == []
    assert "NOTIFIER_TLS_VERIFY" in str(caught.value) and not caught.value.retryable
