"""Sign-in and sessions (contract section 14).

- A session is a random token in the `notifier_session` cookie (`HttpOnly`,
  `SameSite=Lax`, `Secure` when the console's public address is https); the store keeps
  only its SHA-256, with the user and the session's CSRF token. Signing in always makes
  a new session (a token planted before sign-in is never adopted: no fixation).
- A session ends at sign-out, after IDLE_SECONDS without a request, when its user is
  removed or their password changes (the store ends it in the same transaction).
- Every form that changes something carries the session's CSRF token (`csrf`); the
  sign-in form, before any session exists, carries the one in its own short-lived
  `notifier_login` cookie (a double submit). A request without the right one: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.responses import Response

from notifier.console.context import Ctx
from notifier.console.passwords import verify
from notifier.state.people import Session

SESSION_COOKIE = "notifier_session"
LOGIN_COOKIE = "notifier_login"
IDLE_SECONDS = 8 * 3600.0  # a session unused this long has ended
TOUCH_SECONDS = 60.0  # `seen_at` is written at most this often per session


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current_session(ctx: Ctx) -> Session | None:
    """The request's session, when its cookie names one that has not ended; it is
    marked seen (at most once a minute, so reading pages costs no writes)."""
    token = ctx.cookies.get(SESSION_COOKIE, "")
    if not token or len(token) > 200:
        return None
    now = ctx.console.clock()
    key = token_hash(token)
    session = ctx.store.sessions.get(key, now - IDLE_SECONDS)
    if session is not None and now - session.seen_at > TOUCH_SECONDS:
        ctx.store.sessions.touch(key, now)
    return session


def csrf_ok(ctx: Ctx) -> bool:
    """Whether the form carries the session's CSRF token (or, with no session, the
    sign-in cookie's)."""
    sent = ctx.form.get("csrf", "")
    expected = ctx.session.csrf if ctx.session else ctx.cookies.get(LOGIN_COOKIE, "")
    return bool(sent and expected) and hmac.compare_digest(sent.encode(), expected.encode())


def sign_in(ctx: Ctx, name: str, password: str) -> str | None:
    """A new session's token when `password` is `name`'s; None when it is not."""
    user = ctx.store.users.get(name)
    if not verify(user.password_hash if user else None, password) or user is None:
        return None
    token = secrets.token_urlsafe(32)
    now = ctx.console.clock()
    ctx.store.sessions.prune(now - IDLE_SECONDS)
    ctx.store.sessions.start(token_hash(token), user.name, secrets.token_urlsafe(32), now)
    return token


def sign_out(ctx: Ctx) -> None:
    token = ctx.cookies.get(SESSION_COOKIE, "")
    if token:
        ctx.store.sessions.end(token_hash(token))


def set_cookie(ctx: Ctx, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=ctx.console.secure,
    )


def new_login_token() -> str:
    return secrets.token_urlsafe(32)
