"""What every channel shares: the notification a delivery is about, the rendered
message a channel is given (one type per format), the outcome it returns with the
receiver's id for the message, and how an HTTP status becomes an Outcome (the rule
itself is in `notifier.httpstatus`).

Channels never render: `notifier.delivery` turns a Notification into the message type a
channel declares (`message_type`), and the channel sends exactly that.

A send never sleeps and never raises for an expected failure: it says whether trying
again makes sense (and, if the far end said so, when), and the delivery loop stores the
next try time in the outbox row.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import (
    TYPE_CHECKING,
    ClassVar,
    Never,
    Protocol,
    TextIO,
    TypeAlias,
    TypedDict,
    TypeVar,
)

from notifier.events import FieldValue, JSONValue, Reason
from notifier.httpstatus import is_retryable_status, parse_retry_after
from notifier.settings import Settings

if TYPE_CHECKING:  # the pacer's module imports this one
    from notifier.channels.slack import SlackPacer

__all__ = [
    "Alert",
    "Block",
    "ChannelExtras",
    "Channel",
    "ConsoleLine",
    "MailMessage",
    "Message",
    "MessageRef",
    "Notification",
    "Outcome",
    "Reason",
    "SendContext",
    "SlackMessage",
    "WebhookMessage",
    "classify_status",
]


@dataclass(frozen=True)
class Alert:
    """One matched event inside a notification."""

    event: str  # the event kind, e.g. "attempt.completed"
    key: str
    data: dict[str, FieldValue]
    reasons: tuple[Reason, ...] = ()


@dataclass(frozen=True)
class Notification:
    """What a channel is asked to send: one outbox row. `id` is the delivery id, stable
    across retries (webhooks send it as `id` and `webhook-id`)."""

    id: str
    rule: str
    channel: str
    alerts: tuple[Alert, ...]
    attempt: int = 1  # 1 for the first try
    # The outbox group its alerts went out in (`group:[133]`, `digest:<time>`, see
    # notifier.rules.policy), so a renderer can say what a grouped message holds.
    group: str | None = None


# --- rendered messages: what a channel sends, one type per format ---------------------

# One Slack Block Kit block, as JSON (what we build, and what Slack gives back).
Block: TypeAlias = dict[str, JSONValue]


@dataclass(frozen=True)
class Message:
    """A rendered message. `id` is the delivery id (stable across retries): the email's
    Message-ID and the webhook's `webhook-id` are made from it."""

    id: str


@dataclass(frozen=True)
class SlackMessage(Message):
    text: str  # the notification (fallback) text, escaped for Slack
    blocks: list[Block]


@dataclass(frozen=True)
class MailMessage(Message):
    subject: str
    text: str
    html: str


@dataclass(frozen=True)
class WebhookMessage(Message):
    """The contract's JSON body but for `sent_at`, which the channel stamps as it sends
    (the last key of the body)."""

    body: dict[str, JSONValue]


@dataclass(frozen=True)
class ConsoleLine(Message):
    text: str  # one line per alert, joined by newlines


# --- what a send gives back ------------------------------------------------------------


@dataclass(frozen=True)
class MessageRef:
    """Where the receiver keeps a sent message, so a later action can update it: Slack's
    channel id and `ts`, the email's Message-ID, a webhook's id."""

    kind: str  # "slack", "email" or "webhook"
    id: str  # Slack's ts, the Message-ID header, the webhook's id
    channel: str | None = None  # Slack's channel id

    def to_json(self) -> str:
        data = {"kind": self.kind, "id": self.id}
        if self.channel is not None:
            data["channel"] = self.channel
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> MessageRef:
        data = json.loads(text)
        return cls(str(data["kind"]), str(data["id"]), data.get("channel"))


@dataclass(frozen=True)
class Outcome:
    """A channel's answer. `ref` (when the receiver gave the message an id) is not part
    of what an outcome *is*: two sent outcomes are equal whatever their refs. Nor is
    `answer`, what the receiver said in short ("200", "429 Retry-After 30",
    "ratelimited"; empty when it said nothing, a timeout), kept with each try for the
    console's alert page."""

    ok: bool
    retryable: bool = False
    reason: str = ""
    retry_after: float | None = None  # seconds, when the far end said how long to wait
    ref: MessageRef | None = field(default=None, compare=False)
    answer: str = field(default="", compare=False)

    @classmethod
    def sent(cls, ref: MessageRef | None = None, answer: str = "") -> Outcome:
        return cls(ok=True, ref=ref, answer=answer)

    @classmethod
    def retry(cls, reason: str, retry_after: float | None = None, answer: str = "") -> Outcome:
        return cls(ok=False, retryable=True, reason=reason, retry_after=retry_after, answer=answer)

    @classmethod
    def final(cls, reason: str, answer: str = "") -> Outcome:
        return cls(ok=False, retryable=False, reason=reason, answer=answer)


def classify_status(status: int, headers: Mapping[str, str] | None = None) -> Outcome:
    """2xx is done; 408, 429 and 5xx are worth retrying (honouring Retry-After); every
    other status is final."""
    if 200 <= status < 300:
        return Outcome.sent(answer=str(status))
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    answer = str(status) if retry_after is None else f"{status} Retry-After {retry_after:g}"
    if is_retryable_status(status):
        return Outcome.retry(f"HTTP {status}", retry_after, answer)
    return Outcome.final(f"HTTP {status}", answer)


M = TypeVar("M", bound=Message, contravariant=True)


class Channel(Protocol[M]):
    """A configured destination. Implementations are thread-safe: the delivery loop calls
    `send` from up to NOTIFIER_DELIVERY_CONCURRENCY threads at once. `message_type` says
    which rendered message it takes; it sends that message as given."""

    name: str
    message_type: ClassVar[type[Message]]

    def send(self, message: M) -> Outcome: ...

    def close(self) -> None: ...


# A channel of whichever message type, as a table of several holds it: each takes the
# messages of its own `message_type` (what the render stage makes for it).
SomeChannel: TypeAlias = Channel[Never]


class ChannelExtras(TypedDict, total=False):
    """What a caller may hand every channel it builds (tests, `notifier demo`)."""

    console_stream: TextIO  # where console lines go (default standard output)
    send_timeout: float  # seconds a send may take (each channel has its default)
    slack_pacer: SlackPacer  # shared by the Slack channels (default the process-wide one)


@dataclass
class SendContext:
    """Process-wide things a channel may need when it is built."""

    settings: Settings
    extra: ChannelExtras = field(default_factory=lambda: ChannelExtras())


def lazy_module(name: str) -> ModuleType:
    """The module `name`, loaded at its first attribute access (the stdlib's
    `importlib.util.LazyLoader`): `notifier check` validates channels from their
    settings models alone, and never pays for httpx or slack_sdk (about a quarter of its
    start-up). A sender touches its module in its constructor, on the thread that builds
    the channels, before any delivery worker runs: Python 3.11's lazy module is not
    safe to load from two threads at once."""
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


def load_now(*modules: ModuleType) -> None:
    """Load lazy modules (`lazy_module`) now, on this thread: a sender's constructor
    calls it, so delivery workers never race to load one."""
    for module in modules:
        _ = module.__name__  # any attribute access loads a lazy module
