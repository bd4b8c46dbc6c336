"""Web sessions kept in the database: started at log-in, ended by log-out, a password
change, a deactivation, an admin or the user; expired after WEB_SESSION_MAX_HOURS or
PERMANENT_SESSION_LIFETIME seconds unused.

The cookie carries only the session's random id (Flask-Login's `_user_id`); the row keeps
its SHA-256 digest, so what a database reader sees cannot be presented as a cookie. The
last use is written at most once a minute, to keep a request's cost low.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets

import sqlalchemy as sa
from flask import current_app, g
from flask_babel import gettext as _

from ..db import session, transactional, utcnow
from ..errors import NotFound
from ..org.models import User
from .models import WebSession

log = logging.getLogger("onewindow.security")

TOUCH_EVERY = dt.timedelta(minutes=1)  # how often the last use is written
_TOKEN_MAX = 100  # longer ids are refused before hashing


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _limits() -> tuple[dt.datetime, dt.datetime]:
    """The oldest start and the oldest last use a live session may have now (the last use
    is written once a minute, so the idle limit allows that minute more)."""
    cfg, now = current_app.config, utcnow()
    started = now - dt.timedelta(hours=int(cfg["WEB_SESSION_MAX_HOURS"]))
    idle = cfg["PERMANENT_SESSION_LIFETIME"]
    idle = idle if isinstance(idle, dt.timedelta) else dt.timedelta(seconds=int(idle))
    return started, now - idle - TOUCH_EVERY


@transactional
def start(user: User, user_agent: str | None, remote_addr: str | None) -> str:
    """Open a session for a user who just logged in; return its random id (the cookie's)."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = WebSession(token_hash=_digest(token), user_id=user.id, created_at=now,
                     last_used_at=now, user_agent=(user_agent or "")[:200] or None,
                     remote_addr=(remote_addr or "")[:64] or None)  # fmt: skip
    session().add(row)
    session().flush()
    user.web_session_token = token
    g.ow_web_session = row.id
    return token


def user_for(token: str) -> User | None:
    """The active user of a live session, or None (unknown, ended or expired session,
    inactive account). An expired session is ended as such."""
    if not token or len(token) > _TOKEN_MAX:
        return None
    found = (
        session()
        .execute(
            sa.select(WebSession, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == _digest(token), WebSession.ended_at.is_(None))
        )
        .first()
    )
    if found is None:
        return None
    row, user = found
    oldest_start, oldest_use = _limits()
    if row.created_at < oldest_start or row.last_used_at < oldest_use:
        _end([row.id], "expired")
        return None
    if not user.active:
        return None
    if utcnow() - row.last_used_at >= TOUCH_EVERY:
        _touch(row.id)
    user.web_session_token = token
    g.ow_web_session = row.id
    return user


def current_id() -> int | None:
    """The row id of this request's web session (None outside one)."""
    return g.get("ow_web_session")


@transactional
def _touch(row_id: int) -> None:
    session().execute(
        sa.update(WebSession).where(WebSession.id == row_id).values(last_used_at=utcnow())
    )


@transactional
def _end(row_ids: list[int], reason: str) -> None:
    end_rows(sa.and_(WebSession.id.in_(row_ids)), reason)


def end_rows(where, reason: str) -> int:
    """End the live sessions matching `where` (within the caller's transaction)."""
    result = session().execute(
        sa.update(WebSession)
        .where(where, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def end_all(user_id: int, reason: str, keep: int | None = None) -> int:
    """End every live session of a user but `keep` (within the caller's transaction)."""
    where = WebSession.user_id == user_id
    if keep is not None:
        where = sa.and_(where, WebSession.id != keep)
    ended = end_rows(where, reason)
    if ended:
        log.info("%d web session(s) of user %s ended: %s", ended, user_id, reason)
    return ended


@transactional
def end_current(reason: str = "logout") -> None:
    """End this request's session (log-out)."""
    row_id = current_id()
    if row_id is not None:
        end_rows(WebSession.id == row_id, reason)
        g.pop("ow_web_session", None)


def live(user: User) -> list[WebSession]:
    """The user's live sessions, the most recently used first."""
    oldest_start, oldest_use = _limits()
    return list(
        session().scalars(
            sa.select(WebSession)
            .where(
                WebSession.user_id == user.id,
                WebSession.ended_at.is_(None),
                WebSession.created_at >= oldest_start,
                WebSession.last_used_at >= oldest_use,
            )  # fmt: skip
            .order_by(WebSession.last_used_at.desc(), WebSession.id.desc())
        )
    )


@transactional
def end_own(user: User, row_id: int) -> None:
    """End one of the user's own live sessions; another's or an ended one is a 404."""
    if not end_rows(sa.and_(WebSession.id == row_id, WebSession.user_id == user.id), "user"):
        raise NotFound(_("no such session"))
    log.info("web session %s ended by its user %s", row_id, user.username)


@transactional
def forget_before(at: dt.datetime) -> int:
    """Delete the rows of sessions that ended, or were last used, before `at` (the scheduler
    keeps WEB_SESSION_RETENTION_DAYS of them for the account's and the admin's view)."""
    done = session().execute(
        sa.delete(WebSession)
        .where(sa.or_(WebSession.ended_at < at, WebSession.last_used_at < at))
        .execution_options(synchronize_session=False)
    )
    return done.rowcount or 0
