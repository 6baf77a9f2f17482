"""Readable alerts: exam titles and student names looked up once and kept in the store.

A failed look-up never delays or drops an alert: the field stays null and messages fall
back to ids; the look-up is tried again the next time it is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from notifier.events import FieldValue, JSONValue, best_label
from notifier.state import SourceState
from notifier.testpress.client import TestpressClient, TestpressError

log = logging.getLogger(__name__)

PATHS = {"user": "/api/v2.5/admin/users/{}/", "exam": "/api/v2.5/admin/exams/{}/"}
SCOPE = "lookups"


class Lookups:
    """Users and exams by id. Read and written in the store from the calling thread
    only; the HTTP look-ups run on a small pool."""

    def __init__(self, store: SourceState, client: TestpressClient, concurrency: int = 8):
        self.store = store
        self.client = client
        self.concurrency = concurrency
        self.cache: dict[str, dict[str, JSONValue]] = {}
        self.requests = 0

    def load(self, wanted: dict[str, Iterable[FieldValue]]) -> None:
        """Make sure every (kind, id) wanted is in the cache, from the store or the API."""
        missing: list[tuple[str, str]] = []
        for kind, ids in wanted.items():
            for id_ in {str(i) for i in ids if i is not None}:
                key = f"{kind}:{id_}"
                if key in self.cache:
                    continue
                stored = self.store.get_state(SCOPE, key)
                if stored is not None:
                    self.cache[key] = stored
                else:
                    missing.append((kind, id_))
        if not missing:
            return
        with ThreadPoolExecutor(min(self.concurrency, len(missing))) as pool:
            found = list(pool.map(self._fetch, missing))
        new = {f"{k}:{i}": v for (k, i), v in zip(missing, found, strict=True) if v is not None}
        self.cache.update(new)
        if new:
            self.store.put_state(SCOPE, new)

    def _fetch(self, item: tuple[str, str]) -> dict[str, JSONValue] | None:
        kind, id_ = item
        try:
            raw = self.client.get(PATHS[kind].format(id_))
        except TestpressError as exc:
            log.warning("could not look up %s %s: %s", kind, id_, exc)
            return None
        if not isinstance(raw, dict):
            return None
        if kind == "exam":
            return {"title": raw.get("title")}
        return {
            "display_name": raw.get("display_name"),
            "name": " ".join(
                p for p in (raw.get("first_name"), raw.get("last_name")) if isinstance(p, str) and p
            ),
            "username": raw.get("username"),
            "email": raw.get("email"),
        }

    def exam_title(self, exam_id: FieldValue) -> str | None:
        title = self.cache.get(f"exam:{exam_id}", {}).get("title")
        return title if isinstance(title, str) and title.strip() else None

    def student(self, user_id: FieldValue, *fallbacks: FieldValue) -> str | None:
        user = self.cache.get(f"user:{user_id}", {})
        return best_label(
            user.get("display_name"),
            user.get("name"),
            *fallbacks,
            user.get("username"),
            user.get("email"),
            user_id=user_id,
        )
