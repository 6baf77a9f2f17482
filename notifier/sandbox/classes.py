"""Live classes as they happen: participants join, leave, rejoin; a class ends.

Mixed into `Institute` on top of `ContentMixin` (which schedules the classes and keeps
their chapter contents and content attempts): a student's first join starts their
videoConference content attempt, and leaving completes it with the summed duration.
"""

from __future__ import annotations

from datetime import datetime

from notifier.sandbox.content import Conference, ContentAttempt, ContentMixin, Row
from notifier.sandbox.model import fmt_time


class LiveClassMixin(ContentMixin):
    """Joins, leaves and the end of a live class; see the method docstrings."""

    def join_conference(
        self,
        conf_id: int,
        user_id: int | None = None,
        *,
        name: str | None = None,
        email: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """Record that a participant joined (again); returns the new attendance row id.

        Give `user_id` for a student (their name and email are used, and their
        videoConference content attempt is started on the first join), or `name` and
        optionally `email` for someone the institute does not know. A second join
        after a leave adds a second row, as the real endpoint does.
        """
        with self.lock:
            conf = self.conferences[conf_id]
            when = self._at(at)
            if user_id is not None:
                user = self.users[user_id]
                name, email = user.display_name, user.email
                if self._conference_attempt(conf, user_id) is None:
                    ca_id = self.add_content_attempt(
                        user_id, "videoConference", chapter_content_id=conf.chapter_content_id,
                        created=when,
                    )  # fmt: skip
                    link = self.content_attempts[ca_id].link_id or 0
                    self.side["user_video_conferences"][link]["join_time"] = fmt_time(when, False)
            row = Row(self._next_row, name or "Guest", email, user_id, when)
            self._next_row += 1
            conf.rows.append(row)
            return row.id

    def leave_conference(
        self,
        conf_id: int,
        user_id: int | None = None,
        *,
        email: str | None = None,
        name: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Close the participant's open row (found by user id, else email, else name).

        For a student this also completes their content attempt and sums the
        duration into their `user_video_conferences` row. KeyError when not in class.
        """
        with self.lock:
            conf = self.conferences[conf_id]
            when = self._at(at)
            for row in reversed(conf.rows):
                if row.leave_time is not None:
                    continue
                if (
                    (user_id is not None and row.user_id == user_id)
                    or (user_id is None and email is not None and row.email == email)
                    or (user_id is None and email is None and row.name == name)
                ):
                    row.leave_time = max(when, row.join_time)
                    self._settle_student(conf, row.user_id, when)
                    return
            raise KeyError(f"participant not in conference {conf_id}")

    def end_conference(self, conf_id: int, at: datetime | None = None) -> None:
        """End the class: every open row is closed at `at` and the state is Completed."""
        with self.lock:
            conf = self.conferences[conf_id]
            when = self._at(at)
            for row in conf.rows:
                if row.leave_time is None:
                    row.leave_time = max(when, row.join_time)
                    self._settle_student(conf, row.user_id, when)
            conf.state = "Completed"

    def open_participants(self, conf_id: int) -> list[int]:
        """User ids of students currently in the class."""
        with self.lock:
            rows = self.conferences[conf_id].rows
            return sorted({r.user_id for r in rows if r.leave_time is None and r.user_id})

    def _conference_attempt(self, conf: Conference, user_id: int) -> ContentAttempt | None:
        for ca in self.content_attempts.values():
            if ca.chapter_content_id == conf.chapter_content_id and ca.user_id == user_id:
                return ca
        return None

    def _settle_student(self, conf: Conference, user_id: int | None, when: datetime) -> None:
        if user_id is None:
            return
        ca = self._conference_attempt(conf, user_id)
        if ca is None:
            return
        mine = [r for r in conf.rows if r.user_id == user_id and r.leave_time is not None]
        total = sum(int((r.leave_time - r.join_time).total_seconds()) for r in mine if r.leave_time)
        row = self.side["user_video_conferences"][ca.link_id or 0]
        row.update(duration=total, leave_time=fmt_time(when, False))
        if ca.state == "Started":
            ca.state, ca.completed_on = "Completed", when
            self._content_version += 1
            self.changed("content_attempt", ca.id)
