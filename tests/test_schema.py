"""`notifier schema`: the editor schema of the rules file is generated from the loader's
own tables, the shipped `rules.schema.json` is that output, and the example rules file
points editors at it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notifier.channels import CHANNEL_TYPES
from notifier.cli import main
from notifier.events import EVENT_KINDS
from notifier.rules.schema import RULE_KEYS, TOP_LEVEL_KEYS

REPO = Path(__file__).resolve().parent.parent


def printed(capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["schema"]) == 0
    return capsys.readouterr().out


def test_shipped_schema_is_what_notifier_schema_prints(capsys: pytest.CaptureFixture[str]) -> None:
    shipped = (REPO / "rules.schema.json").read_text(encoding="utf-8")
    assert printed(capsys) == shipped, "run `notifier schema > rules.schema.json`"


def test_example_rules_file_points_editors_at_the_schema() -> None:
    first = (REPO / "rules.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=rules.schema.json"


def test_schema_knows_every_key_event_field_and_channel_type(
    capsys: pytest.CaptureFixture[str],
) -> None:
    schema = json.loads(printed(capsys))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == set(TOP_LEVEL_KEYS)
    rule = schema["properties"]["rules"]["items"]
    assert set(rule["properties"]) == set(RULE_KEYS)
    assert rule["required"] == [k for k, required in RULE_KEYS.items() if required]
    assert rule["additionalProperties"] is False
    assert rule["properties"]["event"]["enum"] == list(EVENT_KINDS)
    channel_types = [
        c["properties"]["type"]["const"]
        for c in schema["properties"]["channels"]["additionalProperties"]["oneOf"]
    ]
    assert channel_types == list(CHANNEL_TYPES)
    for kind, catalogue in EVENT_KINDS.items():
        when = schema["$defs"][f"when_{kind}"]["anyOf"][0]
        assert set(when["properties"]) == {*catalogue, "any", "all", "not"}
        assert when["additionalProperties"] is False


def test_operators_fit_the_field_type(capsys: pytest.CaptureFixture[str]) -> None:
    when = json.loads(printed(capsys))["$defs"]["when_attempt.completed"]["anyOf"][0]

    def ops(field: str) -> set[str]:
        return set(when["properties"][field]["anyOf"][1]["properties"])

    assert {"lt", "gte", "in", "exists"} <= ops("percentile")
    assert "matches" not in ops("percentile") and "some" not in ops("percentile")
    assert {"matches", "contains"} <= ops("email") and "lt" not in ops("email")
    assert {"some", "every", "count"} <= ops("answers")
    assert set(
        json.loads(printed(capsys))["$defs"]["when_attempt.completed.answers"]["anyOf"][0][
            "properties"
        ]
    ) >= {"duration", "question_text"}
