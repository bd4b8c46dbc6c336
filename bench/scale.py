"""Latency at a province's scale: inbox, case page, due-date scans, monthly statistics.

    python -m bench.scale --database URL [--samples 200] [--runs 5] [--out PATH] [--plans DIR]

Run on a database filled by `python -m bench.generate`. The inbox and the case page go
through the real service functions (`list_open_tasks`, `case_detail`) inside an app context,
as a request would; the due-date scans and the monthly statistics are the Core queries
below, which the supervision and statistics features are to reuse. For each, the
EXPLAIN (ANALYZE, BUFFERS) of the statements it sends is written to <plans>/<name>.txt
and the indexes it uses are printed; a table of p50/p95 against the budgets ends the run,
and the figures are saved as JSON to --out (default build/bench/scale-<time>.json). The
plans go to --plans (default build/bench/plans/); the tracked bench/plans/*.txt are the
README's reference plans of the 1,000,000-case database, rewritten only when asked:
`--plans bench/plans`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.cases.models import OPEN_CASE_STATUSES, Case, Task  # noqa: E402
from app.catalogue.models import Item  # noqa: E402
from app.org.models import User  # noqa: E402
from bench.generate import REFERENCE_NOW, WORK_DAY, calendar_for  # noqa: E402
from bench.output import OUT_DIR, add_out_argument, save  # noqa: E402

REFERENCE_PLANS = ROOT / "bench" / "plans"  # tracked: rewritten only with --plans bench/plans
plans_dir = OUT_DIR / "plans"  # where explain() writes; main() sets it from --plans
CASES, TASKS, ITEMS, USERS = Case.__table__, Task.__table__, Item.__table__, User.__table__
BUDGET_MS = {
    "inbox": 20,
    "case_page": 30,
    "due_tasks": 1000,
    "due_cases": 1000,
    "monthly_statistics": 2000,
}


# --- the queries ------------------------------------------------------------------------------


class SecondsBetween(FunctionElement):
    """Seconds from the first timestamp to the second, on PostgreSQL and SQLite."""

    type = sa.Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(SecondsBetween, "postgresql")
def _seconds_between_pg(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"date_part('epoch', ({end}) - ({start}))"


@compiles(SecondsBetween, "sqlite")
def _seconds_between_sqlite(element: SecondsBetween, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


def warning_horizon(now: dt.datetime) -> dt.datetime:
    """Return the end of the next working day: what is due before it needs a warning."""
    cal = calendar_for(now)
    day = cal.to_work(cal.seconds(now)) // WORK_DAY
    return cal.moment(cal.from_work((day + 2) * WORK_DAY - 1) + 1)


def due_tasks_query(horizon: dt.datetime) -> sa.Select:
    """Return the open tasks due before the horizon, overdue first, with case and assignee."""
    t, c, u = TASKS.c, CASES.c, USERS.c
    return (
        sa.select(
            t.id,
            t.case_id,
            c.case_no,
            t.name,
            t.stage,
            t.created_at,
            t.due_at,
            t.assignee_id,
            u.username.label("assignee"),
            u.name.label("assignee_name"),
        )
        .select_from(TASKS.join(CASES, c.id == t.case_id).outerjoin(USERS, u.id == t.assignee_id))
        .where(t.state == "open", t.due_at < horizon)
        .order_by(t.due_at)
    )


def due_cases_query(horizon: dt.datetime) -> sa.Select:
    """Return the open cases whose promised date falls before the horizon, overdue first."""
    c, i = CASES.c, ITEMS.c
    return (
        sa.select(
            c.id,
            c.case_no,
            c.status,
            c.item_id,
            i.name.label("item_name"),
            c.received_at,
            c.accepted_at,
            c.due_at,
            c.statutory_due_at,
        )
        .select_from(CASES.join(ITEMS, i.id == c.item_id))
        .where(c.status.in_(OPEN_CASE_STATUSES), c.due_at < horizon)
        .order_by(c.due_at)
    )


def monthly_statistics_query(start: dt.datetime, end: dt.datetime) -> sa.Select:
    """Return per department and item: accepted, decided, approved, denied, on time, days.

    Cases are counted per item first (grouping on one integer), then named from items.
    """
    c, i = CASES.c, ITEMS.c
    accepted = sa.and_(c.accepted_at >= start, c.accepted_at < end)
    decided = sa.and_(c.decided_at >= start, c.decided_at < end)
    per_item = (
        sa.select(
            c.item_id,
            sa.func.count().filter(accepted).label("accepted"),
            sa.func.count().filter(decided).label("decided"),
            sa.func.count().filter(decided, c.decision == "approved").label("approved"),
            sa.func.count().filter(decided, c.decision == "denied").label("denied"),
            sa.func.count().filter(decided, c.decided_at <= c.due_at).label("on_time"),
            sa.func.avg(SecondsBetween(c.accepted_at, c.decided_at))
            .filter(decided)
            .label("avg_seconds"),
        )
        .where(sa.or_(accepted, decided))
        .group_by(c.item_id)
        .subquery("per_item")
    )
    n = per_item.c
    return (
        sa.select(
            i.department_id,
            n.item_id,
            i.code.label("item_code"),
            i.name.label("item_name"),
            n.accepted,
            n.decided,
            n.approved,
            n.denied,
            n.on_time,
            (sa.cast(n.on_time, sa.Float) / sa.func.nullif(n.decided, 0)).label("on_time_rate"),
            (n.avg_seconds / 86400.0).label("avg_days"),
        )
        .join_from(per_item, ITEMS, i.id == n.item_id)
        .order_by(i.department_id, n.item_id)
    )


def previous_month(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Return the first moments of the last full month and of the month after it."""
    end = dt.datetime(now.year, now.month, 1)
    start = (end - dt.timedelta(days=1)).replace(day=1)
    return start, end


# --- measuring --------------------------------------------------------------------------------


@dataclass
class Result:
    """Timings of one measured operation."""

    name: str
    times_ms: list[float]
    budget_ms: float
    rows: list[int] = field(default_factory=list)
    indexes: list[str] = field(default_factory=list)
    seq_scans: list[str] = field(default_factory=list)

    def pct(self, p: float) -> float:
        """Return a percentile of the timings (nearest rank)."""
        ordered = sorted(self.times_ms)
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    @property
    def ok(self) -> bool:
        """Return whether p95 is within the budget."""
        return self.pct(95) < self.budget_ms


class Capture:
    """Record the statements an engine sends while active."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.statements, self.active = engine, [], False
        event.listen(engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.active and statement.lstrip().upper().startswith(("SELECT", "WITH")):
            self.statements.append((statement, parameters))

    def run(self, func: Callable[[], Any]) -> list[tuple[str, Any]]:
        """Run a function and return the SELECT statements it sent."""
        self.statements, self.active = [], True
        try:
            func()
        finally:
            self.active = False
        return self.statements


INDEX_RE = re.compile(
    r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
)
SEQ_RE = re.compile(r"Seq Scan on (\w+)")


def explain(engine: sa.Engine, name: str, statements: list[tuple[str, Any]], note: str) -> str:
    """Write EXPLAIN (ANALYZE, BUFFERS) of the statements to `plans_dir`; return the text."""
    parts = [
        f"-- {name}: {note}",
        f"-- {dt.datetime.now():%Y-%m-%d %H:%M} on {engine.url.database}",
    ]
    with engine.connect() as conn:
        for n, (statement, parameters) in enumerate(statements, start=1):
            plan = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters
            ).scalars()
            parts += [f"\n-- statement {n} of {len(statements)}", statement.strip() + ";"]
            parts += [f"-- parameters: {parameters!r}", "", *plan]
        conn.rollback()
    text = "\n".join(parts) + "\n"
    plans_dir.mkdir(parents=True, exist_ok=True)
    (plans_dir / f"{name}.txt").write_text(text, encoding="utf-8")
    return text


def plan_indexes(plan: str) -> tuple[list[str], list[str]]:
    """Return the indexes a plan uses and the tables it reads whole."""
    return sorted(set(INDEX_RE.findall(plan))), sorted(set(SEQ_RE.findall(plan)))


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    """Return milliseconds taken by a call and its result."""
    started = time.perf_counter()
    result = func()
    return (time.perf_counter() - started) * 1000, result


def sample_officials(engine: sa.Engine, rnd: random.Random, samples: int) -> list[int]:
    """Return user ids with open tasks: mostly random ones, a tenth from the busiest."""
    t = TASKS.c
    query = (
        sa.select(t.assignee_id, sa.func.count().label("n"))
        .where(t.state == "open", t.assignee_id.is_not(None))
        .group_by(t.assignee_id)
        .order_by(sa.func.count().desc())
    )
    with engine.connect() as conn:
        holders = [r.assignee_id for r in conn.execute(query)]
    busiest = holders[:20]
    picked = [rnd.choice(busiest) for _ in range(samples // 10)]
    return picked + [rnd.choice(holders) for _ in range(samples - len(picked))]


def sample_cases(engine: sa.Engine, rnd: random.Random, samples: int) -> list[str]:
    """Return case numbers: half of open cases, half of any case."""
    c = CASES.c
    with engine.connect() as conn:
        top = conn.execute(sa.select(sa.func.max(c.id))).scalar_one()
        ids = [rnd.randint(1, top) for _ in range(samples - samples // 2)]
        any_case = conn.execute(sa.select(c.case_no).where(c.id.in_(ids))).scalars().all()
        open_cases = conn.execute(
            sa.select(c.case_no)
            .where(c.status.in_(("accepted", "in_progress")))
            .order_by(sa.func.random())
            .limit(samples // 2)
        ).scalars()
        numbers = list(any_case) + list(open_cases)
    rnd.shuffle(numbers)
    return numbers


def bench_inbox(app, capture: Capture, rnd: random.Random, samples: int) -> Result:
    """Time list_open_tasks for officials with open tasks."""
    from app.cases.services import list_open_tasks
    from app.db import session

    engine = app.extensions["ow_engine"]
    ids = sample_officials(engine, rnd, samples)
    with app.app_context():
        users = {u.id: u for u in session().scalars(sa.select(User).where(User.id.in_(ids)))}
        session().expunge_all()
    result = Result("inbox", [], BUDGET_MS["inbox"])
    for user_id in ids[:10]:  # warm up: compile statements, fill the pool
        with app.app_context():
            list_open_tasks(users[user_id])
    for user_id in ids:
        with app.app_context():
            ms, rows = timed(lambda uid=user_id: list_open_tasks(users[uid]))
        result.times_ms.append(ms)
        result.rows.append(len(rows))
    busiest = ids[0]
    with app.app_context():
        statements = capture.run(lambda: list_open_tasks(users[busiest]))
    note = f"list_open_tasks for user {busiest}, one of the 20 with the most open tasks"
    return _with_plan(engine, result, statements, note)


def bench_case_page(app, capture: Capture, rnd: random.Random, samples: int) -> Result:
    """Time get_case as an auditor for open and closed cases."""
    from app.cases.services import case_detail, require_case
    from app.db import session

    def get_case(actor, case_no):
        return case_detail(require_case(actor, case_no))

    engine = app.extensions["ow_engine"]
    numbers = sample_cases(engine, rnd, samples)
    with app.app_context():
        auditor = session().scalars(sa.select(User).where(User.roles.like("%auditor%"))).first()
        session().expunge_all()
    result = Result("case_page", [], BUDGET_MS["case_page"])
    for case_no in numbers[:10]:
        with app.app_context():
            get_case(auditor, case_no)
    for case_no in numbers:
        with app.app_context():
            ms, found = timed(lambda no=case_no: get_case(auditor, no))
        result.times_ms.append(ms)
        result.rows.append(len(found.tasks))
    with app.app_context():
        statements = capture.run(lambda: get_case(auditor, numbers[0]))
    return _with_plan(engine, result, statements, f"get_case as an auditor for {numbers[0]}")


def bench_query(
    engine: sa.Engine, capture: Capture, name: str, query: sa.Select, runs: int, note: str
) -> Result:
    """Time a Core query that returns all its rows, on a pooled connection."""
    result = Result(name, [], BUDGET_MS[name])
    with engine.connect() as conn:
        conn.execute(query).all()  # warm up
        for _ in range(runs):
            ms, rows = timed(lambda: conn.execute(query).all())
            result.times_ms.append(ms)
            result.rows.append(len(rows))
        conn.rollback()
    with engine.connect() as conn:
        statements = capture.run(lambda: conn.execute(query).all())
    return _with_plan(engine, result, statements, note)


def _with_plan(engine: sa.Engine, result: Result, statements: list, note: str) -> Result:
    plan = explain(engine, result.name, statements, note)
    result.indexes, result.seq_scans = plan_indexes(plan)
    used = ", ".join(result.indexes) or "no index"
    whole = f"; reads whole: {', '.join(result.seq_scans)}" if result.seq_scans else ""
    print(f"  {result.name:<19} index: {used}{whole}", flush=True)
    return result


# --- reporting --------------------------------------------------------------------------------


def database_figures(engine: sa.Engine) -> dict[str, Any]:
    """Return row counts of cases, tasks, events and open tasks, and the database size."""
    with engine.connect() as conn:
        figures = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("users", "items", "cases", "tasks", "events")
        }
        figures["open tasks"] = conn.execute(
            sa.select(sa.func.count()).where(TASKS.c.state == "open")
        ).scalar_one()
        figures["open cases"] = conn.execute(
            sa.select(sa.func.count()).where(CASES.c.status.in_(OPEN_CASE_STATUSES))
        ).scalar_one()
        size = "SELECT pg_database_size(current_database())"
        figures["database bytes"] = conn.execute(sa.text(size)).scalar_one()
        for table in ("cases", "tasks", "events"):
            figures[f"{table} bytes"] = conn.execute(
                sa.text("SELECT pg_total_relation_size(:t)"), {"t": table}
            ).scalar_one()
    return figures


def print_table(results: Iterable[Result]) -> None:
    """Print name, p50, p95, p99, budget and pass/fail."""
    header = f"{'name':<19}{'n':>5}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'budget':>10}  result"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:<19}{len(r.times_ms):>5}{r.pct(50):>10.1f}{r.pct(95):>10.1f}"
            f"{r.pct(99):>10.1f}{'< ' + str(int(r.budget_ms)):>10}  {'pass' if r.ok else 'FAIL'}"
        )


def print_figures(figures: dict[str, Any]) -> None:
    """Print the row counts and sizes."""
    for key, value in figures.items():
        if key.endswith("bytes"):
            print(f"  {key.removesuffix(' bytes') + ' size':<16} {value / 2**30:8.2f} GiB")
        else:
            print(f"  {key:<16} {value:>12,}")


def main(argv: Iterable[str] | None = None) -> None:
    """Measure and report."""
    from app import create_app
    from config import Config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database", required=True, help="postgresql+psycopg://... (generated)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="runs of each scan and statistic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=REFERENCE_NOW)
    parser.add_argument(
        "--plans",
        type=Path,
        default=None,
        help="directory for the EXPLAIN plans (default build/bench/plans; the tracked "
        "reference plans: bench/plans)",
    )
    add_out_argument(parser, "scale")
    args = parser.parse_args(argv)
    global plans_dir
    plans_dir = args.plans or OUT_DIR / "plans"
    rnd = random.Random(args.seed)
    app = create_app(Config, DATABASE_URL=args.database)
    engine = app.extensions["ow_engine"]
    capture = Capture(engine)
    horizon = warning_horizon(args.now)
    start, end = previous_month(args.now)
    print(f"now {args.now:%Y-%m-%d %H:%M} UTC, warning horizon {horizon:%Y-%m-%d %H:%M} UTC, "
          f"statistics for {start:%Y-%m}")  # fmt: skip
    figures = database_figures(engine)
    print_figures(figures)
    results = [
        bench_inbox(app, capture, rnd, args.samples),
        bench_case_page(app, capture, rnd, args.samples),
        bench_query(
            engine,
            capture,
            "due_tasks",
            due_tasks_query(horizon),
            args.runs,
            f"open tasks due before {horizon}",
        ),  # fmt: skip
        bench_query(
            engine,
            capture,
            "due_cases",
            due_cases_query(horizon),
            args.runs,
            f"open cases due before {horizon}",
        ),  # fmt: skip
        bench_query(
            engine,
            capture,
            "monthly_statistics",
            monthly_statistics_query(start, end),
            args.runs,
            f"cases accepted or decided in {start:%Y-%m}",
        ),  # fmt: skip
    ]
    for r in results:
        print(f"  {r.name:<19} rows: median {statistics.median(r.rows):,.0f}, max {max(r.rows):,}")
    print()
    print_table(results)
    summary = {
        r.name: {"p50_ms": r.pct(50), "p95_ms": r.pct(95), "budget_ms": r.budget_ms, "ok": r.ok}
        for r in results
    }
    payload = {"now": args.now, "figures": figures, "summary": summary,
               "results": [asdict(r) for r in results], "plans": str(plans_dir)}  # fmt: skip
    save(args.out, "scale", payload)
    print(f"plans in {plans_dir}/")
    engine.dispose()


if __name__ == "__main__":
    main()
