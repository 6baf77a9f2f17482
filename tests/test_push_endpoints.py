"""The webhook endpoints over real HTTP: what is answered, what is recorded (nothing
for a refusal), and what is logged (never a traceback, never the private key)."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notifier.obs.logs import register_secrets
from notifier.sandbox.webhooks import sign_content, sign_exam
from notifier.settings import Settings
from notifier.state import SqliteStore
from notifier.web.http import HttpServer, Limits
from notifier.web.push import configure_push
from tests import loopback
from tests.loopback import head_only

PUBLIC = "institute-public-key-7"
PRIVATE = "institute-private-key-do-not-print-42"
EXAM = "/webhooks/testpress/exam"
CONTENT = "/webhooks/testpress/chapter-content"


def exam(**over: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "attempt_id": 501,
        "user_id": 9,
        "exam": {"id": 2, "title": "Chemistry Mock"},
        "correct_answers_count": 12,
        "incorrect_answers_count": 5,
        "unanswered_answers_count": 3,
        "score": "10.75",
        "percentage": "60.00",
        "attempt_state": "completed",
    }
    payload.update(over)
    return sign_exam(payload, PUBLIC, PRIVATE)


def content() -> dict[str, Any]:
    payload = {
        "attempt_id": 77,
        "user_id": 9,
        "chapter_content": {"id": 4, "title": "Acids", "content_type": "Video"},
        "course": {"id": 1, "title": "Chemistry"},
        "state": "Completed",
    }
    return sign_content(payload, PUBLIC, PRIVATE)


@dataclass
class Endpoint:
    server: HttpServer
    store: SqliteStore
    woken: threading.Event

    def post(self, path: str, body: bytes | str | Any) -> tuple[int, dict[str, Any]]:
        if not isinstance(body, bytes | str):
            body = json.dumps(body)
        status, answer = loopback.post(self.server.port, path, body)
        return status, json.loads(answer or b"{}")

    def recorded(self) -> list[tuple[str, dict[str, Any]]]:
        return [(r.kind, json.loads(r.body)) for r in self.store.inbox.inbox_pending(1e12)]


def settings(tmp_path: Path, **keys: str) -> Settings:
    return Settings(_env_file=None, NOTIFIER_DB=str(tmp_path / "n.db"), **keys)  # type: ignore[call-arg]


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    register_secrets([PRIVATE])  # as `notifier run` does (secrets_of)
    config = settings(
        tmp_path, TESTPRESS_WEBHOOK_PUBLIC_KEY=PUBLIC, TESTPRESS_WEBHOOK_PRIVATE_KEY=PRIVATE
    )
    store = SqliteStore(config.db_path)
    woken = threading.Event()
    server = HttpServer("127.0.0.1:0", Limits(request_timeout=1.0))
    writer = configure_push(server, config, store, woken.set)
    assert writer is not None
    server.start()
    try:
        yield Endpoint(server, store, woken)
    finally:
        server.close()
        writer.close()
        store.close()


def test_a_signed_webhook_is_recorded_then_answered_and_wakes_the_loop(
    endpoint: Endpoint,
) -> None:
    assert endpoint.post(EXAM, exam()) == (200, {"ok": True})
    assert endpoint.woken.is_set()
    assert endpoint.post(CONTENT, content())[0] == 200
    kinds = [(kind, body["attempt_id"]) for kind, body in endpoint.recorded()]
    assert kinds == [("exam", 501), ("chapter-content", 77)]


def forged() -> dict[str, Any]:
    return {**exam(), "hash": "0" * 128}


def replayed() -> dict[str, Any]:
    return {**exam(), "score": "20.00", "percentage": "95.00"}


def wrong_key() -> dict[str, Any]:
    return sign_exam({k: v for k, v in exam().items() if k not in ("key", "hash")}, "x", PRIVATE)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        (EXAM, forged(), 401),
        (EXAM, replayed(), 401),
        (EXAM, wrong_key(), 401),
        (CONTENT, exam(), 401),  # an exam payload on the content endpoint
        (EXAM, b'{"attempt_id": 501, "key": ', 400),
        (EXAM, b"\xff\xfe not utf-8", 400),
        (EXAM, [exam()], 400),
        (EXAM, "[" * 100_000 + "]" * 100_000, 400),
        (EXAM, {k: v for k, v in exam().items() if k != "attempt_id"}, 400),
        (EXAM, b"", 400),
    ],
    ids=[
        "forged-hash",
        "replay-changed-score",
        "wrong-public-key",
        "wrong-endpoint",
        "malformed-json",
        "not-utf8",
        "json-array",
        "deeply-nested",
        "no-attempt-id",
        "empty",
    ],
)
def test_refusals_record_nothing_and_log_no_secret_and_no_traceback(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture, path: str, body: Any, status: int
) -> None:
    caplog.set_level(logging.DEBUG)
    got, answer = endpoint.post(path, body)
    assert got == status
    assert "error" in answer
    assert endpoint.recorded() == []
    assert not endpoint.woken.is_set()
    assert all(r.exc_info is None for r in caplog.records)
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert PRIVATE not in text
    assert "refused" in text


def test_a_body_over_1_mib_is_413_unread_and_1_mib_is_accepted(endpoint: Endpoint) -> None:
    assert head_only(endpoint.server.port, EXAM, 1024 * 1024 + 1).startswith(b"HTTP/1.1 413")
    assert endpoint.recorded() == []
    payload = json.dumps({**exam(), "padding": ""})
    exact = payload.replace(
        '"padding": ""', '"padding": "' + "x" * (1024 * 1024 - len(payload)) + '"'
    )
    assert len(exact.encode()) == 1024 * 1024
    assert endpoint.post(EXAM, exact)[0] == 200


def test_a_client_sending_one_byte_a_second_is_cut_off_and_others_are_served(
    endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    body = json.dumps(exam()).encode()
    sock = socket.create_connection(("127.0.0.1", endpoint.server.port), timeout=10)
    try:
        head = f"POST {EXAM} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
        sock.sendall(head.encode())
        started = time.monotonic()
        closed = False
        for byte in body[:8]:
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                closed = True
                break
            if _closed(sock, 1.0):
                closed = True
                break
        assert closed or _closed(sock, 5.0)
        assert time.monotonic() - started < 5.0  # the deadline (1 s here), not the body
    finally:
        sock.close()
    assert endpoint.post(EXAM, exam(attempt_id=502))[0] == 200
    assert [body["attempt_id"] for _, body in endpoint.recorded()] == [502]
    assert all(r.exc_info is None for r in caplog.records if r.levelno >= logging.INFO)


def _closed(sock: socket.socket, wait: float) -> bool:
    """True when the server closed the connection (or answered and closed) within
    `wait` seconds."""
    sock.settimeout(wait)
    try:
        sock.recv(1024)  # b"" (closed), or an answer before closing
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def test_without_both_keys_there_are_no_endpoints(tmp_path: Path) -> None:
    config = settings(tmp_path, TESTPRESS_WEBHOOK_PUBLIC_KEY=PUBLIC)
    assert config.push_problems() == [
        "TESTPRESS_WEBHOOK_PRIVATE_KEY: required with TESTPRESS_WEBHOOK_PUBLIC_KEY"
    ]
    store = SqliteStore(config.db_path)
    server = HttpServer("127.0.0.1:0")
    try:
        assert configure_push(server, config, store, lambda: None) is None
        server.start()
        ep = Endpoint(server, store, threading.Event())
        assert ep.post(EXAM, exam())[0] == 404
        assert ep.recorded() == []
    finally:
        server.close()
        store.close()


def test_every_webhook_of_a_burst_is_recorded_and_answered_200(
    endpoint: Endpoint,
) -> None:
    statuses: list[int] = []
    lock = threading.Lock()

    def send(i: int) -> None:
        status, _ = endpoint.post(EXAM, exam(attempt_id=1000 + i))
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(60)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert statuses == [200] * 60
    ids = sorted(body["attempt_id"] for _, body in endpoint.recorded())
    assert ids == list(range(1000, 1060))


def test_thousands_of_idle_and_slow_connections_never_keep_a_push_out(
    endpoint: Endpoint,
) -> None:
    """2,000 idle sockets and 300 sending a webhook's head slowly, all held open: a
    signed push is still recorded and answered 200 (within the client's timeout)."""
    port = endpoint.server.port
    held = []
    try:
        for i in range(2300):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if i >= 2000:
                sock.sendall(f"POST {EXAM} HTTP/1.1\r\nHost: x\r\nX-Slow: ".encode())
            held.append(sock)
        assert endpoint.post(EXAM, exam(attempt_id=503))[0] == 200
        assert [body["attempt_id"] for _, body in endpoint.recorded()] == [503]
    finally:
        for sock in held:
            sock.close()
