"""What an alert says, before any format: `student did (details) because why`, or the
rule's `message` template in its place (and its `title`). One description serves every
format; `notifier.delivery.render` turns it into Slack blocks, email parts, webhook JSON
or a console line.

Everything that came from Testpress is made one line and cut here (`text.one_line`);
escaping for a format is the renderer's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifier.channels.base import Alert, Notification
from notifier.delivery.history_text import history_did, inactive_did
from notifier.delivery.reasons import reason_text
from notifier.events import best_label
from notifier.rules.templates import RuleTemplates, context_for, history_extra, try_render
from notifier.text import duration_text, number_text, one_line

SLACK_MAX_TEXT = 3000  # Slack's limit of a text object; a `message` template's cut
SUBJECT_MAX = 180  # an email subject's length; a `title` template's cut

_CONTENT_NAMES = {"video_conference": "live class", "live_stream": "live stream"}


_num = number_text
_duration = duration_text


# --- what an alert says ---------------------------------------------------------------


@dataclass(frozen=True)
class Described:
    """An alert in words, before any escaping: `student did (details) because why`."""

    student: str
    did: str
    details: tuple[str, ...]
    why: tuple[str, ...]
    message: str | None = None  # the rule's `message` template, rendered (one line)

    def sentence(self) -> str:
        if self.message is not None:
            return self.message
        text = f"{self.student} {self.did}"
        if self.details:
            text += f" ({', '.join(self.details)})"
        return text

    def line(self) -> str:
        if not self.why:
            return self.sentence()
        return f"{self.sentence()} because {'; '.join(self.why)}"


def _present(data: dict[str, Any], key: str) -> bool:
    value = data.get(key)
    return value is not None and value != ""


def _named(kind: str, data: dict[str, Any], title_key: str, id_key: str) -> str:
    if _present(data, title_key):
        return f'{kind} "{one_line(data[title_key])}"'
    if _present(data, id_key):
        return f"{kind} {_num(data[id_key])}"
    return f"a {kind}" if kind[0] not in "aeiou" else f"an {kind}"


def student_label(data: dict[str, Any]) -> str:
    label = best_label(
        data.get("student"),
        data.get("name"),
        data.get("username"),
        data.get("email"),
        user_id=data.get("user_id"),
    )
    return one_line(label) if label else "unknown student"


def describe(alert: Alert) -> Described:
    data = alert.data if isinstance(alert.data, dict) else {}
    fired = {r.field.split(".")[0] for r in alert.reasons}
    details: list[tuple[str, str]] = []  # (field, text); fields that fired are left out

    def add(field: str, text: str) -> None:
        if _present(data, field):
            details.append((field, text))

    if alert.event == "attempt.completed":
        did = "completed " + _named("exam", data, "exam_title", "exam_id")
        add("score", f"score {_num(data.get('score'))}")
        add("percentage", f"{_num(data.get('percentage'))}%")
        add("percentile", f"percentile {_num(data.get('percentile'))}")
        add("result", f"result {_num(data.get('result'))}")
    elif alert.event == "content_attempt.completed":
        raw_type = one_line(data.get("content_type") or "content", 40)
        kind = _CONTENT_NAMES.get(raw_type, raw_type)
        if _present(data, "title") or _present(data, "chapter_content_id"):
            did = "completed " + _named(kind, data, "title", "chapter_content_id")
        else:
            did = "completed " + _named(f"{kind} attempt", data, "-", "id")
        if _present(data, "course_title"):
            did += f' in course "{one_line(data["course_title"])}"'
        elif _present(data, "course_id"):
            did += f" in course {_num(data['course_id'])}"
        add("watched_percentage", f"watched {_num(data.get('watched_percentage'))}%")
        add("percentage", f"{_num(data.get('percentage'))}%")
        add("total_score", f"score {_num(data.get('total_score'))}")
        add("result", f"result {_num(data.get('result'))}")
        add("rank", f"rank {_num(data.get('rank'))}")
    elif alert.event == "conference.attendance":
        did = "attended " + _named("live class", data, "conference_title", "conference_id")
        if _present(data, "duration") and "duration" not in fired:
            did += f" for {_duration(data['duration'])}"
        sessions = data.get("sessions")
        add("sessions", f"{_num(sessions)} session{'' if sessions == 1 else 's'}")
    elif alert.event == "student.inactive":
        did, extra = inactive_did(data)
        details += [("last_activity", text) for text in extra]
    elif alert.event == "notifier.health":
        return _describe_health(data, alert)
    elif alert.event in ("alert.followed_up", "mute.created", "mute.ended"):
        return _describe_action(data, alert)
    else:
        did = f"{one_line(alert.event, 60)} {one_line(alert.key, 60)}"
    told = history_did(alert.event, data, alert.reasons)
    if told is not None:  # a history rule: the events that made it fire say it all
        did, details = told, []
    return Described(
        student=student_label(data),
        did=did,
        details=tuple(text for field, text in details if field not in fired),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


_HEALTH_WORDS = {  # problem -> (when it starts, when it ends), about `subject`
    "source_failing": ("cannot read the {} source", "reads the {} source again"),
    "rules_invalid": (
        "cannot load the changed rules file {} (the last good rules still run)",
        "loaded the rules file {} again",
    ),
    "deliveries_dead": ("has dead deliveries to channel {}", "has no dead deliveries to {} left"),
}


def _describe_health(data: dict[str, Any], alert: Alert) -> Described:
    problem = one_line(data.get("problem") or "trouble", 40)
    subject = one_line(data.get("subject") or "?", 200)
    words = _HEALTH_WORDS.get(problem, (f"has a problem ({problem}) with {{}}", "{}: resolved"))
    did = words[1 if data.get("resolved") else 0].format(subject)
    details = ["resolved"] if data.get("resolved") else []
    if _present(data, "since"):
        began = "it began" if data.get("resolved") else "since"
        details.append(f"{began} {one_line(data['since'], 40)}")
    if _present(data, "detail"):
        details.append(one_line(data["detail"], 500))
    return Described(
        student="The notifier",
        did=did,
        details=tuple(details),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


def _describe_action(data: dict[str, Any], alert: Alert) -> Described:
    """What a person did to alerts (contract section 13), said as who did what."""
    who = one_line(data.get("by_name") or data.get("by") or "someone", 80)
    if alert.event == "alert.followed_up":
        about = one_line(data.get("student") or data.get("user_id") or "a student", 200)
        did = f"is following up the {data.get('rule')} alert about {about}"
        details = [f"on {one_line(data.get('channel') or '?', 80)}"]
        if _present(data, "at"):
            details.append(f"at {one_line(data['at'], 40)}")
    else:
        scope = ", ".join(
            f"{what} {one_line(data[what], 120)}"
            for what in ("student", "rule", "channel")
            if _present(data, what)
        )
        if alert.event == "mute.created":
            did = f"muted {scope} until {one_line(data.get('until') or '?', 40)}"
            details = [one_line(data["reason"], 300)] if _present(data, "reason") else []
        else:
            mute = one_line(data.get("id") or "?", 40)
            if data.get("lifted"):
                who = one_line(data.get("ended_by") or who, 80)
                did = f"lifted the mute of {scope} ({mute})"
            else:
                who, did = f"The mute {mute}", f"of {scope} ran out"
            details = [f"made by {one_line(data.get('by') or '?', 80)}"]
    return Described(
        student=who,
        did=did,
        details=tuple(details),
        why=tuple(reason_text(r) for r in alert.reasons),
    )


# --- with the rule's templates (notifier.rules.templates) --------------------------


def _context(alert: Alert, rule: str, count: int, why: tuple[str, ...]) -> dict[str, Any]:
    data = alert.data if isinstance(alert.data, dict) else {}
    extras = {"rule": rule, "event": alert.event, "key": alert.key, "why": "; ".join(why)}
    earlier = {"history": history_extra(alert.event, data), "count": count}
    return context_for(alert.event, data, {**extras, **earlier})


def message_for(
    alert: Alert, rule: str, t: RuleTemplates | None, count: int, *, html: bool = False
) -> tuple[Described, str | None]:
    """The alert described, and its `message` template rendered (None: default wording);
    with `html` the template's values are HTML-escaped and its line breaks kept."""
    d = describe(alert)
    if t is None or t.message is None or t.event != alert.event:
        return d, None
    text = try_render(t.message, _context(alert, rule, count, d.why), rule, html=html)
    return d, text


def said(alert: Alert, rule: str, t: RuleTemplates | None = None, count: int = 1) -> Described:
    """The alert in words, with the rule's `message` template (made one line) in place of
    the default sentence when the rule has one."""
    d, text = message_for(alert, rule, t, count)
    if text is None or not text.strip():
        return d
    return Described(d.student, d.did, d.details, d.why, one_line(text, SLACK_MAX_TEXT))


def title_text(n: Notification, templates: RuleTemplates | None = None) -> str | None:
    """The rule's `title` template rendered for this notification (with its first
    alert's fields and `count`), one line; None when the rule has none or it failed."""
    t = templates
    if t is None or t.title is None or not n.alerts or t.event != n.alerts[0].event:
        return None
    first = n.alerts[0]
    context = _context(first, n.rule, len(n.alerts), describe(first).why)
    text = try_render(t.title, context, n.rule)
    return one_line(text, SUBJECT_MAX) if text and text.strip() else None
