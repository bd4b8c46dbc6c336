"""The JSON API under /api/v1: parse input, call one service, render JSON.

This package holds the blueprint, the error mapping, the bearer-token check, the helpers
that read a JSON body, the token endpoint and the OpenAPI document. Each domain's handlers
are in `app/<domain>/api.py`; they are imported at the bottom so their routes register.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import uuid
from functools import wraps
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, g, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..auth.services import authenticate, issue_token, user_from_token
from ..domains import domain_modules
from ..errors import AppError, Forbidden, InvalidInput, NotFound, Unauthorized
from ..org.models import STAFF_ROLES
from .openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger("onewindow.api")


@bp.errorhandler(AppError)
def _app_error(exc: AppError):
    if isinstance(exc, Forbidden):
        log.warning(
            "forbidden: %s %s by %s: %s",
            request.method,
            request.path,
            getattr(g.get("user"), "username", "-"),
            exc.message,
        )
    body = {"error": type(exc).__name__, "message": exc.message}
    body.update(exc.details)
    return jsonify(body), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify({"error": exc.name, "message": exc.description}), exc.code


def json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput(_("the request body must be a JSON object"))
    return body


def optional_json_body() -> dict:
    """Return the JSON object sent, {} when no body was sent; anything else is refused."""
    if not request.get_data(cache=True):
        return {}
    return json_body()


def login_required(view):
    """Require a valid bearer token of a staff member; the user is in g.user.

    The API is the centre's: applicants use the web pages, which show them their own
    applications and cases only.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise Unauthorized(_("missing bearer token"))
        g.user = user_from_token(header[7:].strip())
        if not g.user.role_set & STAFF_ROLES:
            raise Forbidden(_("the API is for the centre's staff"))
        return view(*args, **kwargs)

    return wrapper


def text(body: dict, key: str, required: bool = False) -> str:
    value = body.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidInput(_("'%(key)s' must be text", key=key))
    if required and not value.strip():
        raise InvalidInput(_("'%(key)s' is required", key=key))
    return value


def string_list(body: dict, key: str) -> list[str]:
    value = body.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidInput(_("'%(key)s' must be a list of material codes", key=key))
    return value


def optional(body: dict, key: str, kind: type, message: str):
    """The value of `key`, None if it was not sent; a value of another type is refused."""
    value = body.get(key)
    if value is not None and not isinstance(value, kind):
        raise InvalidInput(message)
    return value


def integer(body: dict, key: str) -> int:
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(_("'%(key)s' must be a whole number", key=key))
    return value


def moment(body: dict, key: str) -> dt.datetime:
    """Parse an ISO time; without an offset it is the centre's local time. Return naive UTC."""
    raw = text(body, key, True)
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(
            _(
                "'%(key)s' must be an ISO 8601 time, e.g. 2026-11-24T09:00",
                key=key,
            )
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(current_app.config["CENTRE_TIMEZONE"]))
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def task_uuid(task_id: str) -> uuid.UUID:
    """The task id of a URL or body; one that is not a UUID names no task (404)."""
    try:
        return uuid.UUID(task_id)
    except ValueError:
        raise NotFound(_("no task %(task_id)s", task_id=task_id)) from None


@bp.post("/auth/token")
def token():
    body = json_body()
    user = authenticate(text(body, "username", True), text(body, "password", True),
                        request.remote_addr or "unknown")  # fmt: skip
    return jsonify({"token": issue_token(user), "username": user.username})


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


for name in domain_modules("api"):
    importlib.import_module(name)
