"""Application errors; each carries the HTTP status it maps to."""

from __future__ import annotations

from workflows.errors import OneWindowError


class AppError(OneWindowError):
    """An error that is shown to the user; never a stack trace."""

    status = 400

    def __init__(self, message: str, **details) -> None:
        super().__init__(message)
        self.details = details


class InvalidInput(AppError):
    """The request is malformed or a value is wrong."""

    status = 400


class Unauthorized(AppError):
    """The caller is not logged in or the token is bad."""

    status = 401


class Forbidden(AppError):
    """The caller may not see or do this."""

    status = 403


class NotFound(AppError):
    """The object does not exist (or the caller may not know it exists)."""

    status = 404


class Conflict(AppError):
    """The object changed state: the task is already completed, the case is closed."""

    status = 409


class TooManyRequests(AppError):
    """The caller has tried too often; wait and try again."""

    status = 429


class StaleCase(OneWindowError):
    """Another request changed the case first; the operation is retried."""


class Unavailable(AppError):
    """The database cannot be reached; the request changed nothing, try again shortly."""

    status = 503


RETRY_AFTER_SECONDS = 5


def unavailable_response():
    """Answer 503 with Retry-After: JSON under /api/, else a page that needs no database.

    The page is rendered as an anonymous visitor: the signed-in user, the unread count and
    the other parts of the normal page layout would have to be read from the database.
    """
    from flask import current_app, g, jsonify, render_template, request
    from flask_babel import gettext

    g._login_user = current_app.login_manager.anonymous_user()  # Flask-Login's request cache
    if request.path.startswith("/api/"):
        message = gettext(
            "the database cannot be reached; nothing was saved halfway, try again shortly"
        )
        resp = jsonify({"error": "Unavailable", "message": message})
    else:
        resp = current_app.make_response(render_template("error_503.html"))
    resp.status_code = Unavailable.status
    resp.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    resp.headers["Cache-Control"] = "no-store"
    return resp
