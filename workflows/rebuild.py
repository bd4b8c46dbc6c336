"""Rebuild a running workflow from its log: a snapshot (or nothing) plus the events after it.

A case's events are the source of truth for its workflow; a stored state is only a cache of
them. `resume` feeds the engine inputs of a stretch of the log to a workflow — a snapshot
taken just before the stretch, or a fresh workflow when the stretch is the whole log — with
the replayer of workflows/replay.py, strictly: the first event the re-execution contradicts
stops it (`ReplayError`), as it stops `verify`. Recovery, the auditor's replay and
verification thus run the same code.

The engine reads the wall clock (a timer is due when its time has passed); a re-execution
reads, at each event, the time the event was logged at (`pinned_clock`), so that a timer
fires where the log says and nowhere else, however late the rebuild comes.

Tasks the re-execution opens get fresh SpiffWorkflow ids; the database knows them by the ids
the log gave them (its `task_created` events, mapped by spec in order). `resume` re-keys
them (`rekey`): the task map, the parent's and children's links, the sub-process map and a
multi-instance parent's instance map. Timer tasks are not in the log: `resume` reports the
timers the re-execution started (with the time of the event whose move started them) for
the caller to match with its own records.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer

from .engine import CompiledDiagram, Engine, WorkflowRun
from .errors import EngineError
from .i18n import _
from .replay import Diagrams, Divergence, ReplayError, _Replayer, _Stop, default_engine

_pin = threading.local()  # the time this thread's re-execution reads, if any
_install = threading.Lock()


def _aware(at: Any) -> dt.datetime | None:
    """Return an event's time as an aware UTC datetime (stored naive UTC, or ISO text)."""
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    if not isinstance(at, dt.datetime):
        return None
    return at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)


def pinned_clock() -> None:
    """Make the engine's clock (SpiffWorkflow's timer module's `datetime`, which
    workflows/timers reads too) answer a thread's pinned time when it has one, else what it
    answered before. Installed once over whatever clock is there (tests move the clock by
    replacing it, so it is installed again over theirs); never removed, so threads that
    replay and threads that run live steps never race over it."""
    if getattr(spiff_timer.datetime, "_ow_pinnable", False):
        return
    with _install:
        base = spiff_timer.datetime
        if getattr(base, "_ow_pinnable", False):
            return

        class Pinnable(base):
            _ow_pinnable = True

            @classmethod
            def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
                at = getattr(_pin, "at", None)
                if at is None:
                    return base.now(tz)
                return at.astimezone(tz) if tz is not None else at.astimezone().replace(tzinfo=None)

        spiff_timer.datetime = Pinnable


@dataclass(frozen=True)
class StartedTimer:
    """A timer the re-execution started and still waits for."""

    task_id: UUID  # the re-executed timer task (not re-keyed: the log does not name it)
    node_id: str
    at: Any  # the `at` of the event whose engine move started it
    due_at: dt.datetime  # as the re-execution computed it (naive UTC)


@dataclass
class Resumed:
    """A workflow brought up to the end of a stretch of its log."""

    run: WorkflowRun
    moves: int  # engine moves re-executed
    timers: list[StartedTimer] = field(default_factory=list)


def _replace_text(value: Any, old: str, new: str) -> Any:
    """Return `value` with every string equal to `old` (as a value or a key) made `new`."""
    if isinstance(value, str):
        return new if value == old else value
    if isinstance(value, dict):
        return {_replace_text(k, old, new): _replace_text(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_text(v, old, new) for v in value]
    return value


def rekey(run: WorkflowRun, mapping: dict[UUID, UUID]) -> None:
    """Give tasks of a workflow new ids: old id -> new id (tasks no longer kept are skipped).

    SpiffWorkflow 3 links tasks by id: the workflow's (or sub-process's) task map, each task's
    `_parent` and `_children`, the top workflow's sub-processes (keyed by their task's id,
    which they know as `parent_task_id`), its event manager's waiting tasks (a timer left
    there under its old id is never cancelled) and a multi-instance task's instance map.
    """
    top = run.workflow
    workflows = [top, *top.subprocesses.values()]
    used = {tid for wf in workflows for tid in wf.tasks}
    moved: set[int] = set()  # the workflows whose task maps changed
    maps = [(wf, dict(wf.tasks)) for wf in workflows]  # id -> task, kept up to date below
    for old, new in mapping.items():
        if old == new:
            continue
        wf, tasks = next(((w, m) for w, m in maps if old in m), (None, None))
        if wf is None:
            continue
        if new in used:
            raise EngineError(_("task id %(id)s is used twice", id=str(new)))
        task = tasks.pop(old)
        task.id = new
        tasks[new] = task
        moved.add(id(wf))
        used.discard(old)
        used.add(new)
        parent = tasks.get(task._parent) if task._parent is not None else None
        if parent is not None:
            parent._children = [new if c == old else c for c in parent._children]
            if parent.internal_data:
                parent.internal_data = _replace_text(parent.internal_data, str(old), str(new))
        for child_id in task._children:
            child = tasks.get(child_id)
            if child is not None:
                child._parent = new
        if old in top.subprocesses:
            top.subprocesses[old].parent_task_id = new
    for wf in workflows:  # the maps keep their order: some of SpiffWorkflow's scans follow it
        if id(wf) in moved:
            wf.tasks = {task.id: task for task in wf.tasks.values()}
    manager = getattr(top, "event_manager", None)  # the tasks waiting for events, by id
    if manager is not None and moved:
        manager.tasks = {task.id: task for task in manager.tasks.values()}
    if any(sub.parent_task_id not in (None, key) for key, sub in top.subprocesses.items()):
        top.subprocesses = {sub.parent_task_id: sub for sub in top.subprocesses.values()}


# One pass that drives the replayer, clock pinned per event, and collects what the caller
# matches against its own records (moves, timers started); split, it would pass them around.
def resume(
    diagram: CompiledDiagram,
    events: Sequence[dict],
    run: WorkflowRun | None = None,
    engine: Engine | None = None,
    diagrams: Diagrams | None = None,
) -> Resumed:
    """Feed the engine inputs of `events` to `run`, or to a fresh workflow when `run` is None
    (then `events` is the whole log); re-key the tasks opened on the way to their logged ids.

    `run` must stand for the state just after the event before the first of `events`, its
    tasks under their logged ids (a snapshot, or a workflow rebuilt earlier). Raise
    ReplayError at the first event the re-execution contradicts, or when the log ends
    before what the last move did is recorded.
    """
    replayer = _Replayer(diagram, events, engine or default_engine(), strict=True, run=run,
                         diagrams=diagrams)  # fmt: skip
    started: dict[UUID, tuple[str, Any]] = {}
    known: set[UUID] = set()
    if diagram.has_timers or any(e.get("type") == "case_migrated" for e in events):
        if run is not None:
            known = {t.task_id for t in run.waiting_timers()}

        def seen() -> None:
            at = replayer.events[replayer.index].get("at")
            for timer in replayer.run.waiting_timers():
                if timer.task_id not in known:
                    known.add(timer.task_id)
                    started[timer.task_id] = (timer.node_id, at)

        replayer.on_move = seen
    pinned_clock()
    try:
        for index, event in enumerate(events):
            _pin.at = _aware(event.get("at"))
            try:
                replayer.apply(index)
            finally:
                _pin.at = None
    except _Stop:
        raise ReplayError(replayer.divergence) from None
    except EngineError as exc:  # a timer the re-execution cannot read
        seq = replayer.seq
        raise ReplayError(Divergence(seq, None, None, exc.message)) from None
    last = int(events[-1]["seq"]) if events else 0
    missing = replayer.unrecorded()
    if missing:
        first = missing[0]
        raise ReplayError(
            Divergence(last + 1, first, None, f"the log ends before the re-execution's {first}")
        )
    if replayer.run is None:
        raise ReplayError(Divergence(last, None, None, "the log never starts the workflow"))
    if replayer.withdrawn or replayer.dropped:
        raise ReplayError(Divergence(last, None, None, "the case was withdrawn"))
    mapping = {mine: UUID(logged) for mine, logged in replayer.logged.items()}
    rekey(replayer.run, mapping)
    timers = []
    if started:
        # node and due time as they are now (a move to another version may rename the node)
        now = {t.task_id: t for t in replayer.run.waiting_timers()}
        timers = [StartedTimer(tid, now[tid].node_id, at, now[tid].due_at)
                  for tid, (_node, at) in started.items() if tid in now]  # fmt: skip
    return Resumed(replayer.run, replayer.moves, timers)
