"""Rule message templates: a rule's `title` and `message`, in Jinja2.

Why it is built this way:
- **Checked at load, never broken live.** A template is compiled when the rules file is
  loaded (so `notifier check` and a hot reload see syntax errors and unknown filters),
  every name it reads must be a field of the rule's event (or one of EXTRA_NAMES), and
  it is rendered once against a sample event with every field present, which catches
  a misspelt attribute of a list item. A template that still fails on a live event (a
  field that is null where arithmetic wanted a number) falls back to the default
  wording; the alert always goes out.
- **Sandboxed and bounded.** A sandbox keeps a template from reaching Python
  internals; `StrictUndefined` makes an unknown name an error instead of empty text;
  `template_limits` bounds what one render may build and how long it may run, so the
  sample render at load refuses a template that would stall (with its line).
- **A template is text; each channel escapes its output as a whole.** Every `{{ ... }}`
  passes through `finalize`: made one line (so a title cannot break an email header),
  numbers tidied, null shown as `n/a`. There is one render, as plain text, and the
  email's HTML part is that text escaped whole (`render(..., html=True)`), as Slack's is
  (by `notifier.delivery.render`); JSON needs no escaping. Escaping values one by one
  inside an autoescaping render was not enough: a filter applied to rendered markup
  undoes it (`{% filter striptags %}{{ student }}{% endfilter %}` turns the escaped
  `&lt;a href=...&gt;` back into a live link, because `Markup.striptags` unescapes),
  while nothing a template or filter does can un-escape text escaped after it is done.
"""

from __future__ import annotations

import difflib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from markupsafe import escape

from notifier.events import EVENT_KINDS, FieldSpec, FieldValue
from notifier.rules.template_limits import BoundedEnvironment, TemplateTooSlow, deadline
from notifier.text import duration_text, is_number, number_text, one_line

log = logging.getLogger(__name__)

# Names a template may use besides the event's fields.
EXTRA_NAMES: dict[str, str] = {
    "rule": "the rule's name",
    "event": "the event kind, e.g. attempt.completed",
    "key": "the event's key, e.g. the attempt id",
    "why": "the conditions that fired, with their values, e.g. 'percentile 12.5 (rule: < 30)'",
    "count": "how many alerts the message carries (1 unless they are grouped)",
    "history": "history rules: the earlier events that made it fire, newest first, each "
    "with kind, key, time, title and the event's fields (null when not kept)",
}
MISSING = "n/a"  # how a null or missing field reads
DEFAULT_TIME_FORMAT = "%d %b %Y, %H:%M %Z"
TEMPLATE_KEYS = ("title", "message")


# --- filters --------------------------------------------------------------------------


def f_minutes(value: object, digits: int = 1) -> object:
    """`{{ duration | minutes }}`: seconds as minutes, rounded (`312` -> `5.2`)."""
    return round(value / 60, digits) if is_number(value) else value


def f_duration(value: object) -> object:
    """`{{ time_taken | duration }}`: seconds in words (`45 s`, `5.2 min`, `2 h 48 min`)."""
    return duration_text(value) if is_number(value) else value


def f_number(value: object, digits: int = 2) -> object:
    """`{{ score | number(1) }}`: rounded, with no trailing `.0`."""
    return number_text(value, digits) if is_number(value) else value


def f_pct(value: object, digits: int = 1) -> object:
    """`{{ percentage | pct }}`: `45.5%`."""
    return f"{number_text(value, digits)}%" if is_number(value) else value


def f_localtime(value: object, zone: str = "UTC", fmt: str = DEFAULT_TIME_FORMAT) -> object:
    """`{{ date | localtime("Asia/Kolkata") }}`: an event time in a time zone,
    `25 Nov 2026, 15:30 IST` (strftime `fmt` to change it). An unknown zone is an error
    (reported at load); a value that is not a time is shown as it is."""
    tz = ZoneInfo(zone)
    when = value
    if isinstance(value, str):
        try:
            when = datetime.fromisoformat(value.strip())
        except ValueError:
            return value
    if not isinstance(when, datetime):
        return value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(tz).strftime(fmt)


def _plain(value: object) -> str:
    """`|safe`, `|e` and `|escape` do nothing: escaping is the renderer's job."""
    return str.__str__(value) if isinstance(value, str) else str(value)


FILTERS: dict[str, Callable[..., object]] = {
    "minutes": f_minutes,
    "duration": f_duration,
    "number": f_number,
    "pct": f_pct,
    "localtime": f_localtime,
    "safe": _plain,
    "e": _plain,
    "escape": _plain,
    "forceescape": _plain,
}


def show(value: object) -> str:
    """How one `{{ value }}` reads in any channel, before that channel's escaping."""
    if value is None:
        return MISSING
    if isinstance(value, str):
        return one_line(str.__str__(value)) if value != "" else MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return number_text(value)
    if isinstance(value, list | tuple):
        return one_line(", ".join(show(v) for v in value))
    return one_line(value)


def _environment() -> BoundedEnvironment:
    env = BoundedEnvironment(
        undefined=StrictUndefined,
        autoescape=False,  # a template renders text; channels escape it as a whole
        finalize=show,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    return env


PLAIN_ENV = _environment()


# --- compiled templates ---------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    """What is wrong with a template; `line` counts lines of the template, from 1."""

    message: str
    line: int = 1


@dataclass(frozen=True, eq=False)
class CompiledTemplate:
    source: str
    plain: Template


@dataclass(frozen=True, eq=False)
class RuleTemplates:
    """A rule's `title` and `message` (None: the default wording), and the top-level
    event fields they read (so sources fetch those fields for this rule)."""

    event: str
    title: CompiledTemplate | None = None
    message: CompiledTemplate | None = None
    fields: frozenset[str] = frozenset()


def compile_template(
    source: str, event: str, what: str
) -> tuple[CompiledTemplate | None, frozenset[str], list[TemplateProblem]]:
    """Compile and check one template (`what` is "'title'" or "'message'") for `event`.
    Returns (the template or None, the event fields it reads, problems)."""
    catalogue = EVENT_KINDS[event]
    try:
        plain = PLAIN_ENV.from_string(source)
        tree = PLAIN_ENV.parse(source)
    except TemplateSyntaxError as exc:
        return None, frozenset(), [_syntax_problem(exc, what)]
    names = meta.find_undeclared_variables(tree) - set(PLAIN_ENV.globals)
    problems = []
    for name in sorted(names - set(catalogue) - set(EXTRA_NAMES)):
        close = difflib.get_close_matches(name, [*catalogue, *EXTRA_NAMES], n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problems.append(
            TemplateProblem(
                f"unknown field '{name}' in the {what} template for {event}{hint}",
                _line_of(tree, name),
            )
        )
    if not problems:
        sample = context_for(event, sample_data(catalogue), sample_extras(event))
        try:
            with deadline():
                plain.render(sample)
        except TemplateTooSlow as exc:
            problems.append(TemplateProblem(f"the {what} template is too slow: {exc}", _tb_line()))
        except Exception as exc:  # noqa: BLE001 - any failure is the admin's to fix
            problems.append(TemplateProblem(f"the {what} template fails: {exc}", _tb_line()))
    if problems:
        return None, frozenset(), problems
    return CompiledTemplate(source, plain), frozenset(names & set(catalogue)), []


def _syntax_problem(exc: TemplateSyntaxError, what: str) -> TemplateProblem:
    message = str(exc.message or "invalid syntax")
    if message.startswith("No filter named "):
        name = message.removeprefix("No filter named ").strip("'.")
        known = sorted(PLAIN_ENV.filters)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        message = f"unknown filter '{name}'" + (f"; did you mean '{close[0]}'?" if close else "")
    return TemplateProblem(f"invalid {what} template: {message}", exc.lineno or 1)


def _line_of(tree: nodes.Template, name: str) -> int:
    for node in tree.find_all(nodes.Name):
        if node.name == name and node.ctx == "load":
            return int(node.lineno)
    return 1


def _tb_line() -> int:
    """The template line of the exception being handled (Jinja rewrites tracebacks so
    template frames carry template line numbers)."""
    tb = sys.exc_info()[2]
    line = 1
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


# --- what a template sees -------------------------------------------------------------


def context_for(
    event: str, data: Mapping[str, object], extras: Mapping[str, object]
) -> dict[str, object]:
    """Every field of the event kind (null when the event lacks it, so a template never
    fails on a field this event did not carry), list items likewise, then the extras."""
    catalogue = EVENT_KINDS.get(event, {})
    ctx: dict[str, object] = {name: None for name in catalogue}
    for name, value in data.items():
        spec = catalogue.get(name)
        if spec is not None and spec.items is not None and isinstance(value, list):
            blank = dict.fromkeys(spec.items)
            ctx[name] = [{**blank, **item} if isinstance(item, dict) else item for item in value]
        else:
            ctx[name] = value
    ctx.update(extras)
    return ctx


class _Anything:
    """A sample for `object` and `any` fields: every attribute and item exists."""

    def __getattr__(self, name: str) -> _Anything:
        if name.startswith("_"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: object) -> _Anything:
        return self

    def __iter__(self) -> Iterator[_Anything]:
        return iter(())

    def __str__(self) -> str:
        return "value"


def _sample(spec: FieldSpec) -> object:
    if spec.items is not None:
        return [sample_data(spec.items)]
    return {
        "number": 3,
        "string": "text",
        "time": "2026-11-25T10:00:00+00:00",
        "bool": True,
        "list": ["A"],
    }.get(spec.type, _Anything())


def sample_data(catalogue: Mapping[str, FieldSpec]) -> dict[str, object]:
    """An event with every field present, of its type."""
    return {name: _sample(spec) for name, spec in catalogue.items()}


def sample_extras(event: str) -> dict[str, object]:
    catalogue = EVENT_KINDS.get(event, {})
    earlier = {
        **sample_data({n: s for n, s in catalogue.items() if s.items is None}),
        "kind": event,
        "key": "0",
        "time": "2026-11-25T10:00:00+00:00",
        "title": "Title",
    }
    return {
        "rule": "rule-name",
        "event": event,
        "key": "1",
        "why": "result Fail",
        "count": 1,
        "history": [earlier],
    }


def history_extra(event: str, data: Mapping[str, FieldValue]) -> list[dict[str, object]]:
    """The alert's `history` for a template: each earlier event with every scalar field
    of its kind (null when it was not kept), so a template never fails on one."""
    catalogue = EVENT_KINDS.get(event, {})
    blank = {n: None for n, s in catalogue.items() if s.items is None}
    earlier = data.get("history")
    items = earlier if isinstance(earlier, list) else []
    return [{**blank, **item} for item in items if isinstance(item, dict)]


def render(template: CompiledTemplate, context: Mapping[str, object], *, html: bool = False) -> str:
    """The template's text, with `html` escaped whole for an HTML part (so no filter
    can have turned a value into markup). Raises whatever the template raises (and
    TemplateTooSlow past the deadline); callers fall back to the default wording."""
    with deadline():
        text = template.plain.render(context)
    return str(escape(text)) if html else text


def try_render(
    template: CompiledTemplate | None, context: Mapping[str, object], rule: str, html: bool = False
) -> str | None:
    """The rendered text, or None when there is no template or it failed on this event
    (logged without the event's values: they may be personal data)."""
    if template is None:
        return None
    try:
        return render(template, context, html=html)
    except Exception as exc:  # noqa: BLE001 - a live alert always goes out
        log.warning(
            "rule %s: its template failed on an event (%s); the default wording is used",
            rule,
            type(exc).__name__,
        )
        return None


# --- the templates of one rule set ---------------------------------------------------


class Templated(Protocol):
    """A rule as far as the table needs it (`notifier.rules.schema.Rule`, which imports
    this module, so it is named by its shape)."""

    @property
    def name(self) -> str: ...

    @property
    def templates(self) -> RuleTemplates | None: ...


@dataclass(frozen=True)
class TemplateTable:
    """The templates of one rule set, by rule name. Built from the rules when they are
    (re)loaded and handed to what renders; never a module global, so two rule sets in
    one process (two Apps, two institutes) each render with their own."""

    by_rule: Mapping[str, RuleTemplates] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: Iterable[Templated]) -> TemplateTable:
        return cls({rule.name: rule.templates for rule in rules if rule.templates is not None})

    def get(self, rule: str) -> RuleTemplates | None:
        return self.by_rule.get(rule)


NO_TEMPLATES = TemplateTable()


__all__ = [
    "EXTRA_NAMES",
    "FILTERS",
    "NO_TEMPLATES",
    "CompiledTemplate",
    "RuleTemplates",
    "TemplateProblem",
    "TemplateTable",
    "compile_template",
    "context_for",
    "render",
    "show",
    "try_render",
]
