"""Failed sign-ins slowed, per user name and per address: after FREE_FAILURES failures
in a row for a name (FREE_ADDRESS_FAILURES for an address: behind a reverse proxy
every person signs in from its address), each next try must wait twice as long as the
last (1 s, 2 s, 4 s, ... up to MAX_WAIT), whatever it carries, so guessing a password
is slow while a person who mistyped twice never notices. Kept in memory: a restart
forgives, which costs a guesser nothing they could not get by waiting."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

FREE_FAILURES = 3
FREE_ADDRESS_FAILURES = 10
MAX_WAIT = 900.0  # seconds
FORGET_AFTER = 3600.0  # a key without failures for this long starts afresh
MAX_KEYS = 100_000  # past it, the oldest entries are forgotten (memory stays bounded)


@dataclass
class _Failures:
    count: int
    last: float


class SignInThrottle:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, _Failures] = {}

    def wait(self, name: str, address: str) -> float:
        """Seconds until a sign-in as `name` from `address` may be tried; 0: now."""
        now = self.clock()
        with self._lock:
            return max(self._wait(f"user:{name.lower()}", now), self._wait(f"addr:{address}", now))

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"user:{name.lower()}", f"addr:{address}"):
                entry = self._failures.get(key)
                if entry is None or now - entry.last > FORGET_AFTER:
                    entry = self._failures[key] = _Failures(0, now)
                entry.count += 1
                entry.last = now
            if len(self._failures) > MAX_KEYS:
                oldest = sorted(self._failures, key=lambda k: self._failures[k].last)
                for key in oldest[: len(oldest) // 2]:
                    del self._failures[key]

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{name.lower()}", None)
            self._failures.pop(f"addr:{address}", None)

    def _wait(self, key: str, now: float) -> float:
        entry = self._failures.get(key)
        free = FREE_ADDRESS_FAILURES if key.startswith("addr:") else FREE_FAILURES
        if entry is None or entry.count < free or now - entry.last > FORGET_AFTER:
            return 0.0
        delay = min(MAX_WAIT, 2.0 ** (entry.count - free))
        return max(0.0, entry.last + delay - now)
