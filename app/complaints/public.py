"""The public's own complaints and suggestions (投诉/意见建议), entered online by anyone.

No account is needed: an entry is written into the complaints register as an online ticket,
registered by the system account (the office did not write it down), with a reply due as
for any written complaint. A suggestion is a ticket too, its subject marked 【意见建议】, so
that the office answers it the same way. The first history row says which it was and, for
a visitor who was logged in, their account.

Entries are throttled per client address: each one is counted in the database (the
progress query's attempt table, which the scheduler prunes), so every worker process sees
the same count; past the limit within the window an entry is refused (429) before anything
is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _

from ..applicants.deemed import system_actor
from ..applicants.models import QueryAttempt
from ..calendar.services import calendar
from ..db import session, transactional, utcnow
from ..errors import InvalidInput, TooManyRequests
from . import intake, services
from .intake import NewComplaint
from .models import Complaint

KINDS = ("complaint", "suggestion")
SUGGESTION_MARK = "【意见建议】"
PER_CLIENT = 5  # entries per client address within the window (FEEDBACK_PER_CLIENT)
WINDOW_MINUTES = 60  # FEEDBACK_WINDOW_MINUTES; the scheduler keeps a day of attempts


@dataclass(frozen=True)
class Received:
    """What the visitor is shown: the ticket number, when it was received (local time) and
    the day the reply is due."""

    number: str
    kind: str
    received_at: dt.datetime  # the centre's local time, naive
    reply_due: dt.date


def _key(client: str) -> str:
    return f"feedback:{client}"[:120]


def check_throttle(client: str) -> None:
    """Refuse (429) a client address that has sent too many entries within the window."""
    cfg = current_app.config
    limit = int(cfg.get("FEEDBACK_PER_CLIENT", PER_CLIENT))
    since = utcnow() - dt.timedelta(minutes=int(cfg.get("FEEDBACK_WINDOW_MINUTES",
                                                        WINDOW_MINUTES)))  # fmt: skip
    sent = session().scalar(
        sa.select(sa.func.count()).select_from(QueryAttempt)
        .where(QueryAttempt.key == _key(client), QueryAttempt.at > since)
    )  # fmt: skip
    if (sent or 0) >= limit:
        raise TooManyRequests(_("too many entries from your address; try again later"))


def _check(value: str | None, field: str, limit: int, label: str) -> str:
    """Return the stripped text; refuse it empty or longer than `limit`, naming the field."""
    stripped = (value or "").strip()
    if not stripped:
        raise InvalidInput(_("%(field)s: this is required", field=label), field=field)
    if len(stripped) > limit:
        raise InvalidInput(_("%(field)s: at most %(n)d characters", field=label, n=limit),
                           field=field)  # fmt: skip
    return stripped


@transactional
def submit(client: str, kind: str, name: str, phone: str, subject: str, content: str,
           case_no: str = "", account_id: int | None = None) -> Received:  # fmt: skip
    """Write a visitor's complaint or suggestion into the register; count it against the
    client's address. Every value is checked as the office's own entries are, a phone
    number being required so that the office can reply."""
    if kind not in KINDS:
        raise InvalidInput(_("choose a complaint or a suggestion"), field="kind")
    check_throttle(client)
    _check(name, "complainant_name", 100, _("Your name"))
    if not intake.PHONE.match((phone or "").strip()):
        raise InvalidInput(_("phone: give a number the office can reply to (digits, spaces "
                             "and '-')"), field="complainant_phone")  # fmt: skip
    title = _check(subject, "subject", 200 - len(SUGGESTION_MARK), _("Subject"))  # 194
    _check(content, "content", intake.MAX_TEXT, _("Content"))
    new = NewComplaint(
        channel="online", complainant_name=name, complainant_phone=phone,
        subject=SUGGESTION_MARK + title if kind == "suggestion" else title,
        content=content, case_no=case_no or None,
    )  # fmt: skip
    noted = {"kind": kind, "public": True}
    if account_id is not None:
        noted["account_id"] = account_id
    ticket: Complaint = services.write_ticket(system_actor(), new, noted)
    session().add(QueryAttempt(key=_key(client), at=utcnow()))
    cal = calendar()
    return Received(ticket.number, kind, cal.local(ticket.received_at).replace(tzinfo=None),
                    cal.local(ticket.due_at).date())  # fmt: skip
