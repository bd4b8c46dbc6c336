"""Absences and check-ins, and keeping every open task with someone who is present.

`reconcile` is the one place that moves tasks: away holders' open tasks go to the next
present holder of the post (B acting for A, then the leader); tasks B holds for A and has
not started go back to A once A is present (if the post says so). Each move is an event
in the case's log and bumps the case's row version. It runs when an absence is registered
or cancelled, at each check-in, and from the scheduler at every absence boundary.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..cases.status import TaskState
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..hooks import announce_presence
from .models import ABSENCE_KINDS, Absence, CheckIn, Post, User
from .presence import (
    MANY_PEOPLE,
    Assignment,
    _checkin_deadline_passed,
    _local,
    away_at,
    choose_holder,
    exclusions,
)
from .reasons import Barrier

REASON_MAX = Absence.__table__.c.reason.type.length  # longer was a 500 on PostgreSQL


def now() -> dt.datetime:
    """Return the current time (naive UTC), on the app's clock."""
    return utcnow()


def _may_register_for(db: Session, actor: User, user_id: int) -> bool:
    if actor.id == user_id or actor.has_role("admin"):
        return True
    led = db.scalar(
        sa.select(sa.func.count())
        .select_from(Post)
        .where(
            Post.leader_user_id == actor.id,
            sa.or_(Post.a_user_id == user_id, Post.b_user_id == user_id),
        )
    )
    return bool(led)


def _partner_conflicts(
    db: Session, user_id: int, starts_at: dt.datetime, ends_at: dt.datetime
) -> list[tuple[Post, Absence]]:
    """Return posts where the user's A/B partner is away during part of the period."""
    posts = db.scalars(
        sa.select(Post).where(sa.or_(Post.a_user_id == user_id, Post.b_user_id == user_id))
    ).all()
    conflicts = []
    for post in posts:
        partner = post.b_user_id if post.a_user_id == user_id else post.a_user_id
        if partner is None:
            continue
        overlap = db.scalars(
            sa.select(Absence).where(
                Absence.user_id == partner,
                Absence.cancelled_at.is_(None),
                Absence.starts_at < ends_at,
                Absence.ends_at > starts_at,
            )
        ).first()
        if overlap is not None:
            conflicts.append((post, overlap))
    return conflicts


@transactional
def register_absence(
    actor: User,
    user_id: int,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str = "",
    confirm: bool = False,
) -> Absence:
    """Register leave, a business trip or sick leave; move the person's tasks if it has begun.

    A and B of one post may not be away at the same time: such an absence is refused unless
    the post's leader (or an admin) confirms it. Sick leave is taken as it comes; the tasks
    then escalate to the leader and supervision is told (in the case logs).
    """
    db = session()
    if kind not in ABSENCE_KINDS:
        raise InvalidInput(_("kind must be one of: %(items)s", items=", ".join(ABSENCE_KINDS)))
    if ends_at <= starts_at:
        raise InvalidInput(_("an absence must end after it starts"))
    if len(reason.strip()) > REASON_MAX:
        raise InvalidInput(
            _(
                "the reason is longer than %(REASON_MAX)s characters",
                REASON_MAX=REASON_MAX,
            )
        )
    if db.get(User, user_id) is None:
        raise NotFound(_("no user %(user_id)s", user_id=user_id))
    if not _may_register_for(db, actor, user_id):
        raise Forbidden(_("only the person, their post's leader or an admin registers an absence"))
    conflicts = _partner_conflicts(db, user_id, starts_at, ends_at)
    if conflicts and kind != "sick":
        leaders = {post.leader_user_id for post, _ in conflicts}
        if not (confirm and (actor.id in leaders or actor.has_role("admin"))):
            post, other = conflicts[0]
            fmt = "%Y-%m-%d %H:%M"
            span = f"{_local(other.starts_at):{fmt}} to {_local(other.ends_at):{fmt}}"
            raise Conflict(
                _(
                    "the other handler of post %(code)s is away from %(span)s; A and B may not "
                    "be away together unless the post's leader confirms",
                    code=post.code,
                    span=span,
                )
            )
    absence = Absence(
        user_id=user_id, kind=kind, starts_at=starts_at, ends_at=ends_at, reason=reason.strip(),
        registered_by_id=actor.id, confirmed_by_id=actor.id if conflicts else None,
    )  # fmt: skip
    db.add(absence)
    db.flush()
    _reconcile(db, now())
    announce_presence(starts_at, ends_at)
    return absence


@transactional
def cancel_absence(actor: User, absence_id: int) -> Absence:
    """Cancel (or end early) an absence; tasks B holds and has not started go back to A."""
    db = session()
    absence = db.get(Absence, absence_id)
    if absence is None:
        raise NotFound(_("no absence %(absence_id)s", absence_id=absence_id))
    if not _may_register_for(db, actor, absence.user_id):
        raise Forbidden(_("only the person, their post's leader or an admin changes an absence"))
    if absence.cancelled_at is None:
        absence.cancelled_at = now()
        db.flush()
    _reconcile(db, now())
    return absence


@transactional
def check_in(actor: User) -> CheckIn:
    """Record today's check-in (考勤) for the actor."""
    db = session()
    at = now()
    day = _local(at).date()
    existing = db.get(CheckIn, (actor.id, day))
    if existing is not None:
        return existing
    record = CheckIn(user_id=actor.id, day=day, at=at)
    db.add(record)
    db.flush()
    _reconcile(db, at)
    return record


@transactional
def reconcile(at: dt.datetime | None = None) -> int:
    """Move open tasks away from absent holders and back to returning A; return the moves."""
    return _reconcile(session(), at or now())


def _reconcile(db: Session, at: dt.datetime) -> int:
    from ..cases.assign import write_reassignments

    moves = planned_moves(db, at)
    for case_id, case_moves in moves.items():
        write_reassignments(db, case_id, case_moves, at)
    return sum(len(m) for m in moves.values())


# long: the reads bound by open work, then the moves decided as reconcile always did
def planned_moves(db: Session, at: dt.datetime) -> dict[int, list[tuple]]:
    """Return, per case, the open tasks to move at `at` and where to (nothing is written).

    Bound by the open tasks, never by the history: the tasks of people who may be away,
    the unassigned ones and those a B or leader holds for A come from the partial indexes
    of open tasks (by holder, and of open tasks held for someone); only their cases and
    posts are then read, by key.
    """
    from ..cases.models import Case, Task

    is_open = Task.state == sa.literal(TaskState.OPEN.value, literal_execute=True)
    columns = (Task.id, Task.case_id, Task.post_id, Task.assignee_id, Task.acting_for_id,
               Task.started_at, Task.is_decision, Task.spec_id, Task.created_at)  # fmt: skip
    found = {}
    # who may be away, who waits to be claimed, and what a B or leader holds for A and has
    # not started (only that may go back to A; a started one moves only if its holder is away,
    # which the first read finds)
    held_unstarted = sa.and_(Task.acting_for_id.is_not(None), Task.started_at.is_(None))
    for holder in (Task.assignee_id.in_(_possibly_away(db, at)), Task.assignee_id.is_(None),
                   held_unstarted):  # fmt: skip
        found.update((r.id, r) for r in db.execute(sa.select(*columns).where(is_open, holder)))
    open_tasks = [r for r in found.values() if r.post_id is not None]
    if not open_tasks:
        return {}
    wanted = {r.post_id for r in open_tasks}  # many: every post (as few as the staff)
    posts = {p.id: p for p in db.execute(
        sa.select(Post.id, Post.code, Post.a_user_id, Post.b_user_id, Post.leader_user_id,
                  Post.return_to_a, Post.shared)
        .where(Post.id.in_(wanted) if len(wanted) <= MANY_PEOPLE else sa.true()))}  # fmt: skip
    people = {
        u
        for r in open_tasks
        for u in (
            posts[r.post_id].a_user_id,
            posts[r.post_id].b_user_id,
            posts[r.post_id].leader_user_id,
            r.assignee_id,
        )  # fmt: skip
        if u
    }
    away = away_at(db, people, at)
    moves: dict[int, list[tuple]] = defaultdict(list)
    choosing = []  # tasks that need a new holder: their guards are read (and decrypted) next
    for task in open_tasks:
        post = posts[task.post_id]
        if post.shared:
            # a shared post's task waits in its queue until claimed; a claimer who goes
            # away puts it back there
            if task.assignee_id is None or task.assignee_id not in away:
                continue
            gone = away[task.assignee_id]
            back = Assignment(post.id, None, None, {"reason": "back_to_queue", "post": post.id,
                                                    "away": [gone.kind, gone.until]})  # fmt: skip
            moves[task.case_id].append((task, back))
            continue
        holder_away = task.assignee_id is None or task.assignee_id in away
        a_back = (
            task.acting_for_id is not None
            and task.started_at is None
            and post.return_to_a
            and post.a_user_id not in away
            and task.assignee_id != post.a_user_id
        )
        if holder_away or a_back:
            choosing.append(task)
    if not choosing:
        return moves
    guards = {r.id: r for r in db.execute(
        sa.select(Case.id, Case.applicant_id_number, Case.last_decider_id,
                  Case.last_decision_spec)
        .where(Case.id.in_({t.case_id for t in choosing})))}  # fmt: skip
    candidates = {u for t in choosing for u in (posts[t.post_id].a_user_id,
                  posts[t.post_id].b_user_id, posts[t.post_id].leader_user_id) if u}  # fmt: skip
    id_numbers = dict(
        db.execute(sa.select(User.id, User.id_number).where(User.id.in_(candidates))).all()
    )
    beside = _signing_beside(db, choosing)
    for task in choosing:
        if task.id in beside and not (task.assignee_id is None or task.assignee_id in away):
            continue  # a 会签 part held by a stand-in stays with them (not the stage's post A)
        post, case = posts[task.post_id], guards[task.case_id]
        row = SimpleNamespace(**task._asdict(), applicant_id_number=case.applicant_id_number,
                              last_decider_id=case.last_decider_id,
                              last_decision_spec=case.last_decision_spec)  # fmt: skip
        holders = {u: id_numbers.get(u) for u in (post.a_user_id, post.b_user_id,
                                                  post.leader_user_id) if u}  # fmt: skip
        excluded = _excluded(row, holders)
        excluded.update({u: Barrier("signing") for u in beside.get(task.id, ())})
        choice = choose_holder(post, post.code, away, excluded)
        if choice.assignee_id != task.assignee_id:
            moves[task.case_id].append((task, choice))
    return moves


def _signing_beside(db: Session, tasks: list) -> dict:
    """会签: for each task that is one part of a multi-instance stage (opened in one step with
    other parts of its stage), the people who hold or signed those other parts: nobody signs
    twice, so none of them may take it."""
    from ..cases.models import Task

    if not tasks:
        return {}
    rows = db.execute(
        sa.select(Task.id, Task.case_id, Task.spec_id, Task.created_at, Task.assignee_id,
                  Task.completed_by_id)
        .where(Task.case_id.in_({t.case_id for t in tasks}),
               Task.spec_id.in_({t.spec_id for t in tasks}), Task.state != TaskState.CANCELLED)
    ).all()  # fmt: skip
    parts = defaultdict(list)
    for row in rows:
        parts[(row.case_id, row.spec_id, row.created_at)].append(row)
    out = {}
    for task in tasks:
        others = [r for r in parts.get((task.case_id, task.spec_id, task.created_at), [])
                  if r.id != task.id]  # fmt: skip
        if others:
            out[task.id] = {u for r in others for u in (r.assignee_id, r.completed_by_id) if u}
    return out


def _possibly_away(db: Session, at: dt.datetime):
    """Return a query of the people who may be away at `at` (absent, or not checked in)."""
    absent = sa.select(Absence.user_id).where(
        Absence.cancelled_at.is_(None), Absence.starts_at <= at, Absence.ends_at > at
    )
    day = _checkin_deadline_passed(at)
    if day is None:
        return absent
    checked = sa.select(CheckIn.user_id).where(CheckIn.day == day)
    return sa.union(absent, sa.select(User.id).where(User.id.not_in(checked)))


def _excluded(row, id_numbers: dict[int, str | None]) -> dict[int, str]:
    return exclusions(id_numbers, row.applicant_id_number, row.spec_id, row.is_decision,
                      row.last_decider_id, row.last_decision_spec)  # fmt: skip


def next_checkin_deadline(at: dt.datetime) -> dt.datetime | None:
    """Return the next check-in deadline after `at` (naive UTC), if check-in is enforced."""
    if not current_app.config.get("CHECKIN_ENFORCED", False):
        return None
    hour, minute = map(int, current_app.config.get("CHECKIN_DEADLINE", "09:00").split(":"))
    local = _local(at)
    day = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if day <= local:
        day += dt.timedelta(days=1)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day.astimezone(dt.UTC).replace(tzinfo=None)


def next_boundary(db: Session, at: dt.datetime) -> dt.datetime | None:
    """Return the next moment someone's presence may change: an absence starts or ends, or
    the check-in deadline passes."""
    starts = db.scalar(
        sa.select(sa.func.min(Absence.starts_at)).where(
            Absence.cancelled_at.is_(None), Absence.starts_at > at
        )
    )
    ends = db.scalar(
        sa.select(sa.func.min(Absence.ends_at)).where(
            Absence.cancelled_at.is_(None), Absence.ends_at > at
        )
    )
    deadline = next_checkin_deadline(at)
    return min((t for t in (starts, ends, deadline) if t is not None), default=None)
