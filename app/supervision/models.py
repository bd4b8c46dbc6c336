"""Warnings (红黄牌) and the notifications that tell people about them."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, partial_index, utcnow

WARNING_LEVELS = ("yellow", "red")


class WarningCard(Base):
    """A yellow or red card for a case or a task; issued once, closed when the work is done."""

    __tablename__ = "warnings"
    __table_args__ = (
        # one card per subject and level, whoever issues it: the database keeps it once
        sa.UniqueConstraint("subject", "level"),
        sa.Index("ix_warnings_case", "case_id"),
        sa.Index("ix_warnings_task", "task_id"),
        # the warning round: has this task its card of this level? (from the index alone)
        sa.Index("ix_warnings_task_level", "task_id", "level"),
        partial_index("ix_warnings_open", "issued_at", where="closed_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(60))  # case:<id> or task:<uuid>
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    level: Mapped[str] = mapped_column(sa.String(8))
    due_at: Mapped[dt.datetime]
    holder_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id"))
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[dt.datetime | None]


class Notification(Base):
    """A message to one person: a warning, an urging notice (督办), an escalation."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_user", "user_id", "created_at"),
        # the supervision page's last urging notices
        partial_index("ix_notifications_urging", "created_at", where="kind = 'urging'"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(20))  # yellow | red | urging | escalation
    text: Mapped[str] = mapped_column(sa.Text)
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    sender_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]
