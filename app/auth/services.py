"""Password log-in and signed, expiring API tokens."""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..db import session
from ..errors import Unauthorized
from ..org.models import User, password_stamp
from ..org.services import check_password

_TOKEN_SALT = "onewindow-api-token"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def authenticate(username: str, password: str) -> User:
    """Return the active user with these credentials, or raise Unauthorized."""
    user = session().scalars(sa.select(User).where(User.username == username)).first()
    if user is None or not user.active or not check_password(user, password):
        raise Unauthorized("wrong username or password")
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
        raise Unauthorized("token expired; log in again") from None
    except BadSignature:
        raise Unauthorized("invalid token") from None
    user = session().get(User, payload.get("uid"))
    if user is None or not user.active or payload.get("pw") != password_stamp(user):
        raise Unauthorized("invalid token")
    return user
