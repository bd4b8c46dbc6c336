"""The one access gate of cases and tasks.

`require_case` and `require_task` are the only ways to get at a case or a task for a user:
they check the purpose's roles before anything is looked up, load the object, check the
rule for that object, and return it wrapped as checked. Every read and write of the cases
domain takes the checked object, so no code path reads a case it has not checked (a test
walks the code to keep it so). A case the user may not read is "not found", never
"forbidden": its existence is not told.

Each role sees its own face of a case: staff purposes (`VIEW` and every other purpose but
`OWN`) never admit an applicant for being the applicant — an applicant who opens the staff
page, transfer card or a task of their own case gets the same 404 as for a case that does
not exist (the API, the staff's, refuses applicants before any lookup). The applicant
reaches their case only through `Purpose.OWN` (the notices meant for them) and their own
pages (`app/applicants/`), which show no internal comment and no staff name.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import sqlalchemy as sa
from flask_babel import gettext as _

from ..catalogue.models import Item
from ..db import session
from ..errors import Conflict, Forbidden, NotFound
from ..org.authority import headed_departments
from ..org.models import Post, User
from ..org.reasons import post_label, remember_posts
from .decisions import authority_for
from .models import Case, CaseCopy, Task, TaskDelegation
from .status import TaskState
from .store import HEAD_COLUMNS, Head

READ_ALL_CASES_ROLES = ("clerk", "supervisor", "auditor", "admin")
READ_ANY_TASK_ROLES = ("auditor", "supervisor", "admin")
STAFF_ROLES = ("clerk", "official", "leader", "supervisor", "auditor", "admin", "analyst")


class Purpose(StrEnum):
    VIEW = "view"  # the staff page of a case, its events, notices and exports
    OWN = "own"  # the applicant's face: their own case's notices (and whoever may VIEW it)
    WINDOW = "window"  # the window's operations: supplement, refuse, withdraw, close
    TIME = "time"  # pause, resume, extend (who may is decided per case by `deadlines`)
    RETRY = "retry"  # run again the step that stopped a faulted case
    WORK = "work"  # complete a task: its holder only
    CLAIM = "claim"  # take an unassigned task: a holder of its post
    TRANSFER = "transfer"  # hand a task on (转办): its holder, the post's leader, an admin
    SUPERVISE = "supervise"  # the supervision office's opinion on the commitment notice


# the roles a purpose needs, checked before anything is looked up (None: any user)
ROLES: dict[Purpose, tuple[str, ...] | None] = {
    Purpose.VIEW: None,
    Purpose.OWN: None,
    Purpose.WINDOW: ("clerk", "admin"),
    Purpose.TIME: ("clerk", "admin", "official", "leader"),  # who may ever keep time
    Purpose.RETRY: ("admin",),
    Purpose.WORK: None,
    Purpose.CLAIM: None,
    Purpose.TRANSFER: None,
    Purpose.SUPERVISE: ("supervisor",),
}


def require_role(actor: User, *roles: str) -> None:
    if not actor.has_role(*roles):
        from ..labels import role_name  # the roles in the reader's words

        names = ", ".join(role_name(r) for r in roles)
        raise Forbidden(_("this needs one of the roles: %(items)s", items=names))


@dataclass(frozen=True)
class CheckedCase:
    """A case the user may see or act on for `purpose`; build it with `require_case`."""

    case: Case
    actor: User
    purpose: Purpose

    @cached_property
    def item(self) -> Item:
        return session().get(Item, self.case.item_id)


@dataclass(frozen=True)
class CheckedTask:
    """A task the user may see (with its case and post) or work (with its case's head)."""

    task: Task | WorkTask
    actor: User
    purpose: Purpose
    case: Case | None = None
    post: Post | None = None
    head: Head | None = None

    @property
    def checked_case(self) -> CheckedCase:
        """The task's case, readable by whoever may read the task."""
        return CheckedCase(self.case, self.actor, Purpose.VIEW)


def can_view_case(actor: User, case: Case) -> bool:
    """Return whether the actor may read the case.

    The window, supervision, audit and admin read every case. An official or leader reads
    the cases they hold, held or decided a task of, stand in for, or lead the post of; a
    head (负责人) of a licensing authority reads its cases, and a head of the government the
    joint cases, whose extensions they approve (app/org/authority.py). Analysts work on
    diagrams and figures, not on cases. Being a case's applicant admits no one here: the
    applicant's face of a case is `owns_case` (`Purpose.OWN`).
    """
    if actor.has_role(*READ_ALL_CASES_ROLES):
        return True
    if not actor.has_role("official", "leader"):
        return False
    led = sa.select(Post.id).where(Post.leader_user_id == actor.id)
    involved = sa.exists().where(
        Task.case_id == case.id,
        sa.or_(
            Task.assignee_id == actor.id,
            Task.completed_by_id == actor.id,
            Task.acting_for_id == actor.id,
            Task.post_id.in_(led),
        ),
    )
    if session().scalar(sa.select(involved)):
        return True
    return actor.has_role("leader") and _heads_case(actor, case)


def _heads_case(actor: User, case: Case) -> bool:
    """Whether the actor heads the case's authority (or the government, for a joint case)."""
    db = session()
    headed, government = headed_departments(db, actor.id)
    if not headed:
        return False
    item = db.get(Item, case.item_id)
    return item is not None and _heads_item(headed, government, item)


def heads_item(actor: User, item: Item) -> bool:
    """Whether a leader heads the item's licensing authority (or the government, for a joint
    item): who answers for the item's procedure, e.g. approving moves of its cases."""
    if not actor.has_role("leader"):
        return False
    headed, government = headed_departments(session(), actor.id)
    return bool(headed) and _heads_item(headed, government, item)


def _heads_item(headed: set[int], government: bool, item: Item) -> bool:
    """Whether heading `headed` (a government among them or not) answers for the item."""
    if item.department_id in headed or (government and item.kind == "joint"):
        return True
    try:  # the catalogue may name another deciding authority
        return authority_for(session(), item).id in headed
    except Conflict:  # misconfigured: no reading by headship
        return False


def visible_cases(actor: User) -> sa.ColumnElement[bool]:
    """The rule of `require_case` for reading, as one SQL condition on `Case`, for lists
    and counts.

    The window, supervision, audit and admin: every case; an official or leader: the cases
    they are involved in, that were sent to them for information (抄送) or whose task was
    delegated to them (委派), and a head's the
    cases of the items they answer for (the items are the catalogue's few, read once);
    anyone else: none.
    """
    if actor.has_role(*READ_ALL_CASES_ROLES):
        return sa.true()
    if not actor.has_role("official", "leader"):
        return sa.false()
    led = sa.select(Post.id).where(Post.leader_user_id == actor.id)
    involved = sa.or_(sa.exists().where(
        Task.case_id == Case.id,
        sa.or_(
            Task.assignee_id == actor.id,
            Task.completed_by_id == actor.id,
            Task.acting_for_id == actor.id,
            Task.post_id.in_(led),
        ),
    ), sa.exists().where(CaseCopy.case_id == Case.id, CaseCopy.user_id == actor.id),
        sa.exists().where(TaskDelegation.case_id == Case.id,
                          TaskDelegation.delegate_id == actor.id))  # fmt: skip
    headed, government = (headed_departments(session(), actor.id)
                          if actor.has_role("leader") else (set(), False))  # fmt: skip
    if not headed:
        return involved
    items = [i.id for i in session().scalars(sa.select(Item)) if _heads_item(headed, government, i)]
    return sa.or_(involved, Case.item_id.in_(items)) if items else involved


def owns_case(actor: User, case: Case) -> bool:
    """Return whether the case is the actor's own application (their applicant face)."""
    return case.applicant_user_id is not None and case.applicant_user_id == actor.id


def applicant_only(actor: User) -> bool:
    """Whether the actor is an applicant and nothing else (no staff role)."""
    return actor.has_role("applicant") and not actor.has_role(*STAFF_ROLES)


def can_view_task(actor: User, task: Task, post: Post | None) -> bool:
    """Return whether the actor may read a task: its holder; supervision, audit and admin;
    the post's leader; any holder of the post while the task waits to be claimed."""
    if task.assignee_id == actor.id or actor.has_role(*READ_ANY_TASK_ROLES):
        return True
    if post is None:
        return False
    if post.leader_user_id == actor.id:
        return True
    unclaimed = task.assignee_id is None and task.state == TaskState.OPEN
    return unclaimed and actor.id in (post.a_user_id, post.b_user_id)


def require_case(actor: User, case_no: str, purpose: Purpose | str = Purpose.VIEW) -> CheckedCase:
    """Return the case numbered `case_no` checked for `purpose`, or refuse.

    The purpose's roles are checked first, before any lookup: someone who reads no case at
    all (an analyst) is told "not found", as for a missing number; a reader of cases without
    the purpose's role is refused (403). A case that does not exist or that the user may not
    read is 404 either way. Only `OWN` admits the case's applicant.
    """
    purpose = Purpose(purpose)
    roles = ROLES[purpose]
    if roles is not None and not actor.has_role(*roles):
        if not actor.has_role(*READ_ALL_CASES_ROLES, "official", "leader"):
            raise NotFound(_("no case '%(case_no)s'", case_no=case_no))
        require_role(actor, *roles)
    case = session().scalars(sa.select(Case).where(Case.case_no == case_no)).first()
    own = purpose is Purpose.OWN and case is not None and owns_case(actor, case)
    if case is None or not (own or can_view_case(actor, case) or (
            purpose is Purpose.VIEW and _copied(actor, case))):  # fmt: skip
        raise NotFound(_("no case '%(case_no)s'", case_no=case_no))
    return CheckedCase(case, actor, purpose)


def _copied(actor: User, case: Case) -> bool:
    """Whether the case was sent to the actor for information (抄送) or a task of it was
    delegated to them (委派): reading it, nothing more."""
    if not actor.has_role("official", "leader"):
        return False
    copied = sa.exists().where(CaseCopy.case_id == case.id, CaseCopy.user_id == actor.id)
    delegated = sa.exists().where(TaskDelegation.case_id == case.id,
                                  TaskDelegation.delegate_id == actor.id)  # fmt: skip
    return bool(session().scalar(sa.select(sa.or_(copied, delegated))))


# A task to work with its case's head, read as plain columns, built once (every completion
# reads it): loading an ORM Task costs more than the rest of the read. The post's name comes
# along for wording the task's reason in the answer.
TASK_KEYS = tuple(attr.key for attr in Task.__mapper__.column_attrs)
_WORK_ROW = (
    sa.select(*(getattr(Task, key) for key in TASK_KEYS), *HEAD_COLUMNS,
              Post.name.label("post_name"), Post.code.label("post_code"))
    .join(Case, Case.id == Task.case_id)
    .outerjoin(Post, Post.id == Task.post_id)
    .where(Task.id == sa.bindparam("task_id"))
)  # fmt: skip


class WorkTask:
    """A task row as a step works it: the columns of `Task`, outside any session (a step
    writes the row with one Core UPDATE, never through the ORM)."""

    __slots__ = TASK_KEYS

    def __init__(self, row) -> None:
        for key in TASK_KEYS:
            setattr(self, key, getattr(row, key))

    @classmethod
    def of(cls, row, width: int) -> WorkTask:
        """The task from the first `width` values of a row selecting its columns first."""
        task = cls.__new__(cls)
        for key, value in zip(TASK_KEYS, row[:width], strict=True):
            setattr(task, key, value)
        return task


def require_task(
    actor: User, task_id: uuid.UUID, purpose: Purpose | str = Purpose.VIEW
) -> CheckedTask:
    """Return the task `task_id` checked for `purpose`, or refuse.

    For `VIEW` the task comes with its case and post (one query); for `WORK` with its case's
    head, the columns a step needs (one query), and only its holder may work it. An applicant
    (no staff role) is told "not found" before anything is looked up, as for a missing task.
    """
    purpose = Purpose(purpose)
    if applicant_only(actor):
        raise NotFound(_("no task %(task_id)s", task_id=task_id))
    db = session()
    if purpose is Purpose.WORK:
        row = db.connection().execute(_WORK_ROW, {"task_id": task_id}).first()
        if row is None:
            raise NotFound(_("no task %(task_id)s", task_id=task_id))
        if row.assignee_id != actor.id:
            raise Forbidden(_("this task is not assigned to you"))
        if row.post_id is not None:
            remember_posts({row.post_id: post_label(row.post_name, row.post_code)})
        task = WorkTask(row)
        return CheckedTask(task, actor, purpose, head=Head.of(row, task.case_id))
    row = db.execute(
        sa.select(Task, Case, Post)
        .join(Case, Case.id == Task.case_id)
        .outerjoin(Post, Post.id == Task.post_id)
        .where(Task.id == task_id)
    ).first()
    if row is None:
        raise NotFound(_("no task %(task_id)s", task_id=task_id))
    task, post = row.Task, row.Post
    if purpose is Purpose.CLAIM:
        if post is None or actor.id not in holder_ids(post):
            raise Forbidden(_("only a holder of the task's post may claim it"))
    elif purpose is Purpose.TRANSFER:
        if post is not None and not (task.assignee_id == actor.id
                                     or post.leader_user_id == actor.id
                                     or actor.has_role("admin")):  # fmt: skip
            raise Forbidden(_("only the task's holder, the post's leader or an admin transfers it"))
    elif not can_view_task(actor, task, post):
        raise Forbidden(_("this task is not assigned to you"))
    return CheckedTask(task, actor, purpose, case=row.Case, post=post)


def holders(post: Post) -> list[tuple[str, int]]:
    """Return the post's holders as (role, user id): A, B, leader."""
    held = (("A", post.a_user_id), ("B", post.b_user_id), ("leader", post.leader_user_id))
    return [(role, uid) for role, uid in held if uid]


def holder_ids(post: Post | None) -> set[int]:
    return {uid for _role, uid in holders(post)} if post is not None else set()
