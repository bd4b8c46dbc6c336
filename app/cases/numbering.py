"""The yearly number series of each authority: its decision numbers (机关代字〔年〕序号) and
its licence numbers, one row per authority, year and series in `number_series`.

`next_numbers` takes the next number of several series in one statement: an upsert that
increments under the rows' locks, so two workers never get the same number. The deciding
step numbers its decisions and the licences they grant with one such statement.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from .models import NumberSeries

DECISION, LICENCE = "decision", "licence"
_UPSERT: dict[int, sa.TextClause] = {}  # number of series -> the statement


def next_numbers(db: Session, keys: list[tuple[int, str]], year: int) -> dict[tuple[int, str], int]:
    """The next number of each (department id, series) for `year`."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    stmt = _UPSERT.get(len(wanted))
    if stmt is None:  # the same text on PostgreSQL and SQLite (3.35+: RETURNING)
        rows = ", ".join(f"(:d{i}, :year, :s{i}, 1)" for i in range(len(wanted)))
        stmt = _UPSERT[len(wanted)] = sa.text(
            f"INSERT INTO {NumberSeries.__tablename__} (department_id, year, series, last) "
            f"VALUES {rows} ON CONFLICT (department_id, year, series) "
            "DO UPDATE SET last = number_series.last + 1 RETURNING department_id, series, last"
        )
    params: dict = {"year": year}
    for i, (dept, series) in enumerate(wanted):
        params[f"d{i}"], params[f"s{i}"] = dept, series
    return {(r.department_id, r.series): int(r.last) for r in db.execute(stmt, params)}
