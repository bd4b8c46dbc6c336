"""Temporary: the old names of the inbox and reassignment code while the issue-17 move is
under way (removed before the issue closes). New code imports from `queries`, `assign`,
`store` and `taskwork`."""

from __future__ import annotations

from .access import holders
from .assign import escalate_to_leader, write_reassignments
from .queries import (
    COLOURS,
    InboxFilter,
    InboxRow,
    away_now,
    claimable,
    done_list,
    due_colour,
    inbox,
    open_card_level,
    people_named,
)
from .store import CaseLog
from .taskwork import claim_task, transfer_task


def case_people_ids(tasks, events) -> set[int]:
    ids = set()
    for t, _username in tasks:
        ids |= {t.assignee_id, t.completed_by_id, t.acting_for_id}
    for e in events:
        ids.add(e.actor_id)
        data = e.data or {}
        for key in ("to", "from", "assignee_id", "acting_for_id", "holder_id", "recipients"):
            value = data.get(key)
            ids |= set(value) if isinstance(value, list) else {value}
    return {i for i in ids if isinstance(i, int)}


__all__ = ["COLOURS", "CaseLog", "InboxFilter", "InboxRow", "away_now", "claim_task",
           "claimable", "done_list", "due_colour", "escalate_to_leader", "holders", "inbox",
           "open_card_level", "people_named", "transfer_task", "write_reassignments"]  # fmt: skip
