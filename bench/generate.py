"""Fill an empty PostgreSQL database with a province's year of licensing cases.

    python -m bench.generate --database URL [--cases 1000000] [--seed 1] [--force] [--out PATH]
    python -m bench.generate --database URL --roll-only   (the statistics cache only)

The schema is migrated and the demo centre loaded first. Then come 14 county centres with
20 bureaus each, about 200 catalogue items copied from the four demo items (each with its
own diagram_versions row holding the demo item's diagram), posts with A/B handlers and
leaders sized so that an official holds about 20 open tasks, about 3,000 officials
sharing one password hash, and the cases received in the 12 months before 2026-11-20
(weekdays heavier) with their tasks and audit events.

Cases, tasks and events go in with COPY ... FREEZE while the indexes and constraints of
those three tables are dropped; they are put back from their saved definitions, the result
is compared with the migrated schema, the sequences are moved past the ids used, and
ANALYZE runs. Last, the statistics cache (app.stats.rollup: every stat_* table) is rolled
by the app itself for every day up to the day before the reference time, as the
scheduler would have (`--roll-only` does just that, e.g. after a migration).

Bench data, not history: the event hash chains link prev_hash to hash and end at the case
row's event_seq/last_hash, but the hashes are random 64-hex strings, not seals (each event
names the installation's current audit key, as a sealed one would); an open case's
serialized workflow is a placeholder.

Working time is the app's: office hours 09:00-17:00 Asia/Shanghai (01:00-09:00 UTC) on the
working days of the app's calendar (holidays and make-up days included, the fallback and
provisional beyond the years it knows). The due columns come from the app's own rules
(app.cases.deadlines: `promised_days`, `case_due_values`, `task_due_values`) on that calendar:
a case's promised and statutory due dates, its yellow time and whether they are provisional;
a task's stage limit (the copied diagram's `timeLimit`, scaled by the item's promised days
against the demo item's), its due and yellow times. Tasks held by B or the post's leader act
for A; tasks are started by their holder some time after they arrive; a case remembers who
decided its last decision stage; ID and phone numbers are sealed with the data key, as the
app stores them. Cases are not paused, extended or reported (those columns keep the app's
defaults).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.output import add_out_argument, save  # noqa: E402

REFERENCE_NOW = dt.datetime(2026, 11, 20, 1, 0)  # Friday 09:00 in Asia/Shanghai, naive UTC
DAYS_BACK = 365
OPEN_UTC = 3600  # office hours 01:00-09:00 UTC
WORK_DAY = 8 * 3600
N = "\\N"  # NULL in COPY text format
GENESIS = "0" * 64
GEN = "gen"  # prefix of every generated code and username
BIG_TABLES = ("cases", "tasks", "events")
STAT_TABLES = ("stat_days", "stat_days_taken", "stat_task_days", "stat_post_days",
               "stat_post_months", "stat_rolls")  # fmt: skip
STATE_PLACEHOLDER = '{"bench":"placeholder: the engine does not run on generated cases"}'

WINDOW_STAGES = frozenset({"acceptance", "issue", "denial"})
LEADER_STAGES = frozenset({"chief", "deputy", "collective", "head"})
OPEN_TASK_TARGET = {"window": 20, "official": 20, "leader": 30}
SHARE_A, SHARE_B = 0.93, 0.05  # the rest of the tasks escalate to the post's leader
P_REFUSED, P_SUPPLEMENT, P_WITHDRAWN = 0.015, 0.04, 0.01
P_LATE, P_NEVER_COLLECTED = 0.12, 0.005
KIND_DEMAND = {"immediate": 0.5, "promised": 1.0, "joint": 2.0}  # immediate items: fewer tasks
DEMO_ITEM_SHARE = 0.002  # each demo item gets this share of the cases

COUNTIES = (
    "东湖区", "西山区", "南岭区", "北川区", "青江县", "白石县", "临溪县",
    "安平县", "丰乐县", "永和县", "长宁县", "清河县", "云台县", "松阳县",
)  # fmt: skip
BUREAUS = (
    "发展和改革局", "教育局", "公安局", "民政局", "司法局", "财政局", "人力资源和社会保障局",
    "自然资源和规划局", "生态环境分局", "住房和城乡建设局", "交通运输局", "水利局",
    "农业农村局", "商务局", "文化和旅游局", "卫生健康局", "应急管理局", "市场监督管理局",
    "综合行政执法局", "林业局",
)  # fmt: skip
# (item name, bureau index, demo item whose diagram and entry it copies, promised days)
CATALOGUE = (
    ("个体工商户设立登记", 17, "house-cancellation", 1),
    ("食品经营许可", 17, "house-initial", 10),
    ("特种设备使用登记", 17, "house-cancellation", 1),
    ("药品零售企业许可", 17, "house-initial", 15),
    ("不动产首次登记", 7, "house-initial", 7),
    ("不动产注销登记", 7, "house-cancellation", 1),
    ("建设工程规划许可证核发", 7, "planning-permit", 12),
    ("建设用地规划许可证核发", 7, "planning-permit", 12),
    ("乡村建设规划许可证核发", 7, "planning-permit", 15),
    ("建筑工程施工许可证核发", 9, "planning-permit", 7),
    ("商品房预售许可", 9, "planning-permit", 10),
    ("建筑业企业资质核准", 9, "house-initial", 15),
    ("企业投资项目并联审批", 0, "joint-investment", 20),
    ("工程建设项目施工许可并联审批", 9, "joint-investment", 15),
    ("社会投资小型工程并联审批", 9, "joint-investment", 10),
    ("固定资产投资项目节能审查", 0, "planning-permit", 15),
    ("建设项目环境影响报告表审批", 8, "planning-permit", 15),
    ("排污许可证核发", 8, "house-initial", 20),
    ("道路运输经营许可", 10, "house-initial", 10),
    ("公路超限运输许可", 10, "house-cancellation", 1),
    ("医疗机构执业登记", 15, "house-initial", 15),
    ("公共场所卫生许可", 15, "house-initial", 7),
    ("民办学校办学许可", 1, "planning-permit", 20),
    ("劳务派遣经营许可", 6, "house-initial", 10),
    ("社会团体成立登记", 3, "house-initial", 15),
    ("娱乐场所经营许可", 14, "house-initial", 10),
    ("取水许可", 11, "planning-permit", 20),
    ("农药经营许可", 12, "house-initial", 15),
    ("危险化学品经营许可", 16, "planning-permit", 15),
    ("城市建筑垃圾处置核准", 18, "house-cancellation", 1),
    ("林木采伐许可", 19, "house-cancellation", 1),
)
ITEMS_PER_COUNTY = (15, 15, 15, 15) + (14,) * 10  # 200 items
JOINT_BUREAUS = {"Task_ndrc": 0, "Task_land": 7, "Task_construction": 9, "Task_env": 8}
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓"
    "曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚英华建国红梅"
    "志文斌波辉宇浩然涵欣怡思远嘉豪俊雨萱轩晨阳博"
)
FIRMS = (
    "恒信",
    "华通",
    "宏达",
    "瑞丰",
    "金源",
    "新城",
    "远航",
    "嘉禾",
    "博雅",
    "中和",
    "汇丰",
    "天成",
)
TRADES = ("建设", "置业", "科技", "物流", "食品", "医药", "环保", "能源", "商贸", "农业")
CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
QUERY_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
REJECT_REASON = "申请材料与实际情况不符，不符合法定条件"
REJECT_BASIS = "《中华人民共和国行政许可法》第三十八条第二款"
RETURN_COMMENT = "材料需补正说明，退回重新审核"


# --- working time -----------------------------------------------------------------------------


class WorkCalendar:
    """Seconds since a base day, and working seconds (8 per office hour) on working days:
    those of `is_working` (the app calendar's), Monday to Friday without it."""

    def __init__(
        self, first: dt.date, days: int, is_working: Callable[[dt.date], bool] | None = None
    ) -> None:
        self.base = dt.datetime.combine(first, dt.time())
        dates = [first + dt.timedelta(days=d) for d in range(days)]
        self.day_text = [d.isoformat() for d in dates]
        self.weekday = [d.weekday() for d in dates]
        works = is_working or (lambda day: day.weekday() < 5)
        self.work_days = [d for d in range(days) if works(dates[d])]
        self.next_work: list[int] = []
        k = 0
        for d in range(days):
            while self.work_days[k] < d:
                k += 1
            self.next_work.append(k)

    def seconds(self, moment: dt.datetime) -> int:
        """Return a moment as seconds since the base day."""
        return int((moment - self.base).total_seconds())

    def moment(self, seconds: int) -> dt.datetime:
        """Return seconds since the base day as a naive UTC datetime."""
        return self.base + dt.timedelta(seconds=seconds)

    def to_work(self, seconds: int) -> int:
        """Return the working time reached at a moment (outside hours: the next opening)."""
        day, clock = divmod(seconds, 86400)
        k = self.next_work[day]
        if self.work_days[k] != day:
            return k * WORK_DAY
        return k * WORK_DAY + min(max(clock - OPEN_UTC, 0), WORK_DAY)

    def from_work(self, work: int) -> int:
        """Return the moment at which a working time is reached."""
        k, rest = divmod(work, WORK_DAY)
        return self.work_days[k] * 86400 + OPEN_UTC + rest

    def text(self, seconds: int) -> str:
        """Return a moment as COPY text."""
        day, clock = divmod(seconds, 86400)
        return f"{self.day_text[day]} {clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}"

    def add_working_days(self, moment: dt.datetime, days: float) -> dt.datetime:
        """Return the moment a number of working days after another."""
        work = self.to_work(self.seconds(moment)) + round(days * WORK_DAY)
        return self.moment(self.from_work(work))


def calendar_for(
    now: dt.datetime = REFERENCE_NOW, is_working: Callable[[dt.date], bool] | None = None
) -> WorkCalendar:
    """Return the calendar that covers the generated year and the due dates after it."""
    return WorkCalendar(now.date() - dt.timedelta(days=DAYS_BACK + 7), DAYS_BACK + 400, is_working)


def memo_calendar(base: Any) -> Any:
    """Return the app's working-day calendar with its day questions remembered: the due
    dates of millions of rows are computed by the app's own code, on a few hundred days."""
    from app.calendar.services import WorkCalendar as AppCalendar

    class Remembering(AppCalendar):
        def __init__(self) -> None:
            self.__dict__.update(base.__dict__)
            self._working: dict[dt.date, bool] = {}
            self._added: dict[tuple[dt.date, int], tuple[dt.date, bool]] = {}
            self._utc: dict[tuple[dt.date, dt.time], dt.datetime] = {}

        def is_working_day(self, day: dt.date) -> bool:
            known = self._working.get(day)
            if known is None:
                known = self._working[day] = AppCalendar.is_working_day(self, day)
            return known

        def add_working_days(self, day: dt.date, count: int) -> tuple[dt.date, bool]:
            key = (day, count)
            known = self._added.get(key)
            if known is None:
                known = self._added[key] = AppCalendar.add_working_days(self, day, count)
            return known

        def utc(self, day: dt.date, clock: dt.time) -> dt.datetime:
            key = (day, clock)
            known = self._utc.get(key)
            if known is None:
                known = self._utc[key] = AppCalendar.utc(self, day, clock)
            return known

    return Remembering()


@dataclass
class AppRules:
    """What the generated rows take from the app: its calendar (remembering), the id of
    the audit key events name, and the data key's seal for ID and phone numbers."""

    calendar: Any
    audit_key: str
    seal: Callable[[str], str]

    def case_dues(self, item: ItemPlan, accepted: dt.datetime) -> dict:
        """Return a case's due columns as the app sets them at acceptance."""
        from app.cases.deadlines import case_due_values

        case = SimpleNamespace(
            accepted_at=accepted, promised_days=item.case_days, paused_days=0, extended_days=0
        )
        return case_due_values(self.calendar, case, item.rules)

    def task_dues(self, created: dt.datetime, limit: tuple[float, str]) -> dict:
        """Return a task's due columns as the app sets them when it creates the task."""
        from app.cases.deadlines import task_due_values

        return task_due_values(self.calendar, created, limit)


# --- the organisation -------------------------------------------------------------------------


@dataclass(frozen=True)
class Stage:
    """One user task of a demo diagram."""

    spec_id: str
    name: str
    stage: str
    lane: str
    post: str
    limit: int  # working seconds
    time_limit: tuple[float, str] | None  # the diagram's timeLimit, e.g. (3.0, "d")
    outcomes: str
    is_decision: bool

    @property
    def kind(self) -> str:
        """Return who works this stage: window, official or leader."""
        if self.stage in WINDOW_STAGES:
            return "window"
        return "leader" if self.stage in LEADER_STAGES else "official"

    @property
    def key(self) -> str:
        """Return the post group that holds this stage (the window holds all its stages)."""
        return "window" if self.kind == "window" else self.spec_id


@dataclass
class Template:
    """A demo item whose diagram and catalogue entry generated items copy."""

    item_id: int
    code: str
    kind: str
    department_id: int
    process_id: str
    promised: int
    statutory: int
    entry: dict
    version: dict
    stages: dict[str, Stage]


@dataclass
class Post:
    """A post with its handlers and the reasons written on the tasks it gets."""

    id: int
    code: str
    a: int | None
    b: int | None
    leader: int | None

    def pick(self, roll: float) -> tuple[int | None, str, int | None]:
        """Return the holder who gets a task, why, and for whom they act (A, when B or the
        leader holds it: app.org.presence), from a uniform roll."""
        if roll < SHARE_A and self.a is not None:
            return self.a, f"assigned to A of post {self.code}", None
        if roll < SHARE_A + SHARE_B and self.b is not None:
            return self.b, f"A of post {self.code} is away: assigned to B", self.a
        if self.leader is not None:
            return self.leader, f"escalated to the leader of post {self.code}", self.a
        return self.a, f"assigned to A of post {self.code}", None


@dataclass
class ItemPlan:
    """A catalogue item as the case generator uses it."""

    id: int
    code: str
    name: str
    template: Template
    department_id: int
    version_id: int
    promised: int
    statutory: int
    share: float
    company: bool
    window_dept: int
    stage_depts: dict[str, int]
    clerks: list[int] = field(default_factory=list)
    posts: dict[str, list[Post]] = field(default_factory=dict)
    materials: str = "[]"
    form: str = "{}"
    entry: dict = field(default_factory=dict)  # the catalogue entry as stored
    case_days: int = 0  # working days promised to its cases (app.cases.deadlines)

    @property
    def scale(self) -> float:
        """Return how much longer than the demo item's stages this item's stages are (a
        即办件 promising 0 days counts as 1)."""
        return max(self.promised, 1) / max(self.template.promised, 1)

    @property
    def rules(self) -> SimpleNamespace:
        """Return the item as the app's due-date rules read it."""
        return SimpleNamespace(
            kind=self.template.kind,
            entry=self.entry,
            promised_days=self.promised,
            statutory_days=self.statutory,
        )

    def stage_limit(self, stage: Stage) -> tuple[tuple[float, str] | None, int]:
        """Return a stage's time limit for this item (the diagram's, scaled like the item's
        promised days, whole days or hours) and its length in working seconds."""
        if stage.time_limit is None:
            return None, round(stage.limit * self.scale)
        amount, unit = stage.time_limit
        scaled = max(1, round(amount * self.scale))
        return (float(scaled), unit), scaled * (3600 if unit == "h" else WORK_DAY)


@dataclass
class Org:
    """Everything generated or loaded besides the cases."""

    items: list[ItemPlan]
    usernames: dict[int | None, str]
    user_rows: list[dict]
    dept_rows: list[dict]
    post_rows: list[dict]
    item_rows: list[dict]
    version_rows: list[dict]


def _person(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choices(GIVEN, k=rnd.choice((1, 2, 2))))


def _phone(rnd: random.Random) -> str:
    return f"1{rnd.choice('3578')}{rnd.randrange(10**9):09d}"


def load_templates(conn: psycopg.Connection) -> dict[str, Template]:
    """Read the demo items, their newest diagram versions and user tasks."""
    from workflows.engine import compile_diagram

    rows = conn.execute(
        "SELECT DISTINCT ON (i.id) i.id, i.code, i.kind, i.department_id, i.process_id,"
        " i.promised_days, i.statutory_days, i.entry, v.id, v.process_id, v.filename,"
        " v.content, v.content_hash FROM items i JOIN diagram_versions v ON v.item_id = i.id"
        " WHERE i.code NOT LIKE %s ORDER BY i.id, v.version DESC",
        [f"{GEN}-%"],
    ).fetchall()
    templates = {}
    for row in rows:
        entry = row[7] if isinstance(row[7], dict) else json.loads(row[7])
        if entry.get("licence_action"):  # a licence's renewal, change, …: starts from a licence
            continue
        version = dict(
            zip(("id", "process_id", "filename", "content", "hash"), row[8:], strict=True)
        )
        diagram = compile_diagram(version["content"].encode(), version["filename"], row[4])
        stages = {}
        for node in diagram.user_tasks():
            amount, unit = node.time_limit or (1.0, "d")
            stages[node.id] = Stage(
                spec_id=node.id,
                name=node.name,
                stage=node.stage or "",
                lane=node.lane or "",
                post=node.post or "",
                limit=round(amount * (3600 if unit == "h" else WORK_DAY)),
                time_limit=node.time_limit,
                outcomes=",".join(node.outcomes),
                is_decision=node.is_decision,
            )
        templates[row[1]] = Template(
            row[0], row[1], row[2], row[3], row[4], row[5], row[6], entry, version, stages
        )
    return templates


class IdSource:
    """Hand out ids after the largest one a table holds."""

    def __init__(self, conn: psycopg.Connection, table: str) -> None:
        query = sql.SQL("SELECT coalesce(max(id), 0) FROM {}").format(sql.Identifier(table))
        self.last = conn.execute(query).fetchone()[0]

    def next(self) -> int:
        """Return the next free id."""
        self.last += 1
        return self.last


def _sample_form(entry: dict, rnd: random.Random) -> dict:
    values = {"string": "示例", "long": 10, "boolean": True, "date": "2026-06-01"}
    form = {}
    for spec in entry.get("form", []):
        if spec["type"] == "enum":
            form[spec["id"]] = rnd.choice(spec["options"])
        elif spec["type"] == "long":
            form[spec["id"]] = rnd.randint(1, 60)
        else:
            form[spec["id"]] = values.get(spec["type"], "示例")
    return form


def _copy_json(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


class OrgBuilder:
    """Build departments, items, posts and users of the generated province."""

    def __init__(self, conn: psycopg.Connection, rnd: random.Random, password_hash: str) -> None:
        self.conn, self.rnd, self.password_hash = conn, rnd, password_hash
        self.created = dt.datetime.combine(REFERENCE_NOW.date() - dt.timedelta(days=400), dt.time())
        self.ids = {t: IdSource(conn, t) for t in ("departments", "users", "posts", "items")}
        self.version_ids = IdSource(conn, "diagram_versions")
        self.dept_rows: list[dict] = []
        self.user_rows: list[dict] = []
        self.post_rows: list[dict] = []
        self.item_rows: list[dict] = []
        self.version_rows: list[dict] = []
        self.usernames: dict[int | None, str] = {None: "system"}
        self.pools: dict[tuple[int, str], list[int]] = defaultdict(list)
        self.heads: dict[int, int] = {}
        self.dept_codes: dict[int, str] = {}
        self.user_count: dict[int, int] = defaultdict(int)

    def department(self, code: str, name: str, kind: str, parent: int | None) -> int:
        """Add a department and return its id."""
        dept_id = self.ids["departments"].next()
        self.dept_rows.append(
            {"id": dept_id, "code": code, "name": name, "kind": kind, "parent_id": parent}
        )
        self.dept_codes[dept_id] = code
        return dept_id

    def user(self, county: int, dept: int, role: str) -> int:
        """Add a staff member with the shared password hash and return the id."""
        user_id = self.ids["users"].next()
        self.user_count[county] += 1
        username = f"{GEN}{county:02d}_{role}_{self.user_count[county]:04d}"
        self.usernames[user_id] = username
        self.user_rows.append(
            {
                "id": user_id,
                "username": username,
                "name": _person(self.rnd),
                "password_hash": self.password_hash,
                "roles": role,
                "phone": _phone(self.rnd),
                "department_id": dept,
                "active": True,
                "created_at": self.created,
            }
        )
        return user_id

    def counties(self) -> list[dict]:
        """Add the county centres, their window and supervision offices and bureaus."""
        counties = []
        for ci, county in enumerate(COUNTIES, start=1):
            prefix = f"{GEN}-c{ci:02d}"
            centre = self.department(prefix, f"{county}政务服务中心", "centre", None)
            window = self.department(f"{prefix}-window", "综合受理科", "section", centre)
            watch = self.department(f"{prefix}-supervision", "驻厅监察室", "supervision", centre)
            bureaus = [
                self.department(f"{prefix}-b{bi:02d}", f"{county}{name}", "bureau", None)
                for bi, name in enumerate(BUREAUS)
            ]
            for dept, role, count in (
                (watch, "supervisor", 2),
                (watch, "auditor", 1),
                (centre, "analyst", 1),
                (centre, "admin", 1),
            ):
                for _ in range(count):
                    self.user(ci, dept, role)
            counties.append({"no": ci, "name": county, "window": window, "bureaus": bureaus})
        return counties

    def items(self, counties: list[dict], templates: dict[str, Template]) -> list[ItemPlan]:
        """Add about 200 items copied from the demo items, each with its diagram version."""
        plans = []
        for county, count in zip(counties, ITEMS_PER_COUNTY, strict=True):
            for k, (name, bureau, code, promised) in enumerate(
                sorted(self.rnd.sample(CATALOGUE, count), key=CATALOGUE.index), start=1
            ):
                plans.append(
                    self._item(
                        county, k, name, county["bureaus"][bureau], templates[code], promised
                    )
                )
        ranks = list(range(1, len(plans) + 1))
        self.rnd.shuffle(ranks)
        weights = [
            KIND_DEMAND[plan.template.kind] / rank**0.8
            for plan, rank in zip(plans, ranks, strict=True)
        ]
        scale = (1 - DEMO_ITEM_SHARE * len(templates)) / sum(weights)
        for plan, weight in zip(plans, weights, strict=True):
            plan.share = weight * scale
        return plans

    def _item(
        self, county: dict, k: int, name: str, dept: int, template: Template, promised: int
    ) -> ItemPlan:
        item_id, version_id = self.ids["items"].next(), self.version_ids.next()
        code, full_name = f"{GEN}-{county['no']:02d}-{k:03d}", f"{county['name']}{name}"
        statutory = max(template.statutory, promised)
        entry = dict(
            template.entry,
            code=code,
            name=full_name,
            department=self.dept_codes[dept],
            promised_days=promised,
            statutory_days=statutory,
        )
        entry.pop("promised_rules", None)
        self.item_rows.append(
            {
                "id": item_id,
                "code": code,
                "name": full_name,
                "kind": template.kind,
                "department_id": dept,
                "process_id": template.process_id,
                "statutory_days": statutory,
                "promised_days": promised,
                "entry": json.dumps(entry),
                "active": True,
            }
        )
        version = template.version
        self.version_rows.append(
            {
                "id": version_id,
                "item_id": item_id,
                "version": 1,
                "process_id": version["process_id"],
                "filename": version["filename"],
                "content": version["content"],
                "content_hash": version["hash"],
                "comment": f"bench: copy of {template.code}",
                "deployed_at": self.created,
            }
        )
        depts = {
            spec: county["bureaus"][JOINT_BUREAUS[spec]] if spec in JOINT_BUREAUS else dept
            for spec in template.stages
        }
        return ItemPlan(
            id=item_id,
            code=code,
            name=full_name,
            template=template,
            department_id=dept,
            version_id=version_id,
            promised=promised,
            statutory=statutory,
            share=0.0,
            company=template.kind == "joint" or "规划" in name or "工程" in name,
            window_dept=county["window"],
            stage_depts=depts,
            entry=entry,
        )

    def posts(self, plans: list[ItemPlan], n_cases: int, work_days: int) -> None:
        """Add posts sized to the open tasks each item's stages are expected to hold."""
        loads = {
            code: stage_loads(t) for code, t in {p.template.code: p.template for p in plans}.items()
        }
        made: list[tuple[Post, tuple[int, str], int]] = []
        for plan in plans:
            per_day = n_cases * plan.share / work_days
            for key, (kind, work_days_open, names) in loads[plan.template.code].items():
                expected = per_day * work_days_open * plan.scale
                count = max(1, round(expected / OPEN_TASK_TARGET[kind]))
                dept = plan.window_dept if kind == "window" else plan.stage_depts[key]
                county = int(plan.code.split("-")[1])
                role = {"window": "clerk"}.get(kind, kind)
                posts = []
                for n in range(1, count + 1):
                    holder = self.user(county, dept, role)
                    self.pools[(dept, role)].append(holder)
                    post = Post(
                        self.ids["posts"].next(),
                        f"{plan.code}-{key.lower()}-{n}",
                        holder,
                        None,
                        self._head(county, dept),
                    )
                    posts.append(post)
                    made.append((post, (dept, role), county))
                    self.post_rows.append(
                        {
                            "id": post.id,
                            "code": post.code,
                            "name": f"{plan.name}·{names}岗{n}",
                            "department_id": dept,
                        }
                    )
                plan.posts[key] = posts
            plan.clerks = [p.a for p in plan.posts["window"]]
        for post, pool, county in made:
            if len(self.pools[pool]) < 2:
                self.pools[pool].append(self.user(county, pool[0], pool[1]))
            post.b = self.rnd.choice([u for u in self.pools[pool] if u != post.a])
        for row, (post, _pool, _county) in zip(self.post_rows, made, strict=True):
            row.update(a_user_id=post.a, b_user_id=post.b, leader_user_id=post.leader)

    def _head(self, county: int, dept: int) -> int:
        if dept not in self.heads:
            self.heads[dept] = self.user(county, dept, "leader")
        return self.heads[dept]

    def finish(self, plans: list[ItemPlan]) -> Org:
        """Fill the JSON columns the cases copy and the days promised to their cases (the
        app's rule on the sample form), and return the organisation."""
        from app.cases.deadlines import promised_days

        for plan in plans:
            entry = plan.template.entry
            plan.materials = _copy_json(
                [m["code"] for m in entry.get("materials", []) if m.get("required", True)]
            )
            form = _sample_form(entry, self.rnd)
            plan.form = _copy_json(form)
            plan.case_days = promised_days(plan.rules, form)
        return Org(
            plans,
            self.usernames,
            self.user_rows,
            self.dept_rows,
            self.post_rows,
            self.item_rows,
            self.version_rows,
        )


def demo_items(conn: psycopg.Connection, templates: dict[str, Template]) -> list[ItemPlan]:
    """Return the demo items as plans, their tasks going to the demo centre's posts."""
    posts = {
        code: Post(pid, code, a, b, leader)
        for pid, code, a, b, leader in conn.execute(
            "SELECT id, code, a_user_id, b_user_id, leader_user_id FROM posts"
        )
    }
    plans = []
    for template in templates.values():
        plan = ItemPlan(
            id=template.item_id,
            code=template.code,
            name=template.code,
            template=template,
            department_id=template.department_id,
            version_id=template.version["id"],
            promised=template.promised,
            statutory=template.statutory,
            share=DEMO_ITEM_SHARE,
            company=template.kind == "joint",
            window_dept=template.department_id,
            stage_depts={s: template.department_id for s in template.stages},
            entry=template.entry,
        )
        for stage in template.stages.values():
            plan.posts.setdefault(stage.key, [posts[stage.post]])
        window = plan.posts["window"][0]
        plan.clerks = [u for u in (window.a, window.b) if u is not None]
        plans.append(plan)
    return plans


def build_org(conn: psycopg.Connection, rnd: random.Random, n_cases: int, pw_hash: str) -> Org:
    """Plan and return the generated organisation (nothing is written yet)."""
    templates = load_templates(conn)
    builder = OrgBuilder(conn, rnd, pw_hash)
    for uid, username in conn.execute("SELECT id, username FROM users"):
        builder.usernames[uid] = username
    counties = builder.counties()
    plans = builder.items(counties, templates)
    work_days = sum(
        1
        for d in range(DAYS_BACK)
        if (REFERENCE_NOW.date() - dt.timedelta(days=d + 1)).weekday() < 5
    )
    builder.posts(plans, n_cases, work_days)
    demo = demo_items(conn, templates)
    return builder.finish(plans + demo)


def write_org(conn: psycopg.Connection, org: Org) -> None:
    """Insert the generated departments, users, items, diagram versions and posts."""
    tables = (
        ("departments", org.dept_rows),
        ("users", org.user_rows),
        ("items", org.item_rows),
        ("diagram_versions", org.version_rows),
        ("posts", org.post_rows),
    )
    with conn.cursor() as cur:
        for table, rows in tables:
            columns = list(rows[0])
            query = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
            )
            with cur.copy(query) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])


# --- what happens to a case -------------------------------------------------------------------

Group = list[tuple[str, str]]  # (task spec, outcome) of tasks created together
ACCEPT: Group = [("Task_accept", "approve")]


def path_house_cancellation(rnd: Callable[[], float]) -> tuple[list[Group], str]:
    """Return the task groups of a cancellation case and its result."""
    if rnd() < 0.03:
        return [ACCEPT, [("Task_review", "reject")]], "denied"
    return [ACCEPT, [("Task_review", "approve")], [("Task_issue", "approve")]], "approved"


def path_house_initial(rnd: Callable[[], float]) -> tuple[list[Group], str]:
    """Return the task groups of an initial registration and its result."""
    groups = [ACCEPT] + ([[("Task_survey", "approve")]] if rnd() < 0.3 else [])
    for attempt in range(3):
        groups.append([("Task_review", "approve")])
        roll = rnd()
        if roll < 0.02:
            return [*groups, [("Task_chief", "reject")]], "denied"
        if roll < 0.07 and attempt < 2:
            groups.append([("Task_chief", "return")])
            continue
        groups.append([("Task_chief", "approve")])
        break
    return [*groups, [("Task_issue", "approve")]], "approved"


PLANNING_ROUTE = {  # spec: (p reject, p return, returns to, next)
    "Task_lead": (0.02, 0.0, "", "Task_deputy"),
    "Task_deputy": (0.01, 0.05, "Task_lead", "Task_head"),
    "Task_collective": (0.02, 0.03, "Task_lead", "Task_head"),
    "Task_head": (0.01, 0.03, "Task_deputy", "Task_issue"),
}


def path_planning_permit(rnd: Callable[[], float]) -> tuple[list[Group], str]:
    """Return the task groups of a planning permit (large projects: collective) and result."""
    groups, at, returns, large = [ACCEPT], "Task_lead", 0, rnd() < 0.25
    while at != "Task_issue":
        p_reject, p_return, back, following = PLANNING_ROUTE[at]
        roll = rnd()
        if roll < p_reject:
            return [*groups, [(at, "reject")]], "denied"
        if roll < p_reject + p_return and returns < 2:
            groups.append([(at, "return")])
            at, returns = back, returns + 1
            continue
        groups.append([(at, "approve")])
        at = "Task_collective" if at == "Task_deputy" and large else following
    return [*groups, [("Task_issue", "approve")]], "approved"


def path_joint_investment(rnd: Callable[[], float]) -> tuple[list[Group], str]:
    """Return the task groups of a joint approval: four reviews in parallel, then the result."""
    reviews = [(spec, "reject" if rnd() < 0.015 else "approve") for spec in JOINT_BUREAUS]
    if any(outcome == "reject" for _, outcome in reviews):
        return [ACCEPT, reviews, [("Task_denial", "approve")]], "denied"
    return [ACCEPT, reviews, [("Task_issue", "approve")]], "approved"


PATHS = {
    "house-cancellation": path_house_cancellation,
    "house-initial": path_house_initial,
    "planning-permit": path_planning_permit,
    "joint-investment": path_joint_investment,
}


def stage_factor(rnd: Callable[[], float]) -> float:
    """Return how much of its time limit a stage takes (some stages run late)."""
    if rnd() < P_LATE:
        return 1.0 + 1.5 * rnd()
    return 0.35 + 0.7 * rnd()


def stage_loads(template: Template, samples: int = 4000) -> dict[str, tuple[str, float, str]]:
    """Return per post group: kind, expected open working days per case, and the post name."""
    rnd = random.Random(7).random
    mean_factor = sum(stage_factor(rnd) for _ in range(samples)) / samples
    visits: dict[str, float] = defaultdict(float)
    for _ in range(samples):
        for group in PATHS[template.code](rnd)[0]:
            for spec, _outcome in group:
                visits[spec] += 1 / samples
    loads: dict[str, tuple[str, float, str]] = {}
    for spec, stage in template.stages.items():
        open_days = 0.0 if stage.stage == "acceptance" else stage.limit / WORK_DAY * mean_factor
        kind, before = stage.kind, loads.get(stage.key, ("", 0.0, ""))[1]
        name = "受理窗口" if kind == "window" else stage.name
        loads[stage.key] = (kind, before + visits[spec] * open_days, name)
    return loads


# --- the case generator -----------------------------------------------------------------------


@dataclass
class Open:
    """A task row being built for a case."""

    id: str
    stage: Stage
    post: Post
    assignee: int | None
    reason: str
    acting: int | None  # whose post A the holder acts for
    outcome: str
    at: int  # the moment it was created
    created: int  # working time
    limit: tuple[float, str] | None  # its stage limit, as the app stores it
    started: int  # working time its holder opens it
    done: int


class CaseFactory:
    """Generate cases with their tasks and events as COPY text lines."""

    def __init__(
        self, rnd: random.Random, cal: WorkCalendar, org: Org, now: dt.datetime, rules: AppRules
    ) -> None:
        from workflows.engine import SERIALIZER_VERSION

        self.rnd, self.r, self.bits = rnd, rnd.random, rnd.getrandbits
        self.cal, self.org, self.rules = cal, org, rules
        self.now = cal.seconds(now)
        self.w_now = cal.to_work(self.now)
        self.serializer = SERIALIZER_VERSION
        self.names = org.usernames
        self.items = org.items
        self.cum: list[float] = []
        total = 0.0
        for item in org.items:
            total += item.share
            self.cum.append(total)
        seal = rules.seal  # each applicant sealed once: the same text for all their cases
        self.people = [(n, seal(i), seal(p)) for n, i, p in self._applicants(False, 20000)]
        self.firms = [(n, seal(i), seal(p)) for n, i, p in self._applicants(True, 4000)]
        self.case_lines: list[str] = []
        self.task_days: dict[int, list[str]] = defaultdict(list)
        self.event_days: dict[int, list[str]] = defaultdict(list)
        self.stats: dict[str, int] = defaultdict(int)
        self.cid = self.seq = 0
        self.last = GENESIS

    def _applicants(self, firm: bool, count: int) -> list[tuple[str, str, str]]:
        return [self._applicant(firm) for _ in range(count)]

    def _applicant(self, firm: bool) -> tuple[str, str, str]:
        rnd = self.rnd
        if firm:
            name = f"{rnd.choice(COUNTIES)[:2]}{rnd.choice(FIRMS)}{rnd.choice(TRADES)}有限公司"
            code = "91" + f"{rnd.randrange(10**6):06d}" + "".join(rnd.choices(CODE_CHARS, k=10))
            return name, code, f"0{rnd.randrange(10**10):010d}"
        born = dt.date(1950, 1, 1) + dt.timedelta(days=rnd.randrange(20000))
        number = f"33{rnd.randrange(10**4):04d}{born:%Y%m%d}{rnd.randrange(1000):03d}"
        return _person(rnd), number + rnd.choice("0123456789X"), _phone(rnd)

    def make(self, cid: int, received: int) -> None:
        """Generate one case received at a moment (seconds since the calendar's base)."""
        from bisect import bisect

        item = self.items[min(bisect(self.cum, self.r() * self.cum[-1]), len(self.items) - 1)]
        self.cid, self.seq, self.last = cid, 0, GENESIS
        clerk = self.rnd.choice(item.clerks)
        self._event(
            received,
            "case_received",
            clerk,
            None,
            f'{{"item":"{item.code}","materials":{item.materials}}}',
        )
        roll = self.r()
        case = {
            "status": "received",
            "version": 1,
            "accepted": None,
            "decided": None,
            "closed": None,
            "decision": None,
            "reason": None,
            "basis": None,
            "decider": None,
            "decision_spec": None,
        }
        if roll < P_REFUSED:
            case.update(
                status="refused",
                closed=received,
                reason="不属于本机关职权范围",
                basis="《中华人民共和国行政许可法》第三十二条第一款第二项",
            )
            self._event(received, "case_refused", clerk, None, '{"reason":"不属于本机关职权范围"}')
        elif roll < P_REFUSED + P_SUPPLEMENT:
            self._supplement(item, clerk, received, case)
        else:
            self._accept(item, clerk, received, case)
        self._case_row(item, clerk, received, case)

    def _supplement(self, item: ItemPlan, clerk: int, received: int, case: dict) -> None:
        missing = '{"missing":["identity"]}'
        self._event(received, "supplement_required", clerk, None, missing)
        case["status"] = "supplement_required"
        w_received = self.cal.to_work(received)
        if self.r() < 0.08:  # never supplemented: withdrawn after 30 working days
            w_gone = w_received + 30 * WORK_DAY
            if w_gone < self.w_now:
                gone = self.cal.from_work(w_gone)
                self._event(
                    gone, "case_withdrawn", clerk, None, '{"reason":"逾期未补正，申请人撤回"}'
                )
                case.update(status="withdrawn", closed=gone, version=2)
            return
        w_back = w_received + round((0.5 + 9.5 * self.r()) * WORK_DAY)
        if w_back < self.w_now:
            back = self.cal.from_work(w_back)
            self._event(
                back,
                "materials_supplemented",
                clerk,
                None,
                '{"materials":["identity"],"missing":[]}',
            )
            case["version"] = 2
            self._accept(item, clerk, back, case)

    def _accept(self, item: ItemPlan, clerk: int, at: int, case: dict) -> None:
        """Accept the case at the window and walk its tasks up to now."""
        cal, r = self.cal, self.r
        case.update(status="accepted", accepted=at)
        self._event(
            at,
            "case_accepted",
            clerk,
            None,
            f'{{"diagram_version":1,"process":"{item.template.process_id}"}}',
        )
        groups, result = PATHS[item.template.code](r)
        w_at = cal.to_work(at)
        withdraw = w_at + round(r() * item.promised * WORK_DAY) if r() < P_WITHDRAWN else None
        actor, w_time, time_ = clerk, w_at, at
        rejection = None
        for group in groups:
            if group is ACCEPT:
                self._acceptance_task(item, clerk, at)
                continue
            tasks = [self._new_task(item, spec, outcome, time_, w_time) for spec, outcome in group]
            for task in tasks:
                self._event(
                    time_,
                    "task_assigned",
                    actor,
                    task.id,
                    f'{{"spec":"{task.stage.spec_id}","assignee_id":{task.assignee or "null"}}}',
                )
            stop = self._finish_group(tasks, case, withdraw, clerk)
            if stop:
                return
            last = max(tasks, key=lambda t: t.done)
            actor, w_time, time_ = last.assignee, last.done, cal.from_work(last.done)
            if any(t.outcome == "reject" for t in tasks):
                rejection = True
        decision = "approved" if result == "approved" else "denied"
        case.update(status="decided", decided=time_, decision=decision)
        if rejection:
            case.update(reason=REJECT_REASON, basis=REJECT_BASIS)
        self._event(time_, "case_decided", actor, None, f'{{"decision":"{decision}"}}')
        self._close(item, clerk, w_time, case)

    def _close(self, item: ItemPlan, clerk: int, w_decided: int, case: dict) -> None:
        if self.r() < P_NEVER_COLLECTED:
            return
        wait = 7200 * self.r() if item.promised <= 1 else (0.2 + 4 * self.r()) * WORK_DAY
        w_closed = w_decided + round(wait)
        if w_closed < self.w_now:
            closed = self.cal.from_work(w_closed)
            self._event(closed, "case_closed", clerk, None, '{"note":""}')
            case.update(status="closed", closed=closed, version=case["version"] + 1)

    def _acceptance_task(self, item: ItemPlan, clerk: int, at: int) -> None:
        stage = item.template.stages["Task_accept"]
        task_id = f"{self.bits(128):032x}"
        post = self.rnd.choice(item.posts["window"])
        when = self.cal.text(at)
        limit, _work = item.stage_limit(stage)
        self._task_row(
            at,
            task_id,
            stage,
            post.id,
            clerk,
            None,
            "accepted at the window by the receiving clerk",
            "completed",
            limit,
            when,
            when,
            clerk,
            "approve",
            "受理",
            "{}",
        )
        self._event(
            at, "task_completed", clerk, task_id, '{"spec":"Task_accept","outcome":"approve"}'
        )

    def _new_task(self, item: ItemPlan, spec: str, outcome: str, at: int, w_created: int) -> Open:
        stage = item.template.stages[spec]
        limit, work = item.stage_limit(stage)
        post = self.rnd.choice(item.posts[stage.key])
        assignee, reason, acting = post.pick(self.r())
        took = max(60, round(work * stage_factor(self.r)))
        started = w_created + round(took * 0.3 * self.r())  # opened early in its handling
        return Open(
            f"{self.bits(128):032x}",
            stage,
            post,
            assignee,
            reason,
            acting,
            outcome,
            at,
            w_created,
            limit,
            started,
            w_created + took,
        )

    def _finish_group(
        self, tasks: list[Open], case: dict, withdraw: int | None, clerk: int
    ) -> bool:
        """Complete, leave open or cancel a group's tasks; return whether the case stops."""
        cal = self.cal
        stop_at = withdraw if withdraw is not None and withdraw < self.w_now else None
        stopped = False
        for task in sorted(tasks, key=lambda t: t.done):
            created = task.at
            if stop_at is not None and task.done >= stop_at:
                gone = cal.from_work(max(stop_at, task.created))
                self._event(gone, "task_cancelled", clerk, task.id, '{"reason":"case withdrawn"}')
                started = task.started if task.started < stop_at else None
                self._task_line(task, created, started, "cancelled", cal.text(gone), None)
                stopped = True
            elif task.done >= self.w_now:
                # a quarter of the open tasks their holder has not opened yet
                seen = task.started < self.w_now and self.r() < 0.75
                self._task_line(task, created, task.started if seen else None, "open", None, None)
                stopped = True
            else:
                done = cal.from_work(task.done)
                self._event(
                    done,
                    "task_completed",
                    task.assignee,
                    task.id,
                    f'{{"spec":"{task.stage.spec_id}","outcome":"{task.outcome}"}}',
                )
                self._task_line(
                    task, created, task.started, "completed", cal.text(done), task.assignee
                )
                case["version"] += 1
                case["status"] = "in_progress"
                if task.stage.is_decision:  # the four-eyes rule reads the last decider
                    case.update(decider=task.assignee, decision_spec=task.stage.spec_id)
        if stopped and stop_at is not None:
            gone = cal.from_work(stop_at)
            self._event(gone, "case_withdrawn", clerk, None, '{"reason":"申请人申请撤回"}')
            case.update(status="withdrawn", closed=gone, version=case["version"] + 1)
        return stopped

    def _task_line(
        self,
        task: Open,
        created: int,
        started: int | None,
        state: str,
        ended: str | None,
        by: int | None,
    ) -> None:
        stage = task.stage
        if state != "completed":
            outcome = comment = data = None
        elif task.outcome == "reject":
            outcome, comment = "reject", REJECT_REASON
            data = f'{{"legal_basis":"{REJECT_BASIS}"}}'
        elif task.outcome == "return":
            outcome, comment, data = "return", RETURN_COMMENT, "{}"
        else:
            outcome, comment, data = "approve", "同意", "{}"
        self._task_row(
            created,
            task.id,
            stage,
            task.post.id,
            task.assignee,
            task.acting,
            task.reason,
            state,
            task.limit,
            self.cal.text(self.cal.from_work(started)) if started is not None else None,
            ended,
            by,
            outcome,
            comment,
            data,
        )

    def _task_row(
        self,
        at: int,
        task_id: str,
        stage: Stage,
        post: int,
        assignee: int | None,
        acting: int | None,
        reason: str,
        state: str,
        limit: tuple[float, str] | None,
        started: str | None,
        ended: str | None,
        by: int | None,
        outcome: str | None,
        comment: str | None,
        data: str | None,
    ) -> None:
        self.stats[f"tasks {state}"] += 1
        due = self.rules.task_dues(self.cal.moment(at), limit)
        self.task_days[at // 86400].append(
            f"{task_id}\t{self.cid}\t{stage.spec_id}\t{stage.name}\t{stage.stage}\t{stage.lane}\t"
            f"{post}\t{_n(assignee)}\t{reason}\t{_n(acting)}\t{_n(started)}\t{state}\t"
            f"{'t' if stage.is_decision else 'f'}\t{stage.outcomes}\t{self.cal.text(at)}\t"
            f"{_n(due['due_at'])}\t{_n(due['time_limit'])}\t{_n(due['yellow_at'])}\t"
            f"{'t' if due['due_provisional'] else 'f'}\t{due['shift_days']}\t{_n(ended)}\t"
            f"{_n(by)}\t{_n(outcome)}\t{_n(comment)}\t{_n(data)}\t{NO_VERBS}\n"
        )

    def _event(
        self, at: int, type_: str, actor: int | None, task_id: str | None, data: str
    ) -> None:
        self.seq += 1
        digest = f"{self.bits(256):064x}"
        self.event_days[at // 86400].append(
            f"{self.cid}\t{self.seq}\t{type_}\t{_n(actor)}\t{self.names[actor]}\t"
            f"{self.cal.text(at)}\t{_n(task_id)}\t{data}\t{self.last}\t{digest}\t"
            f"{self.rules.audit_key}\n"
        )
        self.last = digest

    def _case_row(self, item: ItemPlan, clerk: int, received: int, case: dict) -> None:
        cal, status = self.cal, case["status"]
        self.stats[f"cases {status}"] += 1
        name, number, phone = self.rnd.choice(self.firms if item.company else self.people)
        accepted = case["accepted"]
        dues = {"due_at": None, "statutory_due_at": None, "yellow_at": None}
        provisional, promised = False, None
        if accepted is not None:
            dues = self.rules.case_dues(item, cal.moment(accepted))
            provisional, promised = dues["due_provisional"], item.case_days
        running = status in ("accepted", "in_progress", "decided")
        case_no = f"{cal.day_text[received // 86400].replace('-', '')}{self.cid * 7919 % 10**8:08d}"
        self.case_lines.append(
            f"{self.cid}\t{case_no}\t{''.join(self.rnd.choices(QUERY_CHARS, k=6))}\t{item.id}\t"
            f"{item.version_id if accepted is not None else N}\t{status}\t"
            f"{_n(case['decision'])}\t{_n(case['reason'])}\t{_n(case['basis'])}\t"
            f"{name}\t{number}\t{phone}\t{N}\t{item.materials}\t[]\t{item.form}\t{clerk}\t"
            f"{cal.text(received)}\t{_t(cal, accepted)}\t{_t(cal, case['decided'])}\t"
            f"{_t(cal, case['closed'])}\t{_n(dues['due_at'])}\t{_n(dues['statutory_due_at'])}\t"
            f"{_n(promised)}\t{'t' if provisional else 'f'}\t{_n(dues['yellow_at'])}\t"
            f"{N}\t0\t0\t{N}\t"  # paused_at, paused_days, extended_days, reported_at
            f"{STATE_PLACEHOLDER if running else N}\t{self.seq if running else N}\t"
            f"{self.serializer if accepted is not None else N}\t{case['version']}\t"
            f"{self.seq}\t{self.last}\t{_n(case['decider'])}\t{_n(case['decision_spec'])}\n"
        )


def _n(value: object) -> str:
    return N if value is None else str(value)


def _t(cal: WorkCalendar, seconds: int | None) -> str:
    return N if seconds is None else cal.text(seconds)


CASE_COLUMNS = (
    "id", "case_no", "query_code", "item_id", "diagram_version_id", "status", "decision",
    "decision_reason", "legal_basis", "applicant_name", "applicant_id_number", "applicant_phone",
    "applicant_user_id", "materials", "missing_materials", "form", "received_by_id",
    "received_at", "accepted_at", "decided_at", "closed_at", "due_at", "statutory_due_at",
    "promised_days", "due_provisional", "yellow_at", "paused_at", "paused_days",
    "extended_days", "reported_at", "state", "state_seq", "serializer_version", "version",
    "event_seq",
    "last_hash", "last_decider_id", "last_decision_spec",
)  # fmt: skip
NO_VERBS = "\t".join(["\\N"] * 4)  # the approval verbs' four task columns, empty
TASK_COLUMNS = (
    "id", "case_id", "spec_id", "name", "stage", "lane", "post_id", "assignee_id",
    "assignment_reason", "acting_for_id", "started_at", "state", "is_decision", "outcomes",
    "created_at", "due_at", "time_limit", "yellow_at", "due_provisional", "shift_days",
    "completed_at", "completed_by_id", "outcome", "comment", "data",
    # the approval verbs' columns (委派, 加签, 征求意见): none in generated history
    "delegated_to_id", "kind", "added_for", "waits_for",
)  # fmt: skip
EVENT_COLUMNS = (
    "id", "case_id", "seq", "type", "actor_id", "actor", "at", "task_id", "data", "prev_hash",
    "hash", "key_id",
)  # fmt: skip


def check_columns() -> None:
    """Fail early if the models have columns the generator does not fill."""
    from app.audit.models import Event
    from app.cases.models import Case, Task

    for model, columns in ((Case, CASE_COLUMNS), (Task, TASK_COLUMNS), (Event, EVENT_COLUMNS)):
        known = {c.name for c in model.__table__.columns}
        if known != set(columns):
            raise SystemExit(
                f"{model.__tablename__}: the generator fills {sorted(set(columns) - known)} "
                f"but not {sorted(known - set(columns))}; update bench/generate.py"
            )


# --- bulk loading -----------------------------------------------------------------------------


@dataclass
class Schema:
    """Indexes and constraints of the bulk tables, as PostgreSQL prints them."""

    constraints: list[tuple[str, str, str, str]]  # table, name, type, definition
    indexes: list[tuple[str, str, str]]  # table, name, definition

    def signature(self) -> list[tuple[str, ...]]:
        """Return everything that must be the same after loading, sorted.

        Index definitions are compared without casts and parentheses: PostgreSQL prints a
        re-created partial index's `IN (...)` predicate with its casts arranged differently.
        """
        indexes = [(t, n, _bare(d)) for t, n, d in self.indexes]
        return sorted([("c", *c) for c in self.constraints] + [("i", *i) for i in indexes])


def _bare(definition: str) -> str:
    """Return an index definition without casts, parentheses and spacing."""
    return re.sub(r"::[a-z ]+(\[\])?|[()\s]", "", definition)


def read_schema(conn: psycopg.Connection) -> Schema:
    """Return the indexes and constraints on, or referring to, the bulk tables."""
    constraints = conn.execute(
        "SELECT conrelid::regclass::text, conname, contype, pg_get_constraintdef(oid)"
        " FROM pg_constraint WHERE contype IN ('p', 'u', 'f')"
        " AND (conrelid = ANY(%(t)s::regclass[]) OR confrelid = ANY(%(t)s::regclass[]))",
        {"t": list(BIG_TABLES)},
    ).fetchall()
    indexes = conn.execute(
        "SELECT tablename, indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = current_schema() AND tablename = ANY(%s)",
        [list(BIG_TABLES)],
    ).fetchall()
    return Schema([tuple(c) for c in constraints], [tuple(i) for i in indexes])


def drop_schema(conn: psycopg.Connection, schema: Schema) -> None:
    """Drop foreign keys, then keys and indexes of the bulk tables."""
    owned = {name for _t, name, kind, _d in schema.constraints if kind in "pu"}
    order = sorted(schema.constraints, key=lambda c: c[2] != "f")
    with conn.transaction():
        for table, name, _kind, _definition in order:
            conn.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.Identifier(table), sql.Identifier(name)
                )
            )
        for _table, name, _definition in schema.indexes:
            if name not in owned:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))


def restore_schema(conn: psycopg.Connection, schema: Schema) -> None:
    """Recreate keys, indexes, then foreign keys (which validates every row)."""
    owned = {name for _t, name, kind, _d in schema.constraints if kind in "pu"}
    conn.execute("SET maintenance_work_mem = '1GB'")
    steps = [
        (
            name,
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
            ),
        )
        for table, name, kind, definition in schema.constraints
        if kind in "pu"
    ]
    steps += [
        (name, sql.SQL(definition)) for _t, name, definition in schema.indexes if name not in owned
    ]
    steps += [
        (
            name,
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(table), sql.Identifier(name), sql.SQL(definition)
            ),
        )
        for table, name, kind, definition in schema.constraints
        if kind == "f"
    ]
    for name, statement in steps:
        started = time.perf_counter()
        conn.execute(statement)
        print(f"  {name:<44} {time.perf_counter() - started:6.1f} s", flush=True)


class Stream:
    """One COPY ... FREEZE into a table truncated in the same transaction."""

    def __init__(self, url: str, table: str, columns: tuple[str, ...]) -> None:
        self.conn = psycopg.connect(url)
        self.conn.execute("SET synchronous_commit = off")
        self.conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(table)))
        query = sql.SQL("COPY {} ({}) FROM STDIN WITH (FREEZE)").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        self.cursor = self.conn.cursor()
        self._copy_cm = self.cursor.copy(query)
        self.copy = self._copy_cm.__enter__()
        self.rows = 0

    def write(self, lines: list[str]) -> None:
        """Send lines of COPY text."""
        if lines:
            self.copy.write("".join(lines))
            self.rows += len(lines)

    def close(self, ok: bool) -> None:
        """End the COPY and commit it, or abort it and roll back."""
        try:
            if ok:
                self._copy_cm.__exit__(None, None, None)
                self.conn.commit()
            else:
                aborted = RuntimeError("generation failed")
                self._copy_cm.__exit__(RuntimeError, aborted, None)
                self.conn.rollback()
        finally:
            self.conn.close()


def day_counts(rnd: random.Random, cal: WorkCalendar, now: int, total: int) -> list[tuple]:
    """Return (day, cases) for the year before now: weekdays heavier, Mondays busiest."""
    weights = (1.15, 1.05, 1.0, 1.0, 0.9, 0.12, 0.03)
    first = now // 86400 - DAYS_BACK
    days = [
        (d, weights[cal.weekday[d]] * (0.85 + 0.3 * rnd.random()))
        for d in range(first, first + DAYS_BACK)
    ]
    scale = total / sum(w for _d, w in days)
    counts, carried = [], 0.0
    for day, weight in days:
        carried += weight * scale
        counts.append((day, int(carried)))
        carried -= int(carried)
    counts[-1] = (counts[-1][0], counts[-1][1] + total - sum(c for _d, c in counts))
    return counts


def load_cases(
    url: str, org: Org, n_cases: int, seed: int, now: dt.datetime, rules: AppRules
) -> dict:
    """Generate and COPY the cases, tasks and events; return counts."""
    cal = calendar_for(now, rules.calendar.is_working_day)
    rnd = random.Random(seed)
    factory = CaseFactory(rnd, cal, org, now, rules)
    streams = {
        "cases": Stream(url, "cases", CASE_COLUMNS),
        "tasks": Stream(url, "tasks", TASK_COLUMNS),
        "events": Stream(url, "events", EVENT_COLUMNS),
    }
    event_id, cid, ok = 0, 0, False
    started = time.perf_counter()
    days = day_counts(rnd, cal, factory.now, n_cases)
    try:
        for n, (day, count) in enumerate(days, start=1):
            event_id = _flush(factory, streams, day, event_id)
            opens = sorted(rnd.randrange(OPEN_UTC, OPEN_UTC + WORK_DAY) for _ in range(count))
            for clock in opens:
                cid += 1
                factory.make(cid, day * 86400 + clock)
            streams["cases"].write(factory.case_lines)
            factory.case_lines.clear()
            if n % 30 == 0 or n == len(days):
                _progress(started, cid, n_cases, streams)
        _flush(factory, streams, 10**9, event_id)
        ok = True
    finally:
        for stream in streams.values():
            stream.close(ok)
    print(f"  COPY done in {time.perf_counter() - started:.0f} s", flush=True)
    return dict(factory.stats)


def _flush(factory: CaseFactory, streams: dict[str, Stream], before: int, event_id: int) -> int:
    """Write the tasks and events of the days before a day; return the last event id."""
    for day in sorted(d for d in factory.task_days if d < before):
        streams["tasks"].write(factory.task_days.pop(day))
    for day in sorted(d for d in factory.event_days if d < before):
        lines = factory.event_days.pop(day)
        streams["events"].write([f"{event_id + i}\t{line}" for i, line in enumerate(lines, 1)])
        event_id += len(lines)
    return event_id


def _progress(started: float, done: int, total: int, streams: dict[str, Stream]) -> None:
    elapsed = time.perf_counter() - started
    eta = elapsed / done * (total - done) if done else 0
    rows = ", ".join(f"{s.rows:,} {name}" for name, s in streams.items())
    print(
        f"  {done:>9,} / {total:,} cases  {elapsed:5.0f} s  eta {eta:4.0f} s  ({rows})", flush=True
    )


# --- the command ------------------------------------------------------------------------------


def prepare(url: str, force: bool) -> AppRules:
    """Migrate, refuse a database with cases (unless forced), load the demo centre; return
    the app's calendar and keys the generated rows use."""
    from app import create_app
    from app.calendar.services import calendar
    from app.demo import load_demo
    from app.migrate import upgrade_database
    from app.privacy import cipher
    from config import Config

    upgrade_database(url)
    with psycopg.connect(_libpq(url)) as conn:
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
        if cases and not force:
            raise SystemExit(
                f"the database already holds {cases:,} cases; bench.generate fills an empty "
                "database (--force wipes cases, tasks, events and the generated organisation)"
            )
        wipe(conn)
    app = create_app(Config, DATABASE_URL=url, PASSWORD_HASH_METHOD="pbkdf2:sha256:1000")
    with app.app_context():
        load_demo(ROOT / "bpmn")
        rules = AppRules(
            memo_calendar(calendar()), app.extensions["ow_audit_keys"].current, cipher().seal
        )
    app.extensions["ow_engine"].dispose()
    return rules


def wipe(conn: psycopg.Connection) -> None:
    """Remove cases, tasks, events (and rows referring to them) and an earlier run's data."""
    like = f"{GEN}-%"
    with conn.transaction():
        conn.execute("TRUNCATE cases, tasks, events CASCADE")  # and tables that refer to them
        conn.execute(f"TRUNCATE {', '.join(STAT_TABLES)}")  # they refer to items and posts
        conn.execute("DELETE FROM posts WHERE code LIKE %s", [like])
        conn.execute(
            "DELETE FROM diagram_versions WHERE item_id IN"
            " (SELECT id FROM items WHERE code LIKE %s)",
            [like],
        )
        conn.execute("DELETE FROM items WHERE code LIKE %s", [like])
        conn.execute("DELETE FROM users WHERE username LIKE %s", [f"{GEN}__\\_%"])
        conn.execute("DELETE FROM departments WHERE parent_id IS NOT NULL AND code LIKE %s", [like])
        conn.execute("DELETE FROM departments WHERE code LIKE %s", [like])


def _libpq(url: str) -> str:
    """Return a SQLAlchemy URL as a libpq one."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def reset_sequences(conn: psycopg.Connection) -> None:
    """Move every id sequence past the largest id in its table."""
    tables = ("departments", "users", "posts", "items", "diagram_versions", "cases", "events")
    for table in tables:
        conn.execute(
            sql.SQL(
                "SELECT setval(pg_get_serial_sequence({t}, 'id'), coalesce(max(id), 0) + 1, false)"
                " FROM {table}"
            ).format(t=sql.Literal(table), table=sql.Identifier(table))
        )


def shared_password_hash() -> str:
    """Return one hash of the demo password, shared by every generated user."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash("onewindow", method="pbkdf2:sha256:1000")


def _report(conn: psycopg.Connection, stats: dict, org: Org) -> dict:
    counts = {
        t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
        for t in ("departments", "users", "posts", "items", "cases", "tasks", "events")
    }
    print("  " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))
    cases = counts["cases"] or 1
    print(
        f"  {counts['tasks'] / cases:.2f} tasks and {counts['events'] / cases:.2f} events per case"
    )
    for key in sorted(stats):
        share = stats[key] / (cases if key.startswith("cases") else counts["tasks"] or 1)
        print(f"  {key:<28} {stats[key]:>10,}  {share:6.2%}")
    size = conn.execute(
        "SELECT pg_size_pretty(pg_database_size(current_database())),"
        " pg_database_size(current_database())"
    ).fetchone()
    print(f"  database size {size[0]}")
    return {"counts": counts, "stats": dict(stats), "database_bytes": size[1]}


def roll_statistics(url: str, now: dt.datetime) -> int:
    """Roll the statistics cache (app.stats.rollup: the register's settled days, the
    supervision page's on-time rates) for every day from the first case to the day before
    `now`, as the scheduler's job has by then: each day with the app's own roll, rolled at
    `now`, so all but the last are settled. Return the days rolled."""
    from app import create_app
    from app.calendar.services import calendar
    from app.db import session
    from app.stats import rollup
    from config import Config

    started = time.perf_counter()
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(STAT_TABLES)}")
    app = create_app(Config, DATABASE_URL=url, CLOCK=lambda: now)
    with app.app_context():
        db = session()
        first = rollup.first_day(db)
        yesterday = calendar().local(now).date() - dt.timedelta(days=1)
        days = (yesterday - first).days + 1 if first is not None and first <= yesterday else 0
        print(f"rolling the statistics cache: {days} days", flush=True)
        if days:
            rollup.rebuild(db, first, yesterday, now)
    app.extensions["ow_engine"].dispose()
    # rolling a day rewrites its month's rows: compact them as autovacuum keeps them when
    # the days are rolled one a night
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        conn.execute(f"VACUUM (FULL, ANALYZE) {', '.join(STAT_TABLES)}")
    print(f"  rolled in {time.perf_counter() - started:.0f} s", flush=True)
    return days


def main(argv: Iterable[str] | None = None) -> None:
    """Generate the province."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="postgresql+psycopg://... (empty)")
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="wipe cases and generated data")
    add_out_argument(parser, "generate")
    parser.add_argument("--roll-only", action="store_true",
                        help="only roll the statistics cache of a generated database")  # fmt: skip
    args = parser.parse_args(argv)
    if not args.database.startswith("postgresql"):
        raise SystemExit("bench.generate needs a PostgreSQL database URL")
    if args.roll_only:
        roll_statistics(args.database, REFERENCE_NOW)
        return
    check_columns()
    started = time.perf_counter()
    url = _libpq(args.database)
    print("migrating and loading the demo centre", flush=True)
    rules = prepare(args.database, args.force)
    with psycopg.connect(url, autocommit=True) as conn:
        before = read_schema(conn)
        with conn.transaction():
            org = build_org(conn, random.Random(args.seed), args.cases, shared_password_hash())
            write_org(conn, org)
        print(
            f"organisation: {len(org.dept_rows)} departments, {len(org.user_rows)} users, "
            f"{len(org.post_rows)} posts, {len(org.item_rows)} items added",
            flush=True,
        )
        drop_schema(conn, before)
        stats: dict = {}
        try:
            print(f"generating {args.cases:,} cases", flush=True)
            stats = load_cases(url, org, args.cases, args.seed, REFERENCE_NOW, rules)
        finally:
            print("restoring keys, indexes and foreign keys", flush=True)
            restore_schema(conn, before)
        if read_schema(conn).signature() != before.signature():
            raise SystemExit("the indexes and constraints differ from the migrated schema")
        reset_sequences(conn)
        print("analyzing", flush=True)
        conn.execute("ANALYZE")
        figures = _report(conn, stats, org)
    figures["rolled_days"] = roll_statistics(args.database, REFERENCE_NOW)
    seconds = time.perf_counter() - started
    print(f"done in {seconds:.0f} s")
    save(args.out, "generate", {"cases": args.cases, "seed": args.seed, "seconds": seconds,
                                **figures})  # fmt: skip


if __name__ == "__main__":
    main()
