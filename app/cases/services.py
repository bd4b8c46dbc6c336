"""The cases domain as callers outside it use it: its operations and reads in one namespace.

Where each rule lives:
- `status`: statuses, task states and the guards (`may_refuse`, `may_complete`, ...);
- `access`: the one gate, `require_case` / `require_task`, and who may read what;
- `intake`: the applicant, the application form and the materials, checked;
- `lifecycle`: receive, accept (start the workflow), supplement, refuse, withdraw, close;
- `taskwork`: the task page, complete, claim, transfer;
- `recovery`: retry a faulted case; fire or fail a timer;
- `steps`: one engine step, run and written; `planner`: what a step writes (pure);
- `store`: the one writer of case rows, tasks, timers and events;
- `queries`: the case page, search, inbox, done list, claim queue;
- `deadlines`: time limits, pauses and extensions; `faults`: the fault state.
"""

from __future__ import annotations

from .access import (
    CheckedCase,
    CheckedTask,
    Purpose,
    can_view_case,
    can_view_task,
    require_case,
    require_task,
)
from .delivery import DELIVERY_METHODS, Delivery
from .intake import Applicant, check_form
from .lifecycle import close_case, receive_case, refuse_case, submit_supplement, withdraw_case
from .planner import Outcome
from .queries import (
    PAGE_MAX,
    PAGE_SIZE,
    CaseDetail,
    CaseFilter,
    CasePage,
    InboxFilter,
    InboxRow,
    case_decisions,
    case_detail,
    case_events,
    case_list,
    case_list_choices,
    claimable,
    done_list,
    inbox,
    list_open_tasks,
    open_task_page,
    people_named,
)
from .recovery import fail_timer, fire_timer, retry_case
from .taskwork import (
    OpenedTask,
    TaskPage,
    claim_task,
    complete_task,
    open_task,
    task_page,
    transfer_task,
)

__all__ = [
    "Applicant",
    "CaseDetail",
    "CaseFilter",
    "CasePage",
    "CheckedCase",
    "CheckedTask",
    "DELIVERY_METHODS",
    "Delivery",
    "InboxFilter",
    "InboxRow",
    "OpenedTask",
    "Outcome",
    "Purpose",
    "TaskPage",
    "can_view_case",
    "can_view_task",
    "case_decisions",
    "case_detail",
    "case_events",
    "case_list",
    "case_list_choices",
    "check_form",
    "claim_task",
    "claimable",
    "close_case",
    "complete_task",
    "done_list",
    "fail_timer",
    "fire_timer",
    "inbox",
    "list_open_tasks",
    "open_task_page",
    "PAGE_MAX",
    "PAGE_SIZE",
    "open_task",
    "people_named",
    "receive_case",
    "refuse_case",
    "require_case",
    "require_task",
    "retry_case",
    "submit_supplement",
    "task_page",
    "transfer_task",
    "withdraw_case",
]
