"""Move one running case to another deployed version of its item's diagram (issue 22).

`plan_case` works the move out on a copy of the case's workflow rebuilt from its events and
writes nothing (the plan and the dry run); `move_case` makes it, in its own transaction:

- the workflow moves as workflows/migrate.py says (every open element to its counterpart);
- an open task whose element keeps its post keeps its row: id, holder, arrival, due dates,
  A/B state and history; its element id, name, stage, lane, outcomes and whether it is a
  decision stage follow the target. One
  whose element now belongs to another post is closed as cancelled and a new task is
  opened for the new post, assigned and timed as any new task (A/B, four-eyes, the
  stage's limit from now);
- timers keep their id and due time (their element id follows the target);
- a `case_migrated` event on the chain names both versions, the mapping, the defaults and
  every move, followed by the new tasks' `task_created`/`task_assigned`; the replay and the
  verification re-execute the move from it (workflows/replay.py);
- a snapshot of the moved workflow is stored with the new version, so a stored state always
  belongs to the version the case row names.

A case that cannot move stays as it is and the reasons are returned. A completion that
races the move loses nothing: the case row's version check lets one of them through, and
the other is retried on what the first wrote (`transactional`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from workflows.engine import WorkflowRun
from workflows.errors import EngineError, WorkflowFault
from workflows.migrate import MigrationRefused, migrate
from workflows.rebuild import rekey

from ..calendar.services import calendar
from ..catalogue.models import version_numbers
from ..db import session, transactional, utcnow
from ..org.models import Post, User
from ..org.services import signer_staff, staffing
from . import planner, rebuild, store
from .models import Case, Task, Timer
from .planner import Guard
from .runtime import runtime
from .status import WORKING_STATUSES, TaskState
from .store import HEAD_COLUMNS, Head


@dataclass
class CaseMove:
    """What moving one case does (or would do), or why it cannot."""

    case_id: int
    case_no: str
    movable: bool = False
    reasons: list[str] = field(default_factory=list)
    # per open element: kind, source, target, task (row id), holder kept (bool), new task
    moves: list[dict] = field(default_factory=list)
    defaults: dict = field(default_factory=dict)
    steps: list[str] = field(default_factory=list)  # engine steps the move ran (usually none)

    def as_dict(self) -> dict:
        return {"case_no": self.case_no, "movable": self.movable, "reasons": self.reasons,
                "moves": self.moves, "defaults": self.defaults}  # fmt: skip


def _head(db: Session, case_id: int) -> Head | None:
    row = db.execute(sa.select(*HEAD_COLUMNS).where(Case.id == case_id)).first()
    return Head.of(row, case_id) if row is not None else None


def _refused(head: Head | None, case_id: int, *reasons: str) -> CaseMove:
    return CaseMove(case_id, head.case_no if head else str(case_id), False, list(reasons))


def _precheck(head: Head | None, case_id: int, source_id: int, target_id: int) -> CaseMove | None:
    """The reasons a case is not one to move at all (None: it may be)."""
    if head is None:
        return _refused(None, case_id, _("no such case"))
    if head.status not in WORKING_STATUSES:
        return _refused(head, case_id, _("the case is not running (status %(status)s)",
                                         status=head.status))  # fmt: skip
    if head.diagram_version_id == target_id:
        return _refused(head, case_id, _("the case is already on the target version"))
    if head.diagram_version_id != source_id:
        return _refused(head, case_id, _("the case runs on another version than the plan's"))
    return None


def _open_rows(db: Session, case_id: int) -> dict[uuid.UUID, tuple[Task, Post | None]]:
    rows = db.execute(
        sa.select(Task, Post).outerjoin(Post, Post.id == Task.post_id)
        .where(Task.case_id == case_id, Task.state == TaskState.OPEN)
    ).all()  # fmt: skip
    return {task.id: (task, post) for task, post in rows}


def _same_post(post: Post | None, wanted: str | None) -> bool:
    return post is not None and wanted is not None and wanted in (post.code, post.name)


def _describe(run: WorkflowRun, source, plan, rows: dict) -> list[dict]:
    """Each move as the plan shows and the event records it (before new ids are given),
    the elements named as each version names them."""
    views = {t.id: t for t in run.ready_tasks()}
    out = []
    for move in plan.moves:
        was, goes = source.nodes.get(move.source), run.diagram.nodes.get(move.target)
        entry = {"kind": move.kind, "source": move.source, "target": move.target,
                 "from": str(move.task_id), "source_name": was.name if was else move.source,
                 "target_name": goes.name if goes else move.target}  # fmt: skip
        if move.instances:  # a 会签 stage moved whole: its open parts' rows go
            entry["instances"] = [str(i) for i in move.instances]
        if move.kind == "task":
            task, post = rows.get(move.task_id, (None, None))
            view = views.get(move.task_id)
            entry["kept"] = task is not None and view is not None and _same_post(post, view.post)
            entry["post"] = view.post if view is not None else None
            entry["assignee_id"] = task.assignee_id if task is not None else None
        out.append(entry)
    return out


def _try(db: Session, head: Head, run: WorkflowRun, target_id: int, mapping: dict,
         defaults: dict) -> tuple[CaseMove, object | None]:  # fmt: skip
    """Move `run` (a copy the caller may throw away); return the outcome and the plan."""
    found = CaseMove(head.id, head.case_no)
    source = run.diagram
    try:
        target = runtime().diagram(db, target_id)
        plan, steps = migrate(run, target, mapping, defaults)
    except MigrationRefused as exc:
        found.reasons = exc.reasons
        return found, None
    except (EngineError, WorkflowFault) as exc:
        found.reasons = [_("the workflow cannot be moved: %(why)s", why=exc.message)]
        return found, None
    except Exception as exc:  # noqa: BLE001 - the engine refusing in its own way: not moved
        found.reasons = [_("the workflow cannot be moved: %(why)s",
                           why=f"{type(exc).__name__}: {exc}"[:300])]  # fmt: skip
        return found, None
    rows = _open_rows(db, head.id)
    found.movable, found.defaults = True, dict(plan.defaults)
    found.steps = [s["node"] for s in steps]
    found.moves = _describe(run, source, plan, rows)
    missing = {i for m in plan.moves if m.kind == "task"
               for i in (m.instances or (m.task_id,))} - set(rows)  # fmt: skip
    if missing:  # the log and the task rows disagree: never guess
        found.movable, found.moves = False, []
        found.reasons = [_("the case's open tasks are not its workflow's")]
    return found, plan


def plan_case(case_id: int, source_id: int, target_id: int, mapping: dict,
              defaults: dict) -> CaseMove:  # fmt: skip
    """Work out the move of one case on a rebuilt copy of its workflow; write nothing."""
    db = session()
    head = _head(db, case_id)
    refused = _precheck(head, case_id, source_id, target_id)
    if refused is not None:
        return refused
    try:
        run = rebuild.rebuild(db, runtime().diagram(db, head.diagram_version_id), head)
    except WorkflowFault as fault:
        return _refused(head, case_id, fault.message)
    return _try(db, head, run, target_id, mapping, defaults)[0]


@transactional
def move_case(actor: User, case_id: int, source_id: int, target_id: int, mapping: dict,
              defaults: dict, plan_id: int | None = None) -> CaseMove:  # fmt: skip
    """Move one case now, in its own transaction; a case that cannot move is left as it is."""
    db = session()
    head = _head(db, case_id)
    refused = _precheck(head, case_id, source_id, target_id)
    if refused is not None:
        return refused
    try:
        run = store.live_run(db, runtime().diagram(db, head.diagram_version_id), head)
    except WorkflowFault as fault:
        return _refused(head, case_id, fault.message)
    found, plan = _try(db, head, run, target_id, mapping, defaults)
    if not found.movable:
        store.forget_live(head.id)  # it may be half-moved
        return found
    _write(db, actor, head, run, found, target_id, mapping, plan_id)
    return found


# The writes of one move, in the order the chain and the version check need: the event and
# the replaced tasks' new rows are planned first (new ids re-key the workflow before its
# snapshot), then the case row (version-checked), then the task and timer rows.
def _write(db: Session, actor: User, head: Head, run: WorkflowRun, found: CaseMove,
           target_id: int, mapping: dict, plan_id: int | None) -> None:  # fmt: skip
    at = utcnow()
    events = store.events_for(head, actor, at)
    replaced = [m for m in found.moves if m["kind"] == "task" and not m["kept"]]
    new_ids = {uuid.UUID(m["from"]): uuid.uuid4() for m in replaced}
    if new_ids:
        rekey(run, new_ids)
    for move in found.moves:
        if move["kind"] == "task" and not move["kept"]:
            move["to"] = str(new_ids[uuid.UUID(move["from"])])
    numbers = version_numbers(db, (head.diagram_version_id, target_id))
    old_version, new_version = numbers[head.diagram_version_id], numbers[target_id]
    events.add("case_migrated", {
        "from_version_id": head.diagram_version_id, "to_version_id": target_id,
        "from_version": old_version, "to_version": new_version, "plan": plan_id,
        "mapping": mapping, "defaults": found.defaults, "moves": found.moves, "steps": found.steps,
    })  # fmt: skip
    views = {t.id: t for t in run.ready_tasks()}
    created = [views[i] for i in new_ids.values()]
    rows = []
    if created:
        staff = staffing(db, {t.post for t in created if t.post}, at)
        if any(t.signer for t in created):
            signer_staff(db, staff, {t.signer for t in created if t.signer}, at)
        cal = calendar() if planner.needs_calendar(created) else None
        guard = Guard(head.applicant_id_number, head.last_decider_id, head.last_decision_spec)
        rows = planner.new_task_rows(staff, created, events, guard, cal)
    values = {"diagram_version_id": target_id, **rebuild.snapshot(run, events.seq)}
    if head.last_decision_spec in mapping:  # four-eyes follows a renamed decision stage
        values["last_decision_spec"] = mapping[head.last_decision_spec]
    store.save_case(db, head, values, events)
    for move in found.moves:
        target = run.diagram.nodes[move["target"]]
        if move["kind"] == "task" and move["kept"]:
            db.execute(sa.update(Task).where(Task.id == uuid.UUID(move["from"]))
                       .values(spec_id=target.id, name=target.name, stage=target.stage,
                               lane=target.lane, outcomes=",".join(target.outcomes),
                               is_decision=target.is_decision)
                       .execution_options(synchronize_session=False))  # fmt: skip
        elif move["kind"] == "task":
            gone = [uuid.UUID(i) for i in move.get("instances") or [move["from"]]]
            db.execute(sa.update(Task).where(Task.id.in_(gone))
                       .values(state=TaskState.CANCELLED, completed_at=at,
                               comment=_("moved to version %(v)s", v=new_version))
                       .execution_options(synchronize_session=False))  # fmt: skip
        elif move["kind"] == "timer":
            db.execute(sa.update(Timer).where(Timer.id == uuid.UUID(move["from"]))
                       .values(node_id=target.id)
                       .execution_options(synchronize_session=False))  # fmt: skip
    store.insert_tasks(db, rows)
    store.keep_live(head.id, head.version + 1, run, events.seq)
