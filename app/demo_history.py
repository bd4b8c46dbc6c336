"""A past for the demo centre: a few months of its work, generated through the services.

`make run` loads it once (`flask load-demo-history`; OW_DEMO_HISTORY=0 starts empty) so that
supervision, warning cards, statistics and the heat map show something on first look. The
cases are received, worked, paused, extended, supplemented, refused, withdrawn, decided,
closed, rated and complained about by the demo's own people through the same service calls
the pages make, on a clock moved from working day to working day (the app's CLOCK and
SpiffWorkflow's timer clock), while the scheduler's rounds (timers, A/B moves, cards, the
statistics cache) run as they would. So every case's audit chain is sealed as usual and the
figures are what the centre's own rows say.

The same seed on the same day gives the same history (the weeks end today); only case
numbers, query codes and seals, drawn at random by the services, differ. It is written
only into a centre without cases: a second run adds nothing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

import sqlalchemy as sa
from flask import Flask
from SpiffWorkflow.bpmn.specs.event_definitions import timer as spiff_timer

from .applicants import evaluations
from .applicants.models import Evaluation
from .calendar.services import calendar
from .cases import deadlines, signers
from .cases import services as cases
from .cases.delivery import Delivery
from .cases.models import Case, Task
from .cases.timers import due_ids
from .catalogue.models import Item
from .clock import today
from .complaints import deadlines as complaint_deadlines
from .complaints import services as complaints
from .complaints.access import may_investigate
from .complaints.models import Complaint
from .db import session, utcnow
from .demo_applicants import applicant, application_form, required_materials
from .licences.registry import action_of
from .org import absences
from .org.models import Department, User
from .stats import rollup
from .supervision import services as supervision

SEED = 2026
WEEKS = 13  # about three months
MOMENTS = ("09:10", "10:20", "11:30", "13:40", "14:50", "16:10")  # centre local time
CLERK = "clerk_liu"
SUPERVISOR = "supervisor_wu"
SLOW_SHARE = 0.15  # cases whose tasks lie about: late, with yellow and red cards
# the chance that a task is done at a moment: as a rule, with a yellow card, near its due time,
# and in a slow case
PACE = {"normal": 0.05, "warned": 0.5, "due": 0.85, "slow": 0.03, "stalled": 0.0}
DUE_SOON = dt.timedelta(hours=8)  # a task due within this is "near its due time"
# 加签: the planning permit's lead asks the legal section to sign first, in this share of cases
LEGAL_ASKED_BY, LEGAL_POST, LEGAL_SHARE = "Task_lead", "planning_legal", 0.3


def has_cases() -> bool:
    """Whether the centre holds any case (then no history is written)."""
    return session().scalar(sa.select(Case.id).limit(1)) is not None


# --- the clock ---------------------------------------------------------------------------------


@dataclass
class HistoryClock:
    """The app's clock (naive UTC), moved on by the history."""

    now: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.now


class _EngineTime(dt.datetime):
    """SpiffWorkflow's clock for timers, on the history's clock while it runs."""

    clock: HistoryClock | None = None

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
        real = dt.datetime.now(dt.UTC)
        offset = cls.clock.now - real.replace(tzinfo=None) if cls.clock else dt.timedelta()
        return dt.datetime.now(tz) + offset


@contextlib.contextmanager
def moving_clock(app: Flask, start: dt.datetime) -> Iterator[HistoryClock]:
    """Run the app and the workflow engine on a clock the history moves; put both back."""
    clock = HistoryClock(start)
    saved_clock, saved_engine = app.config.get("CLOCK"), spiff_timer.datetime
    app.config["CLOCK"], _EngineTime.clock, spiff_timer.datetime = clock, clock, _EngineTime
    try:
        yield clock
    finally:
        spiff_timer.datetime, _EngineTime.clock = saved_engine, None
        if saved_clock is None:
            app.config.pop("CLOCK", None)
        else:
            app.config["CLOCK"] = saved_clock


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Keep a logger to warnings for a while: the history's extensions are no news."""
    saved = logger.level
    logger.setLevel(max(saved, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(saved)


# --- the history -------------------------------------------------------------------------------


@dataclass
class History:
    """The centre's weeks, moment by moment: the rounds, then what people do."""

    app: Flask
    clock: HistoryClock
    rnd: random.Random
    users: dict[str, User]
    by_id: dict[int, User]
    items: list[Item]
    pace: dict[int, str] = field(default_factory=dict)  # case id: its PACE
    returned: set[int] = field(default_factory=set)  # cases returned once already
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    counts: dict[str, int] = field(default_factory=dict)

    def done(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # --- the scheduler's rounds, as it would run them ------------------------------------

    def rounds(self, first_of_day: bool) -> None:
        """Fire due timers, move tasks of people away, issue cards; roll the statistics
        cache and scan complaints and bad ratings once a day."""
        db = session()
        for timer_id in due_ids(db, self.clock.now):
            cases.fire_timer(timer_id)
        absences.reconcile()
        supervision.scan(self.clock.now)
        if first_of_day:
            rollup.catch_up(db)
            complaint_deadlines.scan()
            evaluations.scan_follow_ups()
        db.expire_all()

    # --- reads ------------------------------------------------------------------------

    def _cases(self, *where) -> list[Case]:
        return list(session().scalars(sa.select(Case).where(*where).order_by(Case.id)))

    def _running(self) -> list[Case]:
        return self._cases(Case.status.in_(("accepted", "in_progress")), Case.paused_at.is_(None))

    # --- the moments ------------------------------------------------------------------

    def moment(self) -> None:
        """What happens at one moment of an office day."""
        if self.rnd.random() < 0.6:
            self.receive()
        self.work()
        for chance, action in (
            (1, self.supplement), (0.03, self.pause), (0.25, self.resume),
            (0.03, self.extend), (0.012, self.withdraw), (1, self.close),
            (0.035, self.complain), (0.15, self.answer),
        ):  # fmt: skip
            if self.rnd.random() < chance:
                action()

    def receive(self, item: Item | None = None, pace: str | None = None) -> None:
        """An application at the window: now and then refused or short of a material; its
        case's pace drawn, unless given (then with every material)."""
        item = item or self.rnd.choice(self.items)
        materials = required_materials(item)
        who, form = applicant(self.rnd), application_form(item, self.rnd)
        roll = 1.0 if pace else self.rnd.random()
        self.done("received")
        if roll < 0.06:  # out of the centre's remit: refused at the window
            refusal = {
                "reason": "申请事项不属于本机关职权范围",
                "legal_basis": "《行政许可法》第三十二条",
            }
            cases.receive_case(self.users[CLERK], item.code, who, materials, form, refusal)
            self.done("refused")
            return
        if roll < 0.2:  # a material missing: the one-time supplement notice
            materials = materials[:-1]
        case = cases.receive_case(self.users[CLERK], item.code, who, materials, form).subject
        self.pace[case.id] = pace or ("slow" if self.rnd.random() < SLOW_SHARE else "normal")
        if item.kind == "immediate" and self.pace[case.id] == "normal":
            self.finish_now(case.id)

    def finish_now(self, case_id: int) -> None:
        """Work an immediate item's case (即办件) to its end while the applicant waits."""
        for _ in range(10):
            open_tasks = session().execute(
                sa.select(Task.id, Task.assignee_id)
                .where(Task.case_id == case_id, Task.state == "open", Task.assignee_id.is_not(None))
                .order_by(Task.created_at, Task.case_id, Task.spec_id)
            ).all()  # fmt: skip
            if not open_tasks:
                return
            for task_id, assignee_id in open_tasks:
                self.complete(self.by_id[assignee_id], task_id, case_id)

    def work(self) -> None:
        """Each open task of a running case is done at this moment or left for later: a
        task near its due time most likely now, one with a yellow card often, the others
        at their case's pace (a slow case's tasks lie about until their cards turn red)."""
        now = self.clock.now
        rows = session().execute(
            sa.select(Task.id, Task.case_id, Task.assignee_id, Task.due_at, Task.yellow_at)
            .join(Case).where(Task.state == "open", Case.paused_at.is_(None),
                              Case.status.in_(("accepted", "in_progress")))
            .order_by(Task.created_at, Task.case_id, Task.spec_id)
        ).all()  # fmt: skip
        for task_id, case_id, assignee_id, due_at, yellow_at in rows:
            chance = PACE[self.pace.get(case_id, "normal")]
            if self.pace.get(case_id, "normal") == "normal":
                chance = PACE["normal"]
                if yellow_at is not None and yellow_at <= now:
                    chance = PACE["warned"]
                if due_at is not None and due_at <= now + DUE_SOON:
                    chance = PACE["due"]
            if assignee_id is not None and self.rnd.random() < chance:
                self.complete(self.by_id[assignee_id], task_id, case_id)

    def complete(self, official: User, task_id, case_id: int) -> None:
        task = cases.open_task(official, task_id).task
        if task.state != "open" or task.waits_for is not None:
            return  # ended beside another (a 会签 part after a rejection), or waiting for 加签
        if task.spec_id == LEGAL_ASKED_BY and self.rnd.random() < LEGAL_SHARE:
            signers.add_signer(official, task_id, "", "请法制审核设计方案的合法性", LEGAL_POST)
            return
        outcomes = task.outcomes.split(",")
        roll = self.rnd.random()
        if "reject" in outcomes and roll < 0.05:
            cases.complete_task(official, task_id, "reject", "不符合法定条件", self.task_form,
                                "《中华人民共和国行政许可法》第三十八条第二款")  # fmt: skip
            self.done("rejected")
        elif "return" in outcomes and roll < 0.15 and case_id not in self.returned:
            self.returned.add(case_id)
            cases.complete_task(official, task_id, "return", "材料需补充说明", self.task_form)
        else:
            cases.complete_task(official, task_id, "approve", "符合要求，同意。", self.task_form)

    def task_form(self, fields: list[dict]) -> dict:
        """The task form as the official fills it in (a document number given once)."""
        values = {}
        for spec in fields:
            kind, fid = spec.get("type"), spec["id"]
            if kind == "enum":
                first = spec["options"][0]
                values[fid] = first["id"] if isinstance(first, dict) else first
            elif kind == "long":
                values[fid] = 10
            elif kind == "boolean":
                values[fid] = True
            elif kind == "date":
                values[fid] = today().isoformat()
            elif fid.endswith("_no"):
                values[fid] = f"示范〔{today():%Y}〕{next(self.numbers)}号"
            else:
                values[fid] = "同意"
        return values

    def supplement(self) -> None:
        """Applicants bring the missing materials; one waiting too long is refused."""
        for case in self._cases(Case.status == "supplement_required"):
            waited = calendar().working_days_between(case.received_at, self.clock.now)
            if waited > 8:
                cases.refuse_case(self.users[CLERK], case.case_no, "逾期未补正全部材料",
                                  "《行政许可法》第三十二条")  # fmt: skip
                self.done("refused")
            elif self.rnd.random() < 0.06:
                given = [m["code"] for m in case.missing_materials]
                cases.submit_supplement(self.users[CLERK], case.case_no, given)
                self.done("supplemented")

    def pause(self) -> None:
        running = self._running()
        if running:
            case = self.rnd.choice(running)
            deadlines.pause_case(self.users[CLERK], case.case_no, "expert_review",
                                 "组织专家评审", self.rnd.randint(2, 5))  # fmt: skip
            self.done("paused")

    def resume(self) -> None:
        paused = self._cases(Case.paused_at.is_not(None))
        if paused:
            case = paused[0]
            if calendar().working_days_between(case.paused_at, self.clock.now) >= 2:
                deadlines.resume_case(self.users[CLERK], case.case_no)

    def extend(self) -> None:
        """A head of the licensing authority extends a case before its limit runs out."""
        db = session()
        for case in self._running():
            if case.extended_days or case.statutory_due_at <= self.clock.now:
                continue
            approvers = deadlines.extension_rule(db.get(Item, case.item_id))
            if approvers is None or not approvers.heads:
                continue  # a registration: never extended
            head = db.get(User, approvers.heads[0].user_id)
            deadlines.extend_case(head, case.case_no, self.rnd.randint(3, 10), "需现场核查")
            self.done("extended")
            return

    def withdraw(self) -> None:
        running = self._running()
        if len(running) > 4:
            case = self.rnd.choice(running)
            cases.withdraw_case(self.users[CLERK], case.case_no, "申请人申请撤回")
            self.done("withdrawn")

    def close(self) -> None:
        """Results are handed over; most applicants rate the service on the kiosk."""
        for case in self._cases(Case.status == "decided"):
            if self.rnd.random() < 0.12:
                self.hand_over(case)

    def hand_over(self, case: Case) -> None:
        if self.rnd.random() < 0.3:
            tracking = f"SF{self.rnd.randint(0, 10**12):012d}"
            delivered = Delivery("mail", case.applicant_name, tracking)
        else:
            delivered = Delivery("in_person", case.applicant_name, note="申请人已当场领取")
        cases.close_case(self.users[CLERK], case.case_no, delivered)
        self.done("closed")
        rated = session().scalar(sa.select(Evaluation.id).where(Evaluation.case_id == case.id))
        if rated is None and self.rnd.random() < 0.7:
            level = self.rnd.choice((5, 5, 5, 5, 4, 4, 3, 2, 1))
            comment = "" if level > 2 else "等候时间太长，窗口解释不清"
            evaluations.rate(case, level, comment, "window", kiosk_case_id=case.id)
            self.done("rated")

    def absent(self, user: User, kind: str, span: tuple[dt.datetime, dt.datetime]) -> None:
        """A person registers their own absence; B holds A's tasks while it lasts."""
        absences.register_absence(user, user.id, kind, span[0], span[1], "年度休假安排")
        self.done("absences")

    def complain(self) -> None:
        db = session()
        dept = self.rnd.choice(("housing_reg", "planning", "ndrc", "centre_window"))
        dept_id = db.scalar(sa.select(Department.id).where(Department.code == dept))
        about = self.rnd.choice(self._cases(Case.accepted_at.is_not(None)) or [None])
        complaints.register(self.users[SUPERVISOR], complaints.NewComplaint(
            channel=self.rnd.choice(("phone", "letter")), complainant_name=applicant(self.rnd).name,
            complainant_phone="13912345678", subject="办理时间过长",
            content="材料交齐后迟迟没有结果，电话询问也无人答复。",
            case_no=about.case_no if about else None, department_id=dept_id,
        ))  # fmt: skip
        self.done("complaints")

    def answer(self) -> None:
        """The department looks into the oldest open complaint; the office replies."""
        db = session()
        waiting = Complaint.status.in_(("assigned", "investigating"))
        ticket = db.scalars(sa.select(Complaint).where(waiting).order_by(Complaint.id)).first()
        if ticket is None:
            return
        if ticket.status == "assigned":
            staff = next(
                u
                for u in self.users.values()
                if u.has_role("official", "leader") and may_investigate(u, ticket)
            )
            complaints.add_note(staff, ticket.number, "已核实情况，正在督促办理。")
        elif self.rnd.random() < 0.6:
            complaints.reply(
                self.users[SUPERVISOR], ticket.number, "已答复投诉人，案件已加快办理。"
            )


# --- what is planned: absences (B acts for A) and a case left lying --------------------------

# (who, kind, first working day of the absence counted back from today, working days away)
ABSENCES = (("official_shi", "leave", 15, 5), ("official_zhao", "trip", 2, 5))
STALLED = ("house-initial", 12)  # a case received this many working days ago and not worked


def plan(history: History, today: dt.date) -> dict[dt.date, list[Callable[[], None]]]:
    """What happens on given days besides the drawn moments: each absence registered by its
    person the working day before it starts, a case paused yesterday, and a case no one
    works (overdue by today)."""
    cal = calendar()
    planned: dict[dt.date, list[Callable[[], None]]] = defaultdict(list)
    for username, kind, back, length in ABSENCES:
        first = _working_days_before(cal, today, back)
        last, _provisional = cal.add_working_days(first, length - 1)
        span = (cal.utc(first, dt.time(8, 30)), cal.utc(last, dt.time(18, 0)))
        planned[_working_days_before(cal, first, 1)].append(
            partial(history.absent, history.users[username], kind, span)
        )
    planned[_working_days_before(cal, today, 1)].append(history.pause)  # paused as of now
    code, back = STALLED
    item = next(i for i in history.items if i.code == code)
    planned[_working_days_before(cal, today, back)].append(
        partial(history.receive, item, "stalled")
    )
    return planned


def _working_days_before(cal, day: dt.date, count: int) -> dt.date:
    for _ in range(count):
        day -= dt.timedelta(days=1)
        while not cal.is_working_day(day):
            day -= dt.timedelta(days=1)
    return day


# --- the run -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Loaded:
    """What the history holds, and how long it took."""

    counts: dict[str, int]
    first_day: dt.date | None
    seconds: float


def load_history(app: Flask, seed: int = SEED, weeks: int = WEEKS) -> Loaded:
    """Write `weeks` of the centre's work ending now, unless the centre already has cases."""
    started = time.monotonic()
    if has_cases():
        session().rollback()
        return Loaded({}, None, 0.0)
    end = utcnow()
    cal = calendar()
    today = cal.local(end).date()
    first = today - dt.timedelta(days=today.weekday() + 7 * weeks)  # a Monday
    db = session()
    users = {u.username: u for u in db.scalars(sa.select(User).order_by(User.username))}
    # the licence items (renewal, change, …) start from a licence, not from the history's mix
    items = [i for i in db.scalars(sa.select(Item).order_by(Item.code))
             if not action_of(i.entry or {})]  # fmt: skip
    if not items or CLERK not in users:
        raise LookupError("the demo centre is not loaded: run `flask load-demo` first")
    with (
        moving_clock(app, cal.utc(first, dt.time(9))) as clock,
        _quiet(logging.getLogger("onewindow")),
    ):
        by_id = {u.id: u for u in users.values()}
        history = History(app, clock, random.Random(seed), users, by_id, items)
        _run_days(history, first, today, end, plan(history, today))
        clock.now = end
        history.rounds(first_of_day=True)
    return Loaded(history.counts, first, time.monotonic() - started)


def _run_days(history: History, first: dt.date, today: dt.date, end: dt.datetime,
              planned: dict[dt.date, list[Callable[[], None]]]) -> None:  # fmt: skip
    """Each working day's moments until now; what is planned for a day at its first."""
    cal, day = calendar(), first
    while day <= today:
        if cal.is_working_day(day):
            for n, text in enumerate(MOMENTS):
                at = cal.utc(day, dt.time.fromisoformat(text))
                if at >= end:
                    return
                history.clock.now = at
                history.rounds(first_of_day=n == 0)
                for action in planned.get(day, []) if n == 0 else []:
                    action()
                history.moment()
        day += dt.timedelta(days=1)
