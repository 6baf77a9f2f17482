"""YAML syntax errors in plain words, at the line to look at.

PyYAML says what its parser expected ("expected ',' or '}', but got ':'", "mapping values
are not allowed here"), at the place it gave up. An admin needs what they did wrong and
where: the `{` that was never closed (often lines earlier), the line indented out of
step, the `: ` inside an unquoted title, the tab, the Jinja `{{ ... }}` read as a
mapping. Anything not recognised keeps PyYAML's own words.
"""

from __future__ import annotations

import re

import yaml

_TEMPLATE_VALUE = re.compile(r"^\s*(-\s+)?[\w-]+:\s+\{\{")
_BRACKETS = {"}": ("{", "mapping"), "]": ("[", "list")}


def plain_words(exc: yaml.MarkedYAMLError, text: str) -> tuple[int, int, str]:
    """(line, column, message) for a syntax error, counting from 1."""
    problem, context = exc.problem or "", exc.context or ""
    mark, start = exc.problem_mark, exc.context_mark
    at = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    opened = (start.line + 1, start.column + 1) if start else at
    lines = text.splitlines()
    line_text = lines[at[0] - 1] if 0 < at[0] <= len(lines) else ""
    if _TEMPLATE_VALUE.search(line_text):
        return (
            at[0],
            line_text.index("{{") + 1,
            "a value that starts with '{' is read as a YAML mapping: put a template in "
            'quotes, e.g. message: "{{ student }} failed"',
        )
    closing = re.match(r"expected ',' or '([}\]])'", problem)
    if closing:
        bracket, what = _BRACKETS[closing.group(1)]
        return (
            *opened,
            f"the '{bracket}' here is never closed: end the {what} with "
            f"'{closing.group(1)}' (or put a ',' between its items); YAML gave up at "
            f"line {at[0]}",
        )
    if problem.startswith("found character '\\t'"):
        return (*at, "a tab character: YAML indents with spaces only")
    if problem == "mapping values are not allowed here":
        return (
            *at,
            "a ':' where none can be: a value with ': ' in it needs quotes "
            '(e.g. title: "Failed: exam"), or this line is indented deeper than '
            "the key above it",
        )
    if problem.startswith(("expected <block end>", "did not find expected")):
        return (
            *at,
            "this line is indented out of step with the lines above it: the keys of one "
            "mapping, and the '-' of one list, start in the same column "
            f"(the block starts at line {opened[0]})",
        )
    if problem.startswith("found undefined alias"):
        name = problem.rsplit(" ", 1)[-1].strip("'")
        return (
            *at,
            f"'*{name}' refers to no anchor: define '&{name}' before it, or quote the "
            "text if '*' is meant as it is",
        )
    if "quoted scalar" in context:
        return (*opened, "the quote that opens here is never closed")
    if problem == "could not find expected ':'":
        return (
            *opened,
            "this line is neither 'key: value' nor a list item: it needs a ':' after its "
            "key (or quotes, for a text over several lines)",
        )
    what = problem or "invalid YAML"
    return (*at, f"{what} ({context})" if context else what)
