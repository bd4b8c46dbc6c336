"""An official's work on tasks: open (the task page), complete, claim, transfer (转办).

Each operation is one transaction and takes its task through the access gate.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session

from ..db import session, transactional, utcnow
from ..errors import Conflict, Forbidden, InvalidInput
from ..labels import status_name
from ..org.models import Post, User
from ..org.presence import Assignment, away_at, exclusions
from ..org.reasons import Barrier, decode
from . import decisions, faults, opinions, planner, signers, status, steps, store
from .access import CheckedTask, Purpose, holders, require_task
from .assign import write_reassignments
from .intake import check_form
from .models import Case, Task
from .planner import Outcome
from .queries import CaseDetail, case_detail, people_named
from .runtime import runtime
from .status import TaskState
from .store import Head

FAULTED = _l(
    "this case is stopped in the fault state (流程异常) until an administrator retries its "
    "failed step or withdraws it; nothing can be completed meanwhile"
)
# the reason is the note of the transfer stored in the task's assignment_reason (300
# characters, with about 80 of structure around it); a longer one was a 500 on PostgreSQL
TRANSFER_REASON_MAX = 140


def task_fields(db: Session, diagram_version_id: int | None, spec_id: str) -> list[dict]:
    """The form fields of a task, as the diagram defines them (`FormField.as_dict`)."""
    node = runtime().diagram(db, diagram_version_id).nodes.get(spec_id)
    return [f.as_dict() for f in (node.form if node else ())]


@dataclass(frozen=True)
class OpenedTask:
    """A task its reader opened, with its case, post and form fields."""

    task: Task
    case: Case
    post: Post | None
    fields: list[dict]


def _open(actor: User, task_id: uuid.UUID) -> tuple[CheckedTask, list[dict]]:
    checked = require_task(actor, task_id, Purpose.VIEW)
    task = checked.task
    if task.assignee_id == actor.id and status.is_task_open(task) and task.started_at is None:
        task.started_at = utcnow()  # a task B has started stays with B when A comes back
    return checked, task_fields(session(), checked.case.diagram_version_id, task.spec_id)


@transactional
def open_task(actor: User, task_id: uuid.UUID) -> OpenedTask:
    """Show a task with its case and form; its holder opening it marks it started."""
    checked, fields = _open(actor, task_id)
    return OpenedTask(checked.task, checked.case, checked.post, fields)


@dataclass(frozen=True)
class TaskPage:
    """Everything the task page shows, read in one transaction."""

    task: Task
    detail: CaseDetail
    fields: list[dict]
    post: Post | None
    holders: list[tuple[str, int]]  # (A|B|leader, user id) of the task's post
    away: dict[int, str]  # holders away now, with the reason
    people: dict[int, str]
    may_work: bool
    may_transfer: bool
    may_claim: bool


@transactional
def task_page(actor: User, task_id: uuid.UUID) -> TaskPage:
    """The task page: the task opened (as `open_task`), its case, who holds its post."""
    checked, fields = _open(actor, task_id)
    db, task, post = session(), checked.task, checked.post
    detail = case_detail(checked.checked_case)
    held = holders(post) if post else []
    ids = {uid for _r, uid in held}
    may_work = status.may_complete(task, actor.id)
    return TaskPage(
        task=task,
        detail=detail,
        fields=fields,
        post=post,
        holders=held,
        away=away_at(db, ids, utcnow()) if ids else {},
        people=people_named(detail.people_ids() | {task.acting_for_id} | ids),
        may_work=may_work,
        may_transfer=status.is_task_open(task)
        and post is not None
        and (may_work or post.leader_user_id == actor.id or actor.has_role("admin")),  # fmt: skip
        may_claim=status.may_claim(task, ids, actor.id),
    )


def _check_decision_input(outcome: str, comment: str, legal_basis: str) -> None:
    if outcome == "reject":
        if not comment.strip():
            raise InvalidInput(_("a rejection needs a reason (comment)"))
        if not legal_basis.strip():
            raise InvalidInput(_("a rejection needs a legal basis (data.legal_basis)"))
    if outcome == "return" and not comment.strip():
        raise InvalidInput(_("a return needs a reason (comment)"))


def _check_may_decide(db: Session, actor: User, task: Task, head: Head) -> None:
    """Refuse an official who applied for the case, or who decided its previous stage."""
    if actor.id_number and actor.id_number == head.applicant_id_number:
        raise Forbidden(_("you are the applicant of this case and may not handle it"))
    if (
        task.is_decision
        and head.last_decider_id == actor.id
        and head.last_decision_spec != task.spec_id
        and not _signs_own_part(task, actor)
        and not _opened_before_last_decision(db, task, head)
    ):
        raise Forbidden(_("you decided the previous stage of this case (four-eyes)"))


def _signs_own_part(task, actor: User) -> bool:
    """Whether the task is the actor's own part of a 会签 (named signer, not a stand-in):
    the others sign beside them, so four-eyes does not keep them off it."""
    reason = decode(task.assignment_reason)
    return (isinstance(reason, dict) and reason.get("reason") == "signer"
            and task.assignee_id == actor.id and task.acting_for_id is None)  # fmt: skip


def _opened_before_last_decision(db: Session, task: Task, head: Head) -> bool:
    """Return whether the task was already open when its holder decided the last stage.

    Such a task runs beside that stage (parallel branches), not after it: four-eyes forbids
    holding two consecutive decision stages, not two parallel ones.
    """
    decided_at = db.scalar(
        sa.select(sa.func.max(Task.completed_at)).where(
            Task.case_id == head.id,
            Task.spec_id == head.last_decision_spec,
            Task.completed_by_id == head.last_decider_id,
        )
    )
    return decided_at is not None and task.created_at <= decided_at


# long: every refusal is checked, in order, before the one step is run and written (an open
# task, an allowed outcome, not delegated, the decision's reasons, the confirmation, the form)
@transactional
def complete_task(
    actor: User,
    task_id: uuid.UUID,
    outcome: str,
    comment: str = "",
    data: dict | Callable[[list[dict]], dict] | None = None,
    legal_basis: str = "",
    confirmed: bool = True,
    after: signers.After | None = None,
) -> Outcome:
    """Complete an official's task with an outcome; the case moves on in the same commit.

    `data` is the task form's values, or a function that reads them given the task's form
    fields (a posted web form). A rejection states its `legal_basis`; it is kept with the
    task's data. A fault of the workflow stops the case and is raised after the commit.
    A decisive completion (`status.is_decisive`) from the web needs `confirmed` (its form's
    box); refused without it before anything is written. With `after` (加签 after), the
    decision, checked here, waits for the signer named there (`signers.add_after`).
    """
    checked = require_task(actor, task_id, Purpose.WORK)
    db, task, head = session(), checked.task, checked.head
    # `task` is a WorkTask, outside the session: its row is written with one Core UPDATE
    comment, legal_basis = (comment or "").strip(), (legal_basis or "").strip()
    if not status.is_task_open(task):
        raise Conflict(
            _(
                "task %(task_id)s is already %(state)s",
                task_id=task_id,
                state=status_name(task.state),
            )
        )
    if outcome not in task.outcomes.split(","):
        raise InvalidInput(
            _(
                "outcome must be one of: %(choices)s",
                choices=task.outcomes.replace(",", ", "),
            )
        )
    if task.delegated_to_id is not None:  # 委派: the work is with a colleague
        raise Conflict(_("the task is delegated: wait for it to be handed back, or take it "
                         "back"))  # fmt: skip
    if task.waits_for is not None:  # 加签: an added signer goes first
        raise Conflict(_("the task waits for the signer added before you; remove them to "
                         "decide now"))  # fmt: skip
    if task.kind == opinions.OPINION:  # 征求意见: the opinion asked, no step of the workflow
        return opinions.answer(actor, task, comment or "")
    if task.kind is not None:  # an added signer's opinion: no step of the workflow
        return signers.sign(actor, task, outcome, comment)
    _check_decision_input(outcome, comment, legal_basis)
    if not confirmed and status.is_decisive(task.stage, outcome):
        raise InvalidInput(_("Tick the box to confirm this decision: nothing was changed."),
                           fields={"confirm": _("Confirm the decision.")})  # fmt: skip
    diagram = runtime().diagram(db, head.diagram_version_id)
    fields = task_fields(db, head.diagram_version_id, task.spec_id)
    values = data(fields) if callable(data) else dict(data or {})
    clean = check_form(fields, values, "task form")
    if legal_basis:
        clean["legal_basis"] = legal_basis
    _check_may_decide(db, actor, task, head)
    if status.is_faulted(head):
        raise Conflict(FAULTED)
    # a number entered at an issue stage (not a decision stage) is given once per authority
    if not task.is_decision and any(isinstance(v, str) and v.strip() for v in clean.values()):
        decisions.check_entered(db, head.id, clean)
    if after is not None:
        signers.add_after(actor, task_id, after, {"outcome": outcome, "comment": comment,
                                                  "form": values, "legal_basis": legal_basis})
        return Outcome(task, [], head.case_no)
    completion = steps.Completion(task, actor.id, outcome, comment, clean)
    events = store.events_for(head, actor)
    done = steps.complete(db, head, diagram, completion, events)
    if isinstance(done, faults.CaseFaulted):
        raise done
    for key, value in completion.values(events.at).items():
        setattr(task, key, value)
    return Outcome(task, planner.opened(done), head.case_no)


def _signs_beside(db: Session, task, user_id: int) -> bool:
    """Whether the user holds or signed another instance opened with this one (the instances
    of one multi-instance stage open together, in one step)."""
    return bool(db.scalar(sa.select(sa.exists().where(
        Task.case_id == task.case_id, Task.spec_id == task.spec_id, Task.id != task.id,
        Task.created_at == task.created_at, Task.state != TaskState.CANCELLED,
        sa.or_(Task.assignee_id == user_id, Task.completed_by_id == user_id)))))  # fmt: skip


def _excluded_from(db: Session, case: Case, task: Task, user_ids: set[int]) -> dict[int, str]:
    numbers = dict(
        db.execute(sa.select(User.id, User.id_number).where(User.id.in_(user_ids))).all()
    )
    return exclusions(numbers, case.applicant_id_number, task.spec_id, task.is_decision,
                      case.last_decider_id, case.last_decision_spec)  # fmt: skip


def _still_open(checked: CheckedTask) -> CheckedTask:
    if not status.is_task_open(checked.task):
        raise Conflict(
            _(
                "task %(id)s is already %(state)s",
                id=checked.task.id,
                state=status_name(checked.task.state),
            )
        )
    return checked


@transactional
def claim_task(actor: User, task_id: uuid.UUID) -> Task:
    """Take an unassigned task of a post the actor holds; the first to claim gets it."""
    db = session()
    checked = _still_open(require_task(actor, task_id, Purpose.CLAIM))
    task, case, post = checked.task, checked.case, checked.post
    if task.assignee_id is not None:
        raise Conflict(_("this task has already been claimed"))
    now = utcnow()
    why = _excluded_from(db, case, task, {actor.id}).get(actor.id)
    if why:
        raise Forbidden(_("you may not take this task: you %(why)s", why=why))
    if _signs_beside(db, task, actor.id):  # 会签: nobody signs twice
        raise Forbidden(_("you may not take this task: you sign another instance of this stage"))
    away = away_at(db, {actor.id}, now).get(actor.id)
    if away:
        raise Conflict(_("you are %(away)s; check in or end the absence first", away=away))
    role = next(r for r, uid in holders(post) if uid == actor.id)
    acting_for = post.a_user_id if role != "A" and not post.shared else None
    reason = {"reason": "claimed", "by": actor.id, "role": role}
    choice = Assignment(post.id, actor.id, acting_for, reason)
    write_reassignments(db, case.id, [(task, choice)], now, actor, kind="task_claimed",
                        only_if_unassigned=True, started_at=now)  # fmt: skip
    return task


@transactional
def transfer_task(actor: User, task_id: uuid.UUID, to_user_id: int, reason: str) -> Task:
    """Hand a task to another holder of the same post (转办), with a reason."""
    db = session()
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("a transfer needs a reason"))
    if len(reason) > TRANSFER_REASON_MAX:
        raise InvalidInput(
            _(
                "a transfer reason is at most %(TRANSFER_REASON_MAX)s characters",
                TRANSFER_REASON_MAX=TRANSFER_REASON_MAX,
            )
        )
    checked = _still_open(require_task(actor, task_id, Purpose.TRANSFER))
    task, case, post = checked.task, checked.case, checked.post
    if post is None:
        raise Conflict(_("this task belongs to no post, so it has nobody to go to"))
    roles = {uid: role for role, uid in holders(post)}
    if to_user_id not in roles:
        raise InvalidInput(_("a task can only go to another holder (A, B or leader) of its post"))
    if to_user_id == task.assignee_id:
        raise InvalidInput(_("the task is already with that person"))
    now = utcnow()
    why = _excluded_from(db, case, task, {to_user_id}).get(to_user_id)
    if why:
        raise Conflict(_("that person may not take this task: they %(why)s", why=why))
    if _signs_beside(db, task, to_user_id):  # 会签: nobody signs twice
        raise Conflict(_("that person may not take this task: they %(why)s",
                         why=Barrier("signing")))  # fmt: skip
    away = away_at(db, {to_user_id}, now).get(to_user_id)
    if away:
        raise Conflict(_("that person is %(away)s", away=away))
    moved = {"reason": "transfer", "by": actor.id, "role": roles[to_user_id], "to": to_user_id,
             "note": reason}  # fmt: skip
    choice = Assignment(post.id, to_user_id, None, moved)
    write_reassignments(db, case.id, [(task, choice)], now, actor, kind="task_transferred",
                        started_at=None)  # fmt: skip
    return task
