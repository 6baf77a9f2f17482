"""Rule templates cannot turn Testpress text into markup, nor stall a load (contract
sections 4 and 6): the email's HTML part stays escaped whatever filters a template
applies, and `notifier check` refuses a template that would take too long or build
too much, at its line. Over the real command, a real SMTP server and the sandbox."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.e2e import Harness, open_harness

EVIL = '<a href="http://evil.example/">Asha</a>'

RULES = """\
channels:
  office:
    type: email
    to: [office@school.example]

rules:
  - name: failed
    event: attempt.completed
    when:
      result: Fail
    title: "{{ student | striptags }} failed"
    message: |
      {% filter striptags %}{{ student }}{% endfilter %} |
      {{ student | striptags }} | {{ student | safe }} | {{ "%s" | format(student) }} |
      {{ [student, exam_title] | join(" ") }} | {% filter upper %}{{ student }}{% endfilter %} |
      {% autoescape false %}{{ student }}{% endautoescape %} | {{ student | e | striptags }}
    notify: [office]
"""


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    with open_harness(tmp_path, seed=3, rules=RULES) as harness:
        yield harness


def test_no_filter_turns_a_students_escaped_link_back_into_markup(h: Harness) -> None:
    assert h.notifier("run", "--once").returncode == 0  # the baseline
    inst = h.sandbox.institute
    exam, user = inst.add_exam(title="Chemistry"), inst.add_user(name=EVIL, email="a@s.example")
    inst.complete_attempt(inst.start_attempt(exam, user), result="Fail", score=3.0)
    done = h.notifier("run", "--once")
    assert done.returncode == 0, done.stderr
    [mail] = h.smtp.received
    part = mail.message.get_body(("html",))
    assert part is not None
    body = part.get_content()
    assert not re.search(r"<a\b", body, re.IGNORECASE), body  # no live link, in any case
    assert "&lt;a href=&#34;http://evil.example/&#34;&gt;Asha&lt;/a&gt;" in body
    assert "&LT;" not in body  # `upper` on the text, not on its entities
    assert "Asha failed" in mail.message["Subject"]


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}", "slow"),
        ('{{ "x" * 10**10 }}', "more than 100000"),
        (
            '{% set ns = namespace(s="ab") %}{% for i in range(60) %}'
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "more than 100000",
        ),
        ('{{ "%999999999d" | format(1) }}', "width"),
        ("{{ student.rjust(10**9) }}", "count"),
    ],
)
def test_check_refuses_a_template_too_costly_to_render_at_its_line(
    h: Harness, template: str, says: str
) -> None:
    rules = RULES.split("    message: |")[0] + f"    message: |\n      ok\n      {template}\n"
    rules += "    notify: [office]\n"
    (h.tmp / "rules.yaml").write_text(rules)
    line = rules.splitlines().index("    message: |") + 1
    done = h.notifier("check", timeout=60)  # before: it ran for hours, or ran out of memory
    assert done.returncode == 2, done.stdout + done.stderr
    [problem] = done.stderr.splitlines()
    assert problem.startswith(f"{h.tmp / 'rules.yaml'}:{line}:"), problem
    assert says in problem and "(line 2 of the template)" in problem, problem


def test_jinja2_is_required_at_a_release_without_the_known_sandbox_escapes() -> None:
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    [spec] = [Requirement(d) for d in pyproject["project"]["dependencies"] if "jinja2" in d]
    assert not spec.specifier.contains("3.1.5")  # CVE-2025-27516, fixed in 3.1.6
    assert spec.specifier.contains("3.1.6")
