"""The approval verbs in figures (issue 23): how often officials used each of them in a
period, per department (the department of the case's item, as the catalogue has it now),
counted from the events on the cases' chains.

    copies            抄送: cases sent for information (`case_copied`), each reader counted
    delegated         委派: tasks delegated (`task_delegated`)
    handed back       the delegated work handed back (`task_handed_back`)
    taken back        delegated work taken back by the holder (`task_taken_back`)
    signers before    加签 before the holder's decision (`signer_added` without `after`)
    signers after     加签 after it (`signer_added` with the decision that waits, `after`)
    signers removed   减签 (`signer_removed`)
    signed            added signers' opinions given (`signer_signed`)
    countersigned     会签/或签/依次: parts of multi-instance stages completed (`task_completed`
                      of a task assigned as one of the stage's signers)
    recalled          撤回 (`task_recalled`)
    opinions asked    征求意见 (`opinion_requested`) and answered (`opinion_given`)

An event counts on the local day it was written; the figures of a period are the sums of its
days. The filters of the statistics page (item, kind, department, region) apply as to the
register.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from ..audit.models import Event
from ..cases.models import Case, Task
from ..catalogue.models import Item
from ..db import session
from ..org.models import Department
from .grouping import Filters
from .periods import Period
from .queries import item_scope

# (key, label) in the order the table shows them
VERBS = (
    ("copies", _l("Copies sent")),
    ("delegated", _l("Delegations")),
    ("handed_back", _l("Handed back")),
    ("taken_back", _l("Taken back")),
    ("signers_before", _l("Signers added before")),
    ("signers_after", _l("Signers added after")),
    ("signers_removed", _l("Signers removed")),
    ("signed", _l("Added signers' opinions")),
    ("countersigned", _l("Countersign parts signed")),
    ("recalled", _l("Recalled")),
    ("opinions_asked", _l("Opinions asked")),
    ("opinions_given", _l("Opinions given")),
)
_BY_EVENT = {
    "task_delegated": "delegated",
    "task_handed_back": "handed_back",
    "task_taken_back": "taken_back",
    "signer_removed": "signers_removed",
    "signer_signed": "signed",
    "task_recalled": "recalled",
    "opinion_requested": "opinions_asked",
    "opinion_given": "opinions_given",
}
_READ_DATA = ("case_copied", "signer_added")  # counted by what their data says
_SIGNER_PART = ('{"reason":"signer"%', '{"reason":"signer_b"%')  # a 会签 part's assignment


@dataclass
class VerbRow:
    """One department's counts (or the total's: `department` None)."""

    department: str | None
    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _key(event_type: str, data: dict | None) -> tuple[str, int]:
    """The verb an event counts under, and how many it counts."""
    data = data or {}
    if event_type == "case_copied":
        readers = data.get("recipients") or []
        return "copies", len(readers) if isinstance(readers, list) else 1
    if event_type == "signer_added":
        return ("signers_after" if data.get("after") else "signers_before"), 1
    return _BY_EVENT[event_type], 1


def verb_counts(period: Period, filters: Filters) -> list[VerbRow]:
    """The counts per department with a count, by department name, then the total."""
    db = session()
    start, end = period.bounds()
    wanted = item_scope(filters)
    events = db.execute(
        sa.select(Event.type, Event.data, Item.id, Department.name)
        .join(Case, Case.id == Event.case_id).join(Item, Item.id == Case.item_id)
        .join(Department, Department.id == Item.department_id)
        .where(Event.type.in_((*_BY_EVENT, *_READ_DATA)), Event.at >= start, Event.at < end)
    ).all()  # fmt: skip
    parts = db.execute(
        sa.select(Item.id, Department.name, sa.func.count())
        .select_from(Task).join(Case, Case.id == Task.case_id)
        .join(Item, Item.id == Case.item_id).join(Department, Department.id == Item.department_id)
        .where(Task.completed_at >= start, Task.completed_at < end, Task.state == "completed",
               sa.or_(*(Task.assignment_reason.like(p) for p in _SIGNER_PART)))
        .group_by(Item.id, Department.name)
    ).all()  # fmt: skip
    rows: dict[str, VerbRow] = {}
    for event_type, data, item_id, department in events:
        if wanted is None or item_id in wanted:
            verb, count = _key(event_type, data)
            rows.setdefault(department, VerbRow(department)).counts[verb] += count
    for item_id, department, count in parts:
        if wanted is None or item_id in wanted:
            rows.setdefault(department, VerbRow(department)).counts["countersigned"] += count
    out = [rows[name] for name in sorted(rows)]
    total = VerbRow(None)
    for row in out:
        total.counts.update(row.counts)
    return [*out, total] if out else []
