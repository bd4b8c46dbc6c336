"""Evaluations of the service (好差评, GB/T 39734) and the follow-up of bad ones (回访).

An applicant rates a case once (一次一评), whatever its outcome (decided, refused,
withdrawn): online with the query code, or at the window on the kiosk tablet the clerk
opened for that one case (`kiosk`). A clerk never rates: a window rating needs the kiosk's
grant for the case. 不满意 and 非常不满意 open a follow-up for the supervision office, due in five
working days: it records what the applicant said, what was put right, and the
applicant's second rating. Ratings, follow-ups and their closing are events of the case.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from ..calendar.services import calendar
from ..cases.models import Case
from ..cases.store import CaseLog
from ..catalogue.models import Item
from ..clock import local_date
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..org.models import User
from ..supervision.models import Notification
from .models import BAD_LEVELS, LEVELS, Evaluation, FollowUp
from .tracking import may_rate, rated_level

FOLLOW_UP_DAYS = 5
CHANNELS = ("window", "online")


def _level(level: object) -> int:
    try:
        value = int(str(level))
    except ValueError:
        value = 0
    if value not in LEVELS:
        raise InvalidInput(
            _("choose one of the five levels, 5 (非常满意) to 1 (非常不满意)"), field="level"
        )
    return value


def _supervisors() -> list[int]:
    return [u.id for u in session().scalars(sa.select(User).where(User.active))
            if u.has_role("supervisor")]  # fmt: skip


RATED_ALREADY = _l("this case has been rated already: a case is rated once")


def check_rateable(case: Case) -> None:
    """Refuse (409) a case whose handling has not ended, or that is rated already."""
    if not may_rate(case):
        raise Conflict(_("a case can be rated once its handling has ended"))
    if rated_level(case.id) is not None:
        raise Conflict(RATED_ALREADY)


@transactional
def rate(case: Case, level: object, comment: str, channel: str,
         kiosk_case_id: int | None = None, opened_by: int | None = None) -> Evaluation:  # fmt: skip
    """Record the applicant's one rating of an ended case; a bad one opens a follow-up.

    Online, the caller has checked the query code. At the window, only the kiosk's grant
    for this case (`kiosk.rate_at_kiosk` passes its case id and the clerk who opened it)
    admits a rating: no one rates at the window on their own."""
    if channel not in CHANNELS:
        raise InvalidInput(_("unknown channel"))
    if channel == "window" and (kiosk_case_id is None or kiosk_case_id != case.id):
        raise Forbidden(_("ratings at the window are given by the applicant on the kiosk tablet"))
    value = _level(level)
    db = session()
    case = db.get(Case, case.id)
    check_rateable(case)
    comment = (comment or "").strip()[:1000]
    if value in BAD_LEVELS and not comment:
        raise InvalidInput(_("tell us what went wrong, so that it can be put right"),
                           field="comment")  # fmt: skip
    item = db.get(Item, case.item_id)
    now = utcnow()
    evaluation = Evaluation(case_id=case.id, round=1, level=value, comment=comment or None,
                            channel=channel, department_id=item.department_id,
                            created_at=now)  # fmt: skip
    db.add(evaluation)
    try:
        db.flush()
    except IntegrityError:
        raise Conflict(RATED_ALREADY) from None
    log = CaseLog(db, case.id, now, None)  # the applicant rates, never a member of staff
    done = {"level": value, "channel": channel, "evaluation": evaluation.id}
    if opened_by is not None:
        done["kiosk_opened_by"] = opened_by
    log.add("evaluated", done)
    if value in BAD_LEVELS:
        due = calendar().due_in_days(now, FOLLOW_UP_DAYS).at
        follow = FollowUp(evaluation_id=evaluation.id, case_id=case.id, opened_at=now,
                          due_at=due, status="open")  # fmt: skip
        db.add(follow)
        db.flush()
        log.add("follow_up_opened", {"follow_up": follow.id, "due_at": due})
        text = f"{case.case_no}: 差评（{LEVELS[value]}）需回访整改，期限 {local_date(due):%Y-%m-%d}"
        db.execute(sa.insert(Notification), [
            {"user_id": uid, "kind": "follow_up", "text": text, "case_id": case.id,
             "created_at": now} for uid in _supervisors()
        ])  # fmt: skip
    log.close()
    return evaluation


@dataclass
class FollowUpView:
    follow: FollowUp
    case_no: str
    item: str
    first: Evaluation
    second: Evaluation | None
    overdue: bool


def follow_ups(status: str | None = None) -> list[FollowUpView]:
    """Return follow-ups (open first, the earliest due first) with their ratings."""
    db = session()
    query = (sa.select(FollowUp, Case.case_no, Item.name, Evaluation)
             .join(Case, Case.id == FollowUp.case_id).join(Item, Item.id == Case.item_id)
             .join(Evaluation, Evaluation.id == FollowUp.evaluation_id))  # fmt: skip
    if status:
        query = query.where(FollowUp.status == status)
    rows = db.execute(query.order_by(FollowUp.status.desc(), FollowUp.due_at)).all()
    seconds = {
        e.id: e
        for e in db.scalars(
            sa.select(Evaluation).where(
                Evaluation.id.in_(
                    [
                        r.FollowUp.second_evaluation_id
                        for r in rows
                        if r.FollowUp.second_evaluation_id
                    ]
                )
            )
        )
    }
    now = utcnow()
    return [FollowUpView(r.FollowUp, r.case_no, r.name, r.Evaluation,
                         seconds.get(r.FollowUp.second_evaluation_id),
                         r.FollowUp.status == "open" and now > r.FollowUp.due_at)
            for r in rows]  # fmt: skip


def get_follow_up(follow_id: int) -> FollowUpView:
    found = [v for v in follow_ups() if v.follow.id == follow_id]
    if not found:
        raise NotFound(_("there is no such follow-up"))
    return found[0]


@transactional
def close_follow_up(actor: User, follow_id: int, contact_note: str, rectification: str,
                    second_level: object | None, second_comment: str = "") -> FollowUp:  # fmt: skip
    """Close a follow-up: what the applicant said, what was put right, the second rating."""
    if not actor.has_role("supervisor"):
        raise Forbidden(_("follow-ups are closed by the supervision office"))
    db = session()
    follow = db.scalars(sa.select(FollowUp).where(FollowUp.id == follow_id)
                        .with_for_update()).first()  # fmt: skip
    if follow is None:
        raise NotFound(_("there is no such follow-up"))
    if follow.status != "open":
        raise Conflict(_("this follow-up is closed already"))
    problems = {}
    if not (contact_note or "").strip():
        problems["contact_note"] = _("say what the applicant said when called back")
    if not (rectification or "").strip():
        problems["rectification"] = _("say what was put right")
    if problems:
        raise InvalidInput(_("the follow-up cannot be closed yet"), fields=problems)
    now = utcnow()
    first = db.get(Evaluation, follow.evaluation_id)
    log = CaseLog(db, follow.case_id, now, actor)
    second = None
    if second_level not in (None, ""):
        second = Evaluation(case_id=follow.case_id, round=2, level=_level(second_level),
                            comment=(second_comment or "").strip()[:1000] or None,
                            channel="followup", department_id=first.department_id,
                            created_at=now)  # fmt: skip
        db.add(second)
        db.flush()
    follow.status, follow.closed_at, follow.handled_by_id = "closed", now, actor.id
    follow.contact_note, follow.rectification = contact_note.strip(), rectification.strip()
    follow.second_evaluation_id = second.id if second else None
    log.add("follow_up_closed", {"follow_up": follow.id, "on_time": now <= follow.due_at,
                                 "second_level": second.level if second else None})  # fmt: skip
    log.close()
    return follow


@dataclass
class MonthFigures:
    """Published monthly figures of the evaluations (no personal data)."""

    month: str
    total: int
    by_level: dict[int, int]
    satisfied: int  # 非常满意, 满意, 基本满意
    rate: float | None  # satisfied / total
    follow_ups: int
    closed: int
    closed_on_time: int
    better_after: int  # second rating higher than the first
    by_department: list[tuple[str, int, int]]  # name, ratings, bad ratings


def month_bounds(month: str) -> tuple[dt.datetime, dt.datetime]:
    """Return the UTC bounds of a local month 'YYYY-MM'."""
    try:
        year, mon = (int(p) for p in month.split("-"))
        first = dt.date(year, mon, 1)
    except ValueError:
        raise InvalidInput(_("the month must look like 2026-11"), field="month") from None
    after = dt.date(year + (mon == 12), mon % 12 + 1, 1)
    cal = calendar()
    return cal.utc(first, dt.time(0)), cal.utc(after, dt.time(0))


def monthly(month: str) -> MonthFigures:
    """Count the first ratings made in a local month, and the follow-ups they opened."""
    from ..org.models import Department

    start, end = month_bounds(month)
    db = session()
    firsts = list(
        db.scalars(
            sa.select(Evaluation).where(
                Evaluation.round == 1, Evaluation.created_at >= start, Evaluation.created_at < end
            )
        )
    )
    by_level = {level: 0 for level in sorted(LEVELS, reverse=True)}
    for e in firsts:
        by_level[e.level] += 1
    ids = [e.id for e in firsts]
    follows = list(db.scalars(sa.select(FollowUp).where(FollowUp.evaluation_id.in_(ids))))
    seconds = {
        e.id: e.level
        for e in db.scalars(
            sa.select(Evaluation).where(
                Evaluation.id.in_(
                    [f.second_evaluation_id for f in follows if f.second_evaluation_id]
                )
            )
        )
    }
    firsts_by_id = {e.id: e for e in firsts}
    names = dict(db.execute(sa.select(Department.id, Department.name)).all())
    per_dept: dict[str, list[int]] = {}
    for e in firsts:
        row = per_dept.setdefault(names.get(e.department_id, "—"), [0, 0])
        row[0] += 1
        row[1] += e.level in BAD_LEVELS
    satisfied = sum(n for level, n in by_level.items() if level >= 3)
    return MonthFigures(
        month=month, total=len(firsts), by_level=by_level, satisfied=satisfied,
        rate=satisfied / len(firsts) if firsts else None, follow_ups=len(follows),
        closed=sum(f.status == "closed" for f in follows),
        closed_on_time=sum(f.status == "closed" and f.closed_at <= f.due_at for f in follows),
        better_after=sum(1 for f in follows if f.second_evaluation_id and
                         seconds[f.second_evaluation_id] > firsts_by_id[f.evaluation_id].level),
        by_department=sorted((k, v[0], v[1]) for k, v in per_dept.items()),
    )  # fmt: skip


def _warn_at(follow: FollowUp) -> dt.datetime:
    return calendar().warn_at(follow.opened_at, follow.due_at)


def scan_follow_ups(now: dt.datetime | None = None) -> int:
    """Warn the supervision office of follow-ups near or past their due time, once each.

    The `warned` column moves "" → yellow → red with a conditional UPDATE, so two
    schedulers scanning at once warn once.
    """
    db = session()
    now = now or utcnow()
    issued = 0
    for follow in list(
        db.scalars(sa.select(FollowUp).where(FollowUp.status == "open", FollowUp.warned != "red"))
    ):
        level = "red" if now > follow.due_at else "yellow" if now >= _warn_at(follow) else ""
        if not level or level == follow.warned:
            continue
        won = db.execute(
            sa.update(FollowUp).where(FollowUp.id == follow.id, FollowUp.warned == follow.warned)
            .values(warned=level).execution_options(synchronize_session=False)
        ).rowcount  # fmt: skip
        if won != 1:
            continue
        case_no = db.scalar(sa.select(Case.case_no).where(Case.id == follow.case_id))
        text = (f"{case_no}: 差评回访{'已超期' if level == 'red' else '即将到期'}，"
                f"期限 {calendar().local(follow.due_at):%Y-%m-%d %H:%M}")  # fmt: skip
        db.execute(sa.insert(Notification), [
            {"user_id": uid, "kind": level, "text": text, "case_id": follow.case_id,
             "created_at": now} for uid in _supervisors()
        ])  # fmt: skip
        issued += 1
    db.commit()
    return issued


def next_follow_up_threshold(now: dt.datetime) -> dt.datetime | None:
    """When the next follow-up card falls due (for the scheduler to sleep until)."""
    moments = []
    for follow in session().scalars(
        sa.select(FollowUp).where(FollowUp.status == "open", FollowUp.warned != "red")
    ):
        moments.append(follow.due_at if follow.warned == "yellow" else _warn_at(follow))
    upcoming = [m for m in moments if m > now]
    return min(upcoming, default=None)
