"""The one writer of case rows: the case row, its tasks, its timers and its events.

Every change of a case goes through `save_case`: one version-checked UPDATE that bumps the
row's version by one, so a request that lost a race stops with `StaleCase` and nothing of it
is written. The ORM never writes a case row (a `before_update` guard refuses it); it only
inserts new cases. Events are appended to the case's hash chain in the same transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from workflows.engine import StepResult, WorkflowRun

from ..audit.services import GENESIS, EventBatch
from ..db import LOST_RACE_MARK, execute_direct, on_commit, queue_write
from ..errors import StaleCase
from ..org.models import User
from . import rebuild, timers
from .models import Case, Task
from .runtime import runtime
from .status import TaskState

TASKS = Task.__table__
CASES = Case.__table__


@event.listens_for(Case, "before_update")
def _refuse_orm_update(_mapper, _connection, target: Case) -> None:
    if changed_values(target):
        raise RuntimeError(f"case {target.case_no}: case rows are written by app.cases.store")


def changed_values(case: Case) -> dict:
    """The columns of a case object changed since it was read (or last saved)."""
    return {a.key: a.value for a in sa.inspect(case).attrs if a.history.has_changes()}


@dataclass(frozen=True)
class Head:
    """The case row as a step sees it: identity, version and the head of its chain."""

    id: int
    case_no: str
    applicant_id_number: str
    last_decider_id: int | None
    last_decision_spec: str | None
    status: str
    version: int
    event_seq: int
    last_hash: str
    diagram_version_id: int

    @classmethod
    def of(cls, row: Any, case_id: int) -> Head:
        """Build from a row (or a case) carrying the case columns."""
        return cls(case_id, *(getattr(row, c.key) for c in HEAD_COLUMNS))

    def but(self, **changes) -> Head:
        return dataclasses.replace(self, **changes)


HEAD_COLUMNS = (
    Case.case_no,
    Case.applicant_id_number,
    Case.last_decider_id,
    Case.last_decision_spec,
    Case.status,
    Case.version,
    Case.event_seq,
    Case.last_hash,
    Case.diagram_version_id,
)


def events_for(case: Case | Head, actor: User | None, at: dt.datetime | None = None) -> EventBatch:
    """A batch of events that continues the case's chain, written by `actor` (or the system)."""
    batch = EventBatch(
        case_no=case.case_no,
        case_id=case.id,
        seq=case.event_seq,
        last_hash=case.last_hash or GENESIS,
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
    )
    if at is not None:
        batch.at = at
    return batch


@functools.cache
def _case_update(columns: tuple[str, ...]) -> sa.Update:
    """The version-checked UPDATE of these columns, built once per set of columns (a step
    writes one of a few sets): building a statement costs more than running it."""
    return (
        CASES.update()
        .where(CASES.c.id == sa.bindparam("case_id"),
               CASES.c.version == sa.bindparam("old_version"))
        .values(version=sa.bindparam("new_version"),
                **{key: sa.bindparam(f"v_{key}") for key in columns})
    )  # fmt: skip


def must_match_one(update: sa.Update, key: sa.Column) -> sa.Select:
    """The UPDATE as a statement that fails when it matched no row (PostgreSQL): it can then
    be queued in the step's pipeline, unread, and a lost race still aborts the transaction."""
    moved = update.returning(key).cte("moved")
    count = sa.func.count()
    text = sa.case((count == 1, sa.literal_column("'1'", sa.Text)),
                   else_=sa.literal_column(f"'{LOST_RACE_MARK}: '", sa.Text).concat(
                       sa.cast(count, sa.Text)))  # fmt: skip
    return sa.select(sa.cast(text, sa.Integer)).select_from(moved)


@functools.cache
def _case_update_checked(columns: tuple[str, ...]) -> sa.Select:
    return must_match_one(_case_update(columns), CASES.c.id)


def save_case(
    db: Session, case: Case | Head, values: dict | None = None, events: EventBatch | None = None
) -> None:
    """Write the case row: `values`, the chain's head and the version + 1, version-checked.

    The events of `events` are written after the row. For a `Case` object, `values` defaults
    to the columns changed on it; it is then told the new values as its committed state, so
    the ORM has nothing to flush. (Change it under `db.no_autoflush`.) On PostgreSQL the
    writes are queued (`queue_write`): a lost race fails the statement, and with it the
    transaction, when the queue is sent.
    """
    if values is None:
        values = changed_values(case)
    if events is not None:
        values = {**values, "event_seq": events.seq, "last_hash": events.last_hash}
    params = {f"v_{key}": value for key, value in values.items()}
    params.update(case_id=case.id, old_version=case.version, new_version=case.version + 1)
    if db.get_bind().dialect.name == "postgresql":
        queue_write(db, _case_update_checked(tuple(values)), params)
    else:
        updated = execute_direct(db, _case_update(tuple(values)), params)
        if updated.rowcount != 1:
            raise StaleCase(f"case {case.case_no} changed meanwhile")
    if isinstance(case, Case):
        for key, value in {**values, "version": case.version + 1}.items():
            set_committed_value(case, key, value)
    if events is not None:
        events.write(db)


# a new case row, inserted in one statement rather than through the ORM's flush (which costs
# more than the INSERT): every column is given, the Python defaults filled in here
_CASE_KEYS = tuple(attr.key for attr in Case.__mapper__.column_attrs if attr.key != "id")
_INSERT_CASE = CASES.insert().returning(CASES.c.id)
_UNSET = object()


def insert_case(db: Session, case: Case) -> None:
    """Insert a new case (its id comes back onto `case`). The object is not added to the
    session: the ORM never writes it, later changes to its row go through `save_case`."""
    values = {}
    for key in _CASE_KEYS:
        value = case.__dict__.get(key, _UNSET)
        if value is _UNSET:
            default = CASES.c[key].default
            if default is None:
                value = None
            else:
                value = default.arg(None) if default.is_callable else default.arg
            setattr(case, key, value)
        values[key] = value
    case.id = execute_direct(db, _INSERT_CASE, values, read=True).fetchone()[0]


class CaseLog:
    """Append events to one case's chain outside a workflow step, then bump its version.

    Opening it reads the chain head; `close()` writes the case row (version-checked, with any
    extra column values) and the events. Used by moves, claims, transfers, warnings,
    pauses and recomputed due dates.
    """

    def __init__(self, db: Session, case_id: int, at: dt.datetime, actor: User | None) -> None:
        self.db = db
        # the row carries what `events_for` and `save_case` read: id, number, chain head, version
        self.head = db.execute(
            sa.select(Case.id, Case.case_no, Case.event_seq, Case.last_hash, Case.version)
            .where(Case.id == case_id)
        ).one()  # fmt: skip
        self.events = events_for(self.head, actor, at)

    def add(self, kind: str, data: dict, task_id: uuid.UUID | None = None) -> None:
        self.events.add(kind, data, task_id)

    def close(self, **values) -> None:
        save_case(self.db, self.head, values, self.events)


# the hot statements of a step, built once (the compiled cache then hits at once)
_INSERT_TASKS = TASKS.insert().inline()  # no RETURNING: the ids are given
_CANCEL_TASKS = (
    TASKS.update()
    .where(TASKS.c.id.in_(sa.bindparam("ids", expanding=True)),
           TASKS.c.state == TaskState.OPEN)
    .values(state=TaskState.CANCELLED, completed_at=sa.bindparam("at"))
)  # fmt: skip


@functools.cache
def _task_completion(columns: tuple[str, ...]) -> sa.Update:
    """The UPDATE that completes a still open task, built once per set of columns."""
    return (
        TASKS.update()
        .where(TASKS.c.id == sa.bindparam("task_id"), TASKS.c.state == TaskState.OPEN)
        .values(**{key: sa.bindparam(f"v_{key}") for key in columns})
    )


@functools.cache
def _task_completion_checked(columns: tuple[str, ...]) -> sa.Select:
    return must_match_one(_task_completion(columns), TASKS.c.id)


def insert_tasks(db: Session, rows: list[dict], case_id: int | None = None) -> None:
    if rows:
        if case_id is not None:
            rows = [{**r, "case_id": case_id} for r in rows]
        queue_write(db, _INSERT_TASKS, rows)


def write_step(db: Session, rows: list[dict], step: StepResult, at: dt.datetime) -> None:
    """Insert the new tasks and cancel the ones the engine dropped."""
    insert_tasks(db, rows)
    if step.cancelled:
        queue_write(db, _CANCEL_TASKS, {"ids": list(step.cancelled), "at": at})


def complete_task_row(db: Session, task_id: uuid.UUID, completion: dict) -> None:
    """Write a completion onto a task that is still open; a task changed meanwhile is stale
    (on PostgreSQL: the queued statement fails, as `save_case`'s)."""
    params = {f"v_{key}": value for key, value in completion.items()}
    params["task_id"] = task_id
    if db.get_bind().dialect.name == "postgresql":
        queue_write(db, _task_completion_checked(tuple(completion)), params)
        return
    updated = execute_direct(db, _task_completion(tuple(completion)), params)
    if updated.rowcount != 1:
        raise StaleCase(f"task {task_id} changed meanwhile")


def cancel_open_tasks(
    db: Session, case_id: int, at: dt.datetime
) -> list[tuple[uuid.UUID, str | None]]:
    """Cancel every open task of a case; return their ids with their kind (None: a stage of
    the workflow; else an opinion asked or a signer added, no stage of it)."""
    found = db.execute(
        sa.select(Task.id, Task.kind).where(Task.case_id == case_id, Task.state == TaskState.OPEN)
    ).all()
    if found:
        db.execute(
            sa.update(Task)
            .where(Task.id.in_([row.id for row in found]))
            .values(state=TaskState.CANCELLED, completed_at=at)
            .execution_options(synchronize_session=False)
        )
    return [(row.id, row.kind) for row in found]


def write_started(
    db: Session, case: Case, rows: list[dict], events: EventBatch, run: WorkflowRun | None
) -> None:
    """Insert the tasks, timers and events of a case whose workflow has just started."""
    events.case_id = case.id
    insert_tasks(db, rows, case.id)
    if run is not None and run.diagram.has_timers:
        timers.write_changes(db, case.id, [], run.waiting_timers(), (), events.at)
    events.write(db)
    if run is not None:
        keep_live(case.id, case.version, run, events.seq)


def keep_live(case_id: int, version: int, run: WorkflowRun, seq: int | None = None) -> None:
    """Keep the live workflow after the commit, unless it has ended (it never steps again);
    `seq` is the case's last event, which it covers."""
    if run.is_completed:
        return
    cache = runtime().cache
    on_commit(lambda: cache.put(case_id, version, run, seq))


def forget_live(case_id: int) -> None:
    """Drop the live workflow of a case (it was stopped, withdrawn or half-stepped)."""
    runtime().cache.take(case_id, -1)


def live_run(db: Session, diagram, head: Head) -> WorkflowRun:
    """Take the live workflow of this row version, or rebuild it from the case's events (onto
    an older live workflow of this process, or the stored snapshot): app/cases/rebuild.py.
    Raise WorkflowFault when the events do not rebuild to what the database holds."""
    live = runtime().cache.take_any(head.id, head.version)
    if live is not None and live.version == head.version:
        return live.run
    return rebuild.rebuild(db, diagram, head, live)
