"""The auditor's view of a case: timeline, replay, verification; every look is logged.

Verification has two parts: the hash chain (nothing edited, removed, inserted or
reordered) and re-execution (running the pinned diagram version again with the logged
start data and task completions reaches the recorded gateway choices, tasks and end).
Replay rebuilds the state at any event from the log alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _

from workflows.engine import CompiledDiagram
from workflows.errors import OneWindowError
from workflows.replay import Divergence, ReplayState, replay_all, verify

from ..cases.access import require_case
from ..cases.models import Case, Task
from ..cases.queries import CaseDetail, case_detail
from ..cases.rebuild import versions
from ..cases.runtime import runtime
from ..catalogue.models import DiagramVersion, Item
from ..db import session, transactional, utcnow
from ..errors import Forbidden
from ..org.models import User
from .models import AuditView, Event
from .services import ChainReport, verify_chain

AUDIT_ROLES = ("auditor", "supervisor", "admin")


def event_dict(event: Event) -> dict:
    """Return an event as replay and export read it."""
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor,
        "at": event.at,
        "task_id": str(event.task_id) if event.task_id else None,
        "data": event.data or {},
    }


@dataclass
class CaseFile:
    """What an auditor opens: the case with its item, tasks and events (the case page's own
    read, behind the access gate) and the diagram version the case is pinned to."""

    detail: CaseDetail
    version: DiagramVersion | None

    @property
    def case(self) -> Case:
        return self.detail.case

    @property
    def item(self) -> Item:
        return self.detail.item

    @property
    def events(self) -> list[Event]:
        return self.detail.events

    @property
    def tasks(self) -> list[Task]:
        return [task for task, _username in self.detail.tasks]

    def diagram(self) -> CompiledDiagram | None:
        if self.version is None:
            return None
        return runtime().diagram(session(), self.version.id)

    def at(self, seq: int) -> CaseFile:
        """The file as of event `seq`: pinned to the version the case ran on then (a case
        moved to another version ran on the one it left before the move)."""
        version_id = None
        for event in self.events:
            if event.type != "case_migrated":
                continue
            if event.seq <= seq:
                version_id = event.data.get("to_version_id")
            elif version_id is None:
                version_id = event.data.get("from_version_id")
                break
        if version_id is None or self.version is None or version_id == self.version.id:
            return self
        return CaseFile(self.detail, session().get(DiagramVersion, version_id))


def open_case_file(actor: User, case_no: str, page: str) -> CaseFile:
    """Load a case for the audit pages, after checking the reader and logging the look."""
    if not actor.has_role(*AUDIT_ROLES):
        raise Forbidden(_("case histories are for auditors, supervisors and admins"))
    checked = require_case(actor, case_no)
    case = checked.case
    log_view(actor, case.id, page)
    pinned = case.diagram_version_id
    version = session().get(DiagramVersion, pinned) if pinned else None
    return CaseFile(case_detail(checked), version)


def late_specs(file: CaseFile) -> set[str]:
    """Return the diagram elements of the case's tasks that were completed after their due time."""
    rows = session().execute(
        sa.select(Task.spec_id).where(
            Task.case_id == file.case.id,
            Task.due_at.is_not(None),
            Task.completed_at > Task.due_at,
        )
    )
    return {r.spec_id for r in rows}


def note_if_auditor(actor: User, case_id: int, page: str) -> None:
    """Log an auditor's look at a case on the ordinary pages and the API as well."""
    if actor.has_role("auditor"):
        log_view(actor, case_id, page)


@transactional
def log_view(actor: User, case_id: int | None, page: str) -> None:
    """Record that someone looked at a case (or an export) in the audit pages."""
    session().add(AuditView(user_id=actor.id, case_id=case_id, page=page, at=utcnow()))


@dataclass(frozen=True)
class Verification:
    """The two checks of a case."""

    chain: ChainReport
    divergence: Divergence | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.divergence is None and self.error is None


def verify_case(db, case: Case, events: list[Event] | None = None) -> Verification:
    """Check the chain, then re-execute the log against the pinned diagram version."""
    chain = verify_chain(db, case.id)
    if case.diagram_version_id is None:
        return Verification(chain, None)
    if events is None:
        events = list(
            db.scalars(sa.select(Event).where(Event.case_id == case.id).order_by(Event.seq))
        )
    try:
        diagram = runtime().diagram(db, case.diagram_version_id)
        return Verification(chain, verify(diagram, [event_dict(e) for e in events],
                                          diagrams=versions(db)))  # fmt: skip
    except OneWindowError as exc:
        return Verification(chain, None, f"the log cannot be re-executed: {exc}")


def verify_file(file: CaseFile) -> Verification:
    """Verify an opened case file (its events are already read)."""
    return verify_case(session(), file.case, file.events)


def states(file: CaseFile) -> list[ReplayState]:
    """Return the state after every event, rebuilt from the log (not the current state)."""
    diagram = file.diagram()
    if diagram is None:
        return []
    return replay_all(diagram, [event_dict(e) for e in file.events], diagrams=versions(session()))


def holders_at(events: list[Event], upto: int) -> dict[str, int | None]:
    """Return who held each task (logged task id -> user id) after event `upto` (seq)."""
    held: dict[str, int | None] = {}
    for event in events:
        if event.seq > upto:
            break
        data = event.data or {}
        key = str(event.task_id) if event.task_id else None
        if key is None:
            continue
        if event.type == "task_assigned":
            held[key] = data.get("assignee_id")
        elif event.type in ("task_reassigned", "task_transferred", "task_claimed"):
            held[key] = data.get("to")
        elif event.type in ("task_completed", "task_cancelled"):
            held.pop(key, None)
    return held


def verify_period(
    db, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[tuple[str, Verification]]:
    """Verify every case received in a period; return (case number, result) pairs."""
    query = sa.select(Case).order_by(Case.received_at, Case.id)
    if since:
        query = query.where(Case.received_at >= since)
    if until:
        query = query.where(Case.received_at < until)
    return [(case.case_no, verify_case(db, case)) for case in db.scalars(query)]
