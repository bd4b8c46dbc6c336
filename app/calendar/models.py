"""The working-day calendar: which years are known, and their holidays and make-up days."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow


class CalendarYear(Base):
    """A year whose holidays and make-up working days are known (from the State Council)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(sa.String(300))  # e.g. 国办发明电〔2025〕7号, or a package
    added_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class CalendarDay(Base):
    """A day that differs from the weekday rule: a holiday, or a make-up working day (调休)."""

    __tablename__ = "calendar_days"

    day: Mapped[dt.date] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(10))  # holiday | workday
    name: Mapped[str] = mapped_column(sa.String(100), default="")
