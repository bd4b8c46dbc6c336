"""The supervision office's opinion (监察室意见) on a case's commitment notice.

The commitment notice (行政许可承诺通知单) goes in three copies; the third is sent to the
supervision office in the centre (驻厅监察室), which writes its opinion on it: whether the
acceptance was in order and the promised time lawful, what it will watch. A supervisor
enters that opinion here, on an accepted case. Each one is an event of the case
(`supervision_opinion`, the text in its data; who and when are the event's), so the history
keeps every opinion given; the latest is the one printed on the office's copy, with the
supervisor's name and the centre's local day it was entered.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from ..audit.models import Event
from ..cases.access import Purpose, require_case
from ..cases.models import Case
from ..cases.store import CaseLog
from ..clock import local_date
from ..db import session, transactional, utcnow
from ..errors import Conflict, InvalidInput
from ..notices.facts import Opinion
from ..org.models import User

EVENT = "supervision_opinion"
MAX_LENGTH = 300
"""The longest opinion, in characters: what the box on the office's copy holds."""


@transactional
def enter_opinion(actor: User, case_no: str, text: str) -> Opinion:
    """Record a supervisor's opinion on an accepted case; it replaces the previous one on
    the notice. Refused (403, before any lookup) to anyone but the supervision office."""
    case = require_case(actor, case_no, Purpose.SUPERVISE).case
    text = (text or "").strip()
    if not text:
        raise InvalidInput(_("The supervision office's opinion is empty: write what it says."),
                           field="text")  # fmt: skip
    if len(text) > MAX_LENGTH:
        raise InvalidInput(
            _("The supervision office's opinion has %(n)d characters; at most %(max)d fit on "
              "the commitment notice.", n=len(text), max=MAX_LENGTH), field="text")  # fmt: skip
    if case.accepted_at is None:
        raise Conflict(_("Case %(no)s has not been accepted: it has no commitment notice to "
                         "give an opinion on.", no=case_no))  # fmt: skip
    now = utcnow()
    entry = CaseLog(session(), case.id, now, actor)
    entry.add(EVENT, {"opinion": text})
    session().expire(case)
    entry.close()
    return Opinion(text, actor.name, local_date(now))


def latest_opinion(case: Case) -> Opinion | None:
    """The opinion the office's copy prints: the latest entered, or None."""
    latest = (
        sa.select(Event.data, Event.at, User.name)
        .outerjoin(User, User.id == Event.actor_id)
        .where(Event.case_id == case.id, Event.type == EVENT)
        .order_by(Event.seq.desc())
        .limit(1)
    )
    row = session().execute(latest).first()
    if row is None:
        return None
    return Opinion(row.data["opinion"], row.name or "", local_date(row.at))
