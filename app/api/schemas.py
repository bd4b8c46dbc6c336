"""Turn model rows into the JSON the API returns."""

from __future__ import annotations

import datetime as dt

from ..cases.status import is_task_open
from ..org.reasons import decode, reason_text


def _time(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def item_json(item, brief: bool = False, version: int | None = None) -> dict:
    """Return a catalogue item; the full entry unless brief."""
    data = {
        "code": item.code,
        "name": item.name,
        "kind": item.kind,
        "statutory_days": item.statutory_days,
        "promised_days": item.promised_days,
    }
    if not brief:
        data["entry"] = item.entry
        data["diagram_version"] = version
    return data


def task_json(
    task, case_no: str | None = None, item_name: str | None = None, assignee: str | None = None
) -> dict:
    """Return a task as the API shows it."""
    data = {
        "id": str(task.id),
        "name": task.name,
        "spec_id": task.spec_id,
        "stage": task.stage,
        "lane": task.lane,
        "state": task.state,
        "assignee_id": task.assignee_id,
        "assignee": assignee,
        "assignment_reason": reason_text(task.assignment_reason),
        "assignment_reason_code": decode(task.assignment_reason),
        "outcomes": task.outcomes.split(","),
        "is_decision": task.is_decision,
        "created_at": _time(task.created_at),
        "completed_at": _time(task.completed_at),
        "outcome": task.outcome,
        "comment": task.comment,
        "time_limit": task.time_limit,
        "due_at": _time(task.due_at),
        "due_provisional": bool(task.due_provisional),
    }
    if case_no is not None:
        data["case_no"] = case_no
    if item_name is not None:
        data["item_name"] = item_name
    return data


def case_json(case, item, version: int | None, tasks: list[tuple]) -> dict:
    """Return a case with its open tasks and its transfer history; tasks are (task, assignee)."""
    return {
        "case_no": case.case_no,
        "status": case.status,
        "decision": case.decision,
        "decision_reason": case.decision_reason,
        "legal_basis": case.legal_basis,
        "item": {"code": item.code, "name": item.name, "kind": item.kind},
        "diagram_version": version,
        "applicant": {"name": case.applicant_name},
        "missing": case.missing_materials,
        "received_at": _time(case.received_at),
        "accepted_at": _time(case.accepted_at),
        "decided_at": _time(case.decided_at),
        "closed_at": _time(case.closed_at),
        "promised_days": case.promised_days,
        "due_at": _time(case.due_at),
        "statutory_due_at": _time(case.statutory_due_at),
        "due_provisional": bool(case.due_provisional),
        "paused_at": _time(case.paused_at),
        "paused_days": case.paused_days or 0,
        "extended_days": case.extended_days or 0,
        "reported_at": _time(case.reported_at),  # a 上报件 reported (art. 43): its clock stopped
        "open_tasks": [task_json(t, assignee=who) for t, who in tasks if is_task_open(t)],
        "history": [task_json(t, assignee=who) for t, who in tasks if not is_task_open(t)],
    }


def event_json(event) -> dict:
    """Return one audit event."""
    return {
        "seq": event.seq,
        "type": event.type,
        "actor": event.actor,
        "at": event.at.isoformat(timespec="microseconds"),
        "task_id": str(event.task_id) if event.task_id else None,
        "data": event.data,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


def opened_json(row: dict) -> dict:
    """Return a task an operation just opened (who it went to and why)."""
    return {
        "id": str(row["id"]),
        "spec_id": row["spec_id"],
        "name": row["name"],
        "stage": row["stage"],
        "assignee_id": row["assignee_id"],
        "assignment_reason": reason_text(row["assignment_reason"]),
        "assignment_reason_code": decode(row["assignment_reason"]),
    }


def absence_json(absence) -> dict:
    """Return an absence."""
    return {
        "id": absence.id,
        "user_id": absence.user_id,
        "kind": absence.kind,
        "starts_at": _time(absence.starts_at),
        "ends_at": _time(absence.ends_at),
        "reason": absence.reason,
        "confirmed_by_id": absence.confirmed_by_id,
        "cancelled_at": _time(absence.cancelled_at),
    }
