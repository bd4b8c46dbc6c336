"""The rollup cache of the register: the summable figures per local day, item and window.

`stat_days` holds one row per (local day, item, window clerk) that counted anything, with
the summable figures of app.stats.figures (SUMMABLE) and when the row was rolled;
`stat_rolls` holds one row per day rolled, empty days included. Beside them each day keeps
the counts the 90th percentile is read from (`stat_days_taken`), the task figures
(`stat_task_days`) and the supervision page's tasks on time per post (`stat_post_days`,
summed per month in `stat_post_months`): see app.stats.tables. The cache is only a cache:
each day is recomputed from the cases, tasks and events (delete and insert, so rolling a
day twice gives the same rows) and `rebuild` makes any range afresh. The register
(app.stats.queries) reads the settled days from it and counts the others directly; the
open snapshot at a settled day's end is kept too (`stat_open_days`), the complaints are
never cached. `register_from_cache` sums the summable
figures only and leaves the others None.

The scheduler's job (`catch_up`, leader only) runs a few seconds after the scheduler starts
and at ten past every hour of the centre's local time. It rolls every day up to yesterday
that is not settled. A day is settled once it has been rolled at least SETTLE (one day)
after it ended: so a day is rolled at 00:10 the night after, giving the morning its
figures, and once more at 00:10 the night after that, which takes in the events that were
stamped with the day but committed after the first roll (a transaction in flight at
midnight, a host whose clock lags). Days never rolled — the first run, a scheduler that was
down, a round that failed — are unsettled too, back to the day of the first case; a day
rolled early (before it ended, by hand) stays unsettled until the rule rolls it. The other
23 rounds of a day find nothing unsettled and cost two small queries: they are the safety
net of a skipped or failed round, as the scheduler's fallback rounds are for its timers.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from ..calendar.services import WorkCalendar, calendar
from ..cases.models import Case, Task
from ..cases.status import TaskState
from ..db import session, utcnow
from ..errors import InvalidInput
from .figures import SUMMABLE, Figures, Row, cells_of, task_cells
from .grouping import Filters, Register
from .periods import Period
from .queries import case_facts, open_count, task_facts
from .tables import (  # noqa: F401  (tests reach StatDay and StatRoll through rollup)
    SETTLE,
    StatDay,
    StatDaysTaken,
    StatOpenDay,
    StatPostDay,
    StatPostMonth,
    StatRoll,
    StatTaskDay,
    settled,
)


def _mark(db: Session, day: dt.date, now: dt.datetime, rows: int) -> None:
    """Write the day's roll row; on PostgreSQL the row lock makes a second roller of the same
    day wait until the first commits, so its delete sees the first one's rows."""
    insert = pg_insert if db.get_bind().dialect.name == "postgresql" else sqlite_insert
    table = StatRoll.__table__
    db.execute(
        insert(table).values(day=day, rolled_at=now, rows=rows)
        .on_conflict_do_update(index_elements=[table.c.day],
                               set_={"rolled_at": now, "rows": rows})
    )  # fmt: skip


def roll_open(db: Session, day: dt.date, cal: WorkCalendar) -> int:
    """Keep the open snapshot at the end of a local day (stat_open_days); return its rows.
    It depends on the day's end only (app.stats.queries.open_count), so a period ending on a
    settled day reads it from here."""
    _start, end = Period(day, day).bounds(cal)
    counts = open_count(db, end, end)
    db.execute(sa.delete(StatOpenDay).where(StatOpenDay.day == day))
    if counts:
        db.execute(sa.insert(StatOpenDay), [
            {"day": day, "item_id": item_id, "window_id": window_id, "cases": n}
            for (item_id, window_id), n in sorted(counts.items())
        ])  # fmt: skip
    db.execute(sa.update(StatRoll).where(StatRoll.day == day).values(open_rows=len(counts)))
    return len(counts)


def roll_day(db: Session, day: dt.date, now: dt.datetime | None = None,
             cal: WorkCalendar | None = None, snapshot: bool = True) -> int:  # fmt: skip
    """Recompute one local day of the cache from the cases, tasks and events; return its
    stat_days rows. `cal` defaults to the app's calendar (a migration passes its own);
    `snapshot` False leaves the open snapshot out (a migration older than its table).

    The caller commits (rebuild and catch_up commit after each day).
    """
    now = now or utcnow()
    cal = cal or calendar()
    _mark(db, day, now, 0)
    start, end = Period(day, day).bounds(cal)
    cells = cells_of(case_facts(db, cal, start, end))
    tasks = task_cells(task_facts(db, cal, start, end))
    on_time = sa.case((Task.completed_at <= Task.due_at, 1), else_=0)
    posts = db.execute(
        sa.select(Task.post_id, sa.func.count(), sa.func.sum(on_time))
        .where(Task.state == TaskState.COMPLETED, Task.due_at.is_not(None),
               Task.post_id.is_not(None), Task.completed_at >= start, Task.completed_at < end)
        .group_by(Task.post_id)
    ).all()  # fmt: skip
    for table in (StatDay, StatDaysTaken, StatTaskDay, StatPostDay):
        db.execute(sa.delete(table).where(table.day == day))
    rows = {
        StatDay: [{"day": day, "item_id": item_id, "window_id": window_id,
                   **figures.summable(), "rolled_at": now}
                  for (item_id, window_id), figures in sorted(cells.items())],
        StatDaysTaken: [{"day": day, "item_id": item_id, "window_id": window_id, "days": days,
                         "cases": count}
                        for (item_id, window_id), figures in sorted(cells.items())
                        for days, count in sorted(Counter(figures.days_taken).items())],
        StatTaskDay: [{"day": day, "item_id": item_id, "window_id": window_id,
                       "official_id": official_id, "completed": t.completed,
                       "with_limit": t.with_limit, "on_time": t.on_time,
                       "office_days": t.office_days_sum}
                      for (item_id, window_id, official_id), t in sorted(tasks.items())],
        StatPostDay: [{"day": day, "post_id": post_id, "completed": count,
                       "on_time": int(in_time or 0)} for post_id, count, in_time in posts],
    }  # fmt: skip
    for table, values in rows.items():
        if values:
            db.execute(sa.insert(table), values)
    _roll_month(db, day.replace(day=1))
    _mark(db, day, now, len(cells))
    if snapshot:
        roll_open(db, day, cal)
    return len(cells)


def _roll_month(db: Session, month: dt.date) -> None:
    """Sum a month's stat_post_days rows into its stat_post_months rows."""
    after = (month + dt.timedelta(days=32)).replace(day=1)
    db.execute(sa.delete(StatPostMonth).where(StatPostMonth.month == month))
    db.execute(sa.insert(StatPostMonth).from_select(
        ["month", "post_id", "completed", "on_time"],
        sa.select(sa.literal(month, sa.Date), StatPostDay.post_id,
                  sa.func.sum(StatPostDay.completed), sa.func.sum(StatPostDay.on_time))
        .where(StatPostDay.day >= month, StatPostDay.day < after)
        .group_by(StatPostDay.post_id),
    ))  # fmt: skip


def rebuild(db: Session, since: dt.date, until: dt.date, now: dt.datetime | None = None) -> int:
    """Roll every day from `since` to `until` afresh, committing after each; return the rows."""
    rows = 0
    for day in Period(since, until).days():
        rows += roll_day(db, day, now)
        db.commit()
    return rows


def first_day(db: Session, cal: WorkCalendar | None = None) -> dt.date | None:
    """Return the local day of the first case received, None if there is none."""
    first = db.scalar(sa.select(sa.func.min(Case.received_at)))
    return (cal or calendar()).local(first).date() if first is not None else None


def unsettled_days(db: Session, now: dt.datetime | None = None) -> list[dt.date]:
    """Return the days up to yesterday that the job must roll (see the module's rule)."""
    now = now or utcnow()
    cal = calendar()
    yesterday = cal.local(now).date() - dt.timedelta(days=1)
    first = first_day(db, cal)
    if first is None or first > yesterday:
        return []
    rolled = dict(db.execute(
        sa.select(StatRoll.day, StatRoll.rolled_at)
        .where(StatRoll.day >= first, StatRoll.day <= yesterday)
    ).all())  # fmt: skip
    return [
        day for day in Period(first, yesterday).days() if not settled(cal, day, rolled.get(day))
    ]  # fmt: skip


def catch_up(db: Session, now: dt.datetime | None = None) -> list[dt.date]:
    """The scheduler's daily job: roll every unsettled day, one commit per day; return them."""
    now = now or utcnow()
    days = unsettled_days(db, now)
    db.rollback()  # end the read; each day is its own transaction
    for day in days:
        roll_day(db, day, now)
        db.commit()
    return days


def covers(period: Period) -> bool:
    """Whether every day of the period has been rolled after it ended (a page may then read
    the cache; a day rolled so is at most missing events committed late)."""
    db = session()
    cal = calendar()
    rolled = dict(db.execute(sa.select(StatRoll.day, StatRoll.rolled_at)
                             .where(StatRoll.day >= period.since,
                                    StatRoll.day <= period.until)).all())  # fmt: skip
    return all(day in rolled and rolled[day] >= cal.utc(day + dt.timedelta(days=1), dt.time())
               for day in period.days())  # fmt: skip


def register_from_cache(period: Period, grouping: str = "total", filters: Filters | None = None,
                        roll_up: bool = True) -> list[Row]:  # fmt: skip
    """Return the register of a period summed from the cache: the same rows as
    app.stats.queries.register, with the summable figures only (the open snapshot, the
    90th percentile and the complaints None, no task figures)."""
    if grouping == "official":
        raise InvalidInput(_("the cache keeps no task figures; count the officials directly"),
                           field="grouping")  # fmt: skip
    db = session()
    table = Register(db, grouping, filters, roll_up)
    sums = db.execute(
        sa.select(StatDay.item_id, StatDay.window_id,
                  *(sa.func.sum(getattr(StatDay, name)) for name in SUMMABLE))
        .where(StatDay.day >= period.since, StatDay.day <= period.until)
        .group_by(StatDay.item_id, StatDay.window_id)
    ).all()  # fmt: skip
    cells = {(r[0], r[1]): Figures(**{name: int(v or 0) for name, v in zip(SUMMABLE, r[2:],
                                                                           strict=True)})
             for r in sums}  # fmt: skip
    return table.rows(cells)
