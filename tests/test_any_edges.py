"""Issue 18 part 6: `Any` only where JSON (or a row) from outside first enters, and made
a typed model there. Each module that may still say `Any` is named below with the edge
it stands at and how many times it may say it (a ratchet: a count may only shrink, and
a module leaves the table once it says it no more); every other module of the
package (the sandbox, a stand-in Testpress, aside) says it nowhere."""

from __future__ import annotations

import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "notifier"

ANY_EDGES = {
    # Slack's interaction payloads (outside JSON): a message's blocks as Slack sent them,
    # drawn again and sent back
    "notifier/actions/slack_payload.py": 3,  # parse_click: the payload -> Click
    "notifier/actions/slack_redraw.py": 3,
    # a push or webhook body (outside JSON), made a model by its handler
    "notifier/web/messages.py": 2,
    # uvicorn's and logging's own signatures, passed through as they are
    "notifier/web/wire.py": 5,
    # the database's edge: a row as the driver gives it, and JSON columns as stored
    "notifier/state/rows.py": 4,  # Row; named/first, before a `*_of` or TypedDict
    "notifier/state/base.py": 2,  # get_state: the state JSON column
    "notifier/state/sqlite_sources.py": 2,  # get_state
    "notifier/state/postgres_sources.py": 2,  # get_state
}


def _any_mentions(path: Path) -> list[int]:
    """The lines where `path`'s code (not its strings or comments) names `Any`."""
    with path.open("rb") as f:
        return [
            token.start[0]
            for token in tokenize.tokenize(f.readline)
            if token.type == tokenize.NAME and token.string == "Any"
        ]


def test_any_only_at_the_json_edges() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(PACKAGE.parent).as_posix()
        if where.startswith("notifier/sandbox/"):
            continue
        lines = _any_mentions(path)
        allowed = ANY_EDGES.get(where, 0)
        if len(lines) > allowed:
            at = ", ".join(f"{where}:{n}" for n in lines)
            problems.append(
                f"{where} names Any {len(lines)} times ({at}), {allowed} allowed: type it, "
                "or, where JSON from outside first enters, say which edge in ANY_EDGES"
            )
    assert not problems, "\n".join(problems)


def test_the_table_of_edges_keeps_up() -> None:
    """A module that says `Any` less than its allowance (or is gone) lowers it."""
    stale = []
    for where, allowed in ANY_EDGES.items():
        path = PACKAGE.parent / where
        found = len(_any_mentions(path)) if path.exists() else 0
        if found < allowed:
            stale.append(f"{where}: allowed {allowed}, names Any {found} times: lower it")
    assert not stale, "\n".join(stale)
