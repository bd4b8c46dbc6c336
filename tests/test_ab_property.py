"""Property: no open task is ever assigned to someone who is away at that moment.

Hypothesis drives random sequences of applications, absences (leave, trips, sick leave,
with and without the leader's confirmation), early returns, check-ins, completions and the
clock moving on; the scheduler's reconciliation runs at every absence boundary and
check-in deadline the clock passes, as the server's scheduler does. After every step, on
SQLite and on PostgreSQL, every open task's holder must be present (or the task waits
unassigned in its post's queue, escalated), and a task held by B is held for A.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from app.audit.models import Event
from app.cases import services as cases
from app.cases.models import Task
from app.db import session
from app.errors import AppError
from app.org import absences
from app.org.models import Absence, CheckIn, Post, User
from app.org.presence import away_at
from app.org.reasons import decode
from tests.apiclient import POSTS, sample_form

# Monday 2026-11-23 07:00 in Beijing: before the 09:00 check-in deadline
START = dt.datetime(2026, 11, 22, 23, 0)
POST_CODES = ["ndrc_review", "land_review", "construction_review", "env_review",
              "housing_review", "window_centre", "window_housing"]  # fmt: skip
PEOPLE = sorted({POSTS[c][k] for c in POST_CODES for k in ("a", "b", "leader")})
ITEMS = ["joint-investment", "house-cancellation"]


def _waits_queued_with_supervision_told(db, task_id, reason, post) -> None:
    """An unassigned task waits in its post's queue because A, B and the leader were each
    passed over (away or excluded), and supervision was told: a task_escalated event with
    that same reason ("nobody of the post can take it … supervision told" when worded)."""
    stored = decode(reason)
    assert stored["reason"] == "queue" and stored["post"] == post.id, reason
    assert [p[0] for p in stored["passed"]] == ["A", "B", "leader"], reason
    told = db.scalars(
        sa.select(Event.data).where(Event.task_id == task_id, Event.type == "task_escalated")
    ).all()
    assert any(decode(d["reason"]) == stored for d in told), (reason, told)


@pytest.mark.parametrize("examples", [int(os.environ.get("OW_AB_EXAMPLES", 500))])
def test_no_open_task_waits_with_someone_away(demo_app, examples):
    clock = {"now": START}
    demo_app.config.update(
        CLOCK=lambda: clock["now"], CHECKIN_ENFORCED=True, CHECKIN_DEADLINE="09:00"
    )
    with demo_app.app_context():
        ids = dict(session().execute(sa.select(User.username, User.id)).all())

    class Centre(RuleBasedStateMachine):
        @initialize()
        def start_a_fresh_day(self):
            clock["now"] = START
            with demo_app.app_context():
                db = session()
                # each sequence starts from an empty centre: no absences, check-ins or open tasks
                db.execute(sa.delete(Absence))
                db.execute(sa.delete(CheckIn))
                db.execute(sa.update(Task).where(Task.state == "open").values(state="cancelled"))
                db.commit()

        def _as(self, username: str) -> User:
            return session().get(User, ids[username])

        @rule(item=st.sampled_from(ITEMS))
        def apply(self, item):
            with demo_app.app_context():
                cases.receive_case(
                    self._as("clerk_liu"), item, cases.Applicant("王五", "110101198001010011"),
                    [m["code"] for m in _materials(item)], sample_form(item),
                )  # fmt: skip

        @rule(
            who=st.sampled_from(PEOPLE),
            kind=st.sampled_from(["leave", "trip", "sick"]),
            start=st.integers(-3, 30),
            hours=st.integers(1, 48),
            confirm=st.booleans(),
        )
        def absence(self, who, kind, start, hours, confirm):
            begins = clock["now"] + dt.timedelta(hours=start)
            # refused when A and B would be away together without confirmation
            with demo_app.app_context(), contextlib.suppress(AppError):
                absences.register_absence(
                    self._as("admin"), ids[who], kind, begins,
                    begins + dt.timedelta(hours=hours), "随机", confirm,
                )  # fmt: skip

        @rule(pick=st.integers(0, 10_000))
        def come_back_early(self, pick):
            with demo_app.app_context():
                open_ids = (
                    session()
                    .scalars(
                        sa.select(Absence.id)
                        .where(Absence.cancelled_at.is_(None))
                        .order_by(Absence.id)
                    )
                    .all()
                )
                if open_ids:
                    absences.cancel_absence(self._as("admin"), open_ids[pick % len(open_ids)])

        @rule(who=st.sampled_from(PEOPLE))
        def check_in(self, who):
            with demo_app.app_context():
                absences.check_in(self._as(who))

        @rule(pick=st.integers(0, 10_000))
        def complete(self, pick):
            with demo_app.app_context():
                rows = (
                    session()
                    .execute(
                        sa.select(Task.id, Task.assignee_id)
                        .where(Task.state == "open", Task.assignee_id.is_not(None))
                        .order_by(Task.created_at, Task.id)
                    )
                    .all()
                )
                if rows:
                    task_id, assignee = rows[pick % len(rows)]
                    with contextlib.suppress(AppError):  # e.g. a required task form field
                        cases.complete_task(session().get(User, assignee), task_id, "approve")

        @rule(hours=st.integers(0, 30))
        def time_passes(self, hours):
            target = clock["now"] + dt.timedelta(hours=hours)
            with demo_app.app_context():
                while True:
                    boundary = absences.next_boundary(session(), clock["now"])
                    if boundary is None or boundary > target:
                        break
                    clock["now"] = boundary
                    absences.reconcile(boundary)
                    self.holders_are_present()
            clock["now"] = target

        @invariant()
        def holders_are_present(self):
            with demo_app.app_context():
                db = session()
                rows = db.execute(
                    sa.select(
                        Task.id, Task.assignee_id, Task.acting_for_id, Task.assignment_reason, Post
                    )
                    .join(Post, Post.id == Task.post_id)
                    .where(Task.state == "open")
                ).all()
                away = away_at(db, {r.assignee_id for r in rows if r.assignee_id}, clock["now"])
                for task_id, assignee, acting_for, reason, post in rows:
                    if assignee is None:
                        _waits_queued_with_supervision_told(db, task_id, reason, post)
                        continue
                    assert assignee not in away, (assignee, away[assignee], reason)
                    if assignee == post.b_user_id and assignee != post.a_user_id:
                        assert acting_for == post.a_user_id

    Centre.TestCase.settings = settings(
        max_examples=examples,
        stateful_step_count=8,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    Centre.TestCase().runTest()


def _materials(item: str) -> list[dict]:
    from tests.apiclient import item_entry

    return [m for m in item_entry(item)["materials"] if m.get("required", True)]
