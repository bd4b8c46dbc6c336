"""Reads of the working-day calendar for its admin page."""

from __future__ import annotations

import sqlalchemy as sa

from ..db import session
from .models import CalendarYear


def years() -> list[CalendarYear]:
    """The years the calendar knows, latest first."""
    return list(session().scalars(sa.select(CalendarYear).order_by(CalendarYear.year.desc())))
