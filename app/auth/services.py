"""Password log-in and signed, expiring API tokens."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..db import session
from ..errors import Unauthorized
from ..org.models import User
from ..org.services import check_password

_TOKEN_SALT = "onewindow-api-token"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_TOKEN_SALT)


def _password_stamp(user: User) -> str:
    """Return a short stamp of the password hash, so a password change revokes tokens."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:12]


def authenticate(username: str, password: str) -> User:
    """Return the active user with these credentials, or raise Unauthorized."""
    user = session().scalars(sa.select(User).where(User.username == username)).first()
    if user is None or not user.active or not check_password(user, password):
        raise Unauthorized("wrong username or password")
    return user


def issue_token(user: User) -> str:
    """Return a signed token naming the user."""
    return _serializer().dumps({"uid": user.id, "pw": _password_stamp(user)})


def user_from_token(token: str) -> User:
    """Return the user a token names, or raise Unauthorized."""
    try:
        payload = _serializer().loads(token, max_age=current_app.config["TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise Unauthorized("token expired; log in again") from None
    except BadSignature:
        raise Unauthorized("invalid token") from None
    user = session().get(User, payload.get("uid"))
    if user is None or not user.active or payload.get("pw") != _password_stamp(user):
        raise Unauthorized("invalid token")
    return user
