"""The transfer card (转接登记卡), the delay report and the supervision overview.

The transfer card lists, per stage of a case: when the task arrived, when it was done and
handed on, who handled it, its limit and due time, and how far it overran (in working
hours of office time, so a weekend does not count against anyone).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..calendar.services import WorkCalendar, calendar
from ..cases.access import require_case
from ..cases.models import OPEN_CASE_STATUSES, Case, Task
from ..cases.status import CaseStatus, TaskState, task_kind
from ..catalogue.models import Item
from ..db import session, utcnow
from ..org.models import Department, Post, User
from ..stats.periods import Period
from ..stats.tables import StatPostDay, StatPostMonth, runs, settled_days, within
from .models import Notification, WarningCard


def overrun_hours(cal: WorkCalendar, due: dt.datetime | None, done: dt.datetime | None) -> float:
    """Return the office hours between a due time and when the work was done (0 if on time)."""
    if due is None or done is None or done <= due:
        return 0.0
    start, end = cal.local(due), cal.local(done)
    total = 0.0
    day = start.date()
    while day <= end.date():
        if cal.is_working_day(day):
            lo = max(start, dt.datetime.combine(day, cal.opens, start.tzinfo))
            hi = min(end, dt.datetime.combine(day, cal.closes, start.tzinfo))
            if hi > lo:
                total += (hi - lo).total_seconds() / 3600
        day += dt.timedelta(days=1)
    return round(total, 2)


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def transfer_card(actor: User, case_no: str) -> dict:
    """Return the transfer card of a case the actor may read."""
    db = session()
    checked = require_case(actor, case_no)
    case = checked.case
    cal = calendar()
    now = utcnow()
    tasks = db.execute(
        sa.select(Task, User.username, User.name, Post.code)
        .outerjoin(User, User.id == sa.func.coalesce(Task.completed_by_id, Task.assignee_id))
        .outerjoin(Post, Post.id == Task.post_id)
        .where(Task.case_id == case.id, Task.state != TaskState.CANCELLED)
    ).all()
    stages = []
    for t, username, name, post in sorted(tasks, key=_handed_on_order):
        done = t.completed_at if t.state == TaskState.COMPLETED else None
        over = overrun_hours(cal, t.due_at, done or now)
        stages.append({
            "task_id": str(t.id), "task": t.name, "stage": t.stage, "post": post,
            "handler": username, "handler_name": name,
            "acting_for_id": t.acting_for_id, "received_at": _time(t.created_at),
            "completed_at": _time(done), "handed_on_at": _time(done), "outcome": t.outcome,
            "time_limit": t.time_limit, "due_at": _time(t.due_at),
            "due_provisional": bool(t.due_provisional),
            "overrun_hours": over, "overran": over > 0, "open": t.state == TaskState.OPEN,
            "kind": task_kind(t),  # 加签, 征求意见 or a 会签 part: no stage of its own
        })  # fmt: skip
    _mark_b_handlers(stages)
    finished = case.reported_at or case.decided_at or case.closed_at  # a 上报件: its report
    late = overrun_hours(cal, case.due_at, finished or now)
    return {
        "case_no": case.case_no,
        "item": checked.item.name,
        "status": case.status,
        "accepted_at": _time(case.accepted_at),
        "due_at": _time(case.due_at),
        "statutory_due_at": _time(case.statutory_due_at),
        "due_provisional": bool(case.due_provisional),
        "decided_at": _time(case.decided_at),
        "reported_at": _time(case.reported_at),
        "paused_days": case.paused_days or 0,
        "extended_days": case.extended_days or 0,
        "late_hours": late,
        "stages": stages,
        "culprits": [s for s in stages if s["overran"]],
    }


def _handed_on_order(row) -> tuple:
    """Time order of a card: stages as they were done and handed on (parallel ones too, which
    arrive together), then the open ones as they arrived."""
    task = row[0]
    done = task.completed_at if task.state == TaskState.COMPLETED else None
    return (done is None, done or task.created_at, task.created_at, task.name)


def _mark_b_handlers(stages: list[dict]) -> None:
    """Name, on each stage a B handled in A's place (AB角), the A they acted for."""
    ids = {s["acting_for_id"] for s in stages if s["acting_for_id"]}
    names = dict(session().execute(sa.select(User.id, User.name).where(User.id.in_(ids))).all())
    for stage in stages:
        stage["acting_for_name"] = names.get(stage["acting_for_id"])


def delay_report(limit: int = 200) -> list[dict]:
    """Return late cases (decided after their due time, or open past it) with the stages and
    handlers that overran, worst first. A 上报件's part ends when it is reported."""
    db = session()
    now = utcnow()
    cal = calendar()
    finished = sa.func.coalesce(Case.reported_at, Case.decided_at)
    late_cases = db.execute(
        sa.select(Case.id, Case.case_no, Case.due_at, finished.label("decided_at"), Case.status,
                  Item.name)
        .join(Item, Item.id == Case.item_id)
        .where(Case.due_at.is_not(None), Case.paused_at.is_(None),
               sa.or_(finished > Case.due_at,
                      sa.and_(Case.status.in_(OPEN_CASE_STATUSES), Case.reported_at.is_(None),
                              Case.due_at < now)))
        .order_by(Case.due_at)
        .limit(limit)
    ).all()  # fmt: skip
    out = []
    for c in late_cases:
        stages = db.execute(
            sa.select(Task.name, Task.stage, Task.due_at, Task.completed_at, Task.state,
                      User.username, User.name.label("handler_name"))
            .outerjoin(User, User.id == sa.func.coalesce(Task.completed_by_id, Task.assignee_id))
            .where(Task.case_id == c.id, Task.state != TaskState.CANCELLED,
                   Task.due_at.is_not(None))
        ).all()  # fmt: skip
        culprits = []
        for s in stages:
            done = s.completed_at if s.state == TaskState.COMPLETED else now
            over = overrun_hours(cal, s.due_at, done)
            if over > 0:
                culprits.append({"task": s.name, "stage": s.stage, "handler": s.username,
                                 "handler_name": s.handler_name,
                                 "overrun_hours": over})  # fmt: skip
        out.append({
            "case_no": c.case_no, "item": c.name, "status": c.status,
            "due_at": _time(c.due_at), "decided_at": _time(c.decided_at),
            "late_hours": overrun_hours(cal, c.due_at, c.decided_at or now),
            "culprits": sorted(culprits, key=lambda x: -x["overrun_hours"]),
        })  # fmt: skip
    return sorted(out, key=lambda x: -x["late_hours"])


def overview() -> dict:
    """Open cards by department and item, overdue cases, urging notices, and each
    department's on-time rate over completed tasks with a limit (on_time_rates)."""
    db = session()
    now = utcnow()
    cards = db.execute(
        sa.select(Department.name, Item.name, WarningCard.level, sa.func.count())
        .select_from(WarningCard)
        .join(Case, Case.id == WarningCard.case_id)
        .join(Item, Item.id == Case.item_id)
        .outerjoin(Post, Post.id == WarningCard.post_id)
        .outerjoin(Department, Department.id == sa.func.coalesce(Post.department_id,
                                                                 Item.department_id))
        .where(WarningCard.closed_at.is_(None))
        .group_by(Department.name, Item.name, WarningCard.level)
        .order_by(Department.name, Item.name)
    ).all()  # fmt: skip
    overdue = db.execute(
        sa.select(Case.case_no, Case.due_at, Case.applicant_name, Item.name)
        .join(Item, Item.id == Case.item_id)
        .where(Case.status.in_(OPEN_CASE_STATUSES), Case.due_at < now,
               Case.paused_at.is_(None), Case.reported_at.is_(None))
        .order_by(Case.due_at).limit(200)
    ).all()  # fmt: skip
    # 上报件 reported and waiting for the upper authority: 已上报, not overdue (art. 43)
    reported = db.execute(
        sa.select(Case.case_no, Case.reported_at, Case.applicant_name, Item.name)
        .join(Item, Item.id == Case.item_id)
        .where(Case.status.in_(OPEN_CASE_STATUSES), Case.reported_at.is_not(None))
        .order_by(Case.reported_at).limit(200)
    ).all()  # fmt: skip
    urgings = db.execute(
        sa.select(Notification.text, Notification.created_at, User.username, User.name)
        .join(User, User.id == Notification.user_id)
        .where(Notification.kind == "urging")
        .order_by(Notification.created_at.desc()).limit(50)
    ).all()  # fmt: skip
    rates = on_time_rates(db)
    return {
        "cards": [{"department": d or "—", "item": i, "level": lv, "count": n}
                  for d, i, lv, n in cards],
        "overdue": [{"case_no": c.case_no, "due_at": c.due_at, "applicant": c.applicant_name,
                     "item": c.name} for c in overdue],
        "reported": [{"case_no": c.case_no, "reported_at": c.reported_at,
                      "applicant": c.applicant_name, "item": c.name} for c in reported],
        "urgings": [{"text": u.text, "at": u.created_at, "to": u.username, "to_name": u.name}
                    for u in urgings],
        "rates": [{"department": d, "completed": n, "on_time": k,
                   "rate": round(100 * k / n, 1) if n else None} for d, n, k in rates],
        "faulted": faulted_cases(db),
    }  # fmt: skip


def on_time_rates(db) -> list[tuple[str, int, int]]:
    """Each department's tasks completed with a stage limit over every task ever, and how
    many were completed by it, by department name (a task counts under its post's
    department now). The days the statistics cache has settled are summed from it (whole
    months from stat_post_months, the other days from stat_post_days); the tasks completed
    on any other day (or at no recorded time) are counted themselves."""
    cal = calendar()
    days = settled_days(db, cal)
    months = {day.replace(day=1) for day in days}
    whole = {m for m in months
             if all(d in days for d in Period.of("month", m).days())}  # fmt: skip
    done = (Task.state == TaskState.COMPLETED, Task.due_at.is_not(None))
    on_time = sa.case((Task.completed_at <= Task.due_at, 1), else_=0)
    tasks = sa.select(Task.post_id, sa.literal(1, sa.Integer), on_time).where(*done)
    # the tasks of the days between the settled runs, each range read from the index alone
    bounds = [Period(first, last).bounds(cal) for first, last in runs(days)]
    gaps = list(zip([None] + [end for _start, end in bounds],
                    [start for start, _end in bounds] + [None], strict=True))  # fmt: skip
    counted = [tasks.where(*([] if lo is None else [Task.completed_at >= lo]),
                           *([] if hi is None else [Task.completed_at < hi]))
               for lo, hi in gaps]  # fmt: skip
    # a task completed at no recorded time lies on no day (the app records one; if it ever
    # did not, the task would count all the same)
    if db.scalar(sa.select(sa.exists().where(*done, Task.completed_at.is_(None)))):
        counted.append(tasks.where(Task.completed_at.is_(None)))
    parts = sa.union_all(
        sa.select(StatPostMonth.post_id, StatPostMonth.completed, StatPostMonth.on_time)
        .where(StatPostMonth.month.in_(sorted(whole)) if whole else sa.false()),
        sa.select(StatPostDay.post_id, StatPostDay.completed, StatPostDay.on_time)
        .where(within(StatPostDay.day,
                      runs(d for d in days if d.replace(day=1) not in whole))),
        *counted,
    ).subquery()  # fmt: skip
    # a row per post first, then joined to the departments (fewer rows to join)
    posts = (
        sa.select(
            parts.c[0].label("post_id"),
            sa.func.sum(parts.c[1]).label("completed"),
            sa.func.sum(parts.c[2]).label("on_time"),
        )
        .group_by(parts.c[0])
        .subquery()
    )
    rows = db.execute(
        sa.select(Department.name, sa.func.sum(posts.c.completed), sa.func.sum(posts.c.on_time))
        .select_from(posts)
        .join(Post, Post.id == posts.c.post_id)
        .join(Department, Department.id == Post.department_id)
        .group_by(Department.name)
        .order_by(Department.name)
    )  # fmt: skip
    return [(name, int(completed), int(in_time or 0)) for name, completed, in_time in rows]


def faulted_cases(db, limit: int = 200) -> list[dict]:
    """Return the cases stopped in the fault state (流程异常), with their latest fault."""
    from ..audit.models import Event

    rows = db.execute(
        sa.select(Case.id, Case.case_no, Item.name)
        .join(Item, Item.id == Case.item_id)
        .where(Case.status == CaseStatus.FAULT)
        .order_by(Case.id).limit(limit)
    ).all()  # fmt: skip
    if not rows:
        return []
    latest: dict[int, Event] = {}
    for event in db.scalars(
        sa.select(Event)
        .where(Event.case_id.in_([r.id for r in rows]), Event.type == "case_faulted")
        .order_by(Event.seq)
    ):
        latest[event.case_id] = event
    found = []
    for row in rows:
        event = latest.get(row.id)
        data = dict(event.data or {}) if event else {}
        found.append({"case_no": row.case_no, "item": row.name,
                      "at": event.at if event else None, "code": data.get("code", ""),
                      "element": data.get("element")})  # fmt: skip
    return sorted(found, key=lambda f: f["at"] or dt.datetime.min)
