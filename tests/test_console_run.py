"""`notifier run` as a process serves the console on NOTIFIER_CONSOLE_ADDR, a listener
apart from NOTIFIER_HTTP_ADDR (the console's pages are not on the service port, nor
the service's endpoints on the console's); a user added with `notifier users` signs in
and sees the alert the run sent, linked from the alert itself (NOTIFIER_CONSOLE_URL)."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from notifier.sandbox.standins import free_port
from tests.console_kit import PASSWORD, sign_in
from tests.e2e import Harness, open_harness
from tests.waiting import wait_until


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=12) as harness:
        yield harness


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_run_serves_the_console_on_its_own_listener(h: Harness) -> None:
    http_port, console_port = free_port(), free_port()
    console = f"http://127.0.0.1:{console_port}"
    h.extra_env = {
        "NOTIFIER_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "NOTIFIER_CONSOLE_ADDR": f"127.0.0.1:{console_port}",
        "NOTIFIER_CONSOLE_URL": console,
        "NOTIFIER_POLL_INTERVAL": "0.3",
    }
    added = subprocess.run(
        [sys.executable, "-m", "notifier", "users", "add", "ann", "--role", "viewer"],
        cwd=h.tmp,
        env=h.env(),
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    proc = h.start()
    try:
        wait_until(
            lambda: proc.poll() is not None or _answers(console + "/login"),
            message="the console to answer",
        )
        assert proc.poll() is None, proc.communicate()[1]
        assert httpx.get(f"{console}/readyz").status_code == 404  # not the service's port
        assert httpx.get(f"http://127.0.0.1:{http_port}/login").status_code == 404
        inst = h.sandbox.institute
        exam = inst.add_exam(title="Physics Mock")
        asha = inst.add_user(name="Asha Verma", email="asha@school.example")
        inst.complete_attempt(inst.start_attempt(exam, asha), result="Fail")
        wait_until(lambda: h.webhook.received, message="the alert")
        link = h.webhook.received[0].json["console_url"]
        assert link.startswith(f"{console}/alerts/msg_")
        with httpx.Client(base_url=console, timeout=10) as client:
            assert sign_in(client, "ann").status_code == 303
            page = client.get(link.removeprefix(console))
            assert page.status_code == 200 and "Asha Verma" in page.text
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert f"the console is on {console}" in err
    assert PASSWORD not in err
