"""Who is away at a given moment, and who therefore holds a post's task (A/B backup).

A person is away while an absence of theirs covers the moment, and, where check-in is
enforced, on a working day after the check-in deadline until they check in. A task of a
post goes to A if A is present, else to B acting for A, else to the post's leader; if all
three are away it waits unassigned in the post's queue and supervision is told. Four-eyes
and "not your own application" exclude people the same way absence does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from .models import Absence, CheckIn, Post
from .reasons import HOLDER_REASONS, Barrier, encode


@dataclass(frozen=True)
class Assignment:
    """Who gets a task, for whom they act, and why (a reason of `app.org.reasons`)."""

    post_id: int | None
    assignee_id: int | None
    acting_for_id: int | None
    reason: dict
    escalated: bool = False

    @property
    def stored_reason(self) -> str:
        """The reason as the task row's assignment_reason column keeps it."""
        return encode(self.reason)


def _local(at: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(current_app.config.get("CENTRE_TIMEZONE", "Asia/Shanghai"))
    return at.replace(tzinfo=dt.UTC).astimezone(zone)


def _checkin_deadline_passed(at: dt.datetime) -> dt.date | None:
    """Return the local day whose check-in deadline has passed at `at`, if enforced."""
    if not current_app.config.get("CHECKIN_ENFORCED", False):
        return None
    local = _local(at)
    if local.weekday() >= 5:
        return None
    hour, minute = map(int, current_app.config.get("CHECKIN_DEADLINE", "09:00").split(":"))
    if (local.hour, local.minute) < (hour, minute):
        return None
    return local.date()


MANY_PEOPLE = 200  # above this many, away_at reads everyone's absences and check-ins


def covering(absence=Absence) -> sa.ColumnElement[bool]:
    """An absence (or an alias of the table) not cancelled that covers the moment `:at`."""
    return sa.and_(absence.cancelled_at.is_(None), absence.starts_at <= sa.bindparam("at"),
                   absence.ends_at > sa.bindparam("at"))  # fmt: skip


# who of some people is away at a moment, built once; many people: everyone away at all
_AWAY_ALL = sa.select(Absence.user_id, Absence.kind, Absence.ends_at).where(covering())
_AWAY_OF = _AWAY_ALL.where(Absence.user_id.in_(sa.bindparam("ids", expanding=True)))


def absence_barrier(kind: str, ends_at: dt.datetime) -> Barrier:
    """The barrier of an absence that covers the moment: its kind and its local end."""
    return Barrier(kind, _local(ends_at).strftime("%Y-%m-%dT%H:%M"))


def away_at(db: Session, user_ids: set[int], at: dt.datetime) -> dict[int, Barrier]:
    """Return the people among `user_ids` who are away at `at`, with a reason each."""
    ids = {u for u in user_ids if u is not None}
    if not ids:
        return {}
    away: dict[int, Barrier] = {}
    # many people (the A/B scan asks for every holder of an open task): read who is away
    # at all, as few as the staff at most, rather than send thousands of parameters
    few = len(ids) <= MANY_PEOPLE
    rows = db.execute(_AWAY_OF if few else _AWAY_ALL, {"ids": sorted(ids), "at": at} if few
                      else {"at": at})  # fmt: skip
    for user_id, kind, ends_at in rows:
        if user_id in ids:
            away[user_id] = absence_barrier(kind, ends_at)
    not_checked_in(db, ids, at, away)
    return away


def not_checked_in(db: Session, ids: set[int], at: dt.datetime, away: dict[int, Barrier]) -> None:
    """Add to `away` the people among `ids` not away otherwise who have not checked in by
    the deadline (where check-in is enforced and it has passed)."""
    day = _checkin_deadline_passed(at)
    if day is None:
        return
    few = len(ids) <= MANY_PEOPLE
    checked = set(
        db.scalars(
            sa.select(CheckIn.user_id).where(
                CheckIn.user_id.in_(ids) if few else sa.true(), CheckIn.day == day
            )
        )
    )
    for user_id in ids - checked - set(away):
        away[user_id] = Barrier("no_checkin")


def choose_holder(
    post: Post | None, label: str | None, away: dict[int, Barrier], excluded: dict[int, Barrier]
) -> Assignment:
    """Pick A, else B acting for A, else the leader; record why each earlier one was passed."""
    if post is None:
        return Assignment(None, None, None, {"reason": "no_post", "label": label or ""}, True)
    if post.shared:
        return Assignment(
            post.id,
            None,
            None,
            {"reason": "shared", "post": post.id},
        )
    passed: list[list] = []
    candidates = (("A", post.a_user_id), ("B", post.b_user_id), ("leader", post.leader_user_id))
    for role, user_id in candidates:
        if user_id is None:
            passed.append(Barrier("unset").stored(role))
            continue
        why = excluded.get(user_id) or away.get(user_id)
        if why:
            passed.append(why.stored(role))
            continue
        acting_for = post.a_user_id if role != "A" else None
        reason = {"reason": HOLDER_REASONS[role], "post": post.id}
        if passed:
            reason["passed"] = passed
        return Assignment(post.id, user_id, acting_for, reason, escalated=role == "leader")
    return Assignment(
        post.id, None, None, {"reason": "queue", "post": post.id, "passed": passed}, escalated=True
    )


def candidate_ids(posts: list[Post]) -> set[int]:
    """Return everyone who could hold a task of these posts."""
    return {u for p in posts for u in (p.a_user_id, p.b_user_id, p.leader_user_id) if u}


def exclusions(
    id_numbers: dict[int, str | None],
    applicant_id_number: str,
    task_spec: str,
    is_decision: bool,
    last_decider_id: int | None,
    last_decision_spec: str | None,
) -> dict[int, Barrier]:
    """Return who may not hold a task of a case, with the reason.

    The applicant never handles their own case. For a decision stage, whoever decided the
    previous, different decision stage is excluded (four-eyes); redoing a returned stage is
    not a new stage, so whoever returned it may decide it again.
    """
    excluded = {
        uid: Barrier("applicant")
        for uid, number in id_numbers.items()
        if number and number == applicant_id_number
    }
    if is_decision and last_decider_id is not None and last_decision_spec != task_spec:
        excluded.setdefault(last_decider_id, Barrier("four_eyes"))
    return excluded
