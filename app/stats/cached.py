"""The register's figures of settled days, summed from the cache (app.stats.tables).

A settled day's rows hold what the direct count of that day gives (app.stats.rollup rolls
each day with the same reads), so the figures of a period are the sums of the cache over
its settled days plus the direct count of its other days; the 90th percentile is read from
the counts of cases per number of working days taken.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .figures import SUMMABLE, Cell, Figures, TaskFigures
from .tables import StatDay, StatDaysTaken, StatTaskDay, within

TaskCell = tuple[int, int, int]  # item id, window id, official id (0: not by official)


def case_cells(db: Session, spans: list[tuple[dt.date, dt.date]]) -> dict[Cell, Figures]:
    """The summable figures and the days taken of the days in `spans`, per item and window."""
    if not spans:
        return {}
    sums = db.execute(
        sa.select(StatDay.item_id, StatDay.window_id,
                  *(sa.func.sum(getattr(StatDay, name)) for name in SUMMABLE))
        .where(within(StatDay.day, spans))
        .group_by(StatDay.item_id, StatDay.window_id)
    ).all()  # fmt: skip
    cells = {(r[0], r[1]): Figures(**{name: int(v or 0) for name, v in zip(SUMMABLE, r[2:],
                                                                           strict=True)})
             for r in sums}  # fmt: skip
    taken = db.execute(
        sa.select(StatDaysTaken.item_id, StatDaysTaken.window_id, StatDaysTaken.days,
                  sa.func.sum(StatDaysTaken.cases))
        .where(within(StatDaysTaken.day, spans))
        .group_by(StatDaysTaken.item_id, StatDaysTaken.window_id, StatDaysTaken.days)
    )  # fmt: skip
    for item_id, window_id, days, count in taken:
        cells.setdefault((item_id, window_id), Figures()).days_taken.extend([days] * int(count))
    return cells


def task_cells(db: Session, spans: list[tuple[dt.date, dt.date]], by_official: bool
               ) -> dict[TaskCell, TaskFigures]:  # fmt: skip
    """The task figures of the days in `spans`, per item, window and (`by_official`) the
    official who completed them, else 0."""
    if not spans:
        return {}
    official = StatTaskDay.official_id if by_official else sa.literal(0)
    keys = (StatTaskDay.item_id, StatTaskDay.window_id, *((official,) if by_official else ()))
    rows = db.execute(
        sa.select(StatTaskDay.item_id, StatTaskDay.window_id, official,
                  sa.func.sum(StatTaskDay.completed), sa.func.sum(StatTaskDay.with_limit),
                  sa.func.sum(StatTaskDay.on_time), sa.func.sum(StatTaskDay.office_days))
        .where(within(StatTaskDay.day, spans))
        .group_by(*keys)
    )  # fmt: skip
    return {
        (item_id, window_id, int(official_id)): TaskFigures(
            int(completed), int(with_limit), int(on_time), float(office_days or 0.0))
        for item_id, window_id, official_id, completed, with_limit, on_time, office_days in rows
    }  # fmt: skip


def add_cells(into: dict, more: dict) -> dict:
    """Merge counted cells (Figures or TaskFigures) into `into`; return it."""
    for key, cell in more.items():
        if key in into:
            into[key].merge(cell)
        else:
            into[key] = cell
    return into
