"""The licence registry: one row per licence granted, its history, its numbers, and the
signed documents issued (kept whole, with their SHA-256, for verification)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..db import Base, partial_index, utcnow

# in force until a later decision or the end of its validity; `expiring` is shown, not
# stored: in force and within the renewal reminder's period
STATUSES = ("in_force", "expired", "changed", "revoked", "cancelled")
IN_FORCE = "in_force"


class Licence(Base):
    """A licence granted by an approval: its number in the authority's yearly series, the
    holder, what it allows, for how long, and its status."""

    __tablename__ = "licences"
    __table_args__ = (
        sa.UniqueConstraint("authority_id", "year", "seq", name="uq_licences_series"),
        sa.Index("ix_licences_case", "case_id"),
        sa.Index("ix_licences_holder", "holder_name"),
        # the reminder round: licences in force by the day their reminder is due
        partial_index("ix_licences_remind", "remind_on",
                      where="status = 'in_force' AND reminded_at IS NULL"),
        partial_index("ix_licences_expiry", "valid_until", where="status = 'in_force'"),
    )  # fmt: skip

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(80), unique=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)  # the QR's short code
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))  # the granting case
    year: Mapped[int]
    seq: Mapped[int]
    holder_name: Mapped[str] = mapped_column(sa.String(200))
    holder_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(sa.String(200))  # 建设工程规划许可证
    matter: Mapped[str] = mapped_column(sa.String(200))  # 建设工程规划许可
    content: Mapped[str] = mapped_column(sa.Text)
    conditions: Mapped[list] = mapped_column(sa.JSON, default=list)
    issued_on: Mapped[dt.date]  # the centre's local day of the decision
    valid_until: Mapped[dt.date | None]  # None: no term
    status: Mapped[str] = mapped_column(sa.String(16), default=IN_FORCE)
    status_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    remind_on: Mapped[dt.date | None]  # the working day the renewal reminder goes
    reminded_at: Mapped[dt.datetime | None]
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("licences.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LicenceEvent(Base):
    """One entry of a licence's history after its issue (the licence row itself says when
    and by which case it was issued): renewed, changed, revoked, cancelled, expired,
    reminded, or a licence case decided against it."""

    __tablename__ = "licence_events"
    __table_args__ = (sa.Index("ix_licence_events_licence", "licence_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_id: Mapped[int] = mapped_column(sa.ForeignKey("licences.id"))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(sa.String(24))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cases.id"))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)


class SignedDocument(Base):
    """A document issued as a signed PDF, kept whole: the same bytes every time it is
    fetched, and its SHA-256 to tell an uploaded copy from an edited one."""

    __tablename__ = "signed_documents"
    __table_args__ = (
        sa.UniqueConstraint("case_id", "kind", name="uq_signed_documents_case_kind"),
        sa.Index("ix_signed_documents_sha256", "sha256"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))  # decision | licence
    licence_id: Mapped[int | None] = mapped_column(sa.ForeignKey("licences.id"))
    authority_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    size: Mapped[int]
    content: Mapped[bytes] = deferred(mapped_column(sa.LargeBinary))
    signed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
