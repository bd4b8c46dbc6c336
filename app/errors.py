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
