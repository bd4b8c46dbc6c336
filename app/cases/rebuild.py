"""A case's workflow rebuilt from its events: the events are the truth, a stored state a cache.

A step stores the serialized workflow (`cases.state`) only now and then (`snapshot`): every
`SNAPSHOT_EVERY` engine moves of a running workflow. Not at the start (rebuilding the first
moves from the log costs less than restoring a stored state) and not at the end (a workflow
that has ended never steps again, so nothing would read it). The state records the
seq of the last event it covers twice, in `cases.state_seq` and at the head of its JSON
(`{"ow_state_seq": N, ...}`), with the serializer version in `cases.serializer_version`.

When a step finds no live workflow of the case's row version in its process (`rebuild`), it
takes, in order: the stale live workflow of this process, whose seq it knows; else the
stored snapshot, if it is there, from this serializer, stamped with its own seq and
restorable; else nothing. It replays the events after that point (workflows/rebuild.py: the
auditors' replayer, strict). One statement reads those events with the case's open tasks
and timers. The rebuilt workflow must then agree with the database: the ready user tasks
are the open task rows (ids and specs), the waiting timers the timer rows (ids and nodes).
A snapshot that fails any of this is never trusted over the events: the workflow is rebuilt
from the start of the log instead (and the next step stores a fresh snapshot). If that
fails too, the log and the database disagree: the step stops the case in the fault state
(`WorkflowFault`, code `rebuild`), it never guesses.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.engine import CompiledDiagram, WorkflowRun
from workflows.errors import WorkflowFault
from workflows.rebuild import Resumed, rekey, resume

from ..audit.models import Event
from .models import Case, Task, Timer
from .runtime import Live, runtime
from .status import TaskState

STAMP = re.compile(r'\{\s*"ow_state_seq"\s*:\s*(\d+)\s*,')
HELD_TIMERS = ("waiting", "held", "failed")  # timers the workflow still waits for
_MOVES = "_ow_moves_since_snapshot"  # on a live run: engine moves since its stored snapshot


def moves_since_snapshot(run: WorkflowRun) -> int:
    """Return the engine moves a live workflow made since its last stored snapshot."""
    return getattr(run, _MOVES, 0)


def note_moves(run: WorkflowRun, moves: int) -> None:
    setattr(run, _MOVES, moves)


def due_for_snapshot(run: WorkflowRun, finished: bool) -> bool:
    """Return whether the step that has just moved `run` stores its state (and count it)."""
    moves = moves_since_snapshot(run) + 1
    due = not finished and moves >= runtime().snapshot_every  # an ended one never steps again
    note_moves(run, 0 if due else moves)
    return due


def snapshot(run: WorkflowRun, seq: int) -> dict:
    """Return the case columns that store a snapshot of `run` covering the events up to `seq`."""
    engine = runtime().engine
    state = engine.serialize(run)
    return {
        "state": f'{{"ow_state_seq":{seq},{state[1:]}',
        "state_seq": seq,
        "serializer_version": engine.serializer_version,
    }


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Read:
    """What one statement read for a rebuild."""

    events: list[dict] = field(default_factory=list)  # in seq order
    tasks: set[tuple[UUID, str]] = field(default_factory=set)  # open task rows: (id, spec)
    timers: list[tuple[UUID, str, Any, dt.datetime]] = field(default_factory=list)
    state: tuple[int | None, str | None, str | None] | None = None  # (seq, version, text)

    def complete_from(self, after: int, upto: int) -> bool:
        """Return whether the events read are the whole log after `after`, up to `upto`."""
        return [e["seq"] for e in self.events if e["seq"] > after] == list(
            range(after + 1, upto + 1)
        )


def _null(type_: Any) -> Any:
    return sa.cast(sa.null(), type_)


def _read(db: Session, head, after: int | None) -> _Read:
    """Read, in one statement, the events after `after` (None: after the stored snapshot's
    seq, with the snapshot), the case's open task rows and the timers it waits for."""
    cases, events, tasks, timers = (m.__table__ for m in (Case, Event, Task, Timer))
    if after is None:
        start = sa.func.coalesce(
            sa.select(cases.c.state_seq)
            .where(cases.c.id == head.id, cases.c.state_seq <= head.event_seq,
                   cases.c.serializer_version == runtime().engine.serializer_version)
            .scalar_subquery(),
            0,
        )  # fmt: skip
    else:
        start = sa.literal(after, sa.Integer)
    parts = [
        sa.select(
            sa.literal("e", sa.String).label("kind"), events.c.seq.label("seq"),
            events.c.type.label("name"), events.c.task_id.label("id"), events.c.at.label("at"),
            _null(sa.DateTime).label("due"), sa.cast(events.c.data, sa.Text).label("body"),
            events.c.actor.label("extra"),
        ).where(events.c.case_id == head.id, events.c.seq > start,
                events.c.seq <= head.event_seq),
        sa.select(
            sa.literal("t", sa.String), _null(sa.Integer), tasks.c.spec_id, tasks.c.id,
            _null(sa.DateTime), _null(sa.DateTime), _null(sa.Text), _null(sa.String),
        ).where(tasks.c.case_id == head.id, tasks.c.state == TaskState.OPEN,
                tasks.c.kind.is_(None)),  # an added signer's task is no stage of the workflow
        sa.select(
            sa.literal("m", sa.String), _null(sa.Integer), timers.c.node_id, timers.c.id,
            timers.c.created_at, timers.c.due_at, _null(sa.Text), timers.c.state,
        ).where(timers.c.case_id == head.id, timers.c.state.in_(HELD_TIMERS)),
    ]  # fmt: skip
    if after is None:
        parts.append(
            sa.select(
                sa.literal("s", sa.String), cases.c.state_seq, cases.c.serializer_version,
                _null(sa.Uuid), _null(sa.DateTime), _null(sa.DateTime), cases.c.state,
                _null(sa.String),
            ).where(cases.c.id == head.id)
        )  # fmt: skip
    read = _Read()
    for row in db.execute(sa.union_all(*parts)).all():
        if row.kind == "e":
            data = row.body if isinstance(row.body, dict) else json.loads(row.body or "null")
            read.events.append({"seq": int(row.seq), "type": row.name, "actor": row.extra,
                                "at": row.at, "task_id": str(row.id) if row.id else None,
                                "data": data or {}})  # fmt: skip
        elif row.kind == "t":
            read.tasks.add((row.id, row.name))
        elif row.kind == "m":
            read.timers.append((row.id, row.name, row.at, row.due))
        else:
            read.state = (row.seq, row.name, row.body)
    read.events.sort(key=lambda e: e["seq"])
    return read


# --- rebuilding ----------------------------------------------------------------------------


def _codes(ids) -> str:
    """Element ids for a message, sorted and marked as code."""
    return "、".join(f"`{i}`" for i in sorted(ids)) or "—"


class _Untrusted(Exception):
    """A starting point or a rebuild the log or the database contradicts."""


def _restore(diagram: CompiledDiagram, head, read: _Read) -> tuple[WorkflowRun, int] | None:
    """Return the stored snapshot restored with the seq it covers, if it can be trusted."""
    seq, version, text = read.state or (None, None, None)
    if seq is None or text is None:
        return None
    engine = runtime().engine
    stamp = STAMP.match(text)
    if version != engine.serializer_version or seq > head.event_seq:
        raise _Untrusted(_("the stored state is from another serializer or ahead of the log"))
    if stamp is None or int(stamp.group(1)) != seq:
        raise _Untrusted(_("the stored state does not cover the events it is filed under"))
    try:
        return engine.restore(diagram, text), seq
    except Exception as exc:  # noqa: BLE001 - a corrupted snapshot may fail in any way
        raise _Untrusted(_("the stored state cannot be restored: %(why)s", why=exc)) from None


def _set_due(run: WorkflowRun, task_id: UUID, due: dt.datetime) -> None:
    """Give a timer the re-execution started the due time the case's timer row records."""
    for wf in (run.workflow, *run.workflow.subprocesses.values()):
        task = wf.tasks.get(task_id)
        if task is not None:
            value = task._get_internal_data("event_value")
            if isinstance(value, str):
                task._set_internal_data(event_value=due.replace(tzinfo=dt.UTC).isoformat())
            return


def _match_timers(resumed: Resumed, read: _Read) -> None:
    """Re-key the timers the re-execution started to the case's timer rows (same node, same
    step: the rows' created_at is the time of the move that started them)."""
    if not resumed.timers:
        return
    taken = {t.task_id for t in resumed.run.waiting_timers()} - {t.task_id for t in resumed.timers}
    mapping: dict[UUID, UUID] = {}
    dues: dict[UUID, dt.datetime] = {}
    for timer in resumed.timers:
        rows = [r for r in read.timers if r[1] == timer.node_id and r[2] == timer.at
                and r[0] not in taken]  # fmt: skip
        if len(rows) != 1:
            raise _Untrusted(
                _(
                    "%(n)d timer rows of `%(node)s` match the replay",
                    n=len(rows),
                    node=timer.node_id,
                )
            )
        taken.add(rows[0][0])
        mapping[timer.task_id] = rows[0][0]
        dues[rows[0][0]] = rows[0][3]
    rekey(resumed.run, mapping)
    for task_id, due in dues.items():
        _set_due(resumed.run, task_id, due)


def _check(resumed: Resumed, read: _Read, diagram: CompiledDiagram) -> None:
    """The rebuilt workflow must be what the database says: its open tasks and timers."""
    run = resumed.run
    ready = {(t.id, t.spec_id) for t in run.ready_tasks()}
    if ready != read.tasks:
        raise _Untrusted(
            _("the replay's open tasks %(ready)s are not the case's open tasks %(rows)s",
              ready=_codes(s for _, s in ready), rows=_codes(s for _, s in read.tasks))
        )  # fmt: skip
    if diagram.has_timers:
        waiting = {(t.task_id, t.node_id) for t in run.waiting_timers()}
        rows = {(r[0], r[1]) for r in read.timers}
        if waiting != rows:
            raise _Untrusted(
                _("the replay's waiting timers %(waiting)s are not the case's timers %(rows)s",
                  waiting=_codes(n for _, n in waiting), rows=_codes(n for _, n in rows))
            )  # fmt: skip


def versions(db: Session):
    """Read a deployed version's diagram by id (a case moved between versions replays both)."""
    return lambda version_id: runtime().diagram(db, version_id)


def _attempt(
    db: Session, diagram: CompiledDiagram, head, read: _Read, run: WorkflowRun | None, after: int
) -> Resumed:
    """Replay the events after `after` onto `run` (None: from the start) and check it."""
    if not read.complete_from(after, head.event_seq):
        raise _Untrusted(_("the log read after event %(seq)s has gaps", seq=after))
    try:
        resumed = resume(diagram, [e for e in read.events if e["seq"] > after], run,
                         diagrams=versions(db))  # fmt: skip
        _match_timers(resumed, read)
        _check(resumed, read, diagram)
    except _Untrusted:
        raise
    except Exception as exc:  # noqa: BLE001 - a replay that fails in any way is not trusted
        raise _Untrusted(str(exc)) from None
    resumed.run.engine = runtime().engine  # the live step limits from here on
    return resumed


def rebuild(db: Session, diagram: CompiledDiagram, head, live: Live | None = None) -> WorkflowRun:
    """Rebuild the workflow of a case at `head` from its events (see the module docstring).

    `live` is this process's live workflow of the case at an older row version, if any.
    Raise WorkflowFault(code="rebuild") when the whole log does not rebuild to the database.
    """
    read = None
    if live is not None and live.seq is not None and live.seq <= head.event_seq:
        read = _read(db, head, live.seq)
        try:
            resumed = _attempt(db, diagram, head, read, live.run, live.seq)
            note_moves(resumed.run, moves_since_snapshot(live.run) + resumed.moves)
            return resumed.run
        except _Untrusted:
            read = None  # its events start after the stale run: read the whole log
    forced = False  # a snapshot was there but could not be used: store a new one soon
    if read is None:
        read = _read(db, head, None)
        try:
            restored = _restore(diagram, head, read)
            if restored is not None:
                resumed = _attempt(db, diagram, head, read, *restored)
                note_moves(resumed.run, resumed.moves)
                return resumed.run
        except _Untrusted:
            forced = True
        if not read.complete_from(0, head.event_seq):
            read = _read(db, head, 0)
    try:
        resumed = _attempt(db, diagram, head, read, None, 0)
    except _Untrusted as exc:
        raise WorkflowFault(
            _("the workflow could not be rebuilt from the case's events: %(reason)s",
              reason=str(exc)),
            code="rebuild", cause=str(exc),
        ) from None  # fmt: skip
    note_moves(resumed.run, runtime().snapshot_every if forced else resumed.moves)
    return resumed.run
