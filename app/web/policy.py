"""The one error policy of the pages.

A refusal (403) or a missing object (404) is raised: it becomes the error page and a log
line, and a form never tells apart "you may not" from "there is none". Any other error of
an operation (409 conflict, 400 bad input, 429 ...) is shown as a message on the page the
user came from, with nothing lost from the form. Every page module uses `attempt` or
`run_then`; none catches `AppError` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect

from ..errors import AppError

RAISED = (403, 404)


@dataclass
class Attempt:
    """What an operation returned, or the error it was refused with (already flashed)."""

    value: Any = None
    error: AppError | None = None
    fields: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def status(self) -> int:
        return self.error.status if self.error else 200


def attempt(
    action: Callable[..., Any],
    *args,
    flash_error: bool = True,
    passes: tuple[type[Exception], ...] = (),
    raised: tuple[int, ...] = RAISED,
    **kwargs,
) -> Attempt:
    """Run `action`; raise a 403 or 404, flash and return any other application error.

    Errors of the types in `passes` are raised too, for a page that tells them its own way.
    A public page with no account behind it (the progress query) passes `raised=()`: a
    wrong case number or query code is then a message on its own form, not an error page.
    """
    try:
        return Attempt(value=action(*args, **kwargs))
    except AppError as exc:
        if exc.status in raised or isinstance(exc, passes):
            raise
        if flash_error:
            flash(exc.message, "error")
        return Attempt(error=exc, fields=(exc.details or {}).get("fields") or {})


def run_then(action: Callable[[], Any], done: str, to: str):
    """Run `action`, flash `done` when it worked, and go back to `to` either way."""
    if attempt(action).ok:
        flash(done, "success")
    return redirect(to)
