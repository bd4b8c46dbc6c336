"""Online applications and their uploads, evaluations and follow-ups, query attempts."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow
from ..privacy import Encrypted

APPLICATION_STATUSES = ("submitted", "supplement_required", "invited", "accepted", "withdrawn")
LEVELS = {5: "非常满意", 4: "满意", 3: "基本满意", 2: "不满意", 1: "非常不满意"}
BAD_LEVELS = frozenset({1, 2})


class OnlineApplication(Base):
    """An application made online (网上申请), waiting for a clerk's pre-review (预审)."""

    __tablename__ = "online_applications"
    __table_args__ = (sa.Index("ix_online_applications_status", "status", "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)  # WS-20261123-0001
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    applicant_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    applicant_name: Mapped[str] = mapped_column(sa.String(200))
    applicant_id_number: Mapped[str] = mapped_column(Encrypted)
    applicant_phone: Mapped[str | None] = mapped_column(Encrypted)
    form: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    status: Mapped[str] = mapped_column(sa.String(24), default="submitted")
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    review_due_at: Mapped[dt.datetime]  # five working days to tell what is missing (art. 32)
    missing: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{code, name, why}]
    review_note: Mapped[str | None] = mapped_column(sa.Text)
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime | None]
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    history: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{at, who, what, note}]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Upload(Base):
    """One uploaded material file; stored under a random name, never the applicant's."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("online_applications.id"), index=True)
    material_code: Mapped[str] = mapped_column(sa.String(64))
    filename: Mapped[str] = mapped_column(sa.String(200))  # shown only, cleaned
    stored_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_type: Mapped[str] = mapped_column(sa.String(80))  # from the content, not the name
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    scan: Mapped[str] = mapped_column(sa.String(16), default="clean")  # clean | unscanned
    uploaded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    replaced_at: Mapped[dt.datetime | None]  # a newer file of the same material replaced it


class Evaluation(Base):
    """An applicant's rating of a decided case (好差评), first or after a follow-up."""

    __tablename__ = "evaluations"
    __table_args__ = (sa.UniqueConstraint("case_id", "round"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    round: Mapped[int] = mapped_column(default=1)  # 1 the rating, 2 after the follow-up
    level: Mapped[int]  # 5 非常满意 … 1 非常不满意
    comment: Mapped[str | None] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(16))  # window | online
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FollowUp(Base):
    """A follow-up (回访) of a bad rating by the supervision office, with its rectification."""

    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluations.id"), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"), index=True)
    opened_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime]  # five working days
    status: Mapped[str] = mapped_column(sa.String(12), default="open")  # open | closed
    contact_note: Mapped[str | None] = mapped_column(sa.Text)  # what the applicant said
    rectification: Mapped[str | None] = mapped_column(sa.Text)  # what was put right
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    closed_at: Mapped[dt.datetime | None]
    second_evaluation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evaluations.id"))
    warned: Mapped[str] = mapped_column(sa.String(8), default="")  # "", yellow, red


class QueryAttempt(Base):
    """A failed public query (wrong case number or code), counted to throttle guessing."""

    __tablename__ = "query_attempts"
    __table_args__ = (sa.Index("ix_query_attempts_key_at", "key", "at"),)

    id: Mapped[int] = mapped_column(
        sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True
    )
    key: Mapped[str] = mapped_column(sa.String(120))  # ip:<addr> or case:<no>
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
