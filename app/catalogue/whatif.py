"""What-if on history: a diagram (a draft, or any version) run against the recorded history
of an item's decided cases, stage by stage (workflows/whatif.py). Nothing is written.

For each case: whether it would have gone the same way, where it would have diverged, the
stages skipped (with the office days they took) and added (estimated by their time limits),
the end it would have reached, and what that does to its time: its working days taken
(acceptance to decision) less the days saved plus the days added, against its promised and
statutory limits as they stood for it (the working days from acceptance to its due dates,
extensions and pauses included). Over all cases: the totals, the promises and limits met
before and after, and the work moved between posts (recorded completions per post against
the completions the diagram would have had). Cases are read a batch at a time, their
completed tasks with them; `progress` hears after each batch.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from workflows.engine import Engine
from workflows.replay import expected_decision
from workflows.whatif import Recorded, simulate

from ..audit.models import Event
from ..calendar.services import calendar
from ..cases.intake import signer_lists
from ..cases.models import Case, Task
from ..cases.status import TaskState
from ..db import session
from ..org.models import Post
from .models import Item

BATCH = 200


@dataclass
class CaseLine:
    """One past case under the diagram."""

    case_no: str
    received_at: dt.datetime
    decision: str | None  # as recorded
    result: str | None  # the end the diagram would have reached
    same: bool
    diverges_at: str | None
    skipped: list[str]
    added: list[str]
    days_saved: float
    days_added: float
    days_taken: int  # working days, acceptance to decision, as it happened
    promised_limit: int | None  # working days, acceptance to the promised due date
    statutory_limit: int | None
    error: str | None = None
    changed: list[str] = field(default_factory=list)  # run with an outcome no longer allowed

    @property
    def days_after(self) -> float:
        return self.days_taken - self.days_saved + self.days_added

    def met(self, limit: int | None, after: bool) -> bool | None:
        if limit is None:
            return None
        return (self.days_after if after else self.days_taken) <= limit


@dataclass
class WhatIfReport:
    """The cases and what they add up to."""

    cases: list[CaseLine] = field(default_factory=list)
    posts_before: Counter = field(default_factory=Counter)  # completions per post code
    posts_after: Counter = field(default_factory=Counter)
    stages_before: Counter = field(default_factory=Counter)  # completions per user task
    stages_after: Counter = field(default_factory=Counter)
    flows_before: Counter = field(default_factory=Counter)  # cases per flow chosen at a gateway
    flows_after: Counter = field(default_factory=Counter)

    @property
    def unchanged(self) -> int:
        return sum(1 for c in self.cases if c.same)

    @property
    def days_saved(self) -> float:
        return sum(c.days_saved for c in self.cases)

    @property
    def days_added(self) -> float:
        return sum(c.days_added for c in self.cases)

    def met(self, kind: str, after: bool) -> int:
        """How many cases met their promised (`promised`) or statutory limit."""
        return sum(1 for c in self.cases if c.met(getattr(c, f"{kind}_limit"), after))

    def load_moved(self) -> dict[str, int]:
        """Per post: completions the diagram would have had less those recorded."""
        posts = set(self.posts_before) | set(self.posts_after)
        moved = {p: self.posts_after[p] - self.posts_before[p] for p in posts}
        return {p: n for p, n in sorted(moved.items()) if n}


def _cases_query(item: Item, since: dt.datetime | None, until: dt.datetime | None,
                 decision: str | None):  # fmt: skip
    query = sa.select(
        Case.id, Case.case_no, Case.form, Case.received_at, Case.accepted_at, Case.decided_at,
        Case.decision, Case.due_at, Case.statutory_due_at,
    ).where(Case.item_id == item.id, Case.decision.is_not(None), Case.decided_at.is_not(None),
            Case.accepted_at.is_not(None))  # fmt: skip
    if since is not None:
        query = query.where(Case.received_at >= since)
    if until is not None:
        query = query.where(Case.received_at < until)
    if decision:
        query = query.where(Case.decision == decision)
    return query.order_by(Case.received_at, Case.id)


def _recorded(case_ids: list[int], cal) -> dict[int, list[Recorded]]:
    """Each case's completed user tasks in the order they were completed."""
    day = cal.office_day
    rows = session().execute(
        sa.select(Task.case_id, Task.spec_id, Task.outcome, Task.data, Task.comment,
                  Task.created_at, Task.completed_at, Post.code)
        .outerjoin(Post, Post.id == Task.post_id)
        .where(Task.case_id.in_(case_ids), Task.state == TaskState.COMPLETED,
               Task.kind.is_(None))  # opinions asked, signers added: no stage of the diagram
        .order_by(Task.case_id, Task.completed_at, Task.created_at, Task.id)
    )  # fmt: skip
    out: dict[int, list[Recorded]] = {cid: [] for cid in case_ids}
    for case_id, spec, outcome, data, comment, created, completed, post in rows:
        spent = cal.office_time_between(created, completed) / day if completed else 0.0
        out[case_id].append(Recorded(spec, outcome or "", dict(data or {}), comment or "",
                                     round(spent, 3), post, created, completed))  # fmt: skip
    return out


def _flows(case_ids: list[int]) -> dict[int, list[str]]:
    """The flows each case took at its gateways, as its events record them."""
    out: dict[int, list[str]] = {cid: [] for cid in case_ids}
    rows = session().execute(sa.select(Event.case_id, Event.data).where(
        Event.case_id.in_(case_ids), Event.type == "gateway_taken"))  # fmt: skip
    for case_id, data in rows:
        out[case_id].extend((data or {}).get("flows") or ())
    return out


def _busy(cal, stages: list[Recorded]) -> float:
    """The office days in which at least one of `stages` was open (overlaps counted once)."""
    spans = sorted((r.arrived, r.done) for r in stages)
    total, start, end = dt.timedelta(0), None, None
    for arrived, done in spans:
        if end is None or arrived > end:
            if end is not None:
                total += cal.office_time_between(start, end)
            start, end = arrived, done
        else:
            end = max(end, done)
    if end is not None:
        total += cal.office_time_between(start, end)
    return total / cal.office_day


def days_saved(cal, history: list[Recorded], skipped: list[Recorded]) -> float:
    """The office days a case saves without its skipped stages: the time some stage of it was
    open, less that time without them. Stages in turn save their whole time; a parallel one
    saves only what it did not share with the branches beside it."""
    if not skipped or any(r.arrived is None or r.done is None for r in history):
        return sum(r.office_days for r in skipped)
    gone = {id(r) for r in skipped}
    return _busy(cal, history) - _busy(cal, [r for r in history if id(r) not in gone])


def _limit(cal, start: dt.datetime, due: dt.datetime | None) -> int | None:
    return cal.working_days_between(start, due) if due is not None else None


# long: the batches read, each case simulated and laid out, the counters kept as it goes
def what_if(item: Item, content: bytes, filename: str, *, since: dt.datetime | None = None,
            until: dt.datetime | None = None, decision: str | None = None,
            progress: Callable[[int, int], None] | None = None,
            engine: Engine | None = None) -> WhatIfReport:  # fmt: skip
    """Run the diagram `content` over the item's decided cases received in [since, until)
    (naive UTC), with the recorded decision `decision` if given; see the module."""
    engine = engine or Engine.standard()
    diagram = engine.compile(content, filename)
    posts = {n.id: n.candidate_groups for n in diagram.user_tasks()}
    signers = signer_lists(item)  # 会签: the start data a case gets beside its form
    cal = calendar()
    db = session()
    query = _cases_query(item, since, until, decision)
    total = db.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
    report = WhatIfReport()
    done, after = 0, None
    while True:  # a batch at a time, after the last one read (cases decided meanwhile: none lost)
        page = query if after is None else query.where(
            sa.tuple_(Case.received_at, Case.id) > sa.tuple_(*after))  # fmt: skip
        batch = db.execute(page.limit(BATCH)).all()
        if not batch:
            break
        after = (batch[-1].received_at, batch[-1].id)
        recorded = _recorded([c.id for c in batch], cal)
        taken = _flows([c.id for c in batch])
        for case in batch:
            history = recorded[case.id]
            sim = simulate(engine, diagram, {**(case.form or {}), **signers}, history)
            result = expected_decision(sim.result) if sim.result is not None else None
            report.cases.append(CaseLine(
                case.case_no, case.received_at, case.decision, result,
                sim.same and result == case.decision,
                sim.diverges_at or (None if result == case.decision else "end"),
                [r.spec_id for r in sim.skipped], [t.spec_id for t in sim.added],
                round(days_saved(cal, history, sim.skipped), 3), round(sim.days_added, 3),
                cal.working_days_between(case.accepted_at, case.decided_at),
                _limit(cal, case.accepted_at, case.due_at),
                _limit(cal, case.accepted_at, case.statutory_due_at), sim.error,
                list(sim.changed),
            ))  # fmt: skip
            report.stages_before.update(r.spec_id for r in history)
            report.posts_before.update(r.post for r in history if r.post)
            report.stages_after.update(sim.path)
            report.flows_before.update(taken[case.id])
            report.flows_after.update(sim.flows)
            skipped = Counter(id(r) for r in sim.skipped)
            report.posts_after.update(r.post for r in history if r.post and not skipped[id(r)])
            report.posts_after.update(posts.get(t.spec_id) or t.post or "" for t in sim.added)
        done += len(batch)
        if progress is not None:
            progress(done, max(done, total or 0))
    report.posts_after.pop("", None)
    return report
