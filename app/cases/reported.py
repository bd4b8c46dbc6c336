"""上报件: items reviewed first by the centre's authority and decided by an upper one.

Licensing Law art. 43: where a licence is decided by an upper authority after the lower one
has reviewed it, the lower authority finishes its review within twenty working days of
accepting the application (unless a law or regulation says otherwise); art. 35: it reports
its preliminary opinion and all the application materials directly to the upper authority,
which may not ask the applicant for them again. The upper authority then decides within its
own limit (art. 42): the centre no longer controls that clock, but keeps the case open until
the decision arrives, records it and delivers it.

An item of kind "reported" names its upper authority in its catalogue entry
(`[reported] to = "示范省自然资源厅"`, `first_instance_days`, 20 by default): its cases'
statutory limit is that first instance. Its diagram has a task of stage "report" (上报: the
report's number and date and the preliminary opinion) and after it, on every path, a task
of stage "upper_decision" (the upper authority's decision, its number and date). Completing
the report sets `cases.reported_at` and logs `case_reported`: no warning card and no overdue
mark after it, and the applicant is told where and when the case went. An upper decision
before the report is refused, at deployment (the diagram) and when it is recorded.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import deque
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ..clock import local_date
from ..db import session
from ..errors import Conflict, InvalidInput
from .models import Case

KIND = "reported"
REPORT_STAGE = "report"
UPPER_STAGE = "upper_decision"
REPORT_FIELDS = ("report_no", "report_date", "opinion")
UPPER_FIELDS = ("upper_decision_no", "upper_decision_date")
UPPER_OUTCOMES = {"approve": "approved", "reject": "denied"}
FIRST_INSTANCE_DAYS = 20  # art. 43, where no law or regulation sets another limit


@dataclass(frozen=True)
class Reporting:
    """Where a reported item goes and how long its first instance may take."""

    to: str
    first_instance_days: int


def reporting(kind: str, entry: dict, name: str) -> Reporting | None:
    """Return the reporting of an item (None for other kinds); refuse a reported item that
    does not name its upper authority or gives a first-instance limit that is not a number
    of working days."""
    if kind != KIND:
        return None
    spec = entry.get("reported")
    to = str(spec.get("to") or "").strip() if isinstance(spec, dict) else ""
    if not to:
        raise InvalidInput(
            _('%(item)s: a reported item (上报件) must name the upper authority that decides '
              'it: [reported] to = "…" (Licensing Law art. 43).', item=name)
        )  # fmt: skip
    days = spec.get("first_instance_days", FIRST_INSTANCE_DAYS)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
        raise InvalidInput(
            _("%(item)s: first_instance_days must be a whole number of working days from 1 "
              "to 365 (20 under Licensing Law art. 43).", item=name)
        )  # fmt: skip
    return Reporting(to, days)


def first_instance_days(kind: str, entry: dict, name: str) -> int | None:
    """Return the statutory days of a reported item's cases (its first instance), refusing
    an entry whose `statutory_days` says otherwise; None for other kinds."""
    spec = reporting(kind, entry, name)
    if spec is None:
        return None
    stated = entry.get("statutory_days")
    if stated is not None and stated != spec.first_instance_days:
        raise InvalidInput(
            _("%(item)s: the statutory limit of a reported item is its first instance "
              "(%(days)d working days); statutory_days says %(stated)s.",
              item=name, days=spec.first_instance_days, stated=stated)
        )  # fmt: skip
    return spec.first_instance_days


# --- the diagram -------------------------------------------------------------------------------


def check_diagram(kind: str, name: str, compiled) -> None:
    """Refuse a diagram that does not fit the item's kind: a reported item's needs a report
    task and an upper-decision task with their fields, and no path from the start to the
    upper decision that avoids the report; other items have neither stage."""
    tasks = compiled.user_tasks()
    report = [n for n in tasks if n.stage == REPORT_STAGE]
    upper = [n for n in tasks if n.stage == UPPER_STAGE]
    if kind != KIND:
        if report or upper:
            raise InvalidInput(
                _("%(item)s: the stages report and upper_decision belong to reported items "
                  "(上报件) only.", item=name)
            )  # fmt: skip
        return
    if not report or not upper:
        raise InvalidInput(
            _("%(item)s: the diagram of a reported item needs a task of stage report (上报) "
              "and, after it, a task of stage upper_decision (the upper authority's "
              "decision).", item=name)
        )  # fmt: skip
    for nodes, wanted in ((report, REPORT_FIELDS), (upper, UPPER_FIELDS)):
        for node in nodes:
            missing = [f for f in wanted if f not in {field.id for field in node.form}]
            if missing:
                raise InvalidInput(
                    _("%(item)s: task %(task)s lacks the form fields %(fields)s.",
                      item=name, task=_named(node), fields=", ".join(f"`{f}`" for f in missing))
                )  # fmt: skip
    for node in upper:
        if not set(UPPER_OUTCOMES) <= set(node.outcomes):
            raise InvalidInput(
                _("%(item)s: task %(task)s must offer the outcomes approve and reject.",
                  item=name, task=_named(node))
            )  # fmt: skip
    early = [n for n in upper if n.id in _reachable(compiled, {n.id for n in report})]
    if early:
        raise InvalidInput(
            _("%(item)s: task %(task)s can be reached without the report: the upper "
              "authority decides only after the case is reported to it (Licensing Law "
              "art. 43).", item=name, task="、".join(sorted(map(_named, early))))
        )  # fmt: skip


def _named(node) -> str:
    """A task as an analyst reads it in a finding: its name, its id marked as code."""
    return f"{node.name}（`{node.id}`）" if node.name else f"`{node.id}`"


def _reachable(compiled, blocked: set[str]) -> set[str]:
    """The nodes reachable from the start events without completing a `blocked` task (the
    boundary events of a blocked task are reachable: they leave it without completing it).
    A subprocess is passed as one node, so what it holds is judged from its own start."""
    boundaries: dict[str, list[str]] = {}
    for node in compiled.nodes.values():
        if node.attached_to:
            boundaries.setdefault(node.attached_to, []).append(node.id)
    queue = deque(n.id for n in compiled.nodes.values() if n.type == "startEvent")
    seen = set(queue)
    while queue:
        current = queue.popleft()
        node = compiled.nodes.get(current)
        if node is None:
            continue
        after = [] if current in blocked else [target for _flow, target in node.outgoing]
        for target in after + boundaries.get(current, []):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return seen


# --- completing the report and the upper decision ----------------------------------------------


def _text(data: dict, key: str) -> str:
    return str(data.get(key) or "").strip()


def _day(data: dict, key: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(_text(data, key))
    except ValueError:
        return None


def prepare(db: Session, case_id: int, completion, at: dt.datetime):
    """Return a completion of a report or upper-decision task with what it records (events
    and case columns); refuse one that cannot be recorded. Other completions are returned
    as they are."""
    from ..catalogue.models import Item

    stage = completion.task.stage
    if stage not in (REPORT_STAGE, UPPER_STAGE) or completion.outcome == "return":
        return completion
    case = db.execute(
        sa.select(Case.item_id, Case.accepted_at, Case.reported_at, Case.statutory_due_at)
        .where(Case.id == case_id)
    ).one()  # fmt: skip
    item = db.get(Item, case.item_id)
    spec = reporting(item.kind, item.entry or {}, item.name)
    if spec is None:
        raise Conflict(_("%(item)s is not a reported item (上报件).", item=item.name))
    if stage == REPORT_STAGE:
        events, values = _report(spec, case, completion.data, at)
    else:
        events, values = _upper(db, case_id, spec, case, completion, at)
    return dataclasses.replace(completion, effects=events, case_values=values)


def _report(spec: Reporting, case, data: dict, at: dt.datetime) -> tuple[tuple, dict]:
    if case.reported_at is not None:
        raise Conflict(_("The case was already reported to %(to)s.", to=spec.to))
    number, opinion = _text(data, "report_no"), _text(data, "opinion")
    on = _day(data, "report_date")
    if not number or on is None or not opinion:
        raise InvalidInput(_("A report needs its document number, its date and the "
                             "preliminary review opinion (Licensing Law art. 35)."))  # fmt: skip
    if not local_date(case.accepted_at) <= on <= local_date(at):
        raise InvalidInput(_("The report's date must lie between the acceptance and today."))
    due = case.statutory_due_at
    event = {"to": spec.to, "report_no": number, "report_date": on.isoformat(),
             "opinion": opinion, "first_instance_days": spec.first_instance_days,
             "first_instance_due_at": due.isoformat() if due else None,
             "within_first_instance": due is None or at <= due}  # fmt: skip
    return (("case_reported", event),), {"reported_at": at}


def _upper(db: Session, case_id: int, spec: Reporting, case, completion, at: dt.datetime):
    if case.reported_at is None:
        raise Conflict(
            _("The decision of %(to)s cannot be recorded before the case is reported to it "
              "(Licensing Law art. 43).", to=spec.to)
        )  # fmt: skip
    data = completion.data
    number, on = _text(data, "upper_decision_no"), _day(data, "upper_decision_date")
    if not number or on is None:
        raise InvalidInput(_("Record the upper authority's decision number and date."))
    reported = case_report(case_id, db)
    if not dt.date.fromisoformat(reported.report_date) <= on <= local_date(at):
        raise InvalidInput(_("The upper authority's decision must be dated between the "
                             "report and today."))  # fmt: skip
    event = {"authority": spec.to, "decision": UPPER_OUTCOMES[completion.outcome],
             "decision_no": number, "decision_date": on.isoformat()}  # fmt: skip
    return (("upper_decision_recorded", event),), {}


# --- what was reported, as pages show it -------------------------------------------------------


@dataclass(frozen=True)
class UpperDecision:
    """The upper authority's decision as the centre recorded it."""

    authority: str
    decision: str  # approved | denied
    number: str
    date: str  # ISO date of the decision
    recorded_at: dt.datetime


@dataclass(frozen=True)
class Report:
    """A case's report to the upper authority and, once recorded, its decision."""

    to: str
    number: str
    report_date: str  # ISO date of the report
    opinion: str
    at: dt.datetime  # when it was recorded (UTC); the centre's clock stopped then
    first_instance_due_at: dt.datetime | None
    upper: UpperDecision | None = None


def case_report(case_id: int, db: Session | None = None) -> Report | None:
    """Return the case's latest report with the decision recorded after it (None if the
    case was never reported); one query."""
    from ..audit.models import Event

    rows = (db or session()).execute(
        sa.select(Event.type, Event.at, Event.data)
        .where(Event.case_id == case_id, Event.type.in_(EVENTS))
        .order_by(Event.seq)
    ).all()  # fmt: skip
    return report_of(rows)


EVENTS = ("case_reported", "upper_decision_recorded")


def report_of(events) -> Report | None:
    """Return the latest report among a case's events in order (anything with type, at and
    data), with the upper decision recorded after it."""
    report = None
    for event in events:
        kind, at, data = event.type, event.at, event.data or {}
        if kind == "case_reported":
            due = data.get("first_instance_due_at")
            report = Report(data["to"], data["report_no"], data["report_date"],
                            data.get("opinion", ""), at,
                            dt.datetime.fromisoformat(due) if due else None)  # fmt: skip
        elif kind == "upper_decision_recorded" and report is not None:
            upper = UpperDecision(data["authority"], data["decision"], data["decision_no"],
                                  data["decision_date"], at)  # fmt: skip
            report = dataclasses.replace(report, upper=upper)
    return report
