"""The admin's changes to departments, users and posts; every change is logged."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace

import sqlalchemy as sa
from flask_babel import gettext as _

from ..auth import sessions as web_sessions
from ..cases.status import TaskState
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from .models import ROLES, Department, Post, User
from .presence import away_at, choose_holder, exclusions
from .services import hash_password

log = logging.getLogger("onewindow.admin")


def _require_admin(actor: User) -> None:
    if not actor.has_role("admin"):
        raise Forbidden(_("only an admin manages departments, users and posts"))


def _unique(model, column, value, own_id: int | None, what: str) -> None:
    other = session().scalar(sa.select(model.id).where(column == value))
    if other is not None and other != own_id:
        raise Conflict(_("another %(what)s already uses '%(value)s'", what=what, value=value))


@transactional
def save_department(actor: User, dept_id: int | None, code: str, name: str, kind: str,
                    parent_id: int | None, number_prefix: str = "",
                    seal_text: str = "") -> Department:  # fmt: skip
    """Create or change a department; a licensing authority's number prefix (机关代字) and
    seal words are what its decisions are numbered and sealed with."""
    _require_admin(actor)
    db = session()
    dept = db.get(Department, dept_id) if dept_id else Department()
    if dept is None:
        raise NotFound(_("no department %(dept_id)s", dept_id=dept_id))
    _unique(Department, Department.code, code, dept_id, _("department"))
    if parent_id and (parent_id == dept_id or db.get(Department, parent_id) is None):
        raise InvalidInput(_("a department cannot be part of itself or of a missing one"))
    dept.code, dept.name, dept.kind, dept.parent_id = code, name, kind, parent_id or None
    dept.number_prefix = (number_prefix or "").strip() or None
    dept.seal_text = (seal_text or "").strip() or None
    db.add(dept)
    db.flush()
    log.info("department %s saved by %s", code, actor.username)
    return dept


@transactional
def save_user(actor: User, user_id: int | None, *, username: str, name: str, roles: list[str],
              department_id: int | None, phone: str, id_number: str, password: str,
              active: bool) -> User:  # fmt: skip
    """Create or change a user; a new user needs a password."""
    _require_admin(actor)
    db = session()
    user = db.get(User, user_id) if user_id else User()
    if user is None:
        raise NotFound(_("no user %(user_id)s", user_id=user_id))
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise InvalidInput(_("unknown roles: %(items)s", items=", ".join(sorted(unknown))))
    if user_id == actor.id and ("admin" not in roles or not active):
        raise Conflict(_("you cannot take away your own admin role or deactivate yourself"))
    _unique(User, User.username, username, user_id, _("user"))
    if not user_id and not password:
        raise InvalidInput(_("a new user needs a password"))
    user.username, user.name = username, name
    user.roles = " ".join(r for r in ROLES if r in roles)
    user.department_id = department_id or None
    user.phone, user.id_number = phone or None, id_number or None
    user.active = active
    if password:
        user.password_hash = hash_password(password)
    db.add(user)
    db.flush()
    _end_sessions_on_change(actor, user, password_changed=bool(password))
    log.info("user %s saved by %s (roles: %s)", username, actor.username, user.roles)
    return user


def _end_sessions_on_change(actor: User, user: User, password_changed: bool) -> None:
    """A deactivation ends every web session of the account; a new password every other
    one (the admin's own current session stays when they change their own password)."""
    if not user.active:
        web_sessions.end_all(user.id, "deactivated")
    elif password_changed:
        keep = web_sessions.current_id() if user.id == actor.id else None
        web_sessions.end_all(user.id, "password", keep=keep)


@transactional
def end_sessions(actor: User, user_id: int) -> int:
    """End every web session of a user (an admin's action); return how many ended."""
    _require_admin(actor)
    if session().get(User, user_id) is None:
        raise NotFound(_("no user %(user_id)s", user_id=user_id))
    ended = web_sessions.end_all(user_id, "admin")
    log.info("web sessions of user %s ended by %s (%d)", user_id, actor.username, ended)
    return ended


@transactional
def save_post(actor: User, post_id: int | None, *, code: str, name: str, department_id: int,
              a_user_id: int | None, b_user_id: int | None, leader_user_id: int | None,
              return_to_a: bool, shared: bool) -> tuple[Post, int]:  # fmt: skip
    """Create or change a post and its A/B pair; return it and how many tasks moved.

    Open tasks held by someone who is no longer a holder of the post go to its new holder
    (A if present, else B, else the leader), each move logged in its case.
    """
    _require_admin(actor)
    db = session()
    post = db.get(Post, post_id) if post_id else Post()
    if post is None:
        raise NotFound(_("no post %(post_id)s", post_id=post_id))
    holders = [u for u in (a_user_id, b_user_id, leader_user_id) if u]
    if a_user_id and a_user_id == b_user_id:
        raise InvalidInput(_("A and B of a post must be two different people"))
    if db.get(Department, department_id) is None:
        raise InvalidInput(_("choose the post's department"))
    for uid in holders:
        if db.get(User, uid) is None:
            raise InvalidInput(_("no user %(uid)s", uid=uid))
    _unique(Post, Post.code, code, post_id, _("post"))
    _unique(Post, Post.name, name, post_id, _("post"))
    post.code, post.name, post.department_id = code, name, department_id
    post.a_user_id, post.b_user_id = a_user_id or None, b_user_id or None
    post.leader_user_id = leader_user_id or None
    post.return_to_a, post.shared = return_to_a, shared
    db.add(post)
    db.flush()
    moved = _rehome_tasks(db, post, actor) if post_id else 0
    log.info("post %s saved by %s; %d tasks moved", code, actor.username, moved)
    return post, moved


def _rehome_tasks(db, post: Post, actor: User) -> int:
    from ..cases.assign import write_reassignments
    from ..cases.models import Case, Task

    holders = {post.a_user_id, post.b_user_id, post.leader_user_id} - {None}
    rows = db.execute(
        sa.select(Task.id, Task.case_id, Task.assignee_id, Task.spec_id, Task.is_decision,
                  Case.applicant_id_number, Case.last_decider_id, Case.last_decision_spec)
        .join(Case, Case.id == Task.case_id)
        .where(Task.post_id == post.id, Task.state == TaskState.OPEN, Task.assignee_id.is_not(None),
               Task.assignee_id.not_in(holders or {0}))
    ).all()  # fmt: skip
    if not rows:
        return 0
    now = utcnow()
    away = away_at(db, holders, now)
    numbers = dict(db.execute(sa.select(User.id, User.id_number).where(User.id.in_(holders))).all())
    moves = defaultdict(list)
    for row in rows:
        excluded = exclusions(numbers, row.applicant_id_number, row.spec_id, row.is_decision,
                              row.last_decider_id, row.last_decision_spec)  # fmt: skip
        choice = choose_holder(post, post.code, away, excluded)
        reason = {"reason": "post_changed", "post": post.id, "by": actor.id, "then": choice.reason}
        moves[row.case_id].append((row, replace(choice, reason=reason)))
    for case_id, case_moves in moves.items():
        write_reassignments(db, case_id, case_moves, now, actor)
    return len(rows)
