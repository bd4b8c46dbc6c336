"""Cases, one row per user-task instance, and the serialized workflow state."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, deferred, mapped_column

from ..db import Base, partial_index, utcnow
from ..privacy import Encrypted
from .status import (  # noqa: F401  (re-exported for the models' users)
    CASE_STATUSES,
    OPEN_CASE_STATUSES,
    OPEN_CASES_SQL,
    TASK_STATES,
    CaseStatus,
    TaskState,
)

OPEN_TASKS = "state = 'open'"


class Case(Base):
    """One application and its handling, pinned to the diagram version it started on."""

    __tablename__ = "cases"
    __table_args__ = (
        sa.Index("ix_cases_item_status", "item_id", "status"),
        sa.Index("ix_cases_received_at", "received_at"),
        sa.Index("ix_cases_decided_at", "decided_at"),
        sa.Index("ix_cases_accepted_at", "accepted_at"),
        # the e-supervision scan over open cases by promised due time
        partial_index("ix_cases_open_due", "due_at", where=OPEN_CASES_SQL),
        # the warning round: open cases by yellow time; the supervision page: reported ones
        partial_index("ix_cases_open_yellow", "yellow_at", where=OPEN_CASES_SQL),
        partial_index(
            "ix_cases_open_reported",
            "reported_at",
            where=f"{OPEN_CASES_SQL} AND reported_at IS NOT NULL",
        ),  # fmt: skip
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    query_code: Mapped[str] = mapped_column(sa.String(16))
    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"))
    diagram_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("diagram_versions.id"))
    status: Mapped[str] = mapped_column(sa.String(24))
    decision: Mapped[str | None] = mapped_column(sa.String(16))
    decision_reason: Mapped[str | None] = mapped_column(sa.Text)
    legal_basis: Mapped[str | None] = mapped_column(sa.Text)
    applicant_name: Mapped[str] = mapped_column(sa.String(200))
    applicant_id_number: Mapped[str] = mapped_column(Encrypted)
    applicant_phone: Mapped[str | None] = mapped_column(Encrypted)
    applicant_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    materials: Mapped[list] = mapped_column(sa.JSON, default=list)
    missing_materials: Mapped[list] = mapped_column(sa.JSON, default=list)
    form: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    received_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    accepted_at: Mapped[dt.datetime | None]
    decided_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    due_at: Mapped[dt.datetime | None]  # promised completion (承诺时限)
    statutory_due_at: Mapped[dt.datetime | None]  # statutory limit (法定时限)
    promised_days: Mapped[int | None]  # working days promised for this case (item rules)
    due_provisional: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    yellow_at: Mapped[dt.datetime | None]  # when the case's yellow card is due
    paused_at: Mapped[dt.datetime | None]  # paused (挂起) since; the clock stops
    paused_days: Mapped[int] = mapped_column(default=0, server_default="0")  # working days
    extended_days: Mapped[int] = mapped_column(default=0, server_default="0")  # 延期
    # a 上报件 reported to the upper authority (art. 43): the centre's clock stops then
    reported_at: Mapped[dt.datetime | None]
    state: Mapped[str | None] = deferred(mapped_column(sa.Text))
    serializer_version: Mapped[str | None] = mapped_column(sa.String(32))
    # the seq of the last event `state` covers (a snapshot: app/cases/rebuild.py); NULL: none
    state_seq: Mapped[int | None]
    # bumped by one on every write of the row, version-checked: only by app.cases.store
    version: Mapped[int] = mapped_column(default=0)
    event_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(sa.String(64), default="")
    # four-eyes: who decided the last decision stage, and which stage (BPMN task id) it was
    last_decider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    last_decision_spec: Mapped[str | None] = mapped_column(sa.String(200))


def open_task_index(name: str, column: str) -> sa.Index:
    """A partial index of open tasks by a time, holding their ids (PostgreSQL)."""
    return sa.Index(name, column, postgresql_where=sa.text(OPEN_TASKS),
                    sqlite_where=sa.text(OPEN_TASKS), postgresql_include=["id"])  # fmt: skip


class Task(Base):
    """One user-task instance: who holds it, when it arrived and how it ended."""

    __tablename__ = "tasks"
    __table_args__ = (
        # the inbox: an official's open tasks, oldest first
        partial_index("ix_tasks_open_by_assignee", "assignee_id", "created_at", where=OPEN_TASKS),
        # the e-supervision scan: open tasks by due time
        # and the warning round, which reads the ids of open tasks past a threshold from the
        # index alone (PostgreSQL: INCLUDE)
        open_task_index("ix_tasks_open_due", "due_at"),
        open_task_index("ix_tasks_open_yellow", "yellow_at"),
        # the A/B moves: open tasks a B or a leader holds for A, by arrival (the order they
        # lie in the table: PostgreSQL then prefers this index to reading every open task)
        partial_index(
            "ix_tasks_open_acting",
            "created_at",
            where=f"{OPEN_TASKS} AND acting_for_id IS NOT NULL",
        ),  # fmt: skip
        sa.Index("ix_tasks_case", "case_id"),
        # the supervision page's on-time rates: tasks completed with a limit on the days the
        # statistics cache has not settled (app.supervision.reports)
        sa.Index(
            "ix_tasks_completed_limit",
            "completed_at",
            postgresql_where=sa.text("state = 'completed' AND due_at IS NOT NULL"),
            sqlite_where=sa.text("state = 'completed' AND due_at IS NOT NULL"),
            postgresql_include=["post_id", "due_at"],
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    spec_id: Mapped[str] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(200))
    stage: Mapped[str | None] = mapped_column(sa.String(40))
    lane: Mapped[str | None] = mapped_column(sa.String(200))
    post_id: Mapped[int | None] = mapped_column(sa.ForeignKey("posts.id"))
    assignee_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    assignment_reason: Mapped[str | None] = mapped_column(sa.String(300))
    acting_for_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # B acts for A
    started_at: Mapped[dt.datetime | None]  # first opened by its holder
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    is_decision: Mapped[bool] = mapped_column(default=False)
    outcomes: Mapped[str] = mapped_column(sa.String(64), default="approve")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    due_at: Mapped[dt.datetime | None]  # stage time limit (环节时限)
    time_limit: Mapped[str | None] = mapped_column(sa.String(16))  # e.g. 3d, 4h
    yellow_at: Mapped[dt.datetime | None]
    due_provisional: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    shift_days: Mapped[int] = mapped_column(default=0, server_default="0")  # pauses while open
    completed_at: Mapped[dt.datetime | None]
    completed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    comment: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict | None] = mapped_column(sa.JSON)
    # 委派: the colleague the holder handed the work to, until they hand it back
    delegated_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # 加签: an added signer's task is no stage of the diagram ("added"), made for the task
    # `added_for`, which waits for it (`waits_for`) before its holder may decide
    kind: Mapped[str | None] = mapped_column(sa.String(16))
    added_for: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)
    waits_for: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)


class Timer(Base):
    """A BPMN timer event a case waits for; the scheduler fires it at its due time."""

    __tablename__ = "timers"
    __table_args__ = (
        partial_index("ix_timers_waiting_due", "due_at", where="state = 'waiting'"),
        sa.Index("ix_timers_case", "case_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True)  # the engine's task id
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    node_id: Mapped[str] = mapped_column(sa.String(200))
    due_at: Mapped[dt.datetime]
    # waiting | fired | done | held (its case is in the fault state) | failed (cannot be fired)
    state: Mapped[str] = mapped_column(sa.String(16), default="waiting")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    fired_at: Mapped[dt.datetime | None]
    failure: Mapped[str | None] = mapped_column(sa.Text)  # why it could not be fired


PAUSE_KINDS = (
    "hearing", "tendering", "auction", "inspection", "testing", "quarantine", "appraisal",
    "expert_review", "supplement",
)  # fmt: skip


class CasePause(Base):
    """A period the time limit stops (Licensing Law art. 45, or supplements after acceptance)."""

    __tablename__ = "case_pauses"
    __table_args__ = (sa.Index("ix_case_pauses_case", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    reason: Mapped[str] = mapped_column(sa.Text)
    expected_days: Mapped[int]  # told to the applicant
    started_at: Mapped[dt.datetime]
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    ended_at: Mapped[dt.datetime | None]
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    working_days: Mapped[int | None]  # how long it lasted, in working days


class NumberSeries(Base):
    """The yearly series of a licensing authority's numbers: its decisions' (机关代字〔年〕
    序号, series `decision`) and its licences' (series `licence`): the last number given in
    `year` (the centre's local year of the decision). app.cases.numbering gives them."""

    __tablename__ = "number_series"

    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    series: Mapped[str] = mapped_column(sa.String(16), primary_key=True, default="decision",
                                        server_default="decision")  # fmt: skip
    last: Mapped[int]


class CaseDecision(Base):
    """One licensing authority's decision of a case, with its number: one row for an item
    decided by one authority, one per department that decided for a joint item (并联审批,
    Licensing Law art. 26(2)); the centre delivers them together."""

    __tablename__ = "case_decisions"
    __table_args__ = (
        sa.UniqueConstraint("department_id", "number"),  # a number is given once
        sa.Index("ix_case_decisions_case_id", "case_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"))  # the authority
    outcome: Mapped[str] = mapped_column(sa.String(16))  # approved | denied
    number: Mapped[str] = mapped_column(sa.String(80))
    year: Mapped[int]
    seq: Mapped[int | None]  # its place in the authority's series; None: entered by hand
    task_id: Mapped[uuid.UUID | None] = mapped_column(sa.Uuid)  # the task that decided it
    reason: Mapped[str | None] = mapped_column(sa.Text)  # a denial's reasons
    legal_basis: Mapped[str | None] = mapped_column(sa.Text)
    certificate_no: Mapped[str | None] = mapped_column(sa.String(80))  # the licence's number
    decided_at: Mapped[dt.datetime]


class CaseCopy(Base):
    """One copy of a case sent to one person for information."""

    __tablename__ = "case_copies"
    __table_args__ = (
        sa.Index("ix_case_copies_case", "case_id"),
        # "copies to me", unread first
        sa.Index("ix_case_copies_user", "user_id", "sent_at"),
        partial_index("ix_case_copies_unread", "user_id", where="read_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    sent_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: diagram
    spec_id: Mapped[str | None] = mapped_column(sa.String(200))  # the stage it was sent at
    reason: Mapped[str] = mapped_column(sa.Text)
    sent_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    read_at: Mapped[dt.datetime | None]



class TaskDelegation(Base):
    """委派: a task's holder hands the work to a colleague, who fills it in and hands it back;
    the holder still decides and signs."""

    __tablename__ = "task_delegations"
    __table_args__ = (
        sa.Index("ix_task_delegations_task", "task_id"),
        sa.Index("ix_task_delegations_case", "case_id"),
        partial_index("ix_task_delegations_open", "delegate_id", where="ended_at IS NULL"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(sa.Uuid)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id"))
    holder_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    delegate_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    reason: Mapped[str] = mapped_column(sa.Text)
    delegated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None]  # handed back, or taken back by the holder
    handed_back: Mapped[bool] = mapped_column(default=False)
    data: Mapped[dict | None] = mapped_column(sa.JSON)  # the form as the delegate filled it
    comment: Mapped[str | None] = mapped_column(sa.Text)
