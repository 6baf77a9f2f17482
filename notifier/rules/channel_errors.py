"""A channel's config model errors mapped back to positions in the rules file (the
first of the loader's two layers: each channel's model checks its own fields)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, SecretStr, ValidationError

from notifier.events import JSONValue
from notifier.rules.hints import did_you_mean
from notifier.rules.schema import CHANNEL_COMMON_KEYS
from notifier.rules.yamlpos import Sink, YMap, YNode, YSeq


def config_problems(
    sink: Sink,
    name: str,
    type_: str,
    key: YNode,
    pairs: list[tuple[str, YNode, YNode]],
    model: type[BaseModel],
    raw: Mapping[str, JSONValue],
    exc: ValidationError,
) -> None:
    """Map the channel model's errors back to positions in the file. Never echo an
    input: a channel's values may hold a secret."""
    keys = {n: (k, v) for n, k, v in pairs}
    allowed = set(model.model_fields) | CHANNEL_COMMON_KEYS
    for err in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in err["loc"]]
        first = loc[0] if loc else None
        where = f"channel '{name}' ({type_})"
        if err["type"] == "extra_forbidden" and first in keys:
            hint = did_you_mean(first, allowed - {"type"})
            sink.add(keys[first][0], f"unknown key '{first}' in {where}{hint}")
            continue
        if err["type"] == "missing" and first:
            sink.add(key, f"{where} needs '{first}'")
            continue
        message = str(err["msg"]).removeprefix("Value error, ")
        if first in model.model_fields and _is_secret(model, first):
            value = raw.get(first)
            if isinstance(value, str) and value and value in message:
                message = "is not valid"
        target = _locate(keys[first][1], loc[1:]) if first in keys else key
        sink.add(target, f"{where}: {'.'.join(loc)}: {message}" if loc else f"{where}: {message}")


def _is_secret(model: type[BaseModel], name: str) -> bool:
    annotation = model.model_fields[name].annotation
    return "SecretStr" in repr(annotation) or annotation is SecretStr


def _locate(node: YNode, loc: list[str]) -> YNode:
    """The node a pydantic error location points at, as deep as the file goes."""
    for part in loc:
        if isinstance(node, YMap) and node.get(part) is not None:
            node = node.get(part)  # type: ignore[assignment]
        elif isinstance(node, YSeq) and part.isdigit() and int(part) < len(node.items):
            node = node.items[int(part)]
        else:
            break
    return node
