"""What the Slack click handler asks of the actions service, as Protocols of exactly
the methods and fields it uses (the seams in helpers' actions-interface: the service,
`notifier.actions.service.Actions`, satisfies them by its shape). Kept apart so the
handler is tested against the real service and also against nothing but these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, Protocol

Source = Literal["slack", "console", "cli"]


class FollowUpView(Protocol):
    @property
    def by(self) -> str: ...
    @property
    def by_name(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def first(self) -> bool: ...


class MuteView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def student(self) -> str | None: ...
    @property
    def rule(self) -> str | None: ...
    @property
    def channel(self) -> str | None: ...
    @property
    def until(self) -> datetime: ...
    @property
    def by(self) -> str: ...
    @property
    def ended_at(self) -> datetime | None: ...


class DeliveryView(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def students(self) -> tuple[str, ...]: ...
    @property
    def student_names(self) -> tuple[str, ...]: ...
    @property
    def message_ref(self) -> str | None: ...
    @property
    def followed_up(self) -> FollowUpView | None: ...


class ActionsApi(Protocol):
    """The actions service's methods a click calls. `delivery` raises a LookupError
    (UnknownDelivery) for an id it does not know; `unmute` one (UnknownMute) for a
    mute it does not know."""

    def delivery(self, delivery_id: str) -> DeliveryView: ...

    def follow_up(
        self, delivery_id: str, *, by: str, by_name: str, source: Source
    ) -> FollowUpView: ...

    def mute_delivery(
        self,
        delivery_id: str,
        *,
        what: Literal["student", "rule"],
        duration: timedelta,
        by: str,
        reason: str,
        source: Source,
    ) -> Sequence[MuteView]: ...

    def unmute(self, mute_id: str, *, by: str, source: Source) -> MuteView: ...

    def mutes(self, *, include_ended_days: int = 7) -> Sequence[MuteView]: ...


__all__ = ["ActionsApi", "DeliveryView", "FollowUpView", "MuteView", "Source"]
