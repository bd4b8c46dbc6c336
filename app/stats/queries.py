"""The reads of the statistics: the facts the register counts (from the cases, their tasks
and their events), the register of a period and its time series, the slowest stages, and
what the pages offer to choose from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ..audit.models import Event
from ..calendar.services import WorkCalendar, calendar
from ..cases.models import Case, Task
from ..cases.status import OPEN_CASE_STATUSES, TaskState
from ..catalogue.models import Item
from ..catalogue.stuck import nearest_rank
from ..complaints import figures as complaint_figures
from ..db import session, utcnow
from ..org.models import Department, Region
from . import cached
from .figures import (
    COUNTED_EVENTS,
    EVENT_FIGURES,
    FIRST_ONLY,
    LEVELS,
    ByDepartment,
    Cell,
    Fact,
    OpenCase,
    Point,
    Row,
    TaskFact,
    cells_of,
    open_at,
    task_cells,
)
from .grouping import Filters, Register
from .periods import Period
from .tables import StatOpenDay, StatRoll, runs, settled_days

# --- facts -----------------------------------------------------------------------------------

WINDOW = sa.func.coalesce(Case.received_by_id, 0)


def case_facts(db: Session, cal: WorkCalendar, start: dt.datetime, end: dt.datetime
               ) -> list[Fact]:  # fmt: skip
    """Return the summable facts of the moments in [start, end) (naive UTC)."""
    facts: list[Fact] = []

    def day(at: dt.datetime) -> dt.date:
        return cal.local(at).date()

    for name, column in (("received", Case.received_at), ("accepted", Case.accepted_at)):
        rows = db.execute(sa.select(column, Case.item_id, WINDOW)
                          .where(column >= start, column < end))  # fmt: skip
        facts += [Fact(day(at), item_id, window, name) for at, item_id, window in rows]
    decided = db.execute(
        sa.select(Case.decided_at, Case.item_id, WINDOW.label("window"), Case.decision,
                  Case.accepted_at, Case.paused_days, Case.due_at, Case.statutory_due_at,
                  Case.reported_at)
        .where(Case.decided_at >= start, Case.decided_at < end,
               Case.decision.in_(("approved", "denied")))
    )  # fmt: skip
    for r in decided:
        on, key = day(r.decided_at), (r.item_id, r.window)
        facts.append(Fact(on, *key, r.decision))
        # a 上报件's limits are the centre's first instance: they end with its report (art. 43)
        done = r.reported_at or r.decided_at
        if r.due_at is not None and done <= r.due_at:
            facts.append(Fact(on, *key, "on_time_promised"))
        if r.statutory_due_at is not None and done <= r.statutory_due_at:
            facts.append(Fact(on, *key, "on_time_statutory"))
        taken = cal.working_days_between(r.accepted_at or r.decided_at, r.decided_at)
        facts.append(Fact(on, *key, "days_taken_sum", max(0, taken - (r.paused_days or 0))))
    earlier = aliased(Event)

    def first(*extra: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        return ~sa.exists().where(earlier.case_id == Event.case_id, earlier.type == Event.type,
                                  earlier.seq < Event.seq, *extra)  # fmt: skip

    commitment = Event.data["kind"].as_string() == "commitment"
    rows = db.execute(
        sa.select(Event.at, Event.type, Event.data, Case.item_id, WINDOW)
        .join(Case, Case.id == Event.case_id)
        .where(Event.type.in_(COUNTED_EVENTS), Event.at >= start, Event.at < end,
               sa.or_(Event.type.in_((*EVENT_FIGURES, "warning_issued", "evaluated")),
                      sa.and_(Event.type == "supplement_required", first()),
                      sa.and_(Event.type == "notice_issued", commitment,
                              first(earlier.data["kind"].as_string() == "commitment"))))
    )  # fmt: skip
    for at, kind, data, item_id, window in rows:
        on = day(at)
        if kind in FIRST_ONLY:
            facts.append(Fact(on, item_id, window, FIRST_ONLY[kind]))
        elif kind == "case_resumed":
            facts.append(Fact(on, item_id, window, "paused_days", int(data["working_days"])))
        elif kind in EVENT_FIGURES:
            facts.append(Fact(on, item_id, window, EVENT_FIGURES[kind]))
        elif kind == "warning_issued" and data.get("level") in ("yellow", "red"):
            facts.append(Fact(on, item_id, window, data["level"]))
        elif kind == "evaluated" and data.get("level") in LEVELS:
            facts.append(Fact(on, item_id, window, f"eval_{data['level']}"))
    return facts


def task_facts(db: Session, cal: WorkCalendar, start: dt.datetime, end: dt.datetime
               ) -> list[TaskFact]:  # fmt: skip
    """Return the user tasks completed in [start, end), found by their `task_completed`
    events (the event's time and actor are the task's completion time and completer)."""
    rows = db.execute(
        sa.select(Event.at, Event.actor_id, Task.created_at, Task.due_at, Case.item_id, WINDOW)
        .join(Task, Task.id == Event.task_id)
        .join(Case, Case.id == Event.case_id)
        .where(Event.type == "task_completed", Event.at >= start, Event.at < end)
    )  # fmt: skip
    office = cal.office_day.total_seconds()
    return [
        TaskFact(cal.local(at).date(), item_id, window, actor or 0,
                 None if due is None else at <= due,
                 cal.office_time_between(created, at).total_seconds() / office)
        for at, actor, created, due, item_id, window in rows
    ]  # fmt: skip


def open_cases(db: Session, start: dt.datetime, end: dt.datetime) -> list[OpenCase]:
    """Return every case that was open at some moment of (start, end]: accepted before
    `end` and not decided, withdrawn or closed before `start`."""
    columns = (Case.id, Case.item_id, WINDOW, Case.accepted_at, Case.decided_at, Case.closed_at)
    before = Case.accepted_at < end
    found = {}
    for query in (
        sa.select(*columns).where(Case.status.in_(OPEN_CASE_STATUSES), before),
        sa.select(*columns).where(Case.decided_at >= start, before),
        sa.select(*columns).join(Event, Event.case_id == Case.id)
        .where(Event.type == "case_withdrawn", Event.at >= start, before),
    ):  # fmt: skip
        for case_id, item_id, window, accepted, decided, closed in db.execute(query):
            ends = [m for m in (decided, closed) if m is not None]
            found[case_id] = OpenCase(item_id, window, accepted, min(ends, default=None))
    return list(found.values())


def open_count(db: Session, start: dt.datetime, end: dt.datetime) -> dict[Cell, int]:
    """Count per item and window the cases open at `end` among those open_cases(start, end)
    returns (open_at of them at `end`), in the database: accepted before `end`, neither
    decided nor closed before it. Each of the three reads goes by its own index."""
    still = (Case.accepted_at < end, sa.or_(Case.decided_at.is_(None), Case.decided_at >= end),
             sa.or_(Case.closed_at.is_(None), Case.closed_at >= end))  # fmt: skip
    columns = (Case.id, Case.item_id, WINDOW.label("window"))
    found = sa.union(
        sa.select(*columns).where(Case.status.in_(OPEN_CASE_STATUSES), *still),
        sa.select(*columns).where(Case.decided_at >= end, *still),  # decided after `end`
        sa.select(*columns).join(Event, Event.case_id == Case.id)
        .where(Event.type == "case_withdrawn", Event.at >= start, *still),
    ).subquery()  # fmt: skip
    rows = db.execute(sa.select(found.c.item_id, found.c.window, sa.func.count())
                      .group_by(found.c.item_id, found.c.window))  # fmt: skip
    return {(item_id, window): count for item_id, window, count in rows}


def _open_snapshot(db: Session, last: dt.date, moment: tuple[dt.datetime, dt.datetime],
                   settled: set[dt.date]) -> dict[Cell, int]:  # fmt: skip
    """The cases open at the end of a period: from the cache when its last day is settled
    and its snapshot kept (stat_open_days), else counted (`open_count`)."""
    if last in settled:
        kept = db.scalar(sa.select(StatRoll.open_rows).where(StatRoll.day == last))
        if kept is not None:
            return {(item_id, window_id): n for item_id, window_id, n in db.execute(
                sa.select(StatOpenDay.item_id, StatOpenDay.window_id, StatOpenDay.cases)
                .where(StatOpenDay.day == last))}  # fmt: skip
    return open_count(db, *moment)


# --- the register ----------------------------------------------------------------------------


def _complaints(register: Register, period: Period, now: dt.datetime | None
                ) -> ByDepartment | None:  # fmt: skip
    if not register.complaints_apply:
        return None
    return complaint_figures.by_department(period.since, period.until,
                                           departments=register.scope, now=now)  # fmt: skip


def register(period: Period, grouping: str = "total", filters: Filters | None = None,
             roll_up: bool = True, now: dt.datetime | None = None) -> list[Row]:  # fmt: skip
    """Return the register of a period, one row per group, counted from the cases and events.

    `grouping` is one of GROUPINGS; `roll_up` makes a department's row count every
    department below it; `now` is when overdue open complaints are judged (default now).
    """
    [point] = series(period, None, grouping, filters, roll_up, now)
    return point.rows


# reads the settled days from the cache and counts the others directly, bucket by bucket
def series(period: Period, unit: str | None, grouping: str = "total",
           filters: Filters | None = None, roll_up: bool = True,
           now: dt.datetime | None = None) -> list[Point]:  # fmt: skip
    """Return the register per day, ISO week, month, quarter or year of the period (the
    first and the last bucket cut to the period), for trend charts; `unit` None gives the
    whole period as one point.

    A settled day of the rollup cache is read from it, every other day is counted from the
    cases, tasks and events (app.stats.cached): the figures are the same either way.
    """
    db = session()
    cal = calendar()
    table = Register(db, grouping, filters, roll_up)
    now = now or utcnow()
    buckets = period.split(unit) if unit else [(f"{period.since}..{period.until}", period)]
    official = grouping == "official"
    settled = settled_days(db, cal, period.since, period.until)
    facts: list[Fact] = []
    tasks: list[TaskFact] = []
    for first, last in runs(day for day in period.days() if day not in settled):
        start, end = Period(first, last).bounds(cal)
        facts += [] if official else case_facts(db, cal, start, end)
        tasks += task_facts(db, cal, start, end)
    single = len(buckets) == 1
    cases = [] if official or single else open_cases(db, *period.bounds(cal))
    where: dict[dt.date, int] = {}
    for index, (_label, part) in enumerate(buckets):
        where.update(dict.fromkeys(part.days(), index))
    by_bucket: list[list[Fact]] = [[] for _ in buckets]
    tasks_by_bucket: list[list[TaskFact]] = [[] for _ in buckets]
    for f in facts:
        by_bucket[where[f.day]].append(f)
    for t in tasks:
        tasks_by_bucket[where[t.day]].append(t)
    out = []
    for index, (label, part) in enumerate(buckets):
        spans = runs(day for day in part.days() if day in settled)
        cells = cached.add_cells({} if official else cached.case_cells(db, spans),
                                 cells_of(by_bucket[index]))  # fmt: skip
        task_sums = cached.add_cells(cached.task_cells(db, spans, official),
                                     task_cells(tasks_by_bucket[index]))  # fmt: skip
        moment = part.bounds(cal)
        snapshot = (None if official else _open_snapshot(db, part.until, moment, settled)
                    if single else open_at(cases, moment[1]))  # fmt: skip
        rows = table.rows(cells, task_sums, snapshot, _complaints(table, part, now))
        out.append(Point(label, part, rows))
    return out


# --- for the pages ---------------------------------------------------------------------------


@dataclass
class Stage:
    """A stage (a task name of an item) and the office days its tasks took."""

    item: str
    name: str
    completed: int
    days_avg: float
    days_p90: float


def slowest_stages(period: Period, filters: Filters, limit: int = 10) -> list[Stage]:
    """The stages (task names of an item) that took longest, by their 90th percentile of
    office days, over the tasks completed in the period (filtered like the register)."""
    db = session()
    cal = calendar()
    start, end = period.bounds(cal)
    rows = db.execute(
        sa.select(Item.id, Item.name, Item.kind, Item.department_id, Task.name,
                  Task.created_at, Task.completed_at)
        .join(Case, Case.id == Task.case_id).join(Item, Item.id == Case.item_id)
        .where(Task.state == TaskState.COMPLETED, Task.completed_at >= start,
               Task.completed_at < end)
    ).all()  # fmt: skip
    wanted = item_scope(filters)
    per: dict[tuple[str, str], list[float]] = {}
    day = cal.office_day.total_seconds()
    for item_id, item, _kind, _dept, name, created, completed in rows:
        if wanted is not None and item_id not in wanted:
            continue
        spent = cal.office_time_between(created, completed).total_seconds() / day
        per.setdefault((item, name), []).append(spent)
    out = []
    for (item, name), spent in per.items():
        p90 = nearest_rank(spent, 0.9)
        out.append(Stage(item, name, len(spent), sum(spent) / len(spent), p90))
    return sorted(out, key=lambda s: (-s.days_p90, s.item, s.name))[:limit]


def item_scope(filters: Filters) -> set[int] | None:
    """The item ids a filter keeps (None: every item), as the register reads the filter."""
    if not (filters.item_id or filters.kind or filters.department_id or filters.region_id):
        return None
    return Register(session(), "total", filters).allowed


def choices() -> dict:
    """What the statistics page offers to filter by: the items, departments and regions."""
    db = session()
    items = db.execute(sa.select(Item.id, Item.name).order_by(Item.code)).all()
    departments = db.execute(sa.select(Department.id, Department.name)
                             .order_by(Department.code)).all()  # fmt: skip
    regions = db.execute(sa.select(Region.id, Region.name, Region.level)
                         .order_by(Region.code)).all()  # fmt: skip
    return {"items": items, "departments": departments, "regions": regions}
