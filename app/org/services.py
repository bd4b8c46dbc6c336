"""Operations on departments, users and posts; assignment of tasks to people."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, aliased
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Post, User
from .presence import Assignment, away_at, candidate_ids, choose_holder
from .reasons import Barrier, post_label, remember_posts


def hash_password(password: str) -> str:
    """Hash a password with the configured method."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password(user: User, password: str) -> bool:
    """Return whether the password matches the user's hash."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


@dataclass
class Staffing:
    """The posts a step may assign to, who is away now, and the holders' ID numbers."""

    posts: dict[str, Post]
    away: dict[int, str]
    id_numbers: dict[int, str]

    def holder(self, label: str | None, excluded: dict[int, str]) -> Assignment:
        """Return who gets a task of the post named `label`."""
        return choose_holder(self.posts.get(label or ""), label, self.away, excluded)


# the holders as three aliases made once: an alias made per call costs more than the query
_A, _B, _LEAD = aliased(User), aliased(User), aliased(User)
_STAFFING = (
    sa.select(Post, _A.id_number, _B.id_number, _LEAD.id_number)
    .outerjoin(_A, _A.id == Post.a_user_id)
    .outerjoin(_B, _B.id == Post.b_user_id)
    .outerjoin(_LEAD, _LEAD.id == Post.leader_user_id)
    .where(
        sa.or_(
            Post.code.in_(sa.bindparam("names", expanding=True)),
            Post.name.in_(sa.bindparam("names", expanding=True)),
        )
    )
)


def staffing(db: Session, names: set[str], at: dt.datetime) -> Staffing:
    """Load the posts by code or name with their holders' ID numbers, and who is away."""
    if not names:
        return Staffing({}, {}, {})
    rows = db.execute(_STAFFING, {"names": sorted(names)}).all()
    posts: dict[str, Post] = {}
    id_numbers: dict[int, str] = {}
    for post, a_number, b_number, lead_number in rows:
        posts[post.code] = posts[post.name] = post
        for uid, number in ((post.a_user_id, a_number), (post.b_user_id, b_number),
                            (post.leader_user_id, lead_number)):  # fmt: skip
            if uid and number:
                id_numbers[uid] = number
    unique = list({p.id: p for p in posts.values()}.values())
    remember_posts({p.id: post_label(p.name, p.code) for p in unique})
    return Staffing(posts, away_at(db, candidate_ids(unique), at), id_numbers)


def _text(barrier: Barrier | None) -> str | None:
    return str(barrier) if barrier is not None else None


def list_posts() -> list[dict]:
    """Return every post with its holders (username) and who of them is away now."""
    from ..db import session, utcnow

    db = session()
    posts = list(db.scalars(sa.select(Post).order_by(Post.code)))
    ids = candidate_ids(posts)
    names = dict(db.execute(sa.select(User.id, User.username).where(User.id.in_(ids))).all())
    away = away_at(db, ids, utcnow())
    out = []
    for post in posts:
        entry = {"id": post.id, "code": post.code, "name": post.name,
                 "department_id": post.department_id, "return_to_a": post.return_to_a,
                 "shared": post.shared}  # fmt: skip
        for key, uid in (("a", post.a_user_id), ("b", post.b_user_id),
                         ("leader", post.leader_user_id)):  # fmt: skip
            holder = {"id": uid, "username": names.get(uid), "away": _text(away.get(uid))}
            entry[key] = holder if uid else None
        out.append(entry)
    return out
