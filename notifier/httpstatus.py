"""HTTP status classification and `Retry-After` parsing, in one neutral place.

Both sides of the pipeline speak HTTP: the Testpress client (reading) and the channels
(sending). They must agree on what is worth retrying (after Alertmanager's
`Retrier.Check`: 2xx is done; 408, 429 and 5xx retry; every other status is final) and
on how long a far end asked us to wait, so the rule lives here and imports nothing.
"""

from __future__ import annotations

import email.utils
import time

RETRYABLE_STATUSES = frozenset({408, 429})


def is_retryable_status(status: int) -> bool:
    """408, 429 and every 5xx are worth trying again; any other non-2xx is final."""
    return status in RETRYABLE_STATUSES or 500 <= status < 600


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
