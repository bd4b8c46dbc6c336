"""The statistics page and the supervision page read the days the statistics cache has
settled from it and count only the other days: what they show equals counting every case,
task and event (and a hand count), with every day settled, some, or none; across months,
across the Spring Festival, and after a calendar year is added (on both databases)."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import sqlalchemy as sa
from alembic import command
from chinese_calendar import constants

from app.calendar.admin import add_year
from app.calendar.models import CalendarDay, CalendarYear
from app.calendar.services import calendar, forget
from app.cases.models import Task
from app.db import session
from app.migrate import alembic_config
from app.org.models import Department, Post
from app.stats import rollup
from app.stats.grouping import Filters
from app.stats.periods import Period
from app.stats.queries import register, series
from app.stats.tables import (
    StatDay,
    StatDaysTaken,
    StatOpenDay,
    StatPostDay,
    StatPostMonth,
    StatRoll,
    StatTaskDay,
    settled_days,
)
from app.supervision.reports import overview
from tests.casegen import generate
from tests.test_stats import (
    START,
    Clock,
    _user,
    assert_rows_match,
    build,
    hand_count,
    local_day,
    read_raw,
)

FEBRUARY = Period.parse("2026-02")
# the Spring Festival of 2026: 15-23 February off, Saturdays 14 and 28 February worked
FESTIVAL = Period(dt.date(2026, 2, 12), dt.date(2026, 2, 26))
ACROSS = Period(dt.date(2026, 1, 20), dt.date(2026, 3, 10))  # three months, in part


def seen(rows) -> list[tuple]:
    """What the register shows of each row: its place, every figure, the task figures."""
    out = []
    for r in rows:
        f, t = r.figures, r.tasks
        figures = None
        if f is not None:
            figures = (f.summable(), f.completed, f.still_open, f.days_taken_p90,
                       f.completion_rate, f.on_time_rate_promised, f.on_time_rate_statutory,
                       f.days_taken_avg, f.complaints)  # fmt: skip
        tasks = None
        if t is not None:
            tasks = (t.completed, t.with_limit, t.on_time, t.on_time_rate, t.office_days_avg,
                     round(t.office_days_sum, 6))  # fmt: skip
        out.append((r.key, r.code, r.label, r.depth, r.parent, figures, tasks))
    return out


def counted(read):
    """What `read` shows when no day of the cache is settled: every figure counted from the
    cases, tasks and events (the rolls are put back afterwards)."""
    db = session()
    db.execute(sa.delete(StatRoll))
    try:
        return read()
    finally:
        db.rollback()


def unsettle(*days: dt.date) -> None:
    """Days rolled but not settled: the job has rolled them once, just after they ended."""
    cal = calendar()
    db = session()
    for day in days:
        after = cal.utc(day + dt.timedelta(days=1), dt.time(0, 10))
        db.execute(sa.update(StatRoll).where(StatRoll.day == day).values(rolled_at=after))
    db.commit()


def hand_rates() -> list[dict]:
    """The supervision page's on-time rates counted by hand from every completed task."""
    per: dict[str, list[int]] = {}
    for name, completed_at, due_at in session().execute(
        sa.select(Department.name, Task.completed_at, Task.due_at)
        .join(Post, Post.id == Task.post_id).join(Department, Department.id == Post.department_id)
        .where(Task.state == "completed", Task.due_at.is_not(None))
    ):  # fmt: skip
        count = per.setdefault(name, [0, 0])
        count[0] += 1
        count[1] += completed_at <= due_at
    return [{"department": name, "completed": n, "on_time": k, "rate": round(100 * k / n, 1)}
            for name, (n, k) in sorted(per.items())]  # fmt: skip


def both_ways(*args) -> tuple[list, list]:
    """What the register of `args` shows, and what it shows with no day settled."""
    return seen(register(*args)), counted(lambda: seen(register(*args)))


CHECKS = (
    (FEBRUARY, "department", None, True),
    (FEBRUARY, "official", None, True),
    (FESTIVAL, "item", None, True),
    (ACROSS, "window", None, True),
    (ACROSS, "department", None, False),
    (ACROSS, "total", Filters(kind="promised"), True),
    (Period.parse("2026-03"), "region", None, True),
)


def test_settled_days_from_the_cache_and_the_rest_counted_show_the_same_figures(demo_app):
    scene = build(demo_app)
    whole = Period(local_day(START), scene.today())
    raw = read_raw(demo_app)
    with demo_app.app_context():
        db = session()
        settled = settled_days(db, calendar())
        # the scheduler settled every day up to the day before yesterday: February and
        # March whole, January from the first case on
        assert set(FEBRUARY.days()) | set(Period.parse("2026-03").days()) <= settled
        assert dt.date(2026, 1, 4) not in settled and whole.until not in settled
        for check in CHECKS:
            shown, direct = both_ways(*check)
            assert shown == direct, check
            assert any(row[5] or row[6] for row in shown)
        everything = lambda c: ["total"]  # noqa: E731
        for period in (FEBRUARY, FESTIVAL, ACROSS, whole):
            assert_rows_match(register(period), hand_count(raw, period, everything,
                                                           lambda d: ["total"]), True)  # fmt: skip
        by_week = seen_points(series(whole, "week", "department"))
        assert by_week == counted(lambda: seen_points(series(whole, "week", "department")))
        assert seen_points(series(FEBRUARY, "day")) == counted(
            lambda: seen_points(series(FEBRUARY, "day")))  # fmt: skip
        rates = overview()["rates"]
        assert rates == counted(lambda: overview()["rates"]) == hand_rates()
        assert sum(r["completed"] for r in rates) > 100

        # the cache is what is read for a settled day: a figure changed there shows
        row = db.scalars(sa.select(StatDay).where(StatDay.day == dt.date(2026, 2, 10))
                         .order_by(StatDay.item_id).limit(1)).one()  # fmt: skip
        before = register(FEBRUARY)[0].figures.received
        row.received += 1000
        db.flush()
        assert register(FEBRUARY)[0].figures.received == before + 1000
        db.rollback()
        # and the open snapshot at the end of a settled last day
        kept = db.scalars(sa.select(StatOpenDay).where(StatOpenDay.day == FEBRUARY.until)
                          .order_by(StatOpenDay.item_id).limit(1)).one()  # fmt: skip
        assert kept.cases > 0
        before = register(FEBRUARY)[0].figures.still_open
        assert before == counted(lambda: register(FEBRUARY)[0].figures.still_open)
        kept.cases += 7
        db.flush()
        assert register(FEBRUARY)[0].figures.still_open == before + 7
        db.rollback()

        # days across the festival and one in March rolled but not settled: counted again,
        # the rest still read from the cache
        unsettle(dt.date(2026, 2, 13), dt.date(2026, 2, 14), dt.date(2026, 2, 15),
                 dt.date(2026, 2, 24), dt.date(2026, 3, 2))  # fmt: skip
        assert dt.date(2026, 2, 14) not in settled_days(db, calendar())
        for check in CHECKS:
            shown, direct = both_ways(*check)
            assert shown == direct, check
        for period in (FEBRUARY, FESTIVAL, ACROSS):
            assert_rows_match(register(period), hand_count(raw, period, everything,
                                                           lambda d: ["total"]), True)  # fmt: skip
        assert overview()["rates"] == hand_rates()


def seen_points(points) -> list[tuple]:
    return [(p.label, seen(p.rows)) for p in points]


def test_a_calendar_year_added_later_counts_as_it_does_without_the_cache(demo_app):
    # 2026 is not in the calendar yet: its days count by the fallback (the law's fixed
    # days off: a shorter Spring Festival, no Saturdays worked)
    with demo_app.app_context():
        db = session()
        db.execute(sa.delete(CalendarDay).where(
            CalendarDay.day.between(dt.date(2026, 1, 1), dt.date(2026, 12, 31))))  # fmt: skip
        db.execute(sa.delete(CalendarYear).where(CalendarYear.year == 2026))
        db.commit()
        forget()
    build(demo_app)
    everything = lambda c: ["total"]  # noqa: E731
    with demo_app.app_context():
        db = session()
        assert set(FEBRUARY.days()) <= settled_days(db, calendar())
        fallback = seen(register(FEBRUARY, "department")) + seen(register(FESTIVAL, "official"))
        assert fallback == counted(lambda: seen(register(FEBRUARY, "department"))
                                   + seen(register(FESTIVAL, "official")))  # fmt: skip
        # the State Council's notice for 2026 is added
        days = [(d, str(n)) for d, n in constants.holidays.items() if d.year == 2026]
        worked = [(d, str(n)) for d, n in constants.workdays.items() if d.year == 2026]
        assert chinese_calendar.is_workday(dt.date(2026, 2, 14))  # a Saturday worked
        add_year(_user("admin"), 2026, "国办发明电〔2025〕7号", days, worked)
        assert not set(FEBRUARY.days()) & settled_days(db, calendar())
    raw = read_raw(demo_app)  # the due dates the new year moved, as stored now
    with demo_app.app_context():
        db = session()
        counted_now = seen(register(FEBRUARY, "department")) + seen(register(FESTIVAL, "official"))
        assert counted_now != fallback  # working days and office time changed
        for period in (FEBRUARY, FESTIVAL, ACROSS):
            assert_rows_match(register(period), hand_count(raw, period, everything,
                                                           lambda d: ["total"]), True)  # fmt: skip
        # the scheduler's next round rolls those days again with the new calendar
        rollup.catch_up(db)
        assert set(FEBRUARY.days()) <= settled_days(db, calendar())
        assert seen(register(FEBRUARY, "department")) + seen(
            register(FESTIVAL, "official")) == counted_now  # fmt: skip
        for period in (FEBRUARY, FESTIVAL, ACROSS):
            assert_rows_match(register(period), hand_count(raw, period, everything,
                                                           lambda d: ["total"]), True)  # fmt: skip


def _cache(db) -> dict[str, list[tuple]]:
    """Every row of the cache but when it was rolled."""
    out = {}
    for table in (StatDay, StatDaysTaken, StatTaskDay, StatPostDay, StatPostMonth, StatOpenDay,
                  StatRoll):  # fmt: skip
        columns = [c for c in table.__table__.columns if c.name != "rolled_at"]
        out[table.__tablename__] = sorted(
            tuple(round(v, 9) if isinstance(v, float) else v for v in row)
            for row in db.execute(sa.select(*columns))
        )
    return out


def test_the_migration_rolls_again_the_days_the_cache_held(demo_app, database_url):
    clock = Clock(START)
    demo_app.config["CLOCK"] = clock

    def later(rnd) -> None:
        clock.now += dt.timedelta(hours=rnd.randint(2, 30))

    generate(demo_app, 12, seed=5, before_step=later)
    with demo_app.app_context():
        clock.now += dt.timedelta(days=3)
        rolled = rollup.catch_up(session())
        assert len(rolled) > 10
        before = _cache(session())
        assert all(before.values())
        session().close()
    demo_app.extensions["ow_engine"].dispose()
    # the database as it was before 0025: the cache's first two tables and its rolls only
    command.downgrade(alembic_config(database_url), "0024")
    command.upgrade(alembic_config(database_url), "head")
    with demo_app.app_context():
        db = session()
        assert _cache(db) == before
        assert set(rolled) <= settled_days(db, calendar())  # rolled now: long after each day
