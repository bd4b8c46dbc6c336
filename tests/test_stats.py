"""The register of figures and its rollup cache, on three months of cases generated through
the real services on a moving clock, against counts made here from the raw rows."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
import sqlalchemy as sa

from app.applicants import evaluations
from app.applicants.documents import hand_over_notice
from app.applicants.models import Evaluation
from app.audit.models import Event
from app.cases import deadlines
from app.cases import services as cases
from app.cases.models import OPEN_CASE_STATUSES, Case, CasePause, Task
from app.catalogue.models import Item
from app.complaints import services as complaints
from app.complaints.access import may_investigate
from app.complaints.models import Complaint
from app.db import session
from app.errors import InvalidInput
from app.org.models import Department, User
from app.stats import rollup
from app.stats.figures import SUMMABLE
from app.stats.grouping import Filters
from app.stats.periods import Period
from app.stats.queries import register, series
from app.supervision import services as supervision
from app.supervision.models import WarningCard
from tests.apiclient import required_materials, sample_form
from tests.casegen import FORMS, generate

SHANGHAI = ZoneInfo("Asia/Shanghai")
START = dt.datetime(2026, 1, 5, 1, 0)  # Monday 09:00 in Shanghai
# who approves an extension (Licensing Law art. 42): a head of the item's licensing authority,
# the government's head for the joint item
APPROVERS = {"housing_reg": "deputy_qin", "planning": "head_lin", "ndrc": "mayor_he"}


def utc(year, month, day, hour=10, minute=0) -> dt.datetime:
    """Return a centre-local time as stored (naive UTC)."""
    local = dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def local_day(at: dt.datetime) -> dt.date:
    return at.replace(tzinfo=dt.UTC).astimezone(SHANGHAI).date()


class Clock:
    """The app's clock, moved by the test."""

    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


def _user(username: str) -> User:
    return session().scalars(sa.select(User).where(User.username == username)).one()


# --- the generated months ----------------------------------------------------------------------


@dataclass
class Scene:
    """Three months of a centre's work, driven through the services on a moving clock."""

    app: object
    clock: Clock
    rolled_on: dt.date | None = None
    partial_rolls: int = 0
    done: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def today(self) -> dt.date:
        return local_day(self.clock.now)

    # the scheduler, as it would run: after midnight roll the unsettled days
    def scheduler(self, rnd: random.Random) -> None:
        if self.rolled_on != self.today():
            rollup.catch_up(session())
            self.rolled_on = self.today()
        elif rnd.random() < 0.03:  # someone rolls today early; the job rolls it again later
            rollup.roll_day(session(), self.today())
            session().commit()
            self.partial_rolls += 1

    def step(self, rnd: random.Random) -> None:
        """Move the clock, let the scheduler and the supervision scan run, and now and then
        do what the window, officials, leaders, applicants and supervisors do."""
        if rnd.random() < 0.15:
            self.clock.now += dt.timedelta(hours=rnd.randint(16, 40), minutes=rnd.randint(0, 59))
        else:
            self.clock.now += dt.timedelta(minutes=rnd.randint(20, 240))
        self.scheduler(rnd)
        if rnd.random() < 0.4:
            supervision.scan(self.clock.now)
        roll = rnd.random()
        for chance, action in (
            (0.06, self.receive_elsewhere), (0.05, self.supplement), (0.015, self.refuse),
            (0.04, self.pause), (0.06, self.resume), (0.025, self.extend),
            (0.03, self.withdraw), (0.08, self.rate), (0.02, self.notice),
            (0.04, self.close), (0.04, self.complain), (0.07, self.answer),
        ):  # fmt: skip
            if roll < chance:
                if action(rnd):
                    self.done[action.__name__] += 1
                return
            roll -= chance

    # --- the case picked for an action ---------------------------------------------------

    def _cases(self, *where) -> list[Case]:
        db = session()
        current = db.scalar(
            sa.select(sa.func.max(Case.id)).join(User, User.id == Case.received_by_id)
            .where(User.username == "clerk_liu")
        )  # fmt: skip
        return list(db.scalars(sa.select(Case).where(Case.id != (current or 0), *where)
                               .order_by(Case.id)))  # fmt: skip

    def _open(self, paused: bool | None = False) -> list[Case]:
        where = [Case.status.in_(("accepted", "in_progress"))]
        if paused is not None:
            where.append(Case.paused_at.is_not(None) if paused else Case.paused_at.is_(None))
        return self._cases(*where)

    # --- actions ---------------------------------------------------------------------------

    def receive_elsewhere(self, rnd: random.Random) -> bool:
        clerk = _user(rnd.choice(["clerk_yang", "clerk_zhang"]))
        code = rnd.choice(sorted(FORMS))
        materials = required_materials(code)
        applicant = cases.Applicant(name="窗口申请人", id_number="330102198001010011",
                                    phone="13800000001")  # fmt: skip
        form = sample_form(code, **FORMS[code](rnd))
        kind = rnd.random()
        if kind < 0.2:
            cases.receive_case(clerk, code, applicant, materials, form,
                               refusal={"reason": "不属于本机关职权范围",
                                        "legal_basis": "《行政许可法》第三十二条"})  # fmt: skip
        elif kind < 0.7:
            cases.receive_case(clerk, code, applicant, materials[: len(materials) - 2], form)
        else:
            cases.receive_case(clerk, code, applicant, materials, form)
        return True

    def supplement(self, rnd: random.Random) -> bool:
        waiting = self._cases(Case.status == "supplement_required")
        if not waiting:
            return False
        case = rnd.choice(waiting)
        missing = [m["code"] for m in case.missing_materials]
        given = missing[:1] if len(missing) > 1 and rnd.random() < 0.5 else missing
        cases.submit_supplement(_user("clerk_yang"), case.case_no, given)
        return True

    def refuse(self, rnd: random.Random) -> bool:
        waiting = self._cases(Case.status == "supplement_required")
        if not waiting:
            return False
        cases.refuse_case(_user("clerk_zhang"), rnd.choice(waiting).case_no, "逾期未补正",
                          "《行政许可法》第三十二条")  # fmt: skip
        return True

    def pause(self, rnd: random.Random) -> bool:
        running = self._open(paused=False)
        if not running:
            return False
        deadlines.pause_case(_user("clerk_liu"), rnd.choice(running).case_no, "expert_review",
                             "组织专家评审", rnd.randint(2, 5))  # fmt: skip
        return True

    def resume(self, rnd: random.Random) -> bool:
        paused = self._open(paused=True)
        if not paused:
            return False
        deadlines.resume_case(_user("clerk_liu"), rnd.choice(paused).case_no)
        return True

    def extend(self, rnd: random.Random) -> bool:
        db = session()
        # before the limit runs out; a registration (不动产登记) is never extended
        registrations = set(db.scalars(sa.select(Item.id).join(Department).where(
            Department.code == "housing_reg")))  # fmt: skip
        running = [
            c
            for c in self._open(paused=False)
            if not c.extended_days
            and c.statutory_due_at > self.clock.now
            and c.item_id not in registrations
        ]
        if not running:
            return False
        case = rnd.choice(running)
        dept = db.scalar(sa.select(Department.code).join(Item, Item.department_id == Department.id)
                         .where(Item.id == case.item_id))  # fmt: skip
        deadlines.extend_case(_user(APPROVERS[dept]), case.case_no, rnd.randint(2, 5), "需现场核查")
        return True

    def withdraw(self, rnd: random.Random) -> bool:
        running = self._open(paused=False)
        if len(running) < 4:  # some stay open to the end
            return False
        cases.withdraw_case(_user("clerk_liu"), rnd.choice(running).case_no, "申请人撤回申请")
        return True

    def rate(self, rnd: random.Random) -> bool:
        rated = sa.select(Evaluation.case_id)
        done = self._cases(Case.status.in_(("decided", "closed")), Case.id.not_in(rated))
        if not done:
            return False
        level = rnd.choice([5, 5, 5, 4, 4, 3, 2, 1])
        case = rnd.choice(done)  # rated on the kiosk opened for it (issue 18)
        evaluations.rate(case, level, "" if level > 2 else "等待时间太长", "window",
                         kiosk_case_id=case.id)  # fmt: skip
        return True

    def notice(self, rnd: random.Random) -> bool:
        accepted = self._cases(Case.accepted_at.is_not(None))
        if not accepted:
            return False
        notice(self.app, rnd.choice(accepted[-6:]).case_no)
        return True

    def close(self, rnd: random.Random) -> bool:
        decided = self._cases(Case.status == "decided")
        if not decided:
            return False
        cases.close_case(_user("clerk_liu"), rnd.choice(decided).case_no,
                         cases.Delivery("in_person", "申请人本人"))  # fmt: skip
        return True

    def complain(self, rnd: random.Random) -> bool:
        db = session()
        dept = rnd.choice(["housing_reg", "planning", "ndrc", "centre_window", None])
        dept_id = db.scalar(sa.select(Department.id).where(Department.code == dept))
        complaints.register(_user("supervisor_wu"), complaints.NewComplaint(
            channel=rnd.choice(["phone", "letter"]), complainant_name="王小明",
            complainant_phone="13912345678", subject="办理时间过长", content="等了很久。",
            department_id=dept_id,
        ))  # fmt: skip
        return True

    def answer(self, rnd: random.Random) -> bool:
        db = session()
        open_ones = list(db.scalars(
            sa.select(Complaint).where(Complaint.status.in_(("assigned", "investigating")))
            .order_by(Complaint.id)))  # fmt: skip
        if not open_ones:
            return False
        ticket = open_ones[0]
        if ticket.status == "assigned":
            staff = next(u for u in db.scalars(sa.select(User).order_by(User.username))
                         if u.has_role("official", "leader")
                         and may_investigate(u, ticket))  # fmt: skip
            complaints.add_note(staff, ticket.number, "已核实情况")
        if ticket.status == "investigating" or rnd.random() < 0.5:
            complaints.reply(_user("supervisor_wu"), ticket.number, "已答复投诉人")
        return True


def notice(app, case_no: str) -> None:
    """Print a case's commitment notice at the window (the PDF draws URLs: a request)."""
    with app.test_request_context():
        hand_over_notice(_user("clerk_liu"), case_no, "commitment")


def work_to_the_end(scene: Scene, rnd: random.Random, case_no: str) -> None:
    """Approve every open task of a case until it is decided (on the moving clock; the
    scene's actions between the steps may pause, resume or withdraw the case meanwhile)."""
    db = session()
    users = {u.id: u for u in db.scalars(sa.select(User))}
    for _ in range(60):
        scene.step(rnd)
        db.expire_all()
        case = db.scalars(sa.select(Case).where(Case.case_no == case_no)).one()
        if case.status not in OPEN_CASE_STATUSES:
            return
        if case.paused_at is not None:
            deadlines.resume_case(_user("clerk_liu"), case_no)
            continue
        task = db.scalars(sa.select(Task).where(Task.case_id == case.id, Task.state == "open")
                          .order_by(Task.created_at, Task.name).limit(1)).first()  # fmt: skip
        if task is None or task.assignee_id is None:
            return
        fields = cases.open_task(users[task.assignee_id], task.id).fields
        data = {f["id"]: f["options"][0] if f.get("options") else "同意" for f in fields}
        # a document number is given once: each case's own
        data.update({k: f"测试〔2026〕{task.id.hex[:8]}号" for k in data if k.endswith("_no")})
        data.update({f["id"]: 10 for f in fields if f.get("type") == "long"})
        data.update({f["id"]: True for f in fields if f.get("type") == "boolean"})
        data.update({f["id"]: "2026-11-20" for f in fields if f.get("type") == "date"})
        cases.complete_task(users[task.assignee_id], task.id, "approve", "同意", data)


def build(app) -> Scene:
    """Generate the months: casegen's cases with the scene's actions between their steps."""
    clock = Clock(START)
    app.config["CLOCK"] = clock
    scene = Scene(app, clock)
    generate(app, 70, seed=11, finish=0.8, before_step=scene.step)
    rnd = random.Random(5)
    with app.app_context():
        # a second supplement request on a later day, and a reprinted commitment notice
        clerk = _user("clerk_yang")
        code = "house-initial"
        applicant = cases.Applicant(name="补正申请人", id_number="330102198001010022")
        case_no = cases.receive_case(clerk, code, applicant, required_materials(code)[:-3],
                                     sample_form(code, certificates=3)).subject.case_no  # fmt: skip
        for _ in range(3):
            scene.step(rnd)
        missing = [m["code"] for m in session().scalars(
            sa.select(Case).where(Case.case_no == case_no)).one().missing_materials]  # fmt: skip
        clock.now += dt.timedelta(days=1)
        cases.submit_supplement(clerk, case_no, missing[:1])
        clock.now += dt.timedelta(days=1)
        cases.submit_supplement(clerk, case_no, missing)
        notice(app, case_no)
        clock.now += dt.timedelta(days=2)
        notice(app, case_no)
        # the paused and extended cases are worked to their decision
        db = session()
        for case in db.scalars(sa.select(Case).where(
                Case.status.in_(OPEN_CASE_STATUSES), Case.accepted_at.is_not(None),
                sa.or_(Case.paused_days > 0, Case.paused_at.is_not(None),
                       Case.extended_days > 0)).order_by(Case.id)).all():  # fmt: skip
            work_to_the_end(scene, rnd, case.case_no)
        for _ in range(10):
            scene.step(rnd)
        # the night after the last day: the scheduler's round
        clock.now = utc(*(scene.today() + dt.timedelta(days=1)).timetuple()[:3], 0, 10)
        rollup.catch_up(session())
    return scene


# --- the hand count ----------------------------------------------------------------------------


@dataclass
class Raw:
    """Every row the figures come from, read once."""

    cases: list
    events: dict[int, list]  # per case, in order
    pauses: list
    cards: list
    ratings: list
    tasks: list
    tickets: list
    items: dict
    parents: dict


def read_raw(app) -> Raw:
    with app.app_context():
        db = session()
        events = defaultdict(list)
        for e in db.execute(sa.select(Event.case_id, Event.seq, Event.type, Event.at, Event.data)
                            .order_by(Event.case_id, Event.seq)):  # fmt: skip
            events[e.case_id].append(e)
        pauses = db.execute(sa.select(CasePause.case_id, CasePause.ended_at,
                                      CasePause.working_days)).all()  # fmt: skip
        cards = db.execute(sa.select(WarningCard.case_id, WarningCard.level,
                                     WarningCard.issued_at)).all()  # fmt: skip
        ratings = db.execute(sa.select(Evaluation.case_id, Evaluation.level, Evaluation.created_at)
                             .where(Evaluation.round == 1)).all()  # fmt: skip
        tasks = db.execute(sa.select(Task.case_id, Task.state, Task.created_at, Task.due_at,
                                     Task.completed_at, Task.completed_by_id)).all()  # fmt: skip
        tickets = db.execute(sa.select(Complaint.department_id, Complaint.received_at,
                                       Complaint.status, Complaint.replied_at,
                                       Complaint.due_at)).all()  # fmt: skip
        return Raw(
            cases=db.execute(sa.select(Case)).scalars().all(),
            events=events,
            pauses=pauses,
            cards=cards,
            ratings=ratings,
            tasks=tasks,
            tickets=tickets,
            items={i.id: i for i in db.execute(sa.select(Item.id, Item.kind, Item.department_id))},
            parents=dict(db.execute(sa.select(Department.id, Department.parent_id)).all()),
        )


def working_days(start: dt.datetime, end: dt.datetime) -> int:
    """Working days from the local day of start up to, not including, that of end."""
    day, last, count = local_day(start), local_day(end), 0
    while day < last:
        count += chinese_calendar.is_workday(day)
        day += dt.timedelta(days=1)
    return count


def office_days(start: dt.datetime, end: dt.datetime) -> float:
    """Office time (09:00-17:00 of working days) between two stored times, in days."""
    first = start.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
    last = end.replace(tzinfo=dt.UTC).astimezone(SHANGHAI)
    seconds, day = 0.0, first.date()
    while day <= last.date():
        if chinese_calendar.is_workday(day):
            lo = max(first, dt.datetime.combine(day, dt.time(9), SHANGHAI))
            hi = min(last, dt.datetime.combine(day, dt.time(17), SHANGHAI))
            seconds += max(0.0, (hi - lo).total_seconds())
        day += dt.timedelta(days=1)
    return seconds / (8 * 3600)


def per_cent(part: int, whole: int):
    from decimal import ROUND_HALF_UP, Decimal

    if not whole:
        return None
    return (Decimal(100 * part) / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def zero(complaints_apply: bool) -> dict:
    out = {name: 0 for name in SUMMABLE}
    out.update(still_open=0, days_taken_p90=None, completion_rate=None,
               on_time_rate_promised=None, on_time_rate_statutory=None, days_taken_avg=None,
               complaints=(0, 0, 0) if complaints_apply else None,
               tasks=(0, 0, 0, 0.0))  # fmt: skip
    return out


def hand_count(raw: Raw, period: Period, keys, ticket_keys=None, task_keys=None) -> dict:
    """Count every figure of a period straight from the rows, per key: `keys(case)` names
    the rows a case counts in, `ticket_keys(department_id)` those of a complaint (None: no
    complaint figures), `task_keys(case, completer)` those of a completed task."""
    end = utc(*(period.until + dt.timedelta(days=1)).timetuple()[:3], 0, 0)

    def inside(at: dt.datetime | None) -> bool:
        return at is not None and period.since <= local_day(at) <= period.until

    rows: dict = defaultdict(lambda: zero(ticket_keys is not None))
    days: dict = defaultdict(list)
    by_id = {c.id: c for c in raw.cases}

    def add(case, name: str, value=1) -> None:
        for key in keys(case):
            rows[key][name] += value

    for c in raw.cases:
        if inside(c.received_at):
            add(c, "received")
        if inside(c.accepted_at):
            add(c, "accepted")
        if inside(c.decided_at):
            add(c, c.decision)
            add(c, "on_time_promised", int(c.decided_at <= c.due_at))
            add(c, "on_time_statutory", int(c.decided_at <= c.statutory_due_at))
            taken = max(0, working_days(c.accepted_at, c.decided_at) - c.paused_days)
            add(c, "days_taken_sum", taken)
            for key in keys(c):
                days[key].append(taken)
        if (c.accepted_at is not None and c.accepted_at < end
                and not (c.decided_at and c.decided_at < end)
                and not (c.closed_at and c.closed_at < end)):  # fmt: skip
            add(c, "still_open")
        log = raw.events[c.id]
        firsts = [e for e in log if e.type == "supplement_required"][:1]
        firsts += [e for e in log if e.type == "notice_issued"
                   and e.data["kind"] == "commitment"][:1]  # fmt: skip
        for e in firsts:
            if inside(e.at):
                add(c, "supplements" if e.type == "supplement_required" else "commitment_notices")
        for e in log:
            if inside(e.at) and e.type in ("case_refused", "case_withdrawn", "case_extended"):
                add(c, {"case_refused": "refused", "case_withdrawn": "withdrawn",
                        "case_extended": "extensions"}[e.type])  # fmt: skip
    for case_id, ended_at, worked in raw.pauses:
        if inside(ended_at):
            add(by_id[case_id], "paused_days", worked)
    for case_id, level, issued_at in raw.cards:
        if inside(issued_at):
            add(by_id[case_id], level)
    for case_id, level, created_at in raw.ratings:
        if inside(created_at):
            add(by_id[case_id], f"eval_{level}")
    for key, taken in days.items():
        ordered = sorted(taken)
        rows[key]["days_taken_p90"] = ordered[math.ceil(0.9 * len(ordered)) - 1]
    for row in rows.values():
        completed = row["approved"] + row["denied"]
        row["completion_rate"] = per_cent(completed, row["accepted"])
        row["on_time_rate_promised"] = per_cent(row["on_time_promised"], completed)
        row["on_time_rate_statutory"] = per_cent(row["on_time_statutory"], completed)
        if completed:
            from decimal import ROUND_HALF_UP, Decimal

            row["days_taken_avg"] = (Decimal(row["days_taken_sum"]) / completed).quantize(
                Decimal("0.1"), ROUND_HALF_UP)  # fmt: skip
    if ticket_keys is not None:
        for department_id, received_at, status, replied_at, due_at in raw.tickets:
            if inside(received_at):
                done = status in ("replied", "archived")
                for key in ticket_keys(department_id):
                    r, d, t = rows[key]["complaints"]
                    rows[key]["complaints"] = (r + 1, d + done,
                                               t + (done and replied_at <= due_at))  # fmt: skip
    for case_id, state, created_at, due_at, completed_at, completer in raw.tasks:
        if state == "completed" and inside(completed_at):
            for key in (task_keys or (lambda c, _u: keys(c)))(by_id[case_id], completer):
                n, limit, on_time, spent = rows[key]["tasks"]
                rows[key]["tasks"] = (n + 1, limit + (due_at is not None),
                                      on_time + (due_at is not None and completed_at <= due_at),
                                      spent + office_days(created_at, completed_at))  # fmt: skip
    return dict(rows)


def shown(row) -> dict:
    """A row of the register in the hand count's terms."""
    out = {}
    f = row.figures
    if f is not None:
        out = {name: getattr(f, name) for name in SUMMABLE}
        out.update(still_open=f.still_open, days_taken_p90=f.days_taken_p90,
                   completion_rate=f.completion_rate,
                   on_time_rate_promised=f.on_time_rate_promised,
                   on_time_rate_statutory=f.on_time_rate_statutory,
                   days_taken_avg=f.days_taken_avg,
                   complaints=None if f.complaints is None
                   else (f.complaints.received, f.complaints.completed,
                         f.complaints.on_time))  # fmt: skip
    if row.tasks is not None:
        t = row.tasks
        out["tasks"] = (t.completed, t.with_limit, t.on_time, t.office_days_sum)
    return out


def assert_rows_match(rows, expected: dict, complaints_apply: bool, tasks_only: bool = False):
    """Every row equals the hand count (or zero), and every counted key has a row."""
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    missing = {k for k, v in expected.items() if v != zero(complaints_apply)} - set(keys)
    assert not missing, f"no row for {missing}"
    for row in rows:
        want = dict(expected.get(row.key) or zero(complaints_apply))
        got = shown(row)
        if tasks_only:
            want = {"tasks": want["tasks"]}
            assert row.figures is None
        got_tasks, want_tasks = got.pop("tasks"), want.pop("tasks")
        assert got == want, (row.key, {k: (got.get(k), want.get(k)) for k in want
                                       if got.get(k) != want.get(k)})  # fmt: skip
        assert got_tasks[:3] == want_tasks[:3], (row.key, got_tasks, want_tasks)
        assert got_tasks[3] == pytest.approx(want_tasks[3], abs=1e-6), row.key


def snapshot(db) -> list[tuple]:
    """The cache's rows, without when they were rolled."""
    columns = [c for c in rollup.StatDay.__table__.columns if c.name != "rolled_at"]
    return sorted(tuple(r) for r in db.execute(sa.select(*columns)))


def test_every_figure_equals_a_hand_count_and_the_cache_agrees(demo_app):
    scene = build(demo_app)
    raw = read_raw(demo_app)
    items, parents = raw.items, raw.parents

    def chain(department_id: int | None) -> list[int]:
        out = []
        while department_id is not None:
            out.append(department_id)
            department_id = parents[department_id]
        return out

    def dept(case) -> int:
        return items[case.item_id].department_id

    with demo_app.app_context():
        db = session()
        codes = dict(db.execute(sa.select(Department.code, Department.id)).all())
        planning = db.scalar(sa.select(Item.id).where(Item.code == "planning-permit"))
    housing = codes["housing"]
    in_housing = {d for d in parents if housing in chain(d)}
    whole = Period(local_day(START), scene.today())
    month, week = Period.parse("2026-02"), Period.parse("2026-W10")

    # nothing below is vacuous: over the months every kind of figure was counted
    total = hand_count(raw, whole, lambda c: ["total"], lambda d: ["total"])["total"]
    for name in (*SUMMABLE, "still_open"):
        if not name.startswith("eval_"):
            assert total[name] > 0, name
    assert sum(total[f"eval_{n}"] for n in (1, 2, 3, 4, 5)) > 10
    assert total["approved"] + total["denied"] > 40 and total["complaints"][2] > 0
    assert total["on_time_promised"] < total["approved"] + total["denied"]
    assert total["tasks"][0] > 200 and 0 < total["tasks"][2] < total["tasks"][1]
    clerks = raw_users(demo_app, "clerk_liu", "clerk_yang", "clerk_zhang")
    assert {c.received_by_id for c in raw.cases} == clerks

    everything = lambda c: ["total"]  # noqa: E731
    nowhere = lambda c: []  # noqa: E731  (the official grouping has task figures only)
    checks = [
        (month, "total", None, True, everything, lambda d: ["total"], None),
        (week, "total", None, True, everything, lambda d: ["total"], None),
        (month, "item", None, True, lambda c: [c.item_id], None, None),
        (whole, "kind", None, True, lambda c: [items[c.item_id].kind], None, None),
        (month, "department", None, True, lambda c: chain(dept(c)), chain, None),
        (month, "department", None, False, lambda c: [dept(c)],
         lambda d: [d] if d else [], None),
        (whole, "department", Filters(department_id=housing), True,
         lambda c: [d for d in chain(dept(c)) if d in in_housing],
         lambda d: [x for x in chain(d) if x in in_housing], None),
        (whole, "window", None, True, lambda c: [c.received_by_id or 0], None, None),
        (week, "window", None, True, lambda c: [c.received_by_id or 0], None, None),
        (month, "official", None, True, nowhere, None, lambda c, u: [u]),
        (whole, "official", Filters(kind="promised"), True, nowhere, None,
         lambda c, u: [u] if items[c.item_id].kind == "promised" else []),
        (whole, "total", Filters(item_id=planning), True,
         lambda c: ["total"] if c.item_id == planning else [], None, None),
        (month, "item", Filters(kind="promised"), True,
         lambda c: [c.item_id] if items[c.item_id].kind == "promised" else [], None, None),
    ]  # fmt: skip
    with demo_app.app_context():
        for period, grouping, filters, roll_up, keys, ticket_keys, task_keys in checks:
            rows = register(period, grouping, filters, roll_up)
            expected = hand_count(raw, period, keys, ticket_keys, task_keys)
            assert_rows_match(rows, expected, ticket_keys is not None, grouping == "official")
        # department rows form the tree: each with its depth and the department above it
        tree = register(month, "department")
        assert {r.code: (r.depth, r.parent) for r in tree}["housing_reg"] == (1, housing)
        # the time series: every week, month and day equals the hand count of its days
        for unit, part in (("week", whole), ("month", whole), ("day", month)):
            points = series(part, unit)
            assert points[0].period.since == part.since and points[-1].period.until == part.until
            assert all(a.period.until + dt.timedelta(days=1) == b.period.since
                       for a, b in zip(points, points[1:], strict=False))  # fmt: skip
            for point in points:
                expected = hand_count(raw, point.period, everything, lambda d: ["total"])
                assert_rows_match(point.rows, expected, True)
        assert [p.label for p in series(month, "week")][:2] == ["2026-W05", "2026-W06"]
        by_month = series(whole, "month", "department")
        assert [p.label for p in by_month] == ["2026-01", "2026-02", "2026-03", "2026-04"]
        for point in by_month:
            expected = hand_count(raw, point.period, lambda c: chain(dept(c)), chain)
            assert_rows_match(point.rows, expected, True)

        # the cache, rolled day by day as the clock moved, equals one rebuilt from scratch
        db = session()
        yesterday = scene.today() - dt.timedelta(days=1)
        assert scene.partial_rolls > 0
        assert rollup.unsettled_days(db) == [yesterday]  # rolled just after midnight, once
        rolled = dict(db.execute(sa.select(rollup.StatRoll.day, rollup.StatRoll.rows)).all())
        assert sorted(rolled) == Period(whole.since, yesterday).days()  # empty days too
        assert 0 in rolled.values()
        incremental = snapshot(db)
        assert len(incremental) > 100
        db.execute(sa.delete(rollup.StatDay))
        db.execute(sa.delete(rollup.StatRoll))
        db.commit()
        assert rollup.rebuild(db, rollup.first_day(db), yesterday) == len(incremental)
        assert snapshot(db) == incremental
        assert rollup.covers(Period(whole.since, yesterday))
        assert not rollup.covers(whole)

        # and summing the cache gives the register's summable figures
        cached_ones = [
            (month, "total", None, True), (week, "total", None, True),
            (whole, "item", None, True), (month, "kind", None, True),
            (month, "department", None, True), (whole, "department", None, False),
            (whole, "department", Filters(department_id=housing), True),
            (month, "window", None, True), (whole, "kind", Filters(item_id=planning), True),
        ]  # fmt: skip
        for period, grouping, filters, roll_up in cached_ones:
            direct = {r.key: r for r in register(period, grouping, filters, roll_up)}
            cached = rollup.register_from_cache(period, grouping, filters, roll_up)
            assert [r.key for r in cached] == [k for k in direct if k in {r.key for r in cached}]
            for row in cached:
                same, f = direct[row.key].figures, row.figures
                assert f.summable() == same.summable(), (grouping, row.key)
                for derived in ("completion_rate", "on_time_rate_promised",
                                "on_time_rate_statutory", "days_taken_avg"):  # fmt: skip
                    assert getattr(f, derived) == getattr(same, derived), (grouping, derived)
                assert (f.still_open, f.days_taken_p90, f.complaints, row.tasks) == (
                    None, None, None, None)  # fmt: skip
            for key in set(direct) - {r.key for r in cached}:
                assert not any(direct[key].figures.summable().values()), key


def raw_users(app, *usernames: str) -> set[int]:
    with app.app_context():
        return set(session().scalars(sa.select(User.id).where(User.username.in_(usernames))))


# --- the scheduler's job ------------------------------------------------------------------------


def _rolls(app) -> dict[dt.date, int]:
    with app.app_context():
        return dict(session().execute(sa.select(rollup.StatRoll.day, rollup.StatRoll.rows)).all())


def test_the_scheduler_rolls_the_cache_as_the_leader_only_after_start_and_hourly(demo_app):
    from app.scheduler import TimerScheduler

    clock = Clock(utc(2026, 3, 2, 9))
    demo_app.config["CLOCK"] = clock

    def advance(_rnd) -> None:
        clock.now += dt.timedelta(hours=7)

    generate(demo_app, 4, seed=3, before_step=advance)
    last = local_day(clock.now)
    clock.now = utc(*(last + dt.timedelta(days=1)).timetuple()[:3], 0, 10)
    days = Period(dt.date(2026, 3, 2), last).days()
    leader, other = TimerScheduler(demo_app), TimerScheduler(demo_app)
    try:
        with demo_app.app_context():
            assert leader.leader.acquire()
        other.stats_round()  # not the leader: nothing happens
        assert _rolls(demo_app) == {}
        leader.stats_round()
        assert sorted(_rolls(demo_app)) == days
        with demo_app.app_context():
            first = snapshot(session())
            assert rollup.unsettled_days(session()) == [last]
        leader.stats_round()  # again, as after a restart: the same rows
        with demo_app.app_context():
            assert snapshot(session()) == first and len(first) >= 2
    finally:
        leader.leader.release()
        other.leader.release()
    # released, leadership passes on: the advisory lock does not stay with a pooled connection
    with demo_app.app_context():
        assert other.leader.acquire()
    other.leader.release()

    # started, the scheduler rolls soon, and then at ten past every hour in Shanghai
    with demo_app.app_context():
        session().execute(sa.delete(rollup.StatDay))
        session().execute(sa.delete(rollup.StatRoll))
        session().commit()
    scheduler = TimerScheduler(demo_app)
    scheduler.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and sorted(_rolls(demo_app)) != days:
            time.sleep(0.05)
        assert sorted(_rolls(demo_app)) == days
        job = scheduler.scheduler.get_job("stats-rollup")
        upcoming = job.next_run_time.astimezone(SHANGHAI)
        assert upcoming.minute == 10
        assert upcoming - dt.datetime.now(SHANGHAI) <= dt.timedelta(hours=1)
    finally:
        scheduler.shutdown()
    with demo_app.app_context():
        assert snapshot(session()) == first


# --- periods and wrong input ---------------------------------------------------------------------


def test_periods_are_named_parsed_and_split_into_buckets():
    d = dt.date
    assert Period.parse("2026-01-05") == Period(d(2026, 1, 5), d(2026, 1, 5))
    assert Period.parse("2026-W01") == Period(d(2025, 12, 29), d(2026, 1, 4))
    assert Period.parse("2026-02") == Period(d(2026, 2, 1), d(2026, 2, 28))
    assert Period.parse("2024-02") == Period(d(2024, 2, 1), d(2024, 2, 29))
    assert Period.parse("2026-Q4") == Period(d(2026, 10, 1), d(2026, 12, 31))
    assert Period.parse("2026") == Period(d(2026, 1, 1), d(2026, 12, 31))
    assert Period.parse("2026-01-05..2026-02") == Period(d(2026, 1, 5), d(2026, 2, 28))
    for wrong in ("2026-13", "2026-W54", "2026-Q5", "last month", "2026-02..2026-01"):
        with pytest.raises(InvalidInput):
            Period.parse(wrong)
    weeks = Period(d(2025, 12, 30), d(2026, 1, 13)).split("week")
    assert [label for label, _ in weeks] == ["2026-W01", "2026-W02", "2026-W03"]
    assert weeks[0][1] == Period(d(2025, 12, 30), d(2026, 1, 4))
    assert weeks[-1][1] == Period(d(2026, 1, 12), d(2026, 1, 13))
    quarters = Period(d(2026, 2, 15), d(2026, 7, 1)).split("quarter")
    assert [label for label, _ in quarters] == ["2026-Q1", "2026-Q2", "2026-Q3"]
    assert [label for label, _ in Period.parse("2026").split("month")][-1] == "2026-12"
    assert len(Period.parse("2026-02").split("day")) == 28
    with pytest.raises(InvalidInput):
        Period.parse("2026").split("fortnight")


def test_wrong_groupings_filters_and_sources_are_refused(demo_app):
    month = Period.parse("2026-02")
    with demo_app.app_context():
        for kwargs in ({"grouping": "clerk"}, {"filters": Filters(kind="urgent")},
                       {"filters": Filters(department_id=9999)}):  # fmt: skip
            with pytest.raises(InvalidInput):
                register(month, **kwargs)
        with pytest.raises(InvalidInput):
            rollup.register_from_cache(month, "official")
        # an empty centre: zero rows, rates and averages none
        [row] = register(month)
        assert row.figures.received == 0 and row.figures.completion_rate is None
        assert row.figures.days_taken_avg is None and row.figures.days_taken_p90 is None
        assert row.figures.still_open == 0 and row.tasks.office_days_avg is None
        assert [r.code for r in register(month, "kind")] == [
            "immediate", "promised", "joint", "reported"]  # fmt: skip
