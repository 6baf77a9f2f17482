"""A minute's pushed webhooks in one INFO line, instead of one line a batch.

Under push, a busy institute sends a webhook a second or more and the run loop takes
them in small batches: a line a batch buries everything else in the log. Each batch is
logged at DEBUG (notifier.runtime.intake) and added up here; the sum is logged at INFO once a
minute of pushes has gone by, when the loop next looks (`tick`), and what is left at a
clean stop (`flush`), e.g.
"push: 412 webhooks in the last minute: 380 new completions (95 deliveries queued),
20 started, 12 already seen". Nothing is logged for a quiet minute.

The clock is injected (monotonic by default) so a test moves time instead of waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

EVERY = 60.0  # seconds of pushes summed in one line


@dataclass
class PushTally:
    """What some pushed webhooks came to. `webhooks` is every row processed; the
    others say what became of them (a row may be none of them: a source no rule uses,
    a state that is not final)."""

    webhooks: int = 0
    new: int = 0  # completions not seen before, confirmed by the API: the rules saw them
    queued: int = 0  # deliveries those queued
    started: int = 0  # exam attempts pushed as started (the poll watches them)
    seen: int = 0  # completions the poll or an earlier push already had
    refuted: int = 0  # completions the API did not bear out (left to the poll)
    retrying: int = 0  # completions whose detail could not be read yet

    def add(self, other: PushTally) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def describe(self) -> str:
        """The parts that are not zero, in words."""
        queued = f"{self.queued} {'delivery' if self.queued == 1 else 'deliveries'} queued"
        parts = [f"{self.new} new completions ({queued})"]
        told = self.new + self.started + self.seen + self.refuted + self.retrying
        for count, words in (
            (self.started, "started"),
            (self.seen, "already seen"),
            (self.refuted, "not borne out by the API"),
            (self.retrying, "to read again"),
            # A source no rule uses, a state that is not final, a repeat of an attempt
            # in the same batch: done with, nothing to do.
            (max(0, self.webhooks - told), "with nothing to do"),
        ):
            if count:
                parts.append(f"{count} {words}")
        return ", ".join(parts)


class PushSummary:
    """Sums PushTally batches and logs them once per `every` seconds of pushes."""

    def __init__(
        self,
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
        every: float = EVERY,
    ):
        self._log = logger
        self._clock = clock
        self._every = every
        self._tally = PushTally()
        self._since: float | None = None  # when the window's first batch came

    def add(self, batch: PushTally) -> None:
        if self._since is None:
            self._since = self._clock()
        self._tally.add(batch)
        self.tick()

    def tick(self) -> str | None:
        """Log the sum once the window is `every` seconds old; returns the line."""
        if self._since is None or self._clock() - self._since < self._every:
            return None
        return self.flush()

    def flush(self) -> str | None:
        """Log what the window holds now (at a clean stop, say); None when empty."""
        if self._since is None:
            return None
        elapsed = self._clock() - self._since
        tally, self._tally, self._since = self._tally, PushTally(), None
        if not tally.webhooks:
            return None
        line = f"push: {tally.webhooks} webhooks in the last {_span(elapsed)}: {tally.describe()}"
        self._log.info(line, extra={"push": vars(tally)})
        return line


def _span(seconds: float) -> str:
    """'minute' for about a minute (the usual case), else the seconds or minutes."""
    if 30 <= seconds < 90:
        return "minute"
    if seconds < 120:
        return f"{max(1, round(seconds))} s"
    return f"{round(seconds / 60)} minutes"
