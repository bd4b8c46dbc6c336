"""The tables of the statistics cache, and which of its days are settled.

Each table holds what one local day contributed, so that the figures of any run of days
are sums of its rows (app.stats.rollup writes them, one day at a time):

    stat_days        the summable case figures per day, item and window clerk (SUMMABLE)
    stat_days_taken  per day, item and window: how many cases completed that day took each
                     number of working days (the 90th percentile is read from these counts)
    stat_task_days   the task figures per day, item, window and official who completed
                     the tasks (completed, with a limit, on time, office days taken)
    stat_post_days   per day and post: tasks completed with a stage limit, and how many by
                     it (the supervision page's on-time rates, by the post's department)
    stat_post_months the same per calendar month (the sum of that month's stat_post_days)
    stat_open_days   per day, item and window: the cases open at the day's end (the open
                     snapshot of a period ending that day)
    stat_rolls       one row per day rolled, empty days included (`open_rows` NULL: rolled
                     before the open snapshot was kept)

A day is settled once it was rolled at least SETTLE after it ended (see app.stats.rollup);
the register and the supervision page read a settled day from these tables and count every
other day from the cases, tasks and events themselves, so they give the same figures
whether or not the cache is there. Adding a calendar year unsettles the days it can change.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..calendar.services import WorkCalendar
from ..db import Base

SETTLE = dt.timedelta(days=1)


def _count() -> Mapped[int]:
    return mapped_column(default=0, server_default="0")


def _item() -> Mapped[int]:
    return mapped_column(sa.ForeignKey("items.id"), primary_key=True, autoincrement=False)


def _key() -> Mapped[int]:
    return mapped_column(primary_key=True, autoincrement=False)


class StatDay(Base):
    """The summable figures of one local day, item and window clerk (0: none)."""

    __tablename__ = "stat_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    item_id: Mapped[int] = _item()
    window_id: Mapped[int] = _key()
    received: Mapped[int] = _count()
    accepted: Mapped[int] = _count()
    supplements: Mapped[int] = _count()
    refused: Mapped[int] = _count()
    approved: Mapped[int] = _count()
    denied: Mapped[int] = _count()
    withdrawn: Mapped[int] = _count()
    commitment_notices: Mapped[int] = _count()
    on_time_promised: Mapped[int] = _count()
    on_time_statutory: Mapped[int] = _count()
    days_taken_sum: Mapped[int] = _count()
    paused_days: Mapped[int] = _count()
    extensions: Mapped[int] = _count()
    yellow: Mapped[int] = _count()
    red: Mapped[int] = _count()
    eval_5: Mapped[int] = _count()
    eval_4: Mapped[int] = _count()
    eval_3: Mapped[int] = _count()
    eval_2: Mapped[int] = _count()
    eval_1: Mapped[int] = _count()
    rolled_at: Mapped[dt.datetime]


class StatDaysTaken(Base):
    """How many cases of an item and window completed on a day took `days` working days."""

    __tablename__ = "stat_days_taken"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    item_id: Mapped[int] = _item()
    window_id: Mapped[int] = _key()
    days: Mapped[int] = _key()
    cases: Mapped[int] = _count()


class StatTaskDay(Base):
    """The user tasks of an item's cases received at a window that an official (0: none)
    completed on a day: how many, with a stage limit, by it, and their office days."""

    __tablename__ = "stat_task_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    item_id: Mapped[int] = _item()
    window_id: Mapped[int] = _key()
    official_id: Mapped[int] = _key()
    completed: Mapped[int] = _count()
    with_limit: Mapped[int] = _count()
    on_time: Mapped[int] = _count()
    office_days: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")


class StatPostDay(Base):
    """Tasks of a post completed on a day that had a stage limit, and how many by it."""

    __tablename__ = "stat_post_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id"), primary_key=True,
                                         autoincrement=False)  # fmt: skip
    completed: Mapped[int] = _count()
    on_time: Mapped[int] = _count()


class StatPostMonth(Base):
    """The sum of a calendar month's stat_post_days rows of a post (month: its first day)."""

    __tablename__ = "stat_post_months"

    month: Mapped[dt.date] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(sa.ForeignKey("posts.id"), primary_key=True,
                                         autoincrement=False)  # fmt: skip
    completed: Mapped[int] = _count()
    on_time: Mapped[int] = _count()


class StatOpenDay(Base):
    """How many cases of an item and window were open at the end of a local day."""

    __tablename__ = "stat_open_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    item_id: Mapped[int] = _item()
    window_id: Mapped[int] = _key()
    cases: Mapped[int] = _count()


class StatRoll(Base):
    """One day of the cache: when it was last rolled and how many rows it has."""

    __tablename__ = "stat_rolls"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    rolled_at: Mapped[dt.datetime]
    rows: Mapped[int] = _count()
    open_rows: Mapped[int | None]  # stat_open_days rows; NULL: the day's snapshot not kept


# --- which days are settled --------------------------------------------------------------------


def settled(cal: WorkCalendar, day: dt.date, rolled_at: dt.datetime | None) -> bool:
    """Whether a day rolled at `rolled_at` is settled: rolled SETTLE after it ended."""
    return rolled_at is not None and rolled_at >= cal.utc(day + dt.timedelta(days=1),
                                                          dt.time()) + SETTLE  # fmt: skip


def settled_days(db: Session, cal: WorkCalendar, since: dt.date | None = None,
                 until: dt.date | None = None) -> set[dt.date]:  # fmt: skip
    """Return the settled days (between `since` and `until`, if given)."""
    query = sa.select(StatRoll.day, StatRoll.rolled_at)
    if since is not None:
        query = query.where(StatRoll.day >= since)
    if until is not None:
        query = query.where(StatRoll.day <= until)
    return {day for day, rolled_at in db.execute(query) if settled(cal, day, rolled_at)}


def runs(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Return the runs of consecutive days, (first, last) each, in order."""
    out: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if out and out[-1][1] + dt.timedelta(days=1) == day:
            out[-1] = (out[-1][0], day)
        else:
            out.append((day, day))
    return out


def within(column: sa.ColumnElement, spans: list[tuple[dt.date, dt.date]]
           ) -> sa.ColumnElement[bool]:  # fmt: skip
    """`column` (a day) lies in one of the runs (false when there are none)."""
    if not spans:
        return sa.false()
    return sa.or_(*(column.between(first, last) for first, last in spans))
