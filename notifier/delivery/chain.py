"""The delivery chain, composed in this one place (after Alertmanager's
`PipelineBuilder`): a unit of due rows becomes a notification, passes the mute, is
rendered for its channel, sent, and its outcome recorded. A new concern is one more
stage in `compose`, not one more branch in the delivery loop.

What raises before the outcome is known is a fault of this message: recorded as such,
and the worker goes on with the rest of its channel's queue; but a store outage there
(the mute stage reads the store) is raised to the pass, never counted against the row.
A failed write of a *sent* outcome (or any write while the store is out) is raised to
the pass instead: the row is never sent again for a failed write (contract "Once").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from notifier.delivery.record import RecordStage
from notifier.delivery.stages import (
    Job,
    Mutes,
    MuteStage,
    NoMutes,
    NotifyStage,
    RenderStage,
    SendStage,
    Stage,
)
from notifier.rules.templates import NO_TEMPLATES, TemplateTable
from notifier.state import is_outage


@dataclass(frozen=True)
class Chain:
    """The stages in order, then the record stage."""

    stages: Sequence[Stage]
    record: RecordStage

    def run(self, job: Job) -> None:
        try:
            for stage in self.stages:
                job = stage(job)
                if job.outcome is not None:  # decided (sent, failed, muted): record it
                    break
        except Exception as exc:
            if job.outcome is None and is_outage(exc):
                raise  # the store is out (the mute stage reads it): not this message's fault
            self.record.fault(job, exc)  # a fault of this message, not the pass's
            return
        try:
            self.record(job)
        except Exception as exc:
            if job.outcome is None or job.outcome.ok or is_outage(exc):
                raise  # never sent again for a failed write (see contract "Once")
            self.record.fault(job, exc)


def compose(
    record: RecordStage,
    *,
    templates: TemplateTable = NO_TEMPLATES,
    mutes: Mutes | None = None,
    console_url: str | None = None,
    slack_buttons: bool = False,
) -> Chain:
    """The one place the delivery stages are put in order (`slack_buttons`: Slack
    alerts carry the action buttons)."""
    return Chain(
        stages=(
            NotifyStage(),
            MuteStage(mutes if mutes is not None else NoMutes()),
            RenderStage(templates, console_url, slack_buttons),
            SendStage(),
        ),
        record=record,
    )


__all__ = ["Chain", "compose"]
