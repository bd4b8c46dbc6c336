"""Operations on departments, users and posts; assignment of tasks to people."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import SimpleNamespace

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session, aliased
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Absence, Post, User
from .presence import (
    Assignment,
    absence_barrier,
    away_at,
    candidate_ids,
    choose_holder,
    covering,
    not_checked_in,
)
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
    # the signers of multi-instance stages (会签) by username: each as a post of their own,
    # they as A and the B of a post they are A of standing in for them
    signers: dict[str, SimpleNamespace] = field(default_factory=dict)

    def holder(self, label: str | None, excluded: dict[int, str]) -> Assignment:
        """Return who gets a task of the post named `label`."""
        return choose_holder(self.posts.get(label or ""), label, self.away, excluded)

    def signer(self, username: str, label: str | None, excluded: dict) -> Assignment:
        """Return who signs one instance of a 会签 stage for `username`: they, else the B who
        stands in for them (acting for them), else nobody (the stage's post queue). A
        username that names nobody who can sign goes to the queue as well."""
        post = self.posts.get(label or "")
        own = self.signers.get(username)
        if own is None:
            return Assignment(post.id if post else None, None, None,
                              {"reason": "queue", "post": post.id if post else None,
                               "passed": [["A", "unset"]]}, escalated=True)  # fmt: skip
        chosen = choose_holder(own, label, self.away, excluded)
        if chosen.assignee_id is None:
            return Assignment(post.id if post else None, None, None,
                              {**chosen.reason, "post": post.id if post else None}, True)
        code = "signer" if chosen.acting_for_id is None else "signer_b"
        reason = {"reason": code, "signer": own.a_user_id}
        if chosen.reason.get("passed"):
            reason["passed"] = chosen.reason["passed"]
        return Assignment(post.id if post else None, chosen.assignee_id, chosen.acting_for_id,
                          reason)  # fmt: skip


# The posts with their holders' ID numbers and the absences that cover the moment, in one
# statement built once (aliases made per call cost more than the query). The posts are read
# as plain rows (their columns by name): loading ORM objects costs more than the read.
_A, _B, _LEAD = aliased(User), aliased(User), aliased(User)
_AWAY = {role: aliased(Absence) for role in ("a", "b", "lead")}


def _covering(absence, holder) -> sa.ColumnElement[bool]:
    return sa.and_(absence.user_id == holder, covering(absence))


_STAFFING = (
    sa.select(
        *Post.__table__.columns,
        _A.id_number.label("a_number"), _B.id_number.label("b_number"),
        _LEAD.id_number.label("lead_number"),
        *(col for role, absence in _AWAY.items()
          for col in (absence.kind.label(f"{role}_away"), absence.ends_at.label(f"{role}_until"))),
    )
    .outerjoin(_A, _A.id == Post.a_user_id)
    .outerjoin(_B, _B.id == Post.b_user_id)
    .outerjoin(_LEAD, _LEAD.id == Post.leader_user_id)
    .outerjoin(_AWAY["a"], _covering(_AWAY["a"], Post.a_user_id))
    .outerjoin(_AWAY["b"], _covering(_AWAY["b"], Post.b_user_id))
    .outerjoin(_AWAY["lead"], _covering(_AWAY["lead"], Post.leader_user_id))
    .where(
        sa.or_(
            Post.code.in_(sa.bindparam("names", expanding=True)),
            Post.name.in_(sa.bindparam("names", expanding=True)),
        )
    )
)  # fmt: skip


def signer_staff(db: Session, staff: Staffing, usernames: set[str], at: dt.datetime) -> None:
    """Add the signers named by 会签 instances to `staff`: their ID numbers, who stands in
    for them (the B of the first post they are A of) and who of them is away."""
    users = db.execute(sa.select(User.id, User.username, User.id_number).where(
        User.username.in_(sorted(usernames)), User.active.is_(True))).all()  # fmt: skip
    if not users:
        return
    ids = {u.id for u in users}
    backs = {}
    for a_id, b_id in db.execute(sa.select(Post.a_user_id, Post.b_user_id)
                                 .where(Post.a_user_id.in_(ids)).order_by(Post.code)):  # fmt: skip
        backs.setdefault(a_id, b_id)
    stand_ins = {b for b in backs.values() if b}
    numbers = {}
    if stand_ins:
        numbers = dict(db.execute(sa.select(User.id, User.id_number)
                                  .where(User.id.in_(stand_ins))).all())  # fmt: skip
    for user in users:
        staff.signers[user.username] = SimpleNamespace(
            id=None, shared=False, a_user_id=user.id, b_user_id=backs.get(user.id),
            leader_user_id=None)  # fmt: skip
        if user.id_number:
            staff.id_numbers[user.id] = user.id_number
    staff.id_numbers.update({k: v for k, v in numbers.items() if v})
    staff.away.update(away_at(db, ids | {b for b in backs.values() if b}, at))


def staffing(db: Session, names: set[str], at: dt.datetime) -> Staffing:
    """Load the posts by code or name with their holders' ID numbers, and who is away."""
    if not names:
        return Staffing({}, {}, {})
    rows = db.connection().execute(_STAFFING, {"names": sorted(names), "at": at}).all()
    posts: dict[str, Post] = {}
    id_numbers: dict[int, str] = {}
    away: dict[int, Barrier] = {}
    for post in rows:  # a holder away twice over at once gives the post twice: the same
        posts[post.code] = posts[post.name] = post
        for uid, number, kind, until in (
            (post.a_user_id, post.a_number, post.a_away, post.a_until),
            (post.b_user_id, post.b_number, post.b_away, post.b_until),
            (post.leader_user_id, post.lead_number, post.lead_away, post.lead_until),
        ):
            if uid and number:
                id_numbers[uid] = number
            if uid and kind is not None:
                away[uid] = absence_barrier(kind, until)
    unique = list({p.id: p for p in posts.values()}.values())
    remember_posts({p.id: post_label(p.name, p.code) for p in unique})
    not_checked_in(db, candidate_ids(unique), at, away)
    return Staffing(posts, away, id_numbers)


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
