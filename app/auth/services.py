"""Password log-in and signed, expiring API tokens.

Failed log-ins are counted in the database (so every worker sees them) under the user
name and under the client's address. With too many failures of either in the window,
every log-in under it is refused (429) before the password is checked, the right one
too, and the refusal is logged; a successful log-in clears its user name's count.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
import time

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from ..db import session, transactional, utcnow
from ..errors import InvalidInput, TooManyRequests, Unauthorized
from ..org.models import User, password_stamp
from ..org.services import check_password

security = logging.getLogger("onewindow.security")

_TOKEN_SALT = "onewindow-api-token"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def _failures(key: str, since: dt.datetime) -> int:
    from ..applicants.models import QueryAttempt

    return (
        session().scalar(
            sa.select(sa.func.count())
            .select_from(QueryAttempt)
            .where(QueryAttempt.key == key, QueryAttempt.at > since)
        )
        or 0
    )


@transactional
def _record(keys: list[str], clear: str | None = None) -> None:
    from ..applicants.models import QueryAttempt

    db = session()
    if clear:
        db.execute(sa.delete(QueryAttempt).where(QueryAttempt.key == clear))
    now = utcnow()
    for key in keys:
        db.add(QueryAttempt(key=key, at=now))


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash of a random password, checked for a user name that does not exist, so that a
    wrong name costs as much time as a wrong password (no user enumeration by timing)."""
    return generate_password_hash(secrets.token_hex(16), method=method)


def authenticate(username: str, password: str, client: str = "unknown") -> User:
    """Return the active user with these credentials, or raise Unauthorized (wrong) or
    TooManyRequests (too many failures lately for this user name or this address)."""
    cfg = current_app.config
    since = utcnow() - dt.timedelta(minutes=int(cfg.get("LOGIN_WINDOW_MINUTES", 15)))
    by_user, by_client = f"login:user:{username[:64]}", f"login:ip:{client}"
    if _failures(by_user, since) >= int(cfg.get("LOGIN_FAILURES_PER_USER", 5)) or _failures(
        by_client, since
    ) >= int(cfg.get("LOGIN_FAILURES_PER_CLIENT", 20)):
        security.warning("log-in throttled for %r from %s", username, client)
        raise TooManyRequests(_("too many failed log-ins; wait a quarter of an hour and try again"))
    user = session().scalars(sa.select(User).where(User.username == username)).first()
    # one hash check whoever asks, a missing or inactive user too: no timing oracle
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(cfg["PASSWORD_HASH_METHOD"]), password)
        right = False
    else:
        right = check_password(user, password)
    if user is None or not user.active or not right:
        _record([by_user, by_client])
        raise Unauthorized(_("wrong username or password"))
    if _failures(by_user, since):
        _record([], clear=by_user)
    return user


def issue_token(user: User) -> str:
    """Return a signed token naming the user."""
    return _serializer().dumps({"uid": user.id, "pw": password_stamp(user)})


_RECENT_MAX = 10_000


def user_from_token(token: str) -> User:
    """Return the user a token names, or raise Unauthorized.

    A token checked in the last AUTH_CACHE_SECONDS is answered from memory, so a
    deactivation or password change takes effect within that many seconds.
    """
    ttl = current_app.config.get("AUTH_CACHE_SECONDS", 0)
    recent: dict[str, tuple[float, User]] = current_app.extensions.setdefault("ow_tokens", {})
    now = time.monotonic()
    if ttl:
        hit = recent.get(token)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
    user = _check_token(token)
    if ttl:
        if len(recent) >= _RECENT_MAX:
            recent.clear()
        session().expunge(user)
        recent[token] = (now, user)
    return user


def _check_token(token: str) -> User:
    try:
        payload = _serializer().loads(token, max_age=current_app.config["TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise Unauthorized(_("token expired; log in again")) from None
    except BadSignature:
        raise Unauthorized(_("invalid token")) from None
    user = session().get(User, payload.get("uid"))
    if user is None or not user.active or payload.get("pw") != password_stamp(user):
        raise Unauthorized(_("invalid token"))
    return user


def change_password(user: User, current: str, new: str, repeat: str) -> None:
    """Change one's own password: the current one first (a wrong one counts as a failed
    log-in of the account, so the form cannot be used to guess it), then every other web
    session and API token of the account ends; this session stays."""
    cfg = current_app.config
    since = utcnow() - dt.timedelta(minutes=int(cfg.get("LOGIN_WINDOW_MINUTES", 15)))
    by_user = f"login:user:{user.username[:64]}"
    if _failures(by_user, since) >= int(cfg.get("LOGIN_FAILURES_PER_USER", 5)):
        security.warning("password change throttled for %r", user.username)
        raise TooManyRequests(_("Too many wrong passwords lately; wait a quarter of an hour."))
    account = session().get(User, user.id)
    if account is None or not check_password(account, current):
        _record([by_user])
        raise InvalidInput(_("The current password is wrong."), fields={"current": True})
    problem = password_problem(new, account.username)
    if problem is None and new == current:
        problem = _("The new password must differ from the current one.")
    if problem is None and new != repeat:
        problem = _("The two new passwords differ.")
    if problem is not None:
        raise InvalidInput(problem, fields={"new": True})
    _save_password(account, new)
    security.info("%s changed their password", account.username)


@transactional
def _save_password(account: User, new: str) -> None:
    from ..org.services import hash_password
    from . import sessions as web_sessions

    account.password_hash = hash_password(new)
    session().add(account)
    session().flush()
    web_sessions.end_all(account.id, "password", keep=web_sessions.current_id())


def password_problem(password: str, username: str):
    """What is wrong with a new password, or None: 8 to 200 characters, not the user name."""
    if not 8 <= len(password) <= 200:
        return _("A password has 8 to 200 characters.")
    if password.strip().lower() == username.lower():
        return _("A password must not be the user name.")
    return None
