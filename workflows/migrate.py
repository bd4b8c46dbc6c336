"""Move a running workflow onto another version of its diagram (issue 22).

A case's open elements — ready user tasks, waiting timers, joins waiting for their other
inputs — each go to the element of the same id in the target, or to the one the analyst's
mapping names (`{source id: target id}`: a renamed stage, or a removed one's successor).
`check` says whether that is possible and, if not, why, in words an analyst reads:

- every open element has a counterpart of the same kind (a user task for a user task, a
  timer of the same kind, a join of the same type with the same inputs);
- a user task keeps its boundary events (the same ones, after the mapping), since they hang
  on the same split in the task tree;
- the case is not inside a sub-process or a call activity (their inner state has no
  counterpart to map to); a multi-instance stage (会签) open with some parts signed moves
  as a whole to a single task of the target (its parts, signed or not, are dropped: the
  target's task is worked afresh), never to another multi-instance task;
- no two open elements go to one element;
- the data the target reads from the open elements on (gateway conditions, scripts) is in
  the case, set by a stage on the way, or given as a default.

`migrate` then rebuilds the task tree in place, keeping every task id: the predictions made
from the old diagram go, finished tasks of elements the target no longer has go (their
children move up, as workflows/compact.py does), every other task takes its counterpart's
spec, and each open element is made ready again from the target (its due time, for a timer,
kept). The result is checked against the plan; anything else is refused, and the caller
throws the half-moved workflow away. `migrate` is deterministic for a given workflow, so the
re-execution of a log (workflows/replay.py) moves its workflow the same way at a
`case_migrated` event.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin, BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.util.task import TaskState

from .engine import CompiledDiagram, NodeInfo, WorkflowRun
from .errors import OneWindowError
from .expressions import ExpressionError, check_script
from .i18n import _

OPEN = TaskState.READY | TaskState.WAITING | TaskState.STARTED
JOINS = ("parallelGateway", "inclusiveGateway")
MAX_WALK = 10_000  # target specs visited looking for the data it reads


class MigrationRefused(OneWindowError):
    """The workflow cannot move to the target; `reasons` says why, one line each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass(frozen=True)
class Move:
    """One open element and where it goes."""

    kind: str  # task | timer | join
    source: str  # element id in the source diagram
    target: str  # element id in the target
    task_id: UUID  # the engine's task (its id is kept)
    # a multi-instance stage moved as a whole: the open parts (their tasks go)
    instances: tuple[UUID, ...] = ()


@dataclass
class Check:
    """Whether a workflow can move, how, and what data the move fills in."""

    moves: list[Move] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why it cannot; empty: it can
    defaults: dict[str, Any] = field(default_factory=dict)  # defaults the case takes

    @property
    def movable(self) -> bool:
        return not self.reasons


def _code(value: str) -> str:
    return f"`{value}`"


def _attached(diagram: CompiledDiagram, task_id: str) -> set[str]:
    return {n.id for n in diagram.nodes.values() if n.attached_to == task_id}


def _incoming(diagram: CompiledDiagram, node_id: str) -> set[str]:
    return {n.id for n in diagram.nodes.values() if any(t == node_id for _, t in n.outgoing)}


def _open_tasks(run: WorkflowRun) -> list:
    """The top workflow's tasks that are open (not predictions, not finished), tree order."""
    return [t for t in run.workflow.get_tasks(state=OPEN, skip_subprocesses=True)]


def _element(task) -> str | None:
    return getattr(task.task_spec, "bpmn_id", None)


def _is_part(task) -> bool:
    """Whether `task` is one instance (a signer's part) of a multi-instance task."""
    parent = task.parent
    return (parent is not None and isinstance(parent.task_spec, LoopTask)
            and task.task_spec.name == getattr(parent.task_spec, "task_spec", None))  # fmt: skip


def _parts(task) -> tuple[UUID, ...]:
    """The open instances of the multi-instance task `task`, in tree order."""
    return tuple(c.id for c in task.children if _is_part(c) and c.has_state(OPEN))


def _collapses(task, target: CompiledDiagram, goes: str) -> bool:
    """Whether the open multi-instance task `task` goes, as a whole, to a single task."""
    there = target.spec.task_specs.get(goes)
    return (isinstance(task.task_spec, LoopTask) and there is not None
            and not isinstance(there, LoopTask | SubWorkflowTask))  # fmt: skip


def _check_task(source: CompiledDiagram, target: CompiledDiagram, task, node: NodeInfo,
                goes: str, mapping: Mapping[str, str]) -> list[str]:  # fmt: skip
    """The reasons an open element cannot go to `goes` (empty: it can)."""
    there = target.nodes.get(goes)
    if there is None:
        return [_("%(element)s is open but the target has no %(target)s; map it to an element "
                  "of the target", element=_code(node.id), target=_code(goes))]  # fmt: skip
    if there.type != node.type or there.timer != node.timer:
        return [_("%(element)s (%(kind)s) would go to %(target)s, a %(other)s",
                  element=_code(node.id), kind=node.type, target=_code(goes),
                  other=there.type)]  # fmt: skip
    spec = target.spec.task_specs.get(goes)
    inner = LoopTask | SubWorkflowTask
    if not _collapses(task, target, goes) and (isinstance(task.task_spec, inner)
                                               or isinstance(spec, inner)):  # fmt: skip
        return [_("%(element)s is a multi-instance task or a sub-process: its inner state "
                  "cannot be moved", element=_code(node.id))]  # fmt: skip
    reasons = []
    if node.type == "userTask":
        before = {mapping.get(b, b) for b in _attached(source, node.id)}
        if before != _attached(target, goes):
            reasons.append(_("%(element)s has other boundary events in the target",
                             element=_code(goes)))  # fmt: skip
    if node.type == "boundaryEvent" and mapping.get(node.attached_to, node.attached_to) != (
        there.attached_to
    ):
        reasons.append(_("%(element)s is attached to another task in the target",
                         element=_code(goes)))  # fmt: skip
    if node.type in JOINS:
        inputs = {mapping.get(i, i) for i in _incoming(source, node.id)}
        if inputs != _incoming(target, goes):
            reasons.append(_("the join %(element)s waits for other inputs in the target",
                             element=_code(goes)))  # fmt: skip
    return reasons


def _kind(node: NodeInfo) -> str | None:
    if node.type == "userTask":
        return "task"
    if node.timer and node.type in ("intermediateCatchEvent", "boundaryEvent"):
        return "timer"
    if node.type in JOINS:
        return "join"
    return None


# One pass over the open tasks: each is classified, checked against its counterpart and
# recorded as a move; the reasons of all of them are collected so the analyst sees every one.
def check(run: WorkflowRun, target: CompiledDiagram, mapping: Mapping[str, str],
          defaults: Mapping[str, Any] | None = None) -> Check:  # fmt: skip
    """Say whether `run` can move to `target` under `mapping`, and how."""
    source = run.diagram
    result = Check()
    if any(sub.get_tasks(state=OPEN) for sub in run.workflow.subprocesses.values()):
        result.reasons.append(_("the case is inside a sub-process: it cannot be moved"))
    for task in _open_tasks(run):
        if isinstance(task.task_spec, BoundaryEventSplit | BoundaryEventJoin) or _is_part(task):
            continue  # the structure around a task with boundary events, or a part of a
            # multi-instance stage: moved with it
        element = _element(task)
        node = source.nodes.get(element or "")
        kind = _kind(node) if node is not None else None
        if node is None or kind is None:
            what = node.type if node is not None else type(task.task_spec).__name__
            result.reasons.append(_("the case waits at %(element)s (%(kind)s), which cannot be "
                                    "moved", element=_code(element or task.task_spec.name),
                                    kind=what))  # fmt: skip
            continue
        goes = mapping.get(element, element)
        reasons = _check_task(source, target, task, node, goes, mapping)
        result.reasons.extend(reasons)
        if not reasons:
            parts = _parts(task) if isinstance(task.task_spec, LoopTask) else ()
            result.moves.append(Move(kind, element, goes, task.id, parts))
    taken: dict[str, str] = {}
    for move in result.moves:
        if move.target in taken and move.kind != "join":
            result.reasons.append(_("%(one)s and %(other)s would both go to %(target)s",
                                    one=_code(taken[move.target]), other=_code(move.source),
                                    target=_code(move.target)))  # fmt: skip
        taken[move.target] = move.source
    if result.movable:
        _check_data(run, target, result, defaults or {})
    return result


def _names_read(text: str) -> set[str]:
    try:
        tree = ast.parse(text.strip(), mode="exec")
    except (SyntaxError, ValueError, RecursionError):
        return set()
    stored = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
              and isinstance(n.ctx, ast.Store)}  # fmt: skip
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load) and id(n) not in called} - stored  # fmt: skip


def _reads_and_sets(target: CompiledDiagram, spec) -> tuple[list[tuple[str, set[str]]], set[str]]:
    """What one target spec reads (element, names) and the names it sets."""
    reads: list[tuple[str, set[str]]] = []
    sets: set[str] = set()
    element = getattr(spec, "bpmn_id", None) or spec.name
    for condition, _name in getattr(spec, "cond_task_specs", ()) or ():
        if condition is not None and condition.args:
            reads.append((element, _names_read(str(condition.args[0]))))
    script = getattr(spec, "script", None)
    if isinstance(script, str):
        reads.append((element, _names_read(script)))
        with contextlib.suppress(ExpressionError):  # a script lint refuses sets nothing
            sets.update(name for name, _text in check_script(script, element))
    node = target.nodes.get(element)
    if node is not None and node.type == "userTask":
        sets.update(f.id for f in node.form)
        sets.update(("outcome", "comment"))
        if node.outcome_var:
            sets.add(node.outcome_var)
    return reads, sets


def _check_data(run: WorkflowRun, target: CompiledDiagram, result: Check,
                defaults: Mapping[str, Any]) -> None:  # fmt: skip
    """Note the names the target reads from the open elements on that nothing provides."""
    held = set(run.data)
    for task in run.workflow.tasks.values():  # a branch that arrived at a join holds its own
        held.update(task.data)
    specs = target.spec.task_specs
    queue = [specs[m.target] for m in result.moves if m.target in specs]
    seen = {s.name for s in queue}
    reads: list[tuple[str, set[str]]] = []
    provided: set[str] = set()
    while queue and len(seen) < MAX_WALK:
        spec = queue.pop()
        spec_reads, spec_sets = _reads_and_sets(target, spec)
        reads.extend(spec_reads)
        provided |= spec_sets
        for output in spec.outputs:
            if output.name not in seen:
                seen.add(output.name)
                queue.append(output)
    wanted: dict[str, str] = {}
    for element, names in reads:
        for name in sorted(names - held - provided):
            wanted.setdefault(name, element)
    for name, element in sorted(wanted.items()):
        if name in defaults:
            result.defaults[name] = defaults[name]
        else:
            result.reasons.append(_("the target reads %(name)s at %(element)s, which the case "
                                    "does not hold: give it a default", name=_code(name),
                                    element=_code(element)))  # fmt: skip


def _renamer(source: CompiledDiagram, target: CompiledDiagram, mapping: Mapping[str, str]):
    """Map a source spec name to its target spec name (internal specs follow their element)."""
    def rename(name: str) -> str:
        if name in mapping:
            return mapping[name]
        head, dot, tail = name.partition(".")
        if dot and head in mapping:
            return f"{mapping[head]}.{tail}"
        if dot and head == source.process_id:
            return f"{target.process_id}.{tail}"
        return name

    return rename


def _splice(workflow, task) -> None:
    """Remove a finished task; its children move up to its parent, in its place."""
    parent = task.parent
    at = parent._children.index(task.id)
    parent._children[at : at + 1] = list(task._children)
    for child in task.children:
        child._parent = parent.id
    del workflow.tasks[task.id]


def _drop(workflow, task) -> None:
    """Remove a predicted task and everything below it."""
    for below in list(task):
        workflow.tasks.pop(below.id, None)
    if task.parent is not None and task.id in task.parent._children:
        task.parent._children.remove(task.id)


def _timer_due(task) -> Any:
    return task._get_internal_data("event_value")


# The steps must run in this order: predictions go before any spec changes (they were made
# from the old diagram), specs change before the open tasks are made ready again (which
# predicts from the new one), and the plan is checked on the result.
def migrate(run: WorkflowRun, target: CompiledDiagram, mapping: Mapping[str, str],
            defaults: Mapping[str, Any] | None = None) -> tuple[Check, list[dict]]:  # fmt: skip
    """Move `run` to `target` in place; return the check and the engine steps that ran.

    Raise MigrationRefused when it cannot move (nothing is changed then) or when the moved
    workflow is not what the check planned (then `run` is half-moved: throw it away).
    """
    plan = check(run, target, mapping, defaults)
    if not plan.movable:
        raise MigrationRefused(plan.reasons)
    source, workflow = run.diagram, run.workflow
    rename = _renamer(source, target, mapping)
    open_tasks = [t for t in _open_tasks(run) if not _is_part(t)]  # parts go with their stage
    kept = {t.id: (dict(t.data), _timer_due(t)) for t in open_tasks}
    for task in open_tasks:
        for child in list(task.children):
            _drop(workflow, child)
    for task in list(workflow.tasks.values()):
        if task.id in workflow.tasks and task.has_state(TaskState.PREDICTED_MASK):
            _drop(workflow, task)
    specs = target.spec.task_specs
    root = workflow.task_tree
    for task in list(workflow.tasks.values()):
        if task is not root and rename(task.task_spec.name) not in specs:
            if task.id in kept:
                raise MigrationRefused([_("%(element)s has no counterpart in the target",
                                          element=_code(task.task_spec.name))])  # fmt: skip
            _splice(workflow, task)
    for task in workflow.tasks.values():
        task.task_spec = specs[rename(task.task_spec.name)]
    workflow.spec = target.spec
    workflow.subprocess_specs = target.subprocess_specs
    if workflow.last_task is not None and workflow.last_task.id not in workflow.tasks:
        workflow.last_task = open_tasks[0].parent if open_tasks else None
    run.diagram = target
    for task in open_tasks:
        data, due = kept[task.id]
        task.reset_branch({**data, **plan.defaults})
        task.data = {**data, **plan.defaults}
        if isinstance(due, str) and isinstance(_timer_due(task), str):
            task._set_internal_data(event_value=due)
    steps = run.run_engine()
    _check_result(run, plan)
    return plan, steps


def _check_result(run: WorkflowRun, plan: Check) -> None:
    ready = {(t.id, t.spec_id) for t in run.ready_tasks()}
    wanted = {(m.task_id, m.target) for m in plan.moves if m.kind == "task"}
    waiting = {(t.task_id, t.node_id) for t in run.waiting_timers()}
    timers = {(m.task_id, m.target) for m in plan.moves if m.kind == "timer"}
    if ready != wanted or not timers <= waiting:
        raise MigrationRefused([
            _("the moved workflow has open %(ready)s and timers %(timers)s, the plan "
              "%(wanted)s", ready=", ".join(sorted(_code(s) for _, s in ready)) or "—",
              timers=", ".join(sorted(_code(n) for _, n in waiting)) or "—",
              wanted=", ".join(sorted(_code(m.target) for m in plan.moves)))
        ])  # fmt: skip

