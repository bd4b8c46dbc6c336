"""Audit events: one row per change of a case, chained by hash."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base


class Event(Base):
    """One append-only event of a case; `hash` is its seal over the event and the previous
    seal: an HMAC under audit key `key_id` (NULL: a plain SHA-256 from before the keys)."""

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "seq"),
        sa.Index("ix_events_type_at", "type", "at"),  # the statistics read events by type
    )

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    seq: Mapped[int]
    type: Mapped[str] = mapped_column(sa.String(40))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[dt.datetime]
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    data: Mapped[dict] = mapped_column(sa.JSON)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    hash: Mapped[str] = mapped_column(sa.String(64))
    key_id: Mapped[str | None] = mapped_column(sa.String(16))


class AuditView(Base):
    """Who opened which case (or export) in the audit pages, and when."""

    __tablename__ = "audit_views"
    __table_args__ = (sa.Index("ix_audit_views_case", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    page: Mapped[str] = mapped_column(sa.String(40))  # timeline | replay | verify | export
    at: Mapped[dt.datetime]
