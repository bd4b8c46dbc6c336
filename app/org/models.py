"""Departments, users and posts (岗位) with their A/B handlers."""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column

from ..db import Base, utcnow
from ..privacy import Encrypted

ROLES = ("clerk", "official", "leader", "supervisor", "auditor", "analyst", "admin", "applicant")
STAFF_ROLES = frozenset(ROLES) - {"applicant"}


REGION_LEVELS = ("province", "city", "county", "township")  # 四级服务体系


class Region(Base):
    """An administrative level the installation serves: province, city, county, township.

    Each has its own centre and departments; figures roll up from a region to its parent.
    """

    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(12))
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"))


class Department(Base):
    """A centre, bureau, section or supervision office."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20), default="bureau")
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    region_id: Mapped[int | None] = mapped_column(sa.ForeignKey("regions.id"))
    # a licensing authority's own: the prefix of its decision numbers (机关代字, e.g. 示自然资规许)
    # and the words of its seal under its name (e.g. 行政许可专用章)
    number_prefix: Mapped[str | None] = mapped_column(sa.String(40))
    seal_text: Mapped[str | None] = mapped_column(sa.String(40))


class DepartmentHead(Base):
    """A head (负责人) of a department: its principal (rank 0, 局长/市长) or a deputy (rank 1).

    The heads of a licensing authority approve its extensions (行政许可法 art. 42); the
    heads of the government (kind `government`) those of a joint case (art. 42(2)).
    """

    __tablename__ = "department_heads"

    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(40))  # as printed: 局长, 副局长, 副市长
    rank: Mapped[int] = mapped_column(default=0)


class User(UserMixin, Base):
    """A person who logs in: staff member or applicant."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    roles: Mapped[str] = mapped_column(sa.String(200), default="")
    phone: Mapped[str | None] = mapped_column(Encrypted)
    id_number: Mapped[str | None] = mapped_column(Encrypted)
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def role_set(self) -> frozenset[str]:
        """Return the roles the user holds."""
        return frozenset(r for r in self.roles.split() if r)

    def has_role(self, *roles: str) -> bool:
        """Return whether the user holds any of the given roles."""
        return bool(self.role_set.intersection(roles))

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated account cannot log in
        return bool(self.active)

    def get_id(self) -> str:
        """Flask-Login's id for the cookie: the random id of the web session this object was
        logged in or loaded with (app/auth/sessions.py), never the user's own id."""
        token = getattr(self, "web_session_token", None)
        if not token:
            raise RuntimeError("a web log-in starts a session first (app.auth.sessions.start)")
        return token

    def __eq__(self, other):  # Flask-Login's compares get_id, now a session's id
        if not isinstance(other, User):
            return NotImplemented
        return other is self or (self.id is not None and other.id == self.id)

    __hash__ = object.__hash__


def password_stamp(user: User) -> str:
    """Return a short stamp of the password hash (sessions and tokens carry it)."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:12]


class Post(Base):
    """A post (岗位) named by diagram lanes: first handler A, second handler B, leader."""

    __tablename__ = "posts"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))
    a_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    b_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    leader_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # when A comes back, tasks B has not started go back to A
    return_to_a: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # a shared post offers its tasks to every present holder; the first to claim does it
    shared: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


ABSENCE_KINDS = ("leave", "trip", "sick", "other")


class Absence(Base):
    """A period a person is away (leave, business trip, sick leave); tasks move to B."""

    __tablename__ = "absences"
    __table_args__ = (sa.Index("ix_absences_user_ends", "user_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(sa.String(16))
    starts_at: Mapped[dt.datetime]
    ends_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(sa.String(300), default="")
    registered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    cancelled_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CheckIn(Base):
    """A person's daily check-in (考勤); without one by the deadline they count as away."""

    __tablename__ = "checkins"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), primary_key=True)
    day: Mapped[dt.date] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime]
