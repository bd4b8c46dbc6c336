"""Reads of the organisation for its pages: departments, users, posts, absences, check-ins."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from ..db import session, utcnow
from .models import Absence, CheckIn, Department, Post, User
from .presence import _local


def departments() -> list[Department]:
    """Every department, by code."""
    return list(session().scalars(sa.select(Department).order_by(Department.code)))


def users() -> list[User]:
    """Every user, active or not, by username."""
    return list(session().scalars(sa.select(User).order_by(User.username)))


def posts() -> list[Post]:
    """Every post, by code."""
    return list(session().scalars(sa.select(Post).order_by(Post.code)))


def department(dept_id: int) -> Department | None:
    return session().get(Department, dept_id)


def user(user_id: int) -> User | None:
    return session().get(User, user_id)


def post(post_id: int) -> Post | None:
    return session().get(Post, post_id)


def people_registrable_by(actor: User) -> list[User]:
    """Who `actor` may register an absence for: self and the holders of posts they lead;
    an admin, every active user. By username."""
    db = session()
    if actor.has_role("admin"):
        return list(
            db.scalars(sa.select(User).where(User.active.is_(True)).order_by(User.username))
        )
    led = db.execute(
        sa.select(Post.a_user_id, Post.b_user_id).where(Post.leader_user_id == actor.id)
    ).all()
    ids = {actor.id} | {u for row in led for u in row if u}
    return list(db.scalars(sa.select(User).where(User.id.in_(ids)).order_by(User.username)))


def recent_absences(user_ids: list[int], days: int = 30) -> list[sa.Row]:
    """The absences of these people that ended less than `days` ago or have not ended,
    latest start first, each with the person's name and username."""
    since = utcnow() - dt.timedelta(days=days)
    query = (
        sa.select(Absence, User.name, User.username)
        .join(User, User.id == Absence.user_id)
        .where(Absence.user_id.in_(user_ids), Absence.ends_at > since)
        .order_by(Absence.starts_at.desc())
    )
    return list(session().execute(query).all())


def check_in_today(person: User) -> CheckIn | None:
    """The user's check-in of today (the centre's local day), if any."""
    return session().get(CheckIn, (person.id, _local(utcnow()).date()))


def centre_name() -> str | None:
    """The name of the centre (the first department of kind centre), None if there is none."""
    return session().scalar(sa.select(Department.name).where(Department.kind == "centre")
                            .order_by(Department.id).limit(1))  # fmt: skip


def post_names() -> dict[str, str]:
    """Every post's name by its code (pages name a post, not its code)."""
    return dict(session().execute(sa.select(Post.code, Post.name)).all())
