"""Time limits of cases and tasks: due dates, pauses (挂起), extensions (延期), recomputation.

A case's promised and statutory due dates count working days from acceptance; paused
working days and approved extension days are added on top, so a due date can always be
recomputed from the case row (as happens when a missing calendar year is added). A task's
stage due date counts its diagram `timeLimit` from its creation, plus the working days its
case was paused while it was open.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from types import SimpleNamespace

import sqlalchemy as sa
from flask_babel import gettext as _

from workflows.errors import OneWindowError
from workflows.expressions import evaluate

from ..calendar.services import Due, WorkCalendar, calendar
from ..catalogue.models import Item
from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput
from ..labels import status_name
from ..org.authority import authority_of, extension_approvers
from ..org.models import Post, User
from . import decisions
from .access import Purpose, require_case
from .models import OPEN_CASE_STATUSES, PAUSE_KINDS, Case, CasePause, Task
from .status import TaskState, is_open
from .store import CaseLog

log = logging.getLogger("onewindow.deadlines")
EXTENSION_DAYS = {"joint": 15}  # Licensing Law art. 42: 10 more days, 15 for joint handling


def promised_days(item: Item, form: dict) -> int:
    """Return the working days promised for an application: 0 for 即办件, else the first
    catalogue rule whose condition holds for the form, else the item's default."""
    if item.kind == "immediate":
        return 0
    for rule in item.entry.get("promised_rules", []):
        try:
            if evaluate(rule["when"], dict(form)):
                return int(rule["days"])
        except (OneWindowError, KeyError, TypeError, ValueError):
            continue
    return item.promised_days


def warn_days(item: Item, default: int = 1) -> int:
    """Return how many working days ahead of a due date the yellow card comes for an item."""
    return int(item.entry.get("warn_days", default))


def extension_limit(item: Item) -> int:
    """Return the most working days a case of this item may be extended by."""
    return int(item.entry.get("extension_days", EXTENSION_DAYS.get(item.kind, 10)))


def case_due_values(cal: WorkCalendar, case: Case, item: Item) -> dict:
    """Return the due columns of a case from its acceptance, pauses and extensions."""
    extra = (case.paused_days or 0) + (case.extended_days or 0)
    due = cal.due_in_days(case.accepted_at, (case.promised_days or 0) + extra)
    statutory = cal.due_in_days(case.accepted_at, item.statutory_days + extra)
    return {
        "due_at": due.at,
        "statutory_due_at": statutory.at,
        "due_provisional": due.provisional or statutory.provisional,
        "yellow_at": cal.warn_at(case.accepted_at, due.at, warn_days(item)),
    }


def set_case_dues(case: Case, item: Item) -> None:
    """Give a case being accepted its promised and statutory due dates."""
    case.promised_days = promised_days(item, case.form or {})
    for key, value in case_due_values(calendar(), case, item).items():
        setattr(case, key, value)


def parse_limit(text: str | None) -> tuple[float, str] | None:
    """Return a stored limit such as '3d' or '4h' as (3.0, 'd')."""
    if not text or text[-1] not in "dh":
        return None
    try:
        return float(text[:-1]), text[-1]
    except ValueError:
        return None


def task_due_values(cal: WorkCalendar | None, created_at: dt.datetime,
                    limit: tuple[float, str] | None, shift_days: int = 0) -> dict:  # fmt: skip
    """Return the due columns of a task with a stage limit (empty values without one; the
    calendar is only read when there is a limit)."""
    if limit is None:
        return {"due_at": None, "yellow_at": None, "due_provisional": False,
                "time_limit": None, "shift_days": shift_days}  # fmt: skip
    due = cal.shift(cal.due(created_at, limit), shift_days)
    days = 1 if limit[1] == "d" else 0
    if days:
        yellow = cal.warn_at(created_at, due.at, days)
    else:
        yellow = created_at + (due.at - created_at) / 2
    return {"due_at": due.at, "yellow_at": yellow, "due_provisional": due.provisional,
            "time_limit": f"{limit[0]:g}{limit[1]}", "shift_days": shift_days}  # fmt: skip


# --- pauses and extensions ---------------------------------------------------------------------


def _open_case(actor: User, case_no: str) -> Case:
    case = require_case(actor, case_no, Purpose.TIME).case
    if not is_open(case) or case.accepted_at is None:
        raise Conflict(
            _(
                "case %(case_no)s is %(status)s; only an accepted, open case has a clock",
                case_no=case_no,
                status=status_name(case.status),
            )
        )
    return case


def _running(case: Case) -> None:
    """Refuse to pause or extend a 上报件 already reported: the centre's clock has stopped
    and the upper authority keeps its own (Licensing Law arts. 42, 43)."""
    if case.reported_at is not None:
        raise Conflict(_("The case has been reported to the upper authority: the centre's "
                         "time limit has stopped and cannot be paused or extended."))  # fmt: skip


def may_manage_time(db, actor: User, case: Case) -> bool:
    """The window, an admin, the holder of an open task of the case or that post's leader."""
    if actor.has_role("clerk", "admin"):
        return True
    holds = db.scalar(
        sa.select(sa.func.count())
        .select_from(Task)
        .outerjoin(Post, Post.id == Task.post_id)
        .where(
            Task.case_id == case.id,
            Task.state == TaskState.OPEN,
            sa.or_(Task.assignee_id == actor.id, Post.leader_user_id == actor.id),
        )
    )
    return bool(holds)


@transactional
def pause_case(actor: User, case_no: str, kind: str, reason: str, expected_days: int) -> CasePause:
    """Stop a case's clock for an excluded period; the applicant is told why and how long."""
    db = session()
    case = _open_case(actor, case_no)
    if not may_manage_time(db, actor, case):
        raise Forbidden(_("only the window, the case's handlers and their leaders pause a case"))
    if kind not in PAUSE_KINDS:
        raise InvalidInput(_("kind must be one of: %(items)s", items=", ".join(PAUSE_KINDS)))
    if not (reason or "").strip():
        raise InvalidInput(_("a pause needs a reason for the applicant"))
    if not isinstance(expected_days, int) or not 1 <= expected_days <= 365:
        raise InvalidInput(_("expected_days must be a whole number of working days from 1 to 365"))
    if case.paused_at is not None:
        raise Conflict(_("case %(case_no)s is already paused", case_no=case_no))
    _running(case)
    now = utcnow()
    pause = CasePause(
        case_id=case.id, kind=kind, reason=reason.strip(), expected_days=expected_days,
        started_at=now, started_by_id=actor.id,
    )  # fmt: skip
    db.add(pause)
    db.flush()
    entry = CaseLog(db, case.id, now, actor)
    entry.add("case_paused", {"kind": kind, "reason": reason.strip(),
                              "expected_days": expected_days})  # fmt: skip
    entry.close(paused_at=now)
    db.expire(case)
    return pause


@transactional
def resume_case(actor: User, case_no: str) -> CasePause:
    """Start the clock again; every due date of the case and its open tasks moves later by
    the working days the pause lasted."""
    db = session()
    case = _open_case(actor, case_no)
    if not may_manage_time(db, actor, case):
        raise Forbidden(_("only the window, the case's handlers and their leaders resume a case"))
    if case.paused_at is None:
        raise Conflict(_("case %(case_no)s is not paused", case_no=case_no))
    pause = db.scalars(
        sa.select(CasePause).where(CasePause.case_id == case.id, CasePause.ended_at.is_(None))
    ).one()
    now = utcnow()
    cal = calendar()
    days = cal.working_days_between(case.paused_at, now)
    pause.ended_at, pause.ended_by_id, pause.working_days = now, actor.id, days
    item = db.get(Item, case.item_id)
    paused_days = (case.paused_days or 0) + days
    values = case_due_values(cal, _with(case, paused_days=paused_days), item)
    _shift_open_tasks(db, cal, case.id, days)
    entry = CaseLog(db, case.id, now, actor)
    entry.add("case_resumed", {"working_days": days, "due_at": values["due_at"],
                               "statutory_due_at": values["statutory_due_at"]})  # fmt: skip
    db.expire(case)
    entry.close(paused_at=None, paused_days=paused_days, **values)
    return pause


def _with(case: Case, **changes) -> SimpleNamespace:
    """Return the counting fields of a case with some changed, leaving the row untouched."""
    fields = {k: getattr(case, k) for k in
              ("accepted_at", "promised_days", "paused_days", "extended_days")}  # fmt: skip
    return SimpleNamespace(**{**fields, **changes})


def _shift_open_tasks(db, cal: WorkCalendar, case_id: int, days: int) -> None:
    if days <= 0:
        return
    rows = db.execute(
        sa.select(
            Task.id, Task.due_at, Task.yellow_at, Task.due_provisional, Task.shift_days
        ).where(Task.case_id == case_id, Task.state == TaskState.OPEN, Task.due_at.is_not(None))
    ).all()
    for row in rows:
        due = cal.shift(Due(row.due_at, row.due_provisional), days)
        yellow = cal.shift(Due(row.yellow_at, False), days).at if row.yellow_at else None
        db.execute(
            sa.update(Task).where(Task.id == row.id)
            .values(due_at=due.at, yellow_at=yellow, due_provisional=due.provisional,
                    shift_days=row.shift_days + days)
            .execution_options(synchronize_session=False)
        )  # fmt: skip


def extension_rule(item: Item):
    """Whose approval an extension of a case of `item` needs (art. 42): the heads of the
    authority that decides it, or the government's heads for a joint item; None for a
    registration item, whose limit is never extended."""
    db = session()
    spec = decisions.rule(item.entry or {})
    if spec.kind == "registration":
        return None
    if item.kind == "joint" or not spec.authority:
        return extension_approvers(db, item)
    return authority_of(db, decisions.authority_for(db, item).id)


# Licensing Law art. 42: an extension is approved by the head of the licensing authority
# (本行政机关负责人), for joint handling by the head of the government of that level, before
# the limit runs out, by at most 10 (15) working days, and the applicant is told why.
@transactional
def extend_case(actor: User, case_no: str, days: int, reason: str) -> Case:
    """Extend a case's limit (延期) with its authority's head's approval and a reason for the
    applicant; refused to anyone else, and once the statutory limit has run out."""
    db = session()
    case = _open_case(actor, case_no)
    item = db.get(Item, case.item_id)
    if decisions.rule(item.entry or {}).kind == "registration":
        raise Conflict(
            _("A real-estate registration is completed within the 30 working days of the "
              "Interim Regulations on Real Estate Registration (art. 20), which provide no "
              "extension.")
        )  # fmt: skip
    approvers = extension_rule(item)
    if approvers is None or not approvers.is_head(actor.id):
        who = approvers.name if approvers is not None else _("the government of this level")
        raise Forbidden(
            _("An extension needs the approval of a head of %(who)s (Licensing Law art. 42): "
              "%(heads)s.", who=who,
              heads=(approvers.head_names() if approvers else "") or _("none is registered"))
        )  # fmt: skip
    _running(case)
    now = utcnow()
    if case.statutory_due_at is not None and now >= case.statutory_due_at:
        raise Conflict(
            _("The statutory time limit ran out on %(due)s: an extension must be approved "
              "before it runs out (Licensing Law art. 42).",
              due=f"{calendar().local(case.statutory_due_at):%Y-%m-%d %H:%M}")
        )  # fmt: skip
    limit = extension_limit(item)
    if not isinstance(days, int) or days < 1:
        raise InvalidInput(_("The extension is a whole number of working days, at least 1."))
    if (case.extended_days or 0) + days > limit:
        raise InvalidInput(
            _("The law allows at most %(limit)d more working days for this item; %(granted)d "
              "are already granted.", limit=limit, granted=case.extended_days or 0)
        )  # fmt: skip
    if not (reason or "").strip():
        raise InvalidInput(_("An extension needs a reason for the applicant."))
    extended = (case.extended_days or 0) + days
    values = case_due_values(calendar(), _with(case, extended_days=extended), item)
    entry = CaseLog(db, case.id, now, actor)
    head = next(h for h in approvers.heads if h.user_id == actor.id)
    entry.add("case_extended", {"days": days, "reason": reason.strip(),
                                "approved_by": actor.username, "approver_title": head.title,
                                "authority": approvers.name, "legal_basis": "行政许可法第四十二条",
                                "due_at": values["due_at"],
                                "statutory_due_at": values["statutory_due_at"]})  # fmt: skip
    db.expire(case)
    entry.close(extended_days=extended, **values)
    log.info("case %s extended by %d days by %s", case_no, days, actor.username)
    return db.get(Case, case.id)


# --- recomputing provisional due dates ---------------------------------------------------------


def recompute_provisional(db, cal: WorkCalendar | None = None) -> int:
    """Recompute every open case's and task's provisional due date with the calendar as it
    is now; log each case whose dates changed. Return how many cases changed."""
    cal = cal or calendar()
    now = utcnow()
    changed = 0
    cases = db.execute(
        sa.select(Case, Item).join(Item, Item.id == Case.item_id).where(
            Case.status.in_(OPEN_CASE_STATUSES), Case.accepted_at.is_not(None),
            sa.or_(Case.due_provisional.is_(True), Case.id.in_(
                sa.select(Task.case_id).where(Task.state == TaskState.OPEN,
                                              Task.due_provisional.is_(True)))),
        )
    ).all()  # fmt: skip
    for case, item in cases:
        values = case_due_values(cal, case, item)
        tasks = db.execute(
            sa.select(Task.id, Task.created_at, Task.time_limit, Task.shift_days, Task.due_at)
            .where(Task.case_id == case.id, Task.state == TaskState.OPEN,
                   Task.due_provisional.is_(True))
        ).all()  # fmt: skip
        task_values = {
            t.id: task_due_values(cal, t.created_at, parse_limit(t.time_limit), t.shift_days)
            for t in tasks
        }
        if values["due_at"] == case.due_at and not task_values and not case.due_provisional:
            continue
        entry = CaseLog(db, case.id, now, None)
        entry.add("due_dates_recomputed", {
            "due_at": values["due_at"], "statutory_due_at": values["statutory_due_at"],
            "provisional": values["due_provisional"],
            "tasks": {str(k): v["due_at"] for k, v in task_values.items()},
        })  # fmt: skip
        for task_id, tv in task_values.items():
            db.execute(sa.update(Task).where(Task.id == task_id).values(**tv)
                       .execution_options(synchronize_session=False))  # fmt: skip
        db.expire(case)
        entry.close(**values)
        changed += 1
    return changed


# --- what the applicant is told of the clock (arts. 42, 45) -----------------------------------


@dataclass(frozen=True)
class ClockChange:
    """One pause or extension of a case's limit, as the applicant is told of it in writing."""

    kind: str  # "pause" (art. 45: the period is not counted) or "extension" (art. 42)
    at: dt.datetime  # when it was decided (UTC)
    reason: str
    days: int  # working days: expected for a pause, granted for an extension
    basis: str  # the article, as printed ("" where none can be cited)
    pause_kind: str | None = None  # hearing, expert_review, … (PAUSE_KINDS)
    ended_at: dt.datetime | None = None  # a pause's end, when it has ended
    lasted: int | None = None  # working days a pause lasted
    authority: str = ""  # who approved an extension
    approver_title: str = ""
    statutory_due_at: dt.datetime | None = None  # the limit after the extension


def clock_changes(case_id: int) -> list[ClockChange]:
    """Every pause and extension of the case, oldest first (three queries)."""
    from ..audit.models import Event

    db = session()
    entry = db.scalar(sa.select(Item.entry).join(Case, Case.item_id == Item.id)
                      .where(Case.id == case_id))  # fmt: skip
    licensing = decisions.rule(entry or {}).kind != "registration"
    changes = [
        # art. 45 lists the periods not counted (hearing, tendering, auction, inspection,
        # testing, quarantine, appraisal, expert review); a supplement asked after acceptance
        # rests on the centre's rules, not on an article we can cite, and a registration is
        # not a licence (the Licensing Law is not its law): no basis is printed
        ClockChange("pause", p.started_at, p.reason, p.expected_days,
                    "行政许可法第四十五条" if p.kind != "supplement" and licensing else "",
                    pause_kind=p.kind, ended_at=p.ended_at, lasted=p.working_days)
        for p in db.scalars(sa.select(CasePause).where(CasePause.case_id == case_id))
    ]  # fmt: skip
    for at, data in db.execute(
        sa.select(Event.at, Event.data)
        .where(Event.case_id == case_id, Event.type == "case_extended")
    ):  # fmt: skip
        due = data.get("statutory_due_at")
        changes.append(ClockChange(
            "extension", at, data.get("reason", ""), int(data.get("days", 0)),
            data.get("legal_basis") or "行政许可法第四十二条",
            authority=data.get("authority", ""), approver_title=data.get("approver_title", ""),
            statutory_due_at=dt.datetime.fromisoformat(due) if isinstance(due, str) else due,
        ))  # fmt: skip
    return sorted(changes, key=lambda c: c.at)
