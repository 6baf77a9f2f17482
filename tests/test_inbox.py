"""The state store's inbox (Protocol `Inbox`, SQLite): what the push endpoints write
before answering and the run loop reads."""

from __future__ import annotations

from pathlib import Path

from notifier.state import SqliteStore


def test_rows_are_committed_on_return_and_move_pending_retry_done_pruned(tmp_path: Path) -> None:
    writer = SqliteStore(tmp_path / "n.db")
    reader = SqliteStore(tmp_path / "n.db")  # another connection, as the loop's is
    try:
        ids = writer.inbox.inbox_add(
            [("exam", '{"attempt_id": 1}'), ("chapter-content", "{}")], 100.0
        )
        assert [r.id for r in reader.inbox.inbox_pending(100.0)] == ids  # committed, in order
        first, second = ids

        reader.inbox.inbox_retry([first], now=101.0, next_at=130.0, error="detail: 503")
        assert [r.id for r in reader.inbox.inbox_pending(129.0)] == [second]  # waits its turn
        (again,) = [r for r in reader.inbox.inbox_pending(130.0) if r.id == first]
        assert again.tries == 1

        reader.inbox.inbox_done([first, second], 131.0)
        assert reader.inbox.inbox_pending(1e9) == []
        assert reader.inbox.inbox_prune(done_before=131.0) == 0  # kept until older
        assert reader.inbox.inbox_prune(done_before=132.0) == 2
        assert writer.inbox.inbox_add([], 140.0) == []
    finally:
        writer.close()
        reader.close()
