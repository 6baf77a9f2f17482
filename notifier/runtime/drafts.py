"""The console's draft service (`notifier.drafts.service`) built with what only the
composition root may reach: the source table and a Testpress client, for previewing a
draft that the store's history cannot answer, as `notifier preview` reads the period."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from notifier.channels import CHANNEL_TYPES, ChannelType
from notifier.drafts.period import Preview, read_period
from notifier.drafts.service import Audit, DraftService, DraftStore
from notifier.rules.schema import RuleSet
from notifier.runtime.sources import make_sources, sources_for
from notifier.runtime.wiring import make_client
from notifier.settings import Settings


def testpress_period(settings: Settings) -> Callable[[RuleSet, float, int], Preview] | None:
    """How a draft's period is read from Testpress; None without Testpress settings."""
    if not settings.testpress_base_url:
        return None

    def read(ruleset: RuleSet, days: float, samples: int) -> Preview:
        client = make_client(settings)  # a client of its own: a page's thread, not the loop's
        try:
            return read_period(
                ruleset,
                client,
                make_sources(),
                sources_for(ruleset.kinds_used()),
                days=days,
                samples=samples,
                timezone=settings.timezone,
            )
        finally:
            client.close()

    return read


def draft_service(
    settings: Settings,
    store: DraftStore,
    *,
    table: Mapping[str, ChannelType] = CHANNEL_TYPES,
    audit: Audit | None = None,
) -> DraftService:
    return DraftService(
        settings, store, table=table, testpress=testpress_period(settings), audit=audit
    )
