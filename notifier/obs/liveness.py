"""What `/healthz` and `/readyz` answer (contract section 9), kept by the run loop and
read by the HTTP server's threads.

Alive means the loop still turns (a cycle finished within `max(3 * poll interval, 60)`
seconds; the process start counts as the first, so a long first cycle is not a
failure) and the state store answers a read. A failing Testpress is not a liveness
problem: restarting would not help, so it is shown (`sources`) but never makes 503.
Ready means the rules are loaded and the first cycle has finished.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

Probe = Callable[[], str | None]  # None when the store answers, else why not


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    body: Mapping[str, object]  # the JSON the health and readiness endpoints answer


class Liveness:
    """Thread-safe: the loop writes, HTTP handlers read."""

    def __init__(
        self,
        poll_interval: float,
        store_probe: Probe,
        clock: Callable[[], float] = time.time,
    ):
        self.limit = max(3 * poll_interval, 60.0)
        self.store_probe = store_probe
        self.clock = clock
        self._lock = threading.Lock()
        self.started_at = clock()
        self._rules_loaded_at: float | None = None
        self._last_cycle: float | None = None
        self._cycles = 0
        self._sources: dict[str, dict[str, str | bool | None]] = {}

    # -- written by the loop ----------------------------------------------------------------

    def rules_loaded(self) -> None:
        with self._lock:
            self._rules_loaded_at = self.clock()

    def cycle_finished(self) -> None:
        with self._lock:
            self._last_cycle = self.clock()
            self._cycles += 1

    def source_polled(self, name: str, ok: bool, error: str | None) -> None:
        with self._lock:
            entry = self._sources.setdefault(name, {"last_success": None})
            entry["ok"] = ok
            entry["last_error"] = error
            if ok:
                entry["last_success"] = _iso(self.clock())

    # -- read by the server -------------------------------------------------------------------

    def health(self) -> Verdict:
        now = self.clock()
        with self._lock:
            last = self._last_cycle
            sources = {name: dict(entry) for name, entry in self._sources.items()}
            cycles = self._cycles
        age = now - (self.started_at if last is None else last)
        reasons = []
        if age > self.limit:
            reasons.append(f"no cycle finished in the last {age:.0f} s (limit {self.limit:.0f} s)")
        store_error = self.store_probe()
        if store_error is not None:
            reasons.append(f"state store: {store_error}")
        body = {
            "status": "ok" if not reasons else "failing",
            "reasons": reasons,
            "cycles": cycles,
            "last_cycle_at": _iso(last),
            "last_cycle_age_seconds": round(age, 3),
            "store": "ok" if store_error is None else "failing",
            "sources": sources,
        }
        return Verdict(not reasons, body)

    def readiness(self) -> Verdict:
        with self._lock:
            loaded, last = self._rules_loaded_at, self._last_cycle
        reasons = []
        if loaded is None:
            reasons.append("the rules are not loaded yet")
        if last is None:
            reasons.append("the first cycle has not finished yet")
        body = {
            "status": "ready" if not reasons else "not ready",
            "reasons": reasons,
            "rules_loaded_at": _iso(loaded),
            "first_cycle_finished": last is not None,
        }
        return Verdict(not reasons, body)
