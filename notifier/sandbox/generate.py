"""Seeded generators for names, exams and question banks.

Everything here is a pure function of a `random.Random`, so one seed always gives the
same institute. Text deliberately carries what real Testpress text carries: HTML with
a `<style>` block, entities such as `&amp;`, and characters that need escaping in
Slack (`&`, `<`, `>`).
"""

from __future__ import annotations

import random

from notifier.sandbox.model import Question

FIRST_NAMES = [
    "Asha", "Ravi", "Priya", "Arjun", "Meera", "Karthik", "Divya", "Rahul", "Sneha", "Vikram",
    "Anjali", "Suresh", "Lakshmi", "Manoj", "Deepa", "Arun", "Kavya", "Naveen", "Pooja", "Sanjay",
    "Nisha", "Harish", "Revathi", "Gopal", "Fatima", "Joseph", "Aisha", "Imran", "Zoya", "Tenzin",
]  # fmt: skip
LAST_NAMES = [
    "Verma", "Iyer", "Nair", "Sharma", "Reddy", "Menon", "Pillai", "Gupta", "Khan", "Das",
    "Rao", "Singh", "Patel", "Joshi", "Krishnan", "O'Brien", "D'Souza", "Fernandes", "Bose",
]  # fmt: skip
EXAM_TITLES = [
    "UPSC Prelims Mock Test 23 - Physical Geography",
    "Algebra Mock 3",
    "Current Affairs Weekly Quiz <Oct>",
    "History & Culture Sectional",
    "Polity Full Test 5",
    "Economics Rapid Revision",
]
SUBJECTS = [
    (1, "Geography"),
    (2, "Current affairs"),
    (None, "History"),
    (4, "Polity"),
    (5, "Economics"),
]
TOPICS = [
    "monsoon winds", "the Preamble", "fiscal deficit", "the Mauryan empire", "plate tectonics",
    "GST & cess", "the Rajya Sabha", "ocean currents", "the Bhakti movement", "repo rates",
]  # fmt: skip
COURSE_TITLES = ["Prelims Foundation 2025", "Mains Answer Writing & Ethics", "Current Affairs"]
VIDEO_TITLES = ["Why You Should Say \u201cHi\u201d", "Monsoon explained", "Budget <basics>"]
CONFERENCE_TITLES = ["Live class: Polity doubts", "Live class: Geography revision"]
STYLE = "<style type='text/css'>\n  \n</style>\n"


def person(
    rng: random.Random, index: int, with_email: bool = True
) -> tuple[str, str, str, str | None]:
    """(first name, last name, username, email) for the `index`-th generated student."""
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    username = f"{first.lower()}{index}"
    plain_last = "".join(c for c in last.lower() if c.isalpha())
    email = f"{first.lower()}.{plain_last}{index}@students.example" if with_email else None
    return first, last, username, email


def question_bank(rng: random.Random, exam_id: int, count: int, sections: int) -> list[Question]:
    """`count` single-correct MCQs spread over `sections` sections and a few subjects."""
    questions: list[Question] = []
    per_section = max(1, -(-count // sections))
    for order in range(count):
        qid = exam_id * 1000 + order + 1
        subject_id, subject_name = rng.choice(SUBJECTS)
        topic, other = rng.sample(TOPICS, 2)
        html = f"{STYLE}<p>Q{order + 1}. Which statement about {topic} &amp; {other} is true?</p>"
        answers = [
            (qid * 10 + k, f"{STYLE}<p>Option {'ABCD'[k]} &lt;{rng.randint(1, 99)}&gt;</p>")
            for k in range(4)
        ]
        questions.append(
            Question(
                id=qid,
                order=order,
                section_id=exam_id * 10 + order // per_section + 1,
                subject_id=subject_id,
                subject_name=subject_name,
                difficulty=rng.choice(["easy", "easy", "medium", "hard", None]),
                html=html,
                answers=answers,
                correct_answer_id=rng.choice(answers)[0],
            )
        )
    return questions
