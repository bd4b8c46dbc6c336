"""Catalogue items (事项) and immutable diagram versions."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow

ITEM_KINDS = ("immediate", "promised", "joint", "reported")


class Item(Base):
    """A licensing item with its seven disclosures; `entry` holds the full catalogue entry."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    process_id: Mapped[str] = mapped_column(sa.String(200))
    statutory_days: Mapped[int] = mapped_column(default=20)
    promised_days: Mapped[int] = mapped_column(default=20)
    entry: Mapped[dict] = mapped_column(sa.JSON)
    active: Mapped[bool] = mapped_column(default=True)


class DiagramVersion(Base):
    """One deployed version of an item's diagram; never changed once stored."""

    __tablename__ = "diagram_versions"
    __table_args__ = (sa.UniqueConstraint("item_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    version: Mapped[int]
    process_id: Mapped[str] = mapped_column(sa.String(200))
    filename: Mapped[str] = mapped_column(sa.String(255))
    content: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    comment: Mapped[str] = mapped_column(sa.String(500), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    deployed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def version_numbers(db, ids) -> dict[int, int]:
    """The version numbers of deployed versions, by version id."""
    rows = db.execute(sa.select(DiagramVersion.id, DiagramVersion.version)
                      .where(DiagramVersion.id.in_(list(ids)))).all()  # fmt: skip
    return dict(rows)
