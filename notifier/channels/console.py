"""Console: one line per alert on standard output."""

from __future__ import annotations

import sys
import threading
from typing import ClassVar, Literal, TextIO

from pydantic import BaseModel, ConfigDict

from notifier.channels.base import ConsoleLine, Message, Outcome, SendContext
from notifier.settings import Settings


class ConsoleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["console"]

    def missing_settings(self, settings: Settings) -> list[str]:
        return []


# One lock for every console channel: they share standard output, and lines from two
# sends must never interleave.
_WRITE_LOCK = threading.Lock()


class ConsoleChannel:
    """Writes its rendered line to a stream (standard output unless given), flushed at
    once so a container log shows the alert when it is sent."""

    message_type: ClassVar[type[Message]] = ConsoleLine

    def __init__(self, name: str, stream: TextIO | None = None):
        self.name = name
        self._stream = stream

    def send(self, message: ConsoleLine) -> Outcome:
        line = message.text
        # sys.stdout is looked up per send: it may be replaced (pytest, redirection).
        stream = self._stream if self._stream is not None else sys.stdout
        try:
            with _WRITE_LOCK:
                stream.write(line + "\n")
                stream.flush()
        except (OSError, ValueError) as exc:  # closed pipe or stream
            return Outcome.retry(f"console write failed: {type(exc).__name__}")
        return Outcome.sent()

    def close(self) -> None:
        """The stream belongs to the caller: it is not closed here."""


def build(name: str, config: ConsoleConfig, ctx: SendContext) -> ConsoleChannel:
    """`ctx.extra["console_stream"]` redirects the lines (tests, `notifier demo`)."""
    return ConsoleChannel(name, stream=ctx.extra.get("console_stream"))
