"""Console passwords: Argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended parameter set), never the password itself. Shared by `notifier users` and
the sign-in page, so both hash and check alike."""

from __future__ import annotations

import threading
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 10
MAX_LENGTH = 1024  # a longer "password" is a way to make the server hash megabytes

_HASHER = PasswordHasher()  # Argon2id: 64 MiB and about 0.1 s (a loaded core: more) a check
# Checks at once: each takes 64 MiB, so a flood of sign-ins queues here instead of
# taking the machine's memory (the sign-in throttle slows each name and address too).
_SLOTS = threading.BoundedSemaphore(2)


@cache
def _dummy() -> str:
    """Checked when the user does not exist, so a wrong name costs as long as a wrong
    password (made at first use: `notifier --help` need not hash anything)."""
    return _HASHER.hash("not a password of anyone's")


def password_problem(password: str) -> str | None:
    """Why `password` may not be used; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """Whether `password` is the one `password_hash` was made from (None: no such user,
    checked against a dummy so the answer takes as long)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        with _SLOTS:
            return _HASHER.verify(password_hash or _dummy(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False
