"""Keep a workflow's task tree bounded however often a case loops (issue 16).

SpiffWorkflow keeps every task it ever created: each pass through a loop adds a chain of
finished tasks under the last one. Its tree iterator stops at depth 1000 (and several of its
checks recurse once per ancestor), so a case that loops long enough stops seeing its own open
tasks and "completes" with a user task still ready; before that, every step and every stored
state grows with the history.

`compact_workflow` runs after every engine run and removes the finished tasks nothing will
read again. What SpiffWorkflow 3.2 reads from finished tasks, and therefore what stays:

- the root (the serialized state names it) and its direct children (an ad hoc sub-process
  tells its running branches apart by them);
- every unfinished task, with everything below it (multi-instance and loop tasks count their
  finished instances among their children; predictions hang below);
- the parent of every unfinished task: a task inherits its parent's data when it becomes
  ready, and a parallel or inclusive join tells its inputs apart by its parent's spec and
  state;
- the join tasks that stand for inputs that have arrived at a join which has not fired yet:
  when a second input arrives, SpiffWorkflow cancels the join task of the first one and
  from then on counts that cancelled task (and its parent) as the arrived input; such a
  task is kept, with its parent, until a join task of the same gateway completes;
- for an unfinished structured join (the join behind a task with boundary events, the join
  of event-based starts), the split it looks for among its ancestors and that split's whole
  subtree (it inspects the split's children: the main task and its boundary events);
- each workflow's last completed task (a sub-process hands its data to the calling task,
  and the engine shows it);
- the latest completed task of each end event (the engine reads which end events were
  reached from the task map);
- a finished task whose sub-process still has unfinished tasks.

Everything else that is finished goes; the children of a removed task move up to the
nearest kept ancestor, in order, so tree order (the order engine steps run in) and every
ancestor relation between kept tasks are unchanged. Sub-process workflows of finished tasks
that have nothing left to do are dropped with everything nested in them.

Once the join has fired, those cancelled join tasks are not kept. SpiffWorkflow goes on
counting them as arrived inputs, so without compaction a parallel or inclusive join inside
a loop fires on a later pass as soon as the inputs that arrived first on an earlier pass
arrive, without waiting for the others; with compaction it waits for all of them
(tests/workflows/test_compact.py shows both).

The work is one walk over the current tree, which after the first compaction is the live
part plus what the last step created; the history is never walked again.
"""

from __future__ import annotations

from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.mixins.events.end_event import EndEvent
from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.specs.Join import Join
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

UNFINISHED = TaskState.NOT_FINISHED_MASK


def compact_workflow(workflow: BpmnWorkflow) -> int:
    """Remove finished tasks the workflow no longer needs; return how many were removed."""
    busy = {key for key, sp in workflow.subprocesses.items() if _has_unfinished(sp)}
    removed = _drop_idle_subprocesses(workflow, busy)
    for wf in (workflow, *workflow.subprocesses.values()):
        removed += _compact_tree(wf, busy)
    return removed


def _has_unfinished(wf) -> bool:
    """Return whether any task of a workflow is still to run, waiting or predicted."""
    return any(task.has_state(UNFINISHED) for task in wf.tasks.values())


def _drop_idle_subprocesses(workflow: BpmnWorkflow, busy: set[UUID]) -> int:
    """Drop sub-processes with nothing left to do whose calling task is finished or gone."""
    removed = 0
    changed = True
    while changed:
        changed = False
        owners = {
            task_id: wf
            for wf in (workflow, *workflow.subprocesses.values())
            for task_id in wf.tasks
        }
        for key, sp in list(workflow.subprocesses.items()):
            if key in busy:
                continue
            owner = owners.get(key)
            caller = owner.tasks.get(key) if owner is not None else None
            if caller is not None and caller.has_state(UNFINISHED):
                continue
            del workflow.subprocesses[key]
            for task_id in sp.tasks:
                workflow.event_manager.tasks.pop(task_id, None)
            removed += len(sp.tasks)
            changed = True
    return removed


def _compact_tree(wf, busy: set[UUID]) -> int:
    """Remove the finished tasks of one workflow's tree that nothing refers to any more."""
    root = wf.task_tree
    if root is None:
        return 0
    keep = _tasks_to_keep(wf, root, busy)
    if len(keep) == len(wf.tasks):
        return 0
    removed = 0
    new_children: dict[UUID, list[UUID]] = {task_id: [] for task_id in keep}
    # (task id, id of its nearest kept ancestor), in depth-first order
    stack: list[tuple[UUID, UUID | None]] = [(root.id, None)]
    while stack:
        task_id, anchor = stack.pop()
        task = wf.tasks.get(task_id)
        if task is None:
            continue
        if task_id in keep:
            if anchor is not None:
                new_children[anchor].append(task_id)
                task._parent = anchor
            below = task_id
        else:
            below = anchor
        stack.extend((child, below) for child in reversed(task._children))
        if task_id not in keep:
            del wf.tasks[task_id]
            wf.top_workflow.event_manager.tasks.pop(task_id, None)
            removed += 1
    for task_id, children in new_children.items():
        if task_id in wf.tasks:
            wf.tasks[task_id]._children = children
    return removed


def _tasks_to_keep(wf, root: Task, busy: set[UUID]) -> set[UUID]:
    """Return the ids of the tasks the workflow may still read (see the module docstring)."""
    keep = {root.id, *root._children}
    last = wf.last_task
    if last is not None and last.id in wf.tasks:
        keep.add(last.id)
    latest_end: dict[str, Task] = {}
    splits: list[Task] = []
    fired: dict[str, float] = {}  # join spec name -> when a join task of it last completed
    arrivals: list[Task] = []  # cancelled join tasks, standing for inputs that arrived
    stack: list[tuple[Task, bool]] = [(root, False)]
    while stack:
        task, under_unfinished = stack.pop()
        unfinished = task.has_state(UNFINISHED)
        if unfinished or under_unfinished or task.id in busy:
            keep.add(task.id)
        if unfinished:
            if task._parent is not None:
                keep.add(task._parent)
            spec = task.task_spec
            if isinstance(spec, Join) and spec.split_task is not None:
                split = _find_ancestor(task, spec.split_task)
                if split is not None and not split.has_state(UNFINISHED):
                    splits.append(split)
        elif isinstance(task.task_spec, UnstructuredJoin):
            if task.state == TaskState.COMPLETED:
                name = task.task_spec.name
                fired[name] = max(fired.get(name, task.last_state_change), task.last_state_change)
            else:
                arrivals.append(task)
        elif isinstance(task.task_spec, EndEvent) and task.state == TaskState.COMPLETED:
            seen = latest_end.get(task.task_spec.name)
            if seen is None or task.last_state_change >= seen.last_state_change:
                latest_end[task.task_spec.name] = task
        for child_id in task._children:
            child = wf.tasks.get(child_id)
            if child is not None:
                stack.append((child, unfinished or under_unfinished))
    keep.update(task.id for task in latest_end.values())
    for task in arrivals:
        # on a tie keep it: counting a consumed input again is SpiffWorkflow's own behaviour,
        # forgetting one that has arrived would stall the join
        if task.last_state_change >= fired.get(task.task_spec.name, float("-inf")):
            keep.add(task.id)
            if task._parent is not None:
                keep.add(task._parent)
    for split in splits:
        keep.update(_subtree_ids(wf, split))
    return keep


def _find_ancestor(task: Task, spec_name: str) -> Task | None:
    """Return the nearest ancestor with the given spec name (without recursion)."""
    current = task.parent
    while current is not None:
        if current.task_spec.name == spec_name:
            return current
        current = current.parent
    return None


def _subtree_ids(wf, top: Task) -> list[UUID]:
    """Return the ids of a task and all its descendants."""
    ids, stack = [], [top.id]
    while stack:
        task_id = stack.pop()
        task = wf.tasks.get(task_id)
        if task is None:
            continue
        ids.append(task_id)
        stack.extend(task._children)
    return ids
