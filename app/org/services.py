"""Operations on departments, users and posts; assignment of tasks to people."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .models import Post, User


def hash_password(password: str) -> str:
    """Hash a password with the configured method."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def check_password(user: User, password: str) -> bool:
    """Return whether the password matches the user's hash."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


@dataclass(frozen=True)
class Assignment:
    """Who gets a new task and why."""

    post_id: int | None
    assignee_id: int | None
    reason: str


def find_posts(db: Session, names: set[str]) -> dict[str, Post]:
    """Return posts by code or by exact name, for lanes and candidate groups."""
    if not names:
        return {}
    posts = db.scalars(sa.select(Post).where(sa.or_(Post.code.in_(names), Post.name.in_(names))))
    found: dict[str, Post] = {}
    for post in posts:
        found[post.code] = post
        found[post.name] = post
    return found


def assign_to_post(post: Post | None, lane: str | None) -> Assignment:
    """Pick the holder of a post for a new task (the first handler, A)."""
    if post is None:
        return Assignment(None, None, f"no post named '{lane}': left unassigned")
    if post.a_user_id is not None:
        return Assignment(post.id, post.a_user_id, f"assigned to A of post {post.code}")
    if post.b_user_id is not None:
        return Assignment(post.id, post.b_user_id, f"post {post.code} has no A: assigned to B")
    return Assignment(
        post.id, post.leader_user_id, f"post {post.code} has no handler: to its leader"
    )
