"""Loading and validating the rules file: every bad example in tests/data/rules/ gives
exactly the `PATH:LINE:COL: message` lines an admin would read, and good files load."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from notifier.rules import yamlpos
from notifier.rules.conditions import FieldOps
from notifier.runtime.config import Problem, RulesError, load_rules
from notifier.settings import Settings

REPO = Path(__file__).resolve().parent.parent
DATA = "tests/data/rules"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# Each bad file's problems, without the leading "tests/data/rules/<file>:".
BAD: dict[str, list[str]] = {
    "bad_history.yaml": [
        "6:37: unknown key 'per_user' in repeat",
        "10:21: 'times' needs a whole number of at least 2, got 1",
        "14:37: 'repeat' takes 'within' or 'in_a_row', not both",
        "18:13: 'repeat' needs 'within' (a duration like 30d) or 'in_a_row: true'",
        "22:43: 'change' takes 'drop' or 'rise', not both",
        "26:21: 'change' needs a number field; 'result' is a string field",
        "30:49: unknown field 'student_id' for attempt.completed; did you mean 'student'?",
        "30:69: unknown field 'exam' for attempt.completed; did you mean 'exam_id'?",
        (
            "34:5: 'repeat' does not apply to student.inactive: it is about a student's "
            "history already (use 'when: {days_inactive: {gte: 7}}')"
        ),
        (
            "38:5: 'change' does not apply to student.inactive: it is about a student's "
            "history already (use 'when: {days_inactive: {gte: 7}}')"
        ),
        "43:5: 'change' cannot be combined with 'repeat'",
        (
            "48:13: 'repeat' counts earlier events by their kept fields, and history keeps "
            "no list fields: 'answers' cannot be used in this rule's 'when'"
        ),
        "52:21: 'times' needs a whole number of at least 2, got a string",
        "52:38: 'in_a_row' needs true (or give 'within' instead), got false",
        "56:39: 'drop' needs a number above zero, got -5",
        "56:48: 'per' needs a list of field names, e.g. [exam_id]",
        "60:32: 'within' can be at most 400d (history is kept 400 days)",
    ],
    "bad_policies.yaml": [
        "4:18: 'quiet_hours' needs 'to'",
        "4:34: unknown key 'till' in quiet_hours",
        "8:16: unknown field 'exam_idd' for attempt.completed; did you mean 'exam_id'?",
        "9:17: 'group_wait': 'soon' is not a duration like 30s, 5m, 2h or 1d",
        "13:18: 'at': '25:00' is not a time of day like \"18:00\"",
        "13:37: 'timezone': 'Mars/Olympus' is not a time zone like \"Asia/Kolkata\"",
        "14:5: 'throttle' cannot be combined with 'digest'",
        "18:5: 'group_interval' needs 'group_by'",
        "19:13: 'urgent' needs true or false, got a string",
        "20:38: 'quiet_hours' needs 'to' to differ from 'from'",
    ],
    "bad_values.yaml": [
        "8:15: 'fail' is not a value of 'result'; did you mean 'Fail'?",
        "14:31: 'not taken' is not a value of 'result'; did you mean 'Not taken'?",
        (
            "14:49: 'Absent' is not a value of 'result'; use one of 'Pass', 'Fail', 'NA', "
            "'Not taken'"
        ),
        "20:21: 'Video' is not a value of 'content_type'; did you mean 'video'?",
        (
            "21:31: 'Started' is not a value of 'state'; use one of 'Completed', 'Evaluation "
            "Completed'"
        ),
        "22:15: 'Passed' is not a value of 'result'; did you mean 'Pass'?",
        "28:16: 'source_down' is not a value of 'problem'; did you mean 'source_failing'?",
    ],
    "bad_operators.yaml": [
        (
            "8:15: unknown operator 'below' for 'score'; use one of eq, ne, lt, lte, gt, "
            "gte, in, not_in, exists"
        ),
        "9:20: unknown operator '>=' for 'percentage'; did you mean 'gte'?",
        (
            "10:28: 'exam_id' is a field, not an operator: it belongs one level out, beside "
            "'percentile'"
        ),
        ("11:15: 'any' is a combinator, not an operator: it belongs one level out, beside 'email'"),
    ],
    "misplaced_keys.yaml": [
        (
            "7:5: 'result' is a field of attempt.completed, not a key of the rule: it "
            "belongs one level in, under 'when'"
        ),
        (
            "9:7: 'notify' is a key of the rule, not a field: it belongs one level out, "
            "beside 'when'"
        ),
        (
            "10:7: 'lt' is an operator, not a field of attempt.completed: it belongs one "
            "level in, under the field it tests (e.g. 'score: {lt: ...}')"
        ),
        (
            "11:7: 'subject_name' is a field of subject_stats items, not of "
            "attempt.completed: it belongs one level in, e.g. "
            "'subject_stats: {some: {subject_name: ...}}'"
        ),
        (
            "13:16: 'exam_id' is a field of attempt.completed, not of subject_stats items: "
            "it belongs one level out, beside 'subject_stats'"
        ),
        (
            "19:7: unknown field 'minutes' for conference.attendance; its fields are "
            "conference_id, conference_title, name, email, student, join_time, leave_time, "
            "duration, sessions"
        ),
    ],
    "bad_enabled.yaml": [
        "7:14: 'enabled' needs true or false, got a string",
    ],
    "yaml_tab.yaml": [
        "3:1: invalid YAML: a tab character: YAML indents with spaces only",
    ],
    "yaml_indent.yaml": [
        (
            "7:4: invalid YAML: this line is indented out of step with the lines above it: "
            "the keys of one mapping, and the '-' of one list, start in the same column "
            "(the block starts at line 5)"
        ),
    ],
    "yaml_colon.yaml": [
        (
            "7:18: invalid YAML: a ':' where none can be: a value with ': ' in it needs "
            'quotes (e.g. title: "Failed: exam"), or this line is indented deeper than '
            "the key above it"
        ),
    ],
    "yaml_quote.yaml": [
        "5:11: invalid YAML: the quote that opens here is never closed",
    ],
    "yaml_list.yaml": [
        (
            "7:13: invalid YAML: the '[' here is never closed: end the list with ']' (or put "
            "a ',' between its items); YAML gave up at line 8"
        ),
    ],
    "yaml_alias.yaml": [
        (
            "7:13: invalid YAML: '*chans' refers to no anchor: define '&chans' before it, or "
            "quote the text if '*' is meant as it is"
        ),
    ],
    "yaml_template.yaml": [
        (
            "6:14: invalid YAML: a value that starts with '{' is read as a YAML mapping: put "
            'a template in quotes, e.g. message: "{{ student }} failed"'
        ),
    ],
    "bad_channel_values.yaml": [
        "2:3: channel 'teachers' (slack): give exactly one of 'channel' or 'webhook_url'",
        "6:9: channel 'office' (email): to: 'office' is not an email address",
        "9:10: channel 'lms' (webhook): url: must be an http(s) URL",
        (
            "10:13: channel 'lms' (webhook): secret: must be a Standard Webhooks secret: "
            "whsec_ and base64"
        ),
        "11:11: channel 'broken' needs a mapping with 'type', got a string",
    ],
    "bad_conferences.yaml": [
        "5:21: a conference id must be a positive integer, got -3",
        "5:25: a conference id must be a positive integer, got a string",
        "5:31: a conference id must be a positive integer, got 0",
    ],
    "bad_list_items.yaml": [
        "9:39: unknown field 'scor' for subject_stats items; did you mean 'score'?",
        "11:25: 'matches' needs a string or time field; 'score' is a number field",
        "12:41: 'review' needs true or false, got a string",
        "12:54: 'gte' in 'count' needs a number, got a string",
    ],
    "bad_notify.yaml": [
        "7:13: 'notify' needs at least one channel name",
        "10:13: 'notify' needs a list of channel names, e.g. [teachers], got a string",
        "11:5: a rule needs 'name'",
        "11:5: a rule needs 'notify'",
    ],
    "bad_regex.yaml": [
        (
            "8:24: invalid regular expression for 'email': missing ), unterminated subpattern"
            " at position 0"
        ),
    ],
    "bad_rule_name.yaml": [
        "5:11: bad rule name 'failed exam!': use only letters, digits, '-' and '_'",
    ],
    "bad_time.yaml": [
        "8:23: 'gt' on 'join_time' needs a time with an offset, e.g. 2026-11-25T10:00:00+05:30",
        "9:24: 'lt' on 'leave_time' needs a time with an offset, e.g. 2026-11-25T10:00:00+05:30",
    ],
    "duplicate_channel.yaml": [
        "7:3: duplicate channel name 'terminal'",
    ],
    "duplicate_keys.yaml": [
        "9:7: duplicate key 'result' in 'when'",
        "11:5: duplicate key 'notify' in rule",
    ],
    "duplicate_rule.yaml": [
        "8:11: duplicate rule name 'failed-exam'",
    ],
    "empty.yaml": [
        "1:1: the rules file is empty; it needs 'channels' and 'rules'",
    ],
    "missing_setting.yaml": [
        "2:3: channel 'teachers' (slack) needs SLACK_BOT_TOKEN, which is not set",
        "5:3: channel 'office' (email) needs SMTP_HOST and SMTP_FROM, which are not set",
    ],
    "not_a_mapping.yaml": [
        "1:1: the rules file needs a mapping with 'channels' and 'rules', got a list",
    ],
    "syntax_error.yaml": [
        (
            "7:11: invalid YAML: the '{' here is never closed: end the mapping with '}' (or "
            "put a ',' between its items); YAML gave up at line 8"
        ),
    ],
    "undefined_channel.yaml": [
        "9:9: undefined channel 'teacher' in notify; did you mean 'teachers'?",
        "10:9: undefined channel 'principal' in notify",
    ],
    "unknown_channel_key.yaml": [
        "4:5: unknown key 'chanel' in channel 'teachers' (slack); did you mean 'channel'?",
        "6:11: unknown channel type 'emial' for channel 'office'; did you mean 'email'?",
        "8:3: channel 'lms' needs 'type' (one of console, email, slack, webhook)",
    ],
    "unknown_event.yaml": [
        "6:12: unknown event 'attempt.complete'; did you mean 'attempt.completed'?",
        (
            "11:12: unknown event 'exam.graded'; use one of attempt.completed, "
            "content_attempt.completed, conference.attendance, student.inactive, "
            "notifier.health, alert.followed_up, mute.created, mute.ended"
        ),
    ],
    "unknown_field.yaml": [
        "8:7: unknown field 'percentil' for attempt.completed; did you mean 'percentile'?",
    ],
    "unknown_operator.yaml": [
        "8:29: unknown operator 'less_than' for 'percentile'; did you mean 'lt'?",
        "10:16: unknown field 'subject_nam' for subject_stats items; did you mean 'subject_name'?",
        "12:17: unknown key 'wher' in 'count'; did you mean 'where'?",
    ],
    "unknown_rule_key.yaml": [
        "5:5: a rule needs 'notify'",
        "7:5: unknown key 'notfy' in rule; did you mean 'notify'?",
    ],
    "unknown_top_key.yaml": [
        "1:1: the rules file needs 'rules'",
        "4:1: unknown key 'rule' at the top level; did you mean 'rules'?",
    ],
    "unset_variable.yaml": [
        (
            "5:13: environment variable LMS_WEBHOOK_SECRET is not set and "
            "'${LMS_WEBHOOK_SECRET}' has no default"
        ),
        "10:16: environment variable EXAM_ID is not set and '${EXAM_ID}' has no default",
    ],
    "wrong_operator_type.yaml": [
        "8:16: 'lt' needs a number or time field; 'result' is a string field",
        "9:24: 'gt' on 'percentile' needs a number, got a string",
        "10:21: 'in' on 'exam_id' needs a list, got a number",
        "11:23: 'exists' needs true or false, got a string",
        "12:15: 'some' needs a list of objects; 'score' is a number field",
        "13:24: 'count' needs a comparison, e.g. {where: ..., gte: 3}",
        (
            "14:16: 'user_id' needs a value or a mapping of operators, got a list (use 'in' "
            "to match any of several values)"
        ),
        "15:20: 'contains' needs a string or list field; 'percentage' is a number field",
        "16:12: 'any' needs a non-empty list of conditions",
    ],
}


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # paths are reported as given: relative to the repository


@pytest.fixture(params=["libyaml", "pure-python"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both PyYAML parsers must give the same results (they differ in small ways, e.g.
    a plain scalar's style is None in one and "" in the other)."""
    if request.param == "pure-python":
        monkeypatch.setattr(yamlpos, "_FastLoader", yaml.SafeLoader)
    return str(request.param)


def problems_of(path: str, **kwargs: object) -> list[str]:
    with pytest.raises(RulesError) as caught:
        load_rules(path, **kwargs)  # type: ignore[arg-type]
    return [str(p) for p in caught.value.problems]


def no_settings() -> Settings:
    """Settings with nothing set, whatever this machine's environment holds."""
    return Settings.model_construct()


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_file_reports_every_problem_exactly(name: str, loader: str) -> None:
    path = f"{DATA}/{name}"
    expected = [f"{path}:{line}" for line in BAD[name]]
    assert problems_of(path, settings=no_settings(), env={}) == expected


def test_every_data_file_has_its_expectations() -> None:
    files = {p.name for p in (REPO / DATA).glob("*.yaml")}
    assert files == set(BAD) | {"good.yaml"}
    assert len(BAD) >= 15


def test_good_file_loads_with_the_right_summary(loader: str) -> None:
    ruleset = load_rules(f"{DATA}/good.yaml", env={"LMS_WEBHOOK_SECRET": SECRET})
    assert ruleset.summary() == (
        "tests/data/rules/good.yaml: OK, 4 rules (attempt.completed: 2, "
        "conference.attendance: 1, content_attempt.completed: 1), 5 channels"
    )
    assert {n: c.type for n, c in ruleset.channels.items()} == {
        "teachers": "slack",
        "principal": "slack",  # merged from the teachers anchor
        "office": "email",
        "lms": "webhook",
        "terminal": "console",
    }
    assert ruleset.channels["teachers"].config.channel == "#exam-alerts"  # type: ignore[attr-defined]
    assert ruleset.channels["principal"].config.channel == "#principal"  # type: ignore[attr-defined]
    assert ruleset.sources.conferences == [12, 15]
    assert [r.name for r in ruleset.rules_for("attempt.completed")] == [
        "failed-exam",
        "low_percentile_2",
    ]
    assert ruleset.kinds_used() == {
        "attempt.completed",
        "content_attempt.completed",
        "conference.attendance",
    }
    failed, low, everything, early = ruleset.rules
    assert failed.notify == ("teachers", "lms")
    assert failed.fields == {"result", "exam_id"}
    assert failed.stages == {"list"}
    assert failed.pinned("exam_id") == 133  # ${EXAM_ID:-133}, typed as a number
    assert low.fields == {
        "percentile", "email", "subject_stats", "sections", "answers", "name", "date",
    }  # fmt: skip
    assert low.stages == {"list", "detail", "answers"}
    assert everything.fields == frozenset() and everything.stages == {"list"}
    assert early.fields == {"duration", "leave_time"}


def test_contract_example_loads(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(CONTRACT_EXAMPLE)
    settings = Settings.model_construct(
        slack_bot_token="xoxb-test", smtp_host="mail.example", smtp_from="n@school.example"
    )
    ruleset = load_rules(path, settings, env={"LMS_WEBHOOK_SECRET": SECRET})
    assert ruleset.summary() == (
        f"{path}: OK, 3 rules (attempt.completed: 2, conference.attendance: 1), 4 channels"
    )
    assert ruleset.path == str(path)
    assert [r.notify for r in ruleset.rules] == [("teachers", "lms"), ("office",), ("teachers",)]
    assert ruleset.sources.conferences == []


def test_summary_counts_in_the_singular(tmp_path: Path) -> None:
    path = tmp_path / "one.yaml"
    path.write_text(
        "channels: {t: {type: console}}\n"
        "rules: [{name: a, event: attempt.completed, notify: [t]}]\n"
    )
    assert load_rules(path, env={}).summary() == (
        f"{path}: OK, 1 rule (attempt.completed: 1), 1 channel"
    )


def test_without_settings_the_needed_settings_are_not_checked() -> None:
    ruleset = load_rules(f"{DATA}/missing_setting.yaml", env={})
    assert set(ruleset.channels) == {"teachers", "office", "incoming"}


def test_missing_file_is_a_rules_error_at_line_1() -> None:
    assert problems_of("no/such/rules.yaml", env={}) == [
        "no/such/rules.yaml:1:1: cannot read the rules file: No such file or directory"
    ]


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("channels: {caf\xe9: {type: console}}\n".encode("latin-1"))
    assert problems_of(str(path), env={}) == [f"{path}:1:1: the rules file is not UTF-8 text"]


def test_rules_error_text_is_one_problem_a_line() -> None:
    error = RulesError([Problem("r.yaml", 9, 1, "b"), Problem("r.yaml", 2, 5, "a")])
    assert str(error) == "r.yaml:2:5: a\nr.yaml:9:1: b"


# -- ${VAR} interpolation --------------------------------------------------------------

INTERPOLATED = """\
channels:
  teachers:
    type: slack
    channel: ${SLACK_CHANNEL:-#exam-alerts}
rules:
  - name: r
    event: attempt.completed
    when:
      percentile:
        lt: ${THRESHOLD:-30}
      result: "${RESULT}"
      name: ${PREFIX:-}x
    notify: [teachers]
"""


def _interpolated(tmp_path: Path, env: dict[str, str]) -> tuple[str, dict[str, object]]:
    """The slack channel's name and each condition's value, as loaded."""
    path = tmp_path / "rules.yaml"
    path.write_text(INTERPOLATED)
    ruleset = load_rules(path, env=env)
    shown = {}
    for part in ruleset.rules[0].when.parts:
        assert isinstance(part, FieldOps)
        shown[part.field] = part.ops[0].shown  # type: ignore[attr-defined]
    return ruleset.channels["teachers"].config.channel, shown  # type: ignore[attr-defined]


def test_interpolation_uses_defaults_when_unset(tmp_path: Path) -> None:
    channel, shown = _interpolated(tmp_path, {"RESULT": "Fail"})
    assert channel == "#exam-alerts"
    assert shown == {"percentile": 30, "result": "Fail", "name": "x"}


def test_interpolation_prefers_the_environment(tmp_path: Path) -> None:
    env = {"SLACK_CHANNEL": "#office", "THRESHOLD": "12.5", "RESULT": "Pass", "PREFIX": "a"}
    channel, shown = _interpolated(tmp_path, env)
    assert channel == "#office"
    # Unquoted: typed again after interpolation (a number); quoted: stays a string.
    assert shown == {"percentile": 12.5, "result": "Pass", "name": "ax"}


def test_interpolation_of_an_unset_variable_without_default(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(INTERPOLATED)
    assert problems_of(str(path), env={}) == [
        f"{path}:11:15: environment variable RESULT is not set and '${{RESULT}}' has no default"
    ]


def test_a_secret_never_appears_in_a_message(tmp_path: Path) -> None:
    secret = "whsec_not-base64-but-very-secret!!"
    path = tmp_path / "rules.yaml"
    path.write_text(
        "channels:\n"
        "  lms: {type: webhook, url: 'ftp://x', secret: '${LMS_SECRET}', extra: 1}\n"
        "rules: [{name: r, event: attempt.completed, notify: [lms]}]\n"
    )
    problems = problems_of(str(path), env={"LMS_SECRET": secret})
    assert len(problems) == 3
    assert all(secret not in p and "very-secret" not in p for p in problems)


CONTRACT_EXAMPLE = """\
channels:
  teachers:                 # a name rules refer to
    type: slack
    channel: "#exam-alerts"
  office:
    type: email
    to: [office@school.example]
  lms:
    type: webhook
    url: https://lms.school.example/hooks/testpress
    secret: ${LMS_WEBHOOK_SECRET}   # optional: Standard Webhooks signing secret (whsec_...)
  terminal:
    type: console

rules:
  - name: failed-exam               # unique; letters, digits, '-' and '_'
    event: attempt.completed
    when:
      result: Fail                  # a bare value means eq
    notify: [teachers, lms]

  - name: low-percentile
    event: attempt.completed
    when:
      percentile: {lt: 30}
      exam_id: {in: [133, 134]}
    notify: [office]

  - name: left-live-class-early
    event: conference.attendance
    when:
      duration: {lt: 600}           # seconds
    notify: [teachers]
"""


def test_a_quoted_variable_can_give_a_number(tmp_path: Path) -> None:
    from notifier.events import Event
    from notifier.rules.evaluate import match_rule

    path = tmp_path / "rules.yaml"
    path.write_text(
        "channels:\n  c: {type: console}\nrules:\n  - name: r\n    event: attempt.completed\n"
        '    when:\n      percentile: {lt: "${LOW:-30}"}\n    notify: [c]\n'
    )
    rule = load_rules(path, env={}).rules[0]
    assert match_rule(rule, Event("attempt.completed", "1", {"percentile": 29.5}))
    assert not match_rule(rule, Event("attempt.completed", "1", {"percentile": 30}))
    assert load_rules(path, env={"LOW": "12.5"}).rules[0].when.parts[0].ops[0].expected == 12.5
    with pytest.raises(RulesError) as caught:
        load_rules(path, env={"LOW": "low"})
    assert [str(p) for p in caught.value.problems] == [
        f"{path}:7:24: 'lt' on 'percentile' needs a number, got a string"
    ]
