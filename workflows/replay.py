"""Rebuild a case's workflow state from its audit log and check the log against its diagram.

The audit log of a case records the inputs of every engine move (the application form, each
completed task with its outcome, comment and form data, each fired timer) and what each move
did (gateway choices, tasks opened and cancelled, the decision). `replay` feeds the inputs to
a fresh workflow of the pinned diagram version, up to any event; `verify` re-executes the
whole log and names the first event whose record the re-execution contradicts.

Events are dicts with the keys `seq`, `type`, `actor`, `at`, `task_id` and `data`, in log
order, as `GET /cases/{no}/events` returns them. The engine moves at `case_accepted` (start),
at each `task_completed` and at each group of consecutive `timer_fired` events; the events
that follow in the same batch (`gateway_taken`, `task_created`, `task_assigned`,
`task_cancelled`, `case_decided`) record what that move did, so the state at them is the state
after the move. Task ids differ between runs: logged ids are mapped to re-executed tasks
through the `task_created` events (by spec id, in order). A replay never serializes.

Timers: a `timer_fired` event fires the named waiting timer whatever the clock says. The
engine reads the wall clock, though, so a date timer that was still waiting in the original
run but lies in the past at replay time fires early, and `verify` reports that divergence.

`EventLog` writes the events app/cases/services.py writes for the same engine steps, without a
database, for simulations, tests and benchmarks; the tests of the real service check that both
agree with the replayer.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from uuid import UUID

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .engine import (
    CompiledDiagram,
    Engine,
    ReadyTask,
    StepLimits,
    StepResult,
    WorkflowRun,
    gateway_timer,
)
from .errors import EngineError, OneWindowError
from .i18n import _
from .migrate import MigrationRefused, migrate

Diagrams = Callable[[int], CompiledDiagram]  # a deployed version's diagram, by version id

ACCEPT_COMMENT = "受理"  # what the receiving clerk's acceptance task is completed with
DECISIONS = ("approved", "denied")


# --- results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayStep:
    """One event of the log as a step of the replay timeline."""

    index: int  # 0-based position in the event list
    seq: int
    type: str
    actor: str | None
    at: Any  # as given: ISO text from the API, a datetime from the database


class OpenTask(NamedTuple):
    """A user task open at a point of the replay."""

    spec_id: str
    name: str
    post: str | None


def _fields(record: dict) -> str:
    """A recorded move's fields but its type, as `key=value` pairs."""
    return ", ".join(f"{k}={v}" for k, v in record.items() if k != "type")


@dataclass
class Divergence:
    """The first event whose record the re-execution contradicts.

    `expected` is what the re-execution of the diagram says the log should record there,
    `actual` what the log records.
    """

    seq: int
    expected: Any
    actual: Any
    message: str

    def __str__(self) -> str:
        return _("event %(seq)s: %(why)s", seq=self.seq, why=self.message)


@dataclass
class ReplayState:
    """The state of a case's workflow after one event of its log."""

    seq: int  # the seq of the last event applied; 0 before the first
    step: ReplayStep | None  # the last event applied
    started: bool  # whether the workflow was started (the case was accepted)
    data: dict  # the case data: each name's latest value, whichever branch recorded it
    open_tasks: list[OpenTask]
    open_task_ids: list[str | None]  # the logged task ids of open_tasks, where known
    completed_tasks: list[str]  # spec ids of completed user tasks, in order
    path: list[str]  # node ids completed so far, in order (user tasks and engine steps)
    gateways: dict[str, list[str]]  # gateway id -> flows taken, over every visit, in order
    gateway_log: list[tuple[str, list[str]]]  # (gateway id, flows) per visit, in order
    finished: bool
    result: str | None  # approved / denied from the end event reached
    withdrawn: bool = False
    divergence: Divergence | None = None  # the first contradiction met on the way, if any
    # what this event's engine move changed in the data: name -> (value before, value after),
    # the value before as the branch that moved had it (None: absent); empty if it moved none
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class ReplayError(OneWindowError):
    """The log cannot be re-executed past one event (e.g. it completes a task never opened)."""

    def __init__(self, divergence: Divergence, first: Divergence | None = None) -> None:
        super().__init__(str(divergence))
        self.divergence = divergence  # the event the replay cannot get past
        self.first = first or divergence  # the first contradiction met, maybe earlier


class _Stop(Exception):
    """Raised inside a verification at the first divergence."""


# --- the replayer --------------------------------------------------------------------------


def _brief(event: dict) -> dict:
    """Return the type and the telling fields of an event, for divergence reports."""
    data = event.get("data") or {}
    keys = ("spec", "outcome", "gateway", "flows", "decision", "node", "reason")
    brief = {"type": event.get("type")}
    brief.update({k: data[k] for k in keys if k in data})
    if event.get("task_id"):
        brief["task_id"] = str(event["task_id"])
    return brief


def _same_batch(first: dict, then: dict) -> bool:
    """Return whether two timer_fired events were written by one firing (one batch, one time)."""
    timers = first.get("type") == then.get("type") == "timer_fired"
    return timers and first.get("at") == then.get("at")


def expected_decision(result: str | None) -> str:
    """Return the decision the case service records for an end result (as `_decide` does)."""
    return result if result in DECISIONS else "approved"


def _waiting_timers(run: WorkflowRun) -> list[tuple[Any, str]]:
    """Return the tasks waiting for a (date or duration) timer, with the timer's event id.

    A timer behind an event-based gateway waits in the gateway's task; setting that task's
    `event_fired` fires it as it fires any other timer task.
    """
    waiting = []
    for wf in (run.workflow, *run.workflow.subprocesses.values()):
        for task in wf.tasks.values():
            if task.state != TaskState.WAITING:
                continue
            definition = getattr(task.task_spec, "event_definition", None)
            node = getattr(task.task_spec, "bpmn_id", None)
            if not isinstance(definition, TimerEventDefinition):
                node, definition = gateway_timer(task) or (None, None)
            if definition is not None and not isinstance(definition, CycleTimerEventDefinition):
                waiting.append((task, node))
    return waiting


def _step_result(run: WorkflowRun, before: set[UUID], steps: list[dict]) -> StepResult:
    """Describe an engine move that was not a task completion (timers firing)."""
    ready = run.ready_tasks()
    after = {t.id for t in ready}
    finished = run.is_completed
    return StepResult(
        completed=None,
        engine_steps=steps,
        created=[t for t in ready if t.id not in before],
        cancelled=sorted(before - after, key=str),
        finished=finished,
        result=run.result() if finished else None,
    )


_ABSENT = object()  # a name the data does not hold


def _engine_task(run: WorkflowRun, task_id: UUID):
    """Return the engine's task of a ready user task (in the workflow or a sub-process)."""
    for wf in (run.workflow, *run.workflow.subprocesses.values()):
        if task_id in wf.tasks:
            return wf.tasks[task_id]
    return None


def _move_changes(branch: dict, own: dict, last: dict, known: dict) -> dict[str, tuple[Any, Any]]:
    """Return what an engine move changed in the data of the branch that moved: name ->
    (value before, value after), _ABSENT for a missing name.

    `branch` is the data the moving task inherited from the step before it in its own branch
    (a task at a parallel stage is never compared with a sibling branch), `own` its data
    once it ran (the official's form; a timer or the start changes nothing itself), `last`
    the data of the last task the move ran (engine steps after it, or a join). A join brings
    in the other branches' values, which `known` (the case data so far) already holds: they
    are not this move's changes. Names a later engine step drops are not told apart from
    names a branch never had, so only the moving task's own removals count.
    """
    changes = {}
    for name in sorted(set(branch) | set(own)):
        before, after = branch.get(name, _ABSENT), own.get(name, _ABSENT)
        if before is not after and (before is _ABSENT or after is _ABSENT or before != after):
            changes[name] = (before, after)
    for name, after in last.items():
        mine = own.get(name, _ABSENT)
        if mine is not _ABSENT and mine == after:
            continue
        if name in known and known[name] == after and name not in changes:
            continue  # another branch's value, merged at a join
        changes[name] = (branch.get(name, _ABSENT), after)
    return {k: (b, copy.deepcopy(a)) for k, (b, a) in changes.items()
            if b is _ABSENT or a is _ABSENT or b != a}  # fmt: skip


class _Replayer:
    """Apply the events of one log, one at a time, to a fresh workflow."""

    def __init__(
        self,
        diagram: CompiledDiagram,
        events: Sequence[dict],
        engine: Engine,
        strict: bool,
        run: WorkflowRun | None = None,
        diagrams: Diagrams | None = None,
    ) -> None:
        self.diagram = diagram
        self.first_diagram = diagram  # where a re-execution from the start begins
        self.diagrams = diagrams  # version id -> diagram, for a case moved between versions
        self.resumed = run is not None  # from a stored state: the log before it is not here
        self.events = events
        self.engine = engine
        self.strict = strict  # stop at the first divergence (verification)
        self.run: WorkflowRun | None = run
        self.moves = 0  # engine moves re-executed
        self.on_move: Callable[[], None] | None = None  # told after each engine move
        self.form: dict = {}
        self.ids: dict[str, UUID] = {}  # logged task id -> re-executed task id
        self.logged: dict[UUID, str] = {}  # re-executed task id -> logged task id
        self.specs: dict[UUID, str] = {}  # re-executed task id -> spec id
        self.dropped: set[UUID] = set()  # cancelled outside the engine (withdrawal)
        self.completed: list[str] = []
        self.path: list[str] = []
        self.gateway_log: list[tuple[str, list[str]]] = []
        self.withdrawn = False
        self.divergence: Divergence | None = None
        self.case_data: dict = {}  # every branch's latest values (ReplayState.data)
        self.changes: dict[str, tuple[Any, Any]] = {}  # what the last event's move changed
        self.index = -1
        self.seq = 0
        # what the last move did that the log has not recorded yet, by phase
        self.want_gateways: deque[tuple[str, list[str]]] = deque()
        self.want_created: list[ReadyTask] = []
        self.want_cancelled: list[UUID] = []
        self.want_decision: str | None = None
        self.timer_group: list[str] = []  # timer nodes fired with an earlier timer_fired
        self.handlers: dict[str, Callable[[dict, dict], None]] = {
            "case_received": self._on_case_received,
            "materials_supplemented": self._on_materials_supplemented,
            "case_accepted": self._on_case_accepted,
            "task_completed": self._on_task_completed,
            "timer_fired": self._on_timer_fired,
            "gateway_taken": self._on_gateway_taken,
            "task_created": self._on_task_created,
            "task_cancelled": self._on_task_cancelled,
            "case_decided": self._on_case_decided,
            "case_withdrawn": self._on_case_withdrawn,
            "case_migrated": self._on_case_migrated,
            "task_recalled": self._on_task_recalled,
        }  # other events (task_assigned, case_closed, ...) do not touch the workflow
        if run is not None:  # resumed from a snapshot: its tasks carry the logged ids
            self.case_data = copy.deepcopy(run.data)
            for task in run.ready_tasks():
                self.ids[str(task.id)] = task.id
                self.logged[task.id] = str(task.id)
                self.specs[task.id] = task.spec_id

    # -- driving --

    def apply(self, index: int) -> None:
        """Apply the event at `index` of the log."""
        event = self.events[index]
        self.index, self.seq = index, int(event["seq"])
        self.changes = {}
        handler = self.handlers.get(event.get("type"))
        if handler is not None:
            handler(event, event.get("data") or {})

    def note(self, divergence: Divergence) -> None:
        """Keep the first divergence; a verification stops at it."""
        if self.divergence is None:
            self.divergence = divergence
        if self.strict:
            raise _Stop

    def fail(self, divergence: Divergence) -> None:
        """Stop: the log cannot be re-executed past this event."""
        if self.divergence is None:
            self.divergence = divergence
        if self.strict:
            raise _Stop
        raise ReplayError(divergence, self.divergence)

    def unrecorded(self) -> list[dict]:
        """Return what the last move did that the log has not recorded, in log order."""
        missing: list[dict] = [
            {"type": "gateway_taken", "gateway": g, "flows": f} for g, f in self.want_gateways
        ]
        missing += [{"type": "task_created", "spec": t.spec_id} for t in self.want_created]
        missing += [
            {"type": "task_cancelled", "spec": self.specs.get(i), "task_id": self.logged.get(i)}
            for i in self.want_cancelled
        ]
        if self.want_decision is not None:
            missing.append({"type": "case_decided", "decision": self.want_decision})
        return missing

    def check_recorded(self, event: dict, before: str | None = None) -> None:
        """Note a divergence if the last move did something the log skipped before `event`.

        `before` names the first kind of record that may still be pending (the service
        writes gateways, then created tasks, then cancellations, then the decision).
        """
        order = ["gateway_taken", "task_created", "task_cancelled", "case_decided"]
        allowed = order[order.index(before) :] if before else []
        missing = [m for m in self.unrecorded() if m["type"] not in allowed]
        if missing:
            first = missing[0]
            self.note(
                Divergence(
                    self.seq,
                    first,
                    _brief(event),
                    _(
                        "the re-execution's %(kind)s (%(what)s) is not in the log before this "
                        "%(event)s",
                        kind=first["type"],
                        what=_fields(first),
                        event=event.get("type"),
                    ),  # fmt: skip
                )
            )

    def moved(
        self,
        prefix: list[str],
        steps: list[dict],
        created: list[ReadyTask],
        cancelled: Iterable[UUID],
        finished: bool,
        result: str | None,
        branch: dict,
        own: dict,
    ) -> None:
        """Record an engine move, its changes to the case data (`branch` and `own` as
        _move_changes reads them), and what the log must now record about it."""
        last = self.run.workflow.last_task
        changes = _move_changes(branch, own, last.data if last is not None else own,
                                self.case_data)  # fmt: skip
        for name, (_before, after) in changes.items():
            if after is _ABSENT:
                self.case_data.pop(name, None)
            else:
                self.case_data[name] = copy.deepcopy(after)
        self.changes = {k: tuple(None if v is _ABSENT else v for v in pair)
                        for k, pair in changes.items()}  # fmt: skip
        self.path.extend(prefix)
        self.path.extend(s["node"] for s in steps)
        gateways = [(s["node"], list(s["flows"])) for s in steps if "flows" in s]
        self.gateway_log.extend(gateways)
        self.want_gateways = deque(gateways)
        self.want_created = list(created)
        for task in created:
            self.specs[task.id] = task.spec_id
        self.want_cancelled = [c for c in cancelled if c not in self.dropped]
        self.want_decision = expected_decision(result) if finished else None
        self.moves += 1
        if self.on_move is not None:
            self.on_move()

    def compare_steps(self, event: dict, data: dict, steps: list[dict]) -> None:
        """Note a divergence if the engine steps the event records differ from re-executed."""
        if "steps" not in data:
            return
        nodes = [s["node"] for s in steps]
        if list(data["steps"] or []) != nodes:
            self.note(
                Divergence(
                    self.seq,
                    nodes,
                    list(data["steps"] or []),
                    _(
                        "%(event)s records engine steps %(logged)s, the re-execution ran %(ran)s",
                        event=event.get("type"),
                        logged=data["steps"],
                        ran=nodes,
                    ),  # fmt: skip
                )
            )

    def open_tasks(self) -> list[ReadyTask]:
        """Return the re-executed user tasks open now."""
        if self.run is None or self.withdrawn:
            return []
        return [t for t in self.run.ready_tasks() if t.id not in self.dropped]

    # -- window events --

    def _on_case_received(self, event: dict, data: dict) -> None:
        self.form = copy.deepcopy(dict(data.get("form") or {}))

    def _on_materials_supplemented(self, event: dict, data: dict) -> None:
        # the service does not log a supplemented form yet; take it when it does
        if isinstance(data.get("form"), dict):
            self.form.update(copy.deepcopy(data["form"]))

    def _on_case_accepted(self, event: dict, data: dict) -> None:
        if self.run is not None:
            self.fail(
                Divergence(self.seq, None, _brief(event), _("the case is accepted a second time"))
            )
            return
        if isinstance(data.get("form"), dict):
            self.form = copy.deepcopy(data["form"])
        started_on = data.get("diagram_version_id")
        if self.diagrams is not None and started_on is not None:
            try:  # the version the case started on, which a later move may have left
                self.diagram = self.diagrams(int(started_on))
            except Exception as exc:  # noqa: BLE001 - a version that cannot be read stops it
                why = _("version %(v)s cannot be read: %(why)s", v=started_on, why=exc)
                self.fail(Divergence(self.seq, None, _brief(event), why))
                return
        process = data.get("process")
        if process is not None and process != self.diagram.process_id:
            self.note(
                Divergence(
                    self.seq,
                    self.diagram.process_id,
                    process,
                    _(
                        "the case ran process `%(ran)s`, the diagram is `%(diagram)s`",
                        ran=process,
                        diagram=self.diagram.process_id,
                    ),  # fmt: skip
                )
            )
        self.case_data = copy.deepcopy(self.form)
        try:
            self.run, steps = self.engine.start(self.diagram, copy.deepcopy(self.form))
        except EngineError as exc:
            why = _("cannot start: %(why)s", why=exc.message)
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        self.compare_steps(event, data, steps)
        finished = self.run.is_completed
        self.moved([], steps, self.run.ready_tasks(), (), finished, self.run.result(),
                   self.form, self.form)  # fmt: skip

    def _on_case_withdrawn(self, event: dict, data: dict) -> None:
        self.check_recorded(event)
        still = self.open_tasks()
        if still:
            self.note(
                Divergence(
                    self.seq,
                    [{"spec": t.spec_id, "task_id": self.logged.get(t.id)} for t in still],
                    None,
                    _(
                        "the withdrawal did not cancel %(tasks)s, open in the re-execution",
                        tasks=", ".join(f"`{t.spec_id}`" for t in still),
                    ),  # fmt: skip
                )
            )
        self.withdrawn = True

    def _on_case_migrated(self, event: dict, data: dict) -> None:
        """Move the workflow to the version the event names, as the service moved it
        (workflows/migrate.py), and check that it moved the same open elements."""
        self.check_recorded(event)
        if self.run is None or self.diagrams is None:
            why = _("the log moves the case to another version, which this replay cannot read")
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        try:
            target = self.diagrams(int(data["to_version_id"]))
        except Exception as exc:  # noqa: BLE001 - a version that cannot be read stops it
            why = _("version %(v)s cannot be read: %(why)s", v=data.get("to_version_id"), why=exc)
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        before = copy.deepcopy(self.case_data)
        whole = self._stages_moved_whole(data)
        try:
            plan, steps = migrate(self.run, target, data.get("mapping") or {},
                                  data.get("defaults") or {})  # fmt: skip
        except (MigrationRefused, EngineError, SpiffWorkflowException) as exc:
            why = _("the move cannot be re-executed: %(why)s",
                    why=getattr(exc, "message", None) or str(exc))  # fmt: skip
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        self.diagram = target
        recorded = sorted((m.get("source"), m.get("target")) for m in data.get("moves") or [])
        mine = sorted((m.source, m.target) for m in plan.moves)
        if recorded != mine:
            self.note(Divergence(self.seq, mine, recorded,
                                 _("the log moves %(logged)s, the re-execution %(ran)s",
                                   logged=recorded, ran=mine)))  # fmt: skip
        views = {t.id: t for t in self.run.ready_tasks()}
        reopened = []  # tasks whose row the move replaced: their task_created events follow
        for moved in data.get("moves") or []:
            task = self.ids.get(moved.get("from") or "") or whole.get(moved.get("from") or "")
            if task is None:
                continue
            self.specs[task] = moved.get("target")
            for part in moved.get("instances") or []:  # a 会签's parts: gone with the move
                self.logged.pop(self.ids.pop(part, None), None)
            if moved.get("kind") == "task" and moved.get("kept") is False and task in views:
                self.ids.pop(moved["from"], None)
                self.logged.pop(task, None)
                reopened.append(views[task])
        self.compare_steps(event, data, steps)
        finished = self.run.is_completed
        self.moved([], steps, reopened, (), finished, self.run.result(), before,
                   {**before, **plan.defaults})  # fmt: skip

    def _stages_moved_whole(self, data: dict) -> dict[str, UUID]:
        """The multi-instance stages (会签) the logged move takes as a whole to a single task:
        the logged id of each such move (the stage's own task, never logged) to the stage's
        task here, found through its parts, which were logged."""
        found = {}
        for moved in data.get("moves") or []:
            for part in moved.get("instances") or []:
                mine = self.ids.get(part)
                task = self.run.workflow.tasks.get(mine) if mine is not None else None
                if task is not None and task.parent is not None:
                    found[str(moved.get("from"))] = task.parent.id
                    break
        return found

    def _on_task_recalled(self, event: dict, data: dict) -> None:
        """撤回: the workflow goes back to where it stood before the recalled completion, as
        the re-execution of the log before it left it (nothing moved since, the service
        checks). Not possible from a stored state taken after that completion: the caller
        then re-executes from the start."""
        self.check_recorded(event)
        seq = data.get("seq")
        at = next((i for i, e in enumerate(self.events[: self.index])
                   if int(e["seq"]) == seq), None)  # fmt: skip
        if self.resumed or at is None or self.events[at].get("type") != "task_completed":
            why = _("the recalled completion (event %(seq)s) is not in this stretch of the log",
                    seq=seq)  # fmt: skip
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        earlier = _Replayer(self.first_diagram, self.events[:at], self.engine, strict=True,
                            diagrams=self.diagrams)  # fmt: skip
        try:
            for index in range(at):
                earlier.apply(index)
        except _Stop:
            self.fail(earlier.divergence)
            return
        for name in ("run", "diagram", "ids", "logged", "specs", "dropped", "completed",
                     "path", "gateway_log", "case_data", "form"):  # fmt: skip
            setattr(self, name, getattr(earlier, name))
        self.want_gateways, self.want_created, self.want_cancelled = deque(), [], []
        self.want_decision = None
        self.moves += 1
        if self.on_move is not None:
            self.on_move()

    # -- engine moves --

    def find_ready(self, event: dict, spec: str | None) -> ReadyTask | None:
        """Return the open task an event completes: its mapped id, else the first of its spec."""
        ready = self.open_tasks()
        logged = str(event["task_id"]) if event.get("task_id") else None
        if logged is not None and logged in self.ids:
            mine = self.ids[logged]
            found = next((t for t in ready if t.id == mine), None)
            if found is not None and found.spec_id != spec:
                self.fail(
                    Divergence(
                        self.seq,
                        found.spec_id,
                        spec,
                        _(
                            "task `%(task)s` is a `%(found)s` task, the event says `%(spec)s`",
                            task=logged,
                            found=found.spec_id,
                            spec=spec,
                        ),  # fmt: skip
                    )
                )
            return found
        candidates = [t for t in ready if t.spec_id == spec]
        unmapped = [t for t in candidates if t.id not in self.logged]
        return (unmapped or candidates or [None])[0]

    def _on_task_completed(self, event: dict, data: dict) -> None:
        self.check_recorded(event)
        spec = data.get("spec")
        task = self.find_ready(event, spec) if self.run is not None else None
        if task is None:
            self.fail(
                Divergence(
                    self.seq,
                    sorted(t.spec_id for t in self.open_tasks()),
                    spec,
                    _("task `%(task)s` is not open in the re-execution", task=spec),
                )
            )
            return
        payload = {**(data.get("data") or {}), "comment": data.get("comment") or ""}
        mine = _engine_task(self.run, task.id)
        branch = copy.deepcopy(mine.data)  # what the task inherited: its branch's data
        try:
            self.ready_due_timers(data.get("steps") or [])
            step = self.run.complete(task.id, data.get("outcome") or "approve", payload)
        except SpiffWorkflowException as exc:
            why = _("cannot fire a timer: %(why)s", why=exc)
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        except EngineError as exc:
            why = _("cannot complete `%(spec)s`: %(why)s", spec=spec, why=exc.message)
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return
        self.completed.append(task.spec_id)
        self.compare_steps(event, data, step.engine_steps)
        self.moved(
            [task.spec_id],
            step.engine_steps,
            step.created,
            step.cancelled,
            step.finished,
            step.result,
            branch,
            mine.data,  # the engine's task object keeps its data if compaction drops it
        )

    def ready_due_timers(self, recorded: list[str]) -> None:
        """Ready the waiting timers a completion's recorded engine steps ran.

        A timer that fell due before the scheduler fired it runs in the next step that moves
        the engine, a task completion, without a timer_fired event of its own: the clock is
        an input the log records, here through the completion's engine steps.
        """
        for task, node in _waiting_timers(self.run):
            if node in recorded and task.state == TaskState.WAITING:
                task._set_internal_data(event_fired=True)
                task.task_spec._update(task)

    def _on_timer_fired(self, event: dict, data: dict) -> None:
        node = data.get("node")
        previous = self.events[self.index - 1] if self.index else {}
        if not _same_batch(previous, event):
            self.timer_group = []
        if node in self.timer_group:  # fired with the first timer_fired of its batch
            self.timer_group.remove(node)
            return
        self.check_recorded(event)
        group = [node]
        for later in self.events[self.index + 1 :]:
            if not _same_batch(event, later):  # a later step fired it, not this one
                break
            group.append((later.get("data") or {}).get("node"))
        fired = self.fire(event, group)
        if fired is None:
            return
        step, branch = fired
        self.timer_group = group[1:]
        self.compare_steps(event, data, step.engine_steps)
        self.moved([], step.engine_steps, step.created, step.cancelled, step.finished,
                   step.result, branch, branch)  # fmt: skip

    def fire(self, event: dict, nodes: list[str]) -> tuple[StepResult, dict] | None:
        """Fire the named waiting timers whatever the clock says, then run the engine;
        return what the move did and the data of the first timer's branch before it."""
        run = self.run
        waiting = _waiting_timers(run) if run is not None else []
        chosen = []
        for node in nodes:
            found = next((w for w in waiting if w[1] == node), None)
            if found is None:
                self.fail(
                    Divergence(
                        self.seq,
                        sorted(n for _, n in waiting),
                        node,
                        _("timer `%(node)s` is not waiting in the re-execution", node=node),
                    )
                )
                return None
            waiting.remove(found)
            chosen.append(found[0])
        before = {t.id for t in run.ready_tasks()}
        branch = copy.deepcopy(chosen[0].data) if chosen else {}
        try:
            for task in chosen:
                task._set_internal_data(event_fired=True)
                task.task_spec._update(task)
            steps = run.run_engine()
        except SpiffWorkflowException as exc:
            why = _("cannot fire a timer: %(why)s", why=exc)
            self.fail(Divergence(self.seq, None, _brief(event), why))
            return None
        except EngineError as exc:
            self.fail(Divergence(self.seq, None, _brief(event), exc.message))
            return None
        return _step_result(run, before, steps), branch

    # -- what a move did --

    def _on_gateway_taken(self, event: dict, data: dict) -> None:
        actual = {"gateway": data.get("gateway"), "flows": list(data.get("flows") or [])}
        if not self.want_gateways:
            self.note(
                Divergence(
                    self.seq,
                    None,
                    actual,
                    _(
                        "the re-execution took no gateway here, the log records %(gateway)s → "
                        "%(flows)s",
                        gateway=actual["gateway"],
                        flows=actual["flows"],
                    ),  # fmt: skip
                )
            )
            return
        gateway, flows = self.want_gateways.popleft()
        if (gateway, flows) != (actual["gateway"], actual["flows"]):
            self.note(
                Divergence(
                    self.seq,
                    {"gateway": gateway, "flows": flows},
                    actual,
                    _(
                        "the re-execution took %(gateway)s → %(flows)s, the log records "
                        "%(logged)s → %(logged_flows)s",
                        gateway=gateway,
                        flows=flows,
                        logged=actual["gateway"],
                        logged_flows=actual["flows"],
                    ),  # fmt: skip
                )
            )

    def _on_task_created(self, event: dict, data: dict) -> None:
        self.check_recorded(event, before="task_created")
        spec = data.get("spec")
        logged = str(event["task_id"]) if event.get("task_id") else None
        task = next((t for t in self.want_created if t.spec_id == spec), None)
        if task is None:
            self.note(
                Divergence(
                    self.seq,
                    [t.spec_id for t in self.want_created],
                    spec,
                    _("the re-execution did not open a `%(spec)s` task here", spec=spec),
                )
            )
            # map it anyway, so that a replay can go on
            task = next(
                (t for t in self.open_tasks() if t.spec_id == spec and t.id not in self.logged),
                None,
            )
        else:
            self.want_created.remove(task)
        if task is not None and logged is not None:
            self.ids[logged] = task.id
            self.logged[task.id] = logged

    def _on_task_cancelled(self, event: dict, data: dict) -> None:
        logged = str(event["task_id"]) if event.get("task_id") else None
        mine = self.ids.get(logged) if logged else None
        if mine is not None and mine in self.want_cancelled:  # dropped by the engine's move
            self.check_recorded(event, before="task_cancelled")
            self.want_cancelled.remove(mine)
            return
        if data.get("reason"):  # cancelled at the window (withdrawal): the task must be open
            self.check_recorded(event)
            if mine is not None and mine in {t.id for t in self.open_tasks()}:
                self.dropped.add(mine)
                return
            expected = [self.logged.get(t.id) for t in self.open_tasks()]
            message = _("task `%(task)s` is not open in the re-execution", task=logged)
        else:
            self.check_recorded(event, before="task_cancelled")
            expected = [self.logged.get(i) for i in self.want_cancelled]
            message = _("the re-execution did not cancel task `%(task)s` here", task=logged)
        self.note(Divergence(self.seq, expected, logged, message))

    def _on_case_decided(self, event: dict, data: dict) -> None:
        self.check_recorded(event, before="case_decided")
        decision = data.get("decision")
        if self.want_decision is None:
            self.note(
                Divergence(
                    self.seq,
                    None,
                    decision,
                    _(
                        "the log decides %(decision)s, the re-execution has not ended here",
                        decision=decision,
                    ),  # fmt: skip
                )
            )
            return
        wanted, self.want_decision = self.want_decision, None
        if decision != wanted:
            self.note(
                Divergence(
                    self.seq,
                    wanted,
                    decision,
                    _(
                        "the log decides %(decision)s, the re-execution ends %(wanted)s",
                        decision=decision,
                        wanted=wanted,
                    ),  # fmt: skip
                )
            )

    # -- reading the state --

    def state(self) -> ReplayState:
        """Return the state after the last event applied."""
        step = None
        if self.index >= 0:
            event = self.events[self.index]
            step = ReplayStep(
                self.index, self.seq, event.get("type"), event.get("actor"), event.get("at")
            )
        run = self.run
        open_tasks = self.open_tasks()
        gateways: dict[str, list[str]] = {}
        for gateway, flows in self.gateway_log:
            gateways.setdefault(gateway, []).extend(flows)
        finished = run is not None and run.is_completed
        return ReplayState(
            seq=self.seq,
            step=step,
            started=run is not None,
            data=copy.deepcopy(self.case_data) if run is not None else {},
            open_tasks=[OpenTask(t.spec_id, t.name, t.post) for t in open_tasks],
            open_task_ids=[self.logged.get(t.id) for t in open_tasks],
            completed_tasks=list(self.completed),
            path=list(self.path),
            gateways=gateways,
            gateway_log=[(g, list(f)) for g, f in self.gateway_log],
            finished=finished,
            result=run.result() if finished else None,
            withdrawn=self.withdrawn,
            divergence=self.divergence,
            changes=dict(self.changes),
        )


_default_engine: Engine | None = None
_default_lock = threading.Lock()
# A replay re-executes steps that already ran live within the live bound (STEP_MAX_SECONDS,
# 1 s of CPU time by default). It gets more per step, still bounded, so that a long
# history replayed beside other work, or a garbage-collector pause, never makes an intact
# history look broken; the task count bound is the live one.
REPLAY_STEP_SECONDS = 5.0


def default_engine() -> Engine:
    """Return the engine replays use when none is given (one per process)."""
    global _default_engine
    with _default_lock:
        if _default_engine is None:
            _default_engine = Engine.standard(StepLimits(max_seconds=REPLAY_STEP_SECONDS))
        return _default_engine


def timeline(events: Sequence[dict]) -> list[ReplayStep]:
    """Return the steps an auditor can move through: one per event, in log order."""
    return [
        ReplayStep(i, int(e["seq"]), e.get("type"), e.get("actor"), e.get("at"))
        for i, e in enumerate(events)
    ]


def replay(
    diagram: CompiledDiagram,
    events: Sequence[dict],
    upto_seq: int | None = None,
    engine: Engine | None = None,
    diagrams: Diagrams | None = None,
) -> ReplayState:
    """Rebuild the workflow state after the event `upto_seq` (every event when None).

    Raise ReplayError when the log cannot be re-executed that far; a contradiction that
    does not stop the re-execution is reported in the state's `divergence`.
    """
    replayer = _Replayer(diagram, events, engine or default_engine(), strict=False,
                         diagrams=diagrams)  # fmt: skip
    for index, event in enumerate(events):
        if upto_seq is not None and int(event["seq"]) > upto_seq:
            break
        replayer.apply(index)
        if upto_seq is not None and int(event["seq"]) == upto_seq:
            break
    return replayer.state()


def replay_all(
    diagram: CompiledDiagram,
    events: Sequence[dict],
    engine: Engine | None = None,
    diagrams: Diagrams | None = None,
) -> list[ReplayState]:
    """Return the state after every event, in one pass (the auditor's whole timeline);
    `diagrams` reads the versions a case started on or was moved to."""
    replayer = _Replayer(diagram, events, engine or default_engine(), strict=False,
                         diagrams=diagrams)  # fmt: skip
    states = []
    for index in range(len(events)):
        replayer.apply(index)
        states.append(replayer.state())
    return states


def verify(
    diagram: CompiledDiagram,
    events: Sequence[dict],
    engine: Engine | None = None,
    diagrams: Diagrams | None = None,
) -> Divergence | None:
    """Re-execute the whole log; return None if it agrees, else the first divergence.

    Checked: every gateway choice, every task opened and cancelled (by spec, in the order
    the service writes them), the engine steps each move records, the decision, and that
    every completed task was open. The hash chain (gaps, edits) is verify_chain's job.
    """
    replayer = _Replayer(diagram, events, engine or default_engine(), strict=True,
                         diagrams=diagrams)  # fmt: skip
    try:
        for index in range(len(events)):
            replayer.apply(index)
    except _Stop:
        return replayer.divergence
    missing = replayer.unrecorded()
    if missing:
        last = int(events[-1]["seq"]) if events else 0
        first = missing[0]
        return Divergence(
            last + 1,
            first,
            None,
            _(
                "the log ends before the re-execution's %(kind)s (%(what)s)",
                kind=first["type"],
                what=_fields(first),
            ),  # fmt: skip
        )
    return None


# --- writing a log without the service ------------------------------------------------------


@dataclass
class EventLog:
    """Write the events app/cases/services.py writes for engine steps, without a database."""

    actor: str = "system"
    start: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 11, 23, 9, 0))
    events: list[dict] = field(default_factory=list)
    batches: int = 0

    def _at(self) -> str:
        self.batches += 1
        return (self.start + dt.timedelta(minutes=self.batches)).isoformat(timespec="microseconds")

    def add(self, type_: str, data: dict, task_id: UUID | str | None = None, **where: Any) -> dict:
        """Append one event; `actor` and `at` come from `where` or the log's defaults."""
        event = {
            "seq": len(self.events) + 1,
            "type": type_,
            "actor": where.get("actor", self.actor),
            "at": where.get("at") or self._at(),
            "task_id": str(task_id) if task_id else None,
            "data": copy.deepcopy(data),
        }
        self.events.append(event)
        return event

    def _plan(self, step: StepResult, actor: str, at: str) -> None:
        for s in step.engine_steps:
            if "flows" in s:
                self.add(
                    "gateway_taken",
                    {"gateway": s["node"], "flows": s["flows"]},
                    actor=actor,
                    at=at,
                )
        self._created(step.created, actor, at)
        for task_id in step.cancelled:
            self.add("task_cancelled", {}, task_id, actor=actor, at=at)
        if step.finished:
            self.add(
                "case_decided",
                {"decision": expected_decision(step.result), "reason": None, "legal_basis": None},
                actor=actor,
                at=at,
            )

    def _created(self, tasks: list[ReadyTask], actor: str, at: str) -> None:
        for task in tasks:
            self.add(
                "task_created",
                {"spec": task.spec_id, "name": task.name, "stage": task.stage, "post": task.post},
                task.id,
                actor=actor,
                at=at,
            )
            self.add(
                "task_assigned",
                {"assignee_id": None, "reason": "simulated"},
                task.id,
                actor=actor,
                at=at,
            )

    def receive(
        self,
        engine: Engine,
        diagram: CompiledDiagram,
        form: dict,
        clerk: str = "clerk",
        item: str = "",
    ) -> WorkflowRun:
        """Receive and accept an application as `receive_case` does; return the running case."""
        at = self._at()
        self.add(
            "case_received",
            {"item": item, "applicant": "", "materials": [], "form": form},
            actor=clerk,
            at=at,
        )
        run, steps = engine.start(diagram, copy.deepcopy(form))
        self.add(
            "case_accepted",
            {
                "diagram_version_id": None,
                "process": diagram.process_id,
                "steps": [s["node"] for s in steps],
            },
            actor=clerk,
            at=at,
        )
        for s in steps:
            if "flows" in s:
                self.add(
                    "gateway_taken", {"gateway": s["node"], "flows": s["flows"]}, actor=clerk, at=at
                )
        ready = run.ready_tasks()
        self._created(ready, clerk, at)
        for task in [t for t in ready if t.stage == "acceptance"]:
            step = run.complete(task.id, "approve", {"comment": ACCEPT_COMMENT})
            self._completed(task, "approve", ACCEPT_COMMENT, {}, step, clerk, at)
        return run

    def _completed(
        self,
        task: ReadyTask,
        outcome: str,
        comment: str,
        data: dict,
        step: StepResult,
        actor: str,
        at: str,
    ) -> None:
        self.add(
            "task_completed",
            {
                "spec": task.spec_id,
                "outcome": outcome,
                "comment": comment,
                "data": data,
                "steps": [s["node"] for s in step.engine_steps],
            },
            task.id,
            actor=actor,
            at=at,
        )
        self._plan(step, actor, at)

    def complete(
        self,
        run: WorkflowRun,
        spec_id: str,
        outcome: str = "approve",
        comment: str = "",
        data: dict | None = None,
        actor: str | None = None,
    ) -> StepResult:
        """Complete the first open task of a spec as `complete_task` does; log the batch."""
        task = next((t for t in run.ready_tasks() if t.spec_id == spec_id), None)
        if task is None:
            open_specs = [t.spec_id for t in run.ready_tasks()]
            raise EngineError(
                _(
                    "no open %(spec_id)s task; open: %(open_specs)s",
                    spec_id=spec_id,
                    open_specs=open_specs,
                ),
                spec_id,
            )
        clean = dict(data or {})
        step = run.complete(task.id, outcome, {**clean, "comment": comment})
        self._completed(task, outcome, comment, clean, step, actor or self.actor, self._at())
        return step

    def withdraw(self, run: WorkflowRun, reason: str, actor: str = "clerk") -> None:
        """Withdraw the case as `withdraw_case` does: cancel every open task."""
        at = self._at()
        for task in run.ready_tasks():
            self.add("task_cancelled", {"reason": "case withdrawn"}, task.id, actor=actor, at=at)
        self.add("case_withdrawn", {"reason": reason}, actor=actor, at=at)

    def fire_due_timers(self, run: WorkflowRun, actor: str = "system") -> StepResult:
        """Fire the timers that are due now as `fire_timer` does; log one batch."""
        waiting = {t.id: node for t, node in _waiting_timers(run)}
        before = {t.id for t in run.ready_tasks()}
        run.workflow.refresh_timers()
        steps = run.run_engine()
        step = _step_result(run, before, steps)
        still = {t.id for t, _ in _waiting_timers(run)}
        at = self._at()
        for task_id, node in waiting.items():
            if task_id not in still:
                self.add(
                    "timer_fired",
                    {"node": node, "due_at": None, "steps": [s["node"] for s in steps]},
                    actor=actor,
                    at=at,
                )
        self._plan(step, actor, at)
        return step
