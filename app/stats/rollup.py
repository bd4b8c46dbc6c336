"""The rollup cache of the register: the summable figures per local day, item and window.

`stat_days` holds one row per (local day, item, window clerk) that counted anything, with
the summable figures of app.stats.figures (SUMMABLE) and when the row was rolled;
`stat_rolls` holds one row per day rolled, empty days included. The cache is only a cache:
each day is recomputed from the cases and events (delete and insert, so rolling a day twice
gives the same rows) and `rebuild` makes any range afresh. The figures that do not sum
over days — the open snapshot, the 90th percentile, the complaints and the task figures —
are never cached: `register_from_cache` leaves them None, and the direct register counts
them from the cases every time.

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

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..calendar.services import WorkCalendar, calendar
from ..cases.models import Case
from ..db import Base, session, utcnow
from ..errors import InvalidInput
from .figures import SUMMABLE, Figures, Row, cells_of
from .grouping import Filters, Register
from .periods import Period
from .queries import case_facts

SETTLE = dt.timedelta(days=1)


def _count() -> Mapped[int]:
    return mapped_column(default=0, server_default="0")


class StatDay(Base):
    """The summable figures of one local day, item and window clerk (0: none)."""

    __tablename__ = "stat_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), primary_key=True,
                                         autoincrement=False)  # fmt: skip
    window_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
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


class StatRoll(Base):
    """One day of the cache: when it was last rolled and how many rows it has."""

    __tablename__ = "stat_rolls"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    rolled_at: Mapped[dt.datetime]
    rows: Mapped[int] = _count()


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


def roll_day(db: Session, day: dt.date, now: dt.datetime | None = None) -> int:
    """Recompute one local day of the cache from the cases and events; return its rows.

    The caller commits (rebuild and catch_up commit after each day).
    """
    now = now or utcnow()
    cal = calendar()
    _mark(db, day, now, 0)
    start, end = Period(day, day).bounds(cal)
    cells = cells_of(case_facts(db, cal, start, end))
    db.execute(sa.delete(StatDay).where(StatDay.day == day))
    if cells:
        db.execute(sa.insert(StatDay), [
            {"day": day, "item_id": item_id, "window_id": window_id, **figures.summable(),
             "rolled_at": now}
            for (item_id, window_id), figures in sorted(cells.items())
        ])  # fmt: skip
    _mark(db, day, now, len(cells))
    return len(cells)


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
        day for day in Period(first, yesterday).days()
        if day not in rolled
        or rolled[day] < cal.utc(day + dt.timedelta(days=1), dt.time()) + SETTLE
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
