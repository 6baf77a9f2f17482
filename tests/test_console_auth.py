"""The console's sign-in and guards over real HTTP, on both store backends: sessions in
the store (revocable, idle expiry, never adopted from the client), cookie flags, CSRF
refusals that change nothing, roles, failed sign-ins slowed, the security headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from notifier.console.auth import IDLE_SECONDS, LOGIN_COOKIE, SESSION_COOKIE
from notifier.console.passwords import hash_password
from notifier.console.throttle import FREE_ADDRESS_FAILURES
from notifier.state import Store
from tests.console_kit import (
    PASSWORD,
    ConsoleRig,
    console,
    csrf_of,
    post_form,
    sign_in,
    signed_in,
)


@pytest.fixture
def rig(store: Store, tmp_path: Path) -> Iterator[ConsoleRig]:
    with console(store, tmp_path) as running:
        yield running


def test_a_page_without_a_session_redirects_to_the_sign_in_page(rig: ConsoleRig) -> None:
    with rig.client() as client:
        for path in ("/", "/alerts", "/students", "/mutes", "/rules", "/audit", "/users"):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/login?next="), path
        assert client.get("/login").status_code == 200


def test_signing_in_sets_a_session_cookie_that_scripts_cannot_read(rig: ConsoleRig) -> None:
    rig.add_user("ann", "viewer")
    with rig.client() as client:
        answer = sign_in(client, "ann")
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # the console's address is not https here
        assert client.get("/").status_code == 200


def test_the_cookie_is_secure_when_the_console_url_is_https(store: Store, tmp_path: Path) -> None:
    with console(store, tmp_path, url="https://notifier.school.example") as rig:
        rig.add_user("ann", "viewer")
        with rig.client() as client:
            form = client.get("/login")
            login = form.headers["set-cookie"]
            assert login.startswith(LOGIN_COOKIE) and "Secure" in login
            # A browser sends a Secure cookie over https only: this test's http sends it by hand.
            answer = client.post(
                "/login",
                data={"csrf": csrf_of(form.text), "name": "ann", "password": PASSWORD},
                headers={"cookie": login.split(";")[0]},
            )
            cookies = answer.headers.get_list("set-cookie")
            assert any(c.startswith(SESSION_COOKIE) and "Secure" in c for c in cookies)


def test_the_store_keeps_no_session_token_and_pages_show_no_password_hash(
    rig: ConsoleRig,
) -> None:
    client = signed_in(rig, "root", "admin")
    token = client.cookies[SESSION_COOKIE]
    assert rig.store.sessions.get(token, 0) is None  # kept under its hash only
    for path in ("/", "/alerts", "/students?q=r", "/rules", "/audit", "/users"):
        page = client.get(path).text
        assert "$argon2" not in page and PASSWORD not in page, path
        assert token not in page, path


def test_a_session_planted_before_sign_in_is_never_adopted(rig: ConsoleRig) -> None:
    rig.add_user("ann", "viewer")
    with rig.client() as client:
        client.cookies.set(SESSION_COOKIE, "planted-by-an-attacker", domain="127.0.0.1")
        answer = sign_in(client, "ann")
        assert answer.status_code == 303
        issued = answer.cookies[SESSION_COOKIE]
        assert issued != "planted-by-an-attacker"
        assert client.cookies.get(SESSION_COOKIE, domain="127.0.0.1") == issued
    with rig.client() as other:
        other.cookies.set(SESSION_COOKIE, "planted-by-an-attacker")
        assert other.get("/").status_code == 303


def test_signing_out_ends_the_session_in_the_store(rig: ConsoleRig) -> None:
    client = signed_in(rig, "ann", "viewer")
    token = client.cookies[SESSION_COOKIE]
    answer = post_form(client, "/logout", {})
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    with rig.client() as replay:  # the old cookie, kept by someone, is worth nothing
        replay.cookies.set(SESSION_COOKIE, token)
        assert replay.get("/").status_code == 303


def test_removing_a_user_or_changing_the_password_ends_their_sessions(rig: ConsoleRig) -> None:
    bob = signed_in(rig, "bob", "editor")
    rig.store.users.set_password("bob", hash_password("another password!"), rig.clock())
    assert bob.get("/").status_code == 303
    carl = signed_in(rig, "carl", "viewer")
    assert rig.store.users.remove("carl")
    assert carl.get("/").status_code == 303


def test_an_idle_session_ends(rig: ConsoleRig) -> None:
    client = signed_in(rig, "ann", "viewer")
    rig.clock.advance(IDLE_SECONDS - 120)
    assert client.get("/").status_code == 200  # in use: kept alive
    rig.clock.advance(IDLE_SECONDS - 120)
    assert client.get("/").status_code == 200
    rig.clock.advance(IDLE_SECONDS + 1)
    assert client.get("/").status_code == 303


def test_wrong_passwords_are_slowed_per_user_and_per_address(rig: ConsoleRig) -> None:
    rig.add_user("ann", "viewer")
    with rig.client() as client:
        for _ in range(3):
            assert sign_in(client, "ann", "wrong password").status_code == 401
        refused = sign_in(client, "ann")  # the right password, too soon
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "try again in" in refused.text
        assert SESSION_COOKIE not in client.cookies
        rig.clock.advance(1.5)
        assert sign_in(client, "ann", "wrong again!").status_code == 401
        rig.clock.advance(1.5)  # the wait has doubled: 2 s now
        assert sign_in(client, "ann").status_code == 429
        rig.clock.advance(1.0)
        assert sign_in(client, "ann").status_code == 303
    rig.add_user("bea", "viewer")
    with rig.client() as client:  # guessing across names from one address is slowed too
        for number in range(FREE_ADDRESS_FAILURES):  # a name each: a guesser's spray
            assert sign_in(client, f"x{number}", "guess guess").status_code == 401
        assert sign_in(client, "bea").status_code == 429


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(rig: ConsoleRig) -> None:
    admin = signed_in(rig, "root", "admin")
    form = {"action": "add", "name": "mallory", "role": "admin", "password": "p" * 12}
    assert admin.post("/users", data=form).status_code == 403
    assert admin.post("/users", data={**form, "csrf": "forged"}).status_code == 403
    assert rig.store.users.get("mallory") is None
    assert admin.post("/logout", data={}).status_code == 403
    assert admin.get("/").status_code == 200  # still signed in
    rig.add_user("ann", "viewer")
    with rig.client() as client:  # the sign-in form too
        client.get("/login")
        answer = client.post("/login", data={"name": "ann", "password": PASSWORD})
        assert answer.status_code == 403 and SESSION_COOKIE not in client.cookies


def test_roles_viewers_read_editors_act_admins_manage_users(rig: ConsoleRig) -> None:
    viewer = signed_in(rig, "vera", "viewer")
    editor = signed_in(rig, "ed", "editor")
    assert viewer.get("/alerts").status_code == 200
    assert viewer.get("/users").status_code == 403
    assert editor.get("/users").status_code == 403
    token = csrf_of(viewer.get("/alerts").text)
    mute = {"csrf": token, "rule": "failed-exam", "for": "1d", "reason": "noise"}
    assert viewer.post("/mutes", data=mute).status_code == 403
    add = {"csrf": csrf_of(editor.get("/").text), "action": "add", "name": "x", "role": "admin"}
    assert editor.post("/users", data={**add, "password": "p" * 12}).status_code == 403
    assert rig.store.users.get("x") is None


def test_every_page_carries_a_strict_content_security_policy(rig: ConsoleRig) -> None:
    client = signed_in(rig, "root", "admin")
    for path in ("/login", "/", "/alerts", "/users", "/static/console.css", "/nowhere"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert "unsafe-inline" not in policy and "style-src 'self'" in policy
        assert headers["x-frame-options"] == "DENY" and headers["cache-control"] == "no-store"
    page = client.get("/").text
    assert "<script" not in page and "style=" not in page


def test_a_console_address_that_cannot_be_bound_names_its_setting(
    store: Store, tmp_path: Path
) -> None:
    import socket
    from contextlib import ExitStack

    from notifier.actions.service import Actions
    from notifier.runtime.compose import console_server
    from notifier.settings import ConfigError, Settings

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(_env_file=None, NOTIFIER_CONSOLE_ADDR=f"127.0.0.1:{port}")  # type: ignore[call-arg]
        with ExitStack() as stack, pytest.raises(ConfigError) as raised:
            console_server(
                settings,
                store,
                rules=lambda: None,  # type: ignore[arg-type,return-value]
                actions=Actions(store),
                clock=lambda: 0.0,
                stack=stack,
            )
        assert raised.value.lines[0].startswith(
            f"NOTIFIER_CONSOLE_ADDR: cannot listen on 127.0.0.1:{port}"
        )


def test_the_console_settings_are_checked() -> None:
    from notifier.settings import Settings

    with pytest.raises(ValueError, match="NOTIFIER_CONSOLE_ADDR|console_addr"):
        Settings(_env_file=None, NOTIFIER_CONSOLE_ADDR="localhost")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="http:// or https://"):
        Settings(_env_file=None, NOTIFIER_CONSOLE_URL="notifier.school.example")  # type: ignore[call-arg]
    url = Settings(_env_file=None, NOTIFIER_CONSOLE_URL=" https://n.example/ ")  # type: ignore[call-arg]
    assert url.console_url == "https://n.example"


def test_a_form_sent_in_chunks_is_refused_before_it_is_read(rig: ConsoleRig) -> None:
    """Before: a POST with `Transfer-Encoding: chunked` (no Content-Length) passed the
    size check as length 0 and its whole body was read into memory, so anyone who
    could reach the console, signed in or not, could make the process hold as much as
    they sent. Now it is refused (411) and nothing is read."""

    def chunks() -> Iterator[bytes]:
        yield b"csrf=x&name=ann&password="
        for _ in range(20):
            yield b"a" * 16 * 1024  # well past MAX_FORM in all

    with rig.client() as client:
        answer = client.post(
            "/login",
            content=chunks(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 411, answer.status_code
