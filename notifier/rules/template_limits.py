"""What a rule template may cost to render: bounded in size and in time.

A template is the admin's code, run on every alert and at every `notifier check` and
reload. Jinja's sandbox keeps it from reaching Python's internals and caps `range()` at
100 000 items, but not the rest: `{% for i in range(99999) %}{% for j in range(99999)
%}` runs for hours, `"a" * 10**10` asks for 10 GB, `"%999999999d" | format(1)` and
`"x".rjust(10**9)` a gigabyte each. Two bounds, because neither suffices alone:

- **Size, structurally.** One operation may not build a string or list over
  `MAX_SIZE` characters or items: `*` (repetition), `+` and `~` (concatenation, so
  doubling in a loop stops early), `**` (huge numbers), `%` (padding widths), the
  `center`, `indent`, `format`, `replace` and `join` filters, and any method of a
  string or list called from the template (a count over `MAX_SIZE`, as in `rjust`,
  `zfill`, `expandtabs`; a product of sizes over it, as in `replace` and `join`).
  These are single C-level operations that no clock could interrupt, so they are
  refused before they start (the estimates err on the generous side: a real message
  is far below them).
- **Time, by a deadline.** Every render runs under `deadline(RENDER_SECONDS)`: a trace
  function, installed for the rendering thread only, checks the clock at each line of
  the compiled template and each call it makes, and raises `TemplateTooSlow` past it,
  at the template's line. `notifier check` (and a reload) renders each template once on
  a sample event, so a template that loops for ever is refused there with its rule and
  line instead of stalling load; a live render that runs over falls back to the default
  wording like any template that fails.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import TypeAlias

from jinja2 import Undefined
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace
from jinja2.nodes import Concat, EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

MAX_SIZE = 100_000
RENDER_SECONDS = 1.0
TEMPLATE_FILE = "<template>"  # the file name Jinja gives code compiled from a string

# What `sys.settrace` calls: the frame, the event, its argument; returns the next tracer.
Tracer: TypeAlias = "Callable[[FrameType, str, object], Tracer | None]"
_WIDTH = re.compile(r"%[-#0 +]*(\d*|\*)(?:\.(\d+|\*))?")


class TemplateTooCostly(Exception):
    """A template asked for more than a render may cost (the message says what)."""


class TemplateTooSlow(TemplateTooCostly):
    """A render ran past its deadline."""


def _size(value: object) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_repeat(left: object, right: object) -> None:
    for seq, count in ((left, right), (right, left)):
        size = _size(seq)
        if size is not None and isinstance(count, int) and size * max(count, 0) > MAX_SIZE:
            raise TemplateTooCostly(f"a value of more than {MAX_SIZE} characters or items")


def _check_sum(*values: object) -> None:
    if sum(_size(v) or 0 for v in values) > MAX_SIZE:
        raise TemplateTooCostly(f"a value of more than {MAX_SIZE} characters or items")


def _check_product(base: object, args: tuple[object, ...], kwargs: Mapping[str, object]) -> None:
    """A generous estimate of what a method or filter of `base` can build from strings
    or lists among its arguments (`s.replace("", long)`, `sep.join(items)`)."""
    grows = sum(_size(v) or 0 for v in (*args, *kwargs.values()))
    if grows and (_size(base) or 0) * (1 + grows) > 10 * MAX_SIZE:
        raise TemplateTooCostly(f"a value of more than {MAX_SIZE} characters or items")


def _check_power(left: object, right: object) -> None:
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if abs(left) > 1 and right > 0 and left.bit_length() * right > 4 * MAX_SIZE:
        raise TemplateTooCostly("a number too large to compute")


def _check_widths(fmt: object) -> None:
    if isinstance(fmt, str):
        for width, precision in _WIDTH.findall(fmt):
            for digits in (width, precision):
                if digits.isdigit() and int(digits) > MAX_SIZE:
                    raise TemplateTooCostly(f"a width of more than {MAX_SIZE} characters")


def _check_counts(args: tuple[object, ...], kwargs: Mapping[str, object]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
            raise TemplateTooCostly(f"a count of more than {MAX_SIZE}")


class BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, with no single operation building more than MAX_SIZE."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(
        self,
        *,
        undefined: type[Undefined] = Undefined,
        autoescape: bool = False,
        finalize: Callable[[object], object] | None = None,
        trim_blocks: bool = False,
        lstrip_blocks: bool = False,
    ) -> None:
        super().__init__(
            undefined=undefined,
            autoescape=autoescape,
            finalize=finalize,
            trim_blocks=trim_blocks,
            lstrip_blocks=lstrip_blocks,
        )
        self.code_generator_class = _BoundedCodeGenerator
        self.filters.update(
            {
                "center": _bounded_center,
                "indent": _bounded_indent,
                "format": _bounded_format,
                "replace": _bounded_replace,
                "join": _bounded_join,
            }
        )

    def bounded_concat(self, values: tuple[object, ...]) -> str:
        """`a ~ b ~ ...`, refused past MAX_SIZE (the code generator calls it)."""
        parts = [str(v) for v in values]
        _check_sum(*parts)
        return "".join(parts)

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        if operator == "*":
            _check_repeat(left, right)
        elif operator == "+":
            _check_sum(left, right)
        elif operator == "**":
            _check_power(left, right)
        elif operator == "%":
            _check_widths(left)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: object, *args: object, **kwargs: object) -> object:  # noqa: N805
        # A method of a string or a list (`"x".rjust(10**9)`) gets no count over MAX_SIZE.
        base = getattr(__obj, "__self__", None)
        if isinstance(base, str | bytes | list | tuple):
            _check_counts(args, kwargs)
            _check_product(base, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `~` to `environment.bounded_concat`, so concatenation is bounded too
    (Jinja's sandbox cannot intercept it). Templates here never autoescape, so the
    plain join is the right one."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.bounded_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


def _bounded_center(value: str, width: int = 80) -> str:
    _check_counts((width,), {})
    return do_center(value, width)


def _bounded_indent(value: str, width: int | str = 4, *args: bool, **kwargs: bool) -> str:
    if isinstance(width, str):
        _check_repeat(width, 1)
    else:
        _check_counts((width,), {})
    return do_indent(value, width, *args, **kwargs)


def _bounded_format(value: str, *args: object, **kwargs: object) -> str:
    _check_widths(value)
    return do_format(value, *args, **kwargs)


def _bounded_replace(
    eval_ctx: EvalContext, value: str, old: str, new: str, count: int | None = None
) -> str:
    _check_product(str(value), (str(new),), {})
    return do_replace(eval_ctx, value, old, new, count)


def _bounded_join(
    eval_ctx: EvalContext, value: Iterable[object], d: str = "", attribute: str | int | None = None
) -> str:
    items: str | list[object] = list(value) if not isinstance(value, str) else value
    _check_product(items, (d,), {})
    joined: str = do_join(eval_ctx, items, d, attribute)
    return joined


_bounded_replace.jinja_pass_arg = do_replace.jinja_pass_arg  # type: ignore[attr-defined]
_bounded_join.jinja_pass_arg = do_join.jinja_pass_arg  # type: ignore[attr-defined]


@contextmanager
def deadline(seconds: float = RENDER_SECONDS) -> Iterator[None]:
    """Raise TemplateTooSlow in this thread's template code once `seconds` have passed.
    The thread's previous trace function (a debugger, coverage) is put back after."""
    end = time.monotonic() + seconds

    def on_line(frame: FrameType, event: str, arg: object) -> Tracer | None:
        if time.monotonic() > end:
            raise TemplateTooSlow(f"it takes more than {seconds:g} s to render")
        return on_line

    def on_call(frame: FrameType, event: str, arg: object) -> Tracer | None:
        if time.monotonic() > end:  # a filter or global looping in Python (`lipsum`)
            raise TemplateTooSlow(f"it takes more than {seconds:g} s to render")
        return on_line if frame.f_code.co_filename == TEMPLATE_FILE else None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)


__all__ = [
    "MAX_SIZE",
    "RENDER_SECONDS",
    "BoundedEnvironment",
    "TemplateTooCostly",
    "TemplateTooSlow",
    "deadline",
]
