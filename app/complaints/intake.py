"""What the office writes down when a complaint comes in, and how each value is checked.

Every refusal names its field (`InvalidInput(..., field=...)`), so the page shows it next to
the input it concerns.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection
from dataclasses import dataclass

from flask_babel import gettext as _

from ..errors import InvalidInput
from ..labels import labels

PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,28}$")
MAX_TEXT = 4000
FUTURE_GRACE = dt.timedelta(minutes=5)  # a clock a little ahead is not an error


@dataclass(frozen=True)
class NewComplaint:
    """What the office writes down when a complaint comes in."""

    channel: str
    complainant_name: str
    subject: str
    content: str
    complainant_phone: str | None = None
    received_at: dt.datetime | None = None  # naive UTC; now if not given
    case_no: str | None = None  # the case it concerns, if any
    department_id: int | None = None  # assign at once


# the fields of a complaint as the office's form names them
field_name = labels(
    lambda: {
        "channel": _("channel"),
        "status": _("status"),
        "complainant_name": _("complainant"),
        "complainant_phone": _("complainant's phone"),
        "subject": _("subject"),
        "content": _("content"),
        "note": _("note"),
        "reply": _("reply"),
        "received_at": _("received at"),
        "case_no": _("case number"),
        "department_id": _("department"),
    },
)


def invalid(field: str, message: str) -> InvalidInput:
    """The refusal of one field's value, the field named in the reader's language."""
    return InvalidInput(_("%(field)s: %(message)s", field=field_name(field), message=message),
                        field=field)  # fmt: skip


def one_of(field: str, value: str, allowed: Collection[str]) -> None:
    """Refuse a value that is not one of `allowed`."""
    if value not in allowed:
        raise invalid(field, _("must be one of %(items)s", items=", ".join(allowed)))


def text(value: str | None, field: str, limit: int, required: bool = True) -> str | None:
    """Return the stripped text, None if empty and not required; refuse an empty required
    one and one longer than `limit`."""
    stripped = (value or "").strip()
    if not stripped:
        if required:
            raise invalid(field, _("is required"))
        return None
    if len(stripped) > limit:
        raise invalid(field, _("is longer than %(limit)s characters", limit=limit))
    return stripped


def phone(value: str | None, channel: str) -> str | None:
    """Return the complainant's phone; a hotline ticket needs one."""
    number = text(value, "complainant_phone", 30, required=False)
    if number is None and channel == "phone":
        raise invalid("complainant_phone", _("a hotline ticket needs the caller's number"))
    if number is not None and not PHONE.match(number):
        raise invalid("complainant_phone", _("digits, spaces, '-' and a leading '+' only"))
    return number


def received_at(value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    """Return when the complaint came in (naive UTC, whole seconds); now if not given."""
    if value is None:
        return now
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if value > now + FUTURE_GRACE:
        raise invalid("received_at", _("lies in the future"))
    if value.year < 2000:
        raise invalid("received_at", _("is not a plausible time"))
    return value.replace(microsecond=0)
