"""Append events to a case's hash chain and verify the chain."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..db import utcnow
from .models import Event

GENESIS = "0" * 64


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds")
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def event_hash(
    case_no: str,
    seq: int,
    type_: str,
    actor: str,
    at: dt.datetime,
    task_id: uuid.UUID | str | None,
    data: dict,
    prev_hash: str,
) -> str:
    """Return the sha256 that seals one event and chains it to the previous one."""
    body = {
        "case_no": case_no,
        "seq": seq,
        "type": type_,
        "actor": actor,
        "at": _canonical(at),
        "task_id": str(task_id) if task_id else None,
        "data": data,
        "prev_hash": prev_hash,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def jsonable(value: Any) -> Any:
    """Return a copy of a value that survives a JSON round trip unchanged."""
    return json.loads(json.dumps(value, ensure_ascii=False, default=_canonical))


@dataclass
class EventBatch:
    """Events of one case collected during one operation, written with one INSERT.

    Hashes chain on the case number, which exists before the case row does, so a new
    case and its first events are written without a second round trip.
    """

    case_no: str
    case_id: int | None
    seq: int
    last_hash: str
    actor_id: int | None
    actor: str
    at: dt.datetime = field(default_factory=utcnow)
    rows: list[dict] = field(default_factory=list)

    def add(self, type_: str, data: dict | None = None, task_id: uuid.UUID | None = None) -> None:
        """Append one event to the batch, sealing it with the chained hash."""
        self.seq += 1
        payload = jsonable(data or {})
        digest = event_hash(
            self.case_no, self.seq, type_, self.actor, self.at, task_id, payload, self.last_hash
        )
        self.rows.append(
            {
                "seq": self.seq,
                "type": type_,
                "actor_id": self.actor_id,
                "actor": self.actor,
                "at": self.at,
                "task_id": task_id,
                "data": payload,
                "prev_hash": self.last_hash,
                "hash": digest,
            }
        )
        self.last_hash = digest

    def mark(self) -> tuple[int, str, int]:
        """Return where the batch stands, to rewind to if the step that follows is undone."""
        return self.seq, self.last_hash, len(self.rows)

    def rewind(self, mark: tuple[int, str, int]) -> None:
        """Drop the events added since `mark` (their step was rolled back)."""
        self.seq, self.last_hash, count = mark
        del self.rows[count:]

    def write(self, db: Session) -> None:
        """Insert the collected events in one statement."""
        if self.case_id is None:
            raise ValueError("events need the case row first")
        if self.rows:
            rows = [{**row, "case_id": self.case_id} for row in self.rows]
            db.connection().execute(Event.__table__.insert(), rows)


@dataclass
class ChainReport:
    """Result of checking one case's chain."""

    case_id: int
    ok: bool
    events: int
    first_bad_seq: int | None = None
    problem: str | None = None


def verify_chain(db: Session, case_id: int) -> ChainReport:
    """Check that no event of the case was edited, removed or inserted out of order."""
    from ..cases.models import Case

    case = db.execute(
        sa.select(Case.case_no, Case.event_seq, Case.last_hash).where(Case.id == case_id)
    ).one_or_none()
    if case is None:
        return ChainReport(case_id, False, 0, None, "case not found")
    events = db.scalars(sa.select(Event).where(Event.case_id == case_id).order_by(Event.seq)).all()
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            return ChainReport(
                case_id, False, len(events), expected_seq, f"event {expected_seq} is missing"
            )
        if ev.prev_hash != prev:
            return ChainReport(case_id, False, len(events), ev.seq, "previous-hash link broken")
        digest = event_hash(
            case.case_no, ev.seq, ev.type, ev.actor, ev.at, ev.task_id, ev.data, ev.prev_hash
        )
        if digest != ev.hash:
            return ChainReport(
                case_id, False, len(events), ev.seq, "event content does not match its hash"
            )
        prev = ev.hash
        expected_seq += 1
    if case.event_seq != expected_seq - 1 or case.last_hash != prev:
        return ChainReport(
            case_id,
            False,
            len(events),
            expected_seq,
            f"the case records {case.event_seq} events but {expected_seq - 1} are stored",
        )
    return ChainReport(case_id, True, len(events))
