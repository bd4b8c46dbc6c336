"""The written notices of a case's pauses (art. 45) and extensions (art. 42), from its rows.

A case may be paused and extended several times; each change has its own notice, addressed
by its place among the case's changes of that kind (`n`, 1 the oldest, as
app.cases.deadlines.clock_changes lists them). The notice is the deciding authority's (the
item's bureau, or the authority its catalogue names: app.cases.decisions), with that
authority's seal, never the centre's; a joint item's is the centre's, which handles it for the
government (art. 26(2)). It is served at the centre's window and dated the local day the
change was made; the statutory ends it prints are worked out with the calendar, marked
provisional where they rest on a year not published yet. A registration (不动产登记) is not a
licence: its pause notice cites no article of the Licensing Law, and it has no extension
notice. app.notices.interim draws them.
"""

from __future__ import annotations

import datetime as dt
import re

from flask_babel import gettext as _

from ..calendar.services import WorkCalendar, calendar
from ..cases import decisions
from ..cases.deadlines import ClockChange, clock_changes, extension_limit
from ..cases.models import Case
from ..catalogue.models import Item
from ..db import session
from ..errors import Conflict, InvalidInput, NotFound
from ..notices import interim
from ..notices.facts import CaseFacts, Centre
from . import decision_docs

KINDS = ("extension", "pause")


def issuer(item: Item, centre: Centre, options: dict) -> tuple[Centre, str, dict]:
    """Who issues the notices of an item's pauses and extensions, how it calls itself, and
    the PDF options to draw them with its own seal: the deciding authority (its name and
    seal words, SEAL_DIR/<code>.png or a drawn seal, the centre's address and supervision
    phone), or for a joint item the centre itself."""
    if item.kind == "joint":
        return centre, "本中心", options
    dept = decisions.authority_for(session(), item)
    seal = {"seal_image": decision_docs.seal_image(dept)}
    return decision_docs.issuer(dept, centre), "本机关", {**options, **seal}


def licensing(item: Item) -> bool:
    """Whether the item is a licence under the Licensing Law (a registration is not)."""
    return decisions.rule(item.entry or {}).kind != "registration"


NONE = {
    "extension": lambda: _("The case's time limit was never extended."),
    "pause": lambda: _("The case's time limit was never paused."),
}


def which(kind: str, changes: list[ClockChange], n: str | None) -> tuple[int, ClockChange]:
    """The `n`-th change of `kind` (a whole number from 1), refused clearly otherwise."""
    mine = [c for c in changes if c.kind == kind]
    if not mine:
        raise Conflict(NONE[kind]())
    if n is None or not re.fullmatch(r"[1-9][0-9]{0,3}", n):
        raise InvalidInput(_("Say which notice: n is a whole number from 1 to %(count)d.",
                             count=len(mine)))  # fmt: skip
    if int(n) > len(mine):
        raise NotFound(_("There is no notice number %(n)s: the case has %(count)d.",
                         n=n, count=len(mine)))  # fmt: skip
    return int(n), mine[int(n) - 1]


def _due(cal: WorkCalendar, at: dt.datetime) -> interim.DueDay:
    day = cal.local(at).date()
    return interim.DueDay(day, not cal.known(day))


def _due_then(cal: WorkCalendar, case: Case, item: Item, changes: list[ClockChange],
              at: dt.datetime, more: int = 0) -> interim.DueDay:  # fmt: skip
    """The statutory end as it stood just before `at` (with `more` working days added): the
    days of the pauses that had ended and of the extensions granted by then are added, as
    app.cases.deadlines counts them."""
    paused = sum(c.lasted or 0 for c in changes
                 if c.kind == "pause" and c.ended_at is not None and c.ended_at <= at)  # fmt: skip
    extended = sum(c.days for c in changes if c.kind == "extension" and c.at < at)
    days = item.statutory_days + paused + extended + more
    return _due(cal, cal.due_in_days(case.accepted_at, days).at)


def render(kind: str, case: Case, item: Item, n: str | None, facts: CaseFacts, centre: Centre,
           options: dict) -> bytes:  # fmt: skip
    """The PDF of the `n`-th extension or pause notice of an accepted case."""
    if case.accepted_at is None:
        raise Conflict(_("The case has not been accepted."))
    changes = clock_changes(case.id)
    number, change = which(kind, changes, n)
    cal = calendar()
    day = cal.local(change.at).date()
    place = f"{centre.name}（{facts.window}）" if facts.window else centre.name
    before = _due_then(cal, case, item, changes, change.at)
    by, we, options = issuer(item, centre, options)
    if kind == "extension":
        if not licensing(item):
            raise Conflict(_("%(item)s is not a licence under the Licensing Law: there is no "
                             "extension notice under its article 42.", item=item.name))  # fmt: skip
        granted = sum(c.days for c in changes if c.kind == "extension" and c.at <= change.at)
        extension = interim.Extension(
            n=number, approved_on=day, days=change.days, reason=change.reason,
            authority=change.authority, approver_title=change.approver_title,
            old_due=before, new_due=_due_then(cal, case, item, changes, change.at, change.days),
            granted=granted, limit=extension_limit(item), joint=item.kind == "joint", we=we,
        )  # fmt: skip
        return interim.extension_notice(by, facts, extension, place=place, centre=centre, **options)
    pause = interim.Pause(n=number, started_on=day, kind=change.pause_kind or "",
                          reason=change.reason, expected_days=change.days, due=before, we=we,
                          licensing=licensing(item))  # fmt: skip
    return interim.pause_notice(by, facts, pause, place=place, centre=centre, **options)
