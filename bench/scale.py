"""Latency at a province's scale: inbox, case page, the scheduler's scans, monthly statistics.

    python -m bench.scale --database URL [--samples 200] [--runs 10] [--only NAMES] [--out PATH]
                            [--plans DIR]

Run on a database filled by `python -m bench.generate`. Every figure is a call of the
app's own function, inside an app context whose clock (CLOCK) stands at --now (the
generator's reference time), as a request or the scheduler makes it:

- inbox: `app.cases.queries.list_open_tasks` for officials with open tasks;
- case_page: `case_detail(require_case(...))` as an auditor, open and closed cases;
- card_scan: `app.supervision.services.candidates` (the yellow and red cards due, the
  scheduler's warning round), then `next_threshold` (when to wake next);
- card_scan_issued: the same scan once every card due is issued (cards inserted in a
  transaction that is rolled back): the steady state of a running centre;
- card_close: `app.supervision.services.close_finished` (closing the cards of finished work);
- ab_moves: `app.org.absences.planned_moves`, the scan of `reconcile` (the A/B moves at an
  absence boundary): which open tasks move, and where to (the moves are not written);
- ab_moves_settled: the same once the moves pending in the generated data are made (in a
  transaction that is rolled back): the steady state;
- overdue: `app.supervision.reports.overview` (the supervision page: open cards, overdue and
  reported cases, urging notices, on-time rates, faulted cases);
- due_timers: `app.cases.timers.due_ids` and `next_due` (the timer round's claim side);
- monthly_statistics: `app.stats.queries.register` of the last full month by department
  (the statistics page and the monthly report count this way).

For each, the EXPLAIN (ANALYZE, BUFFERS) of the statements it sends is written to
<plans>/<name>.txt and the indexes it uses are printed; a table of p50/p95 against the
budgets ends the run, and the figures are saved as JSON to --out (default
build/bench/scale-<time>.json). The plans go to --plans (default build/bench/plans/); the
tracked bench/plans/*.txt are the README's reference plans of the 1,000,000-case database,
rewritten only when asked: `--plans bench/plans`. Nothing is written to the database (the
reads run in transactions that are rolled back, and the tables the steady-state runs wrote
to are vacuumed after; `close_finished` updates only finished cards, which a generated
database has none of).
"""

from __future__ import annotations

import argparse
import contextlib
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.cases.models import OPEN_CASE_STATUSES, Case, Task  # noqa: E402
from app.org.models import User  # noqa: E402
from bench.generate import REFERENCE_NOW  # noqa: E402
from bench.output import OUT_DIR, add_out_argument, save  # noqa: E402

REFERENCE_PLANS = ROOT / "bench" / "plans"  # tracked: rewritten only with --plans bench/plans
plans_dir = OUT_DIR / "plans"  # where explain() writes; main() sets it from --plans
CASES, TASKS = Case.__table__, Task.__table__
BUDGET_MS = {
    "inbox": 5,
    "case_page": 30,
    "card_scan": 100,
    "card_scan_issued": 100,
    "ab_moves_settled": 100,
    "card_close": 100,
    "ab_moves": 100,
    "overdue": 100,
    "due_timers": 100,
    "monthly_statistics": 500,
}


def previous_month(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """Return the first and the last day of the last full month before `now`."""
    end = dt.date(now.year, now.month, 1) - dt.timedelta(days=1)
    return end.replace(day=1), end


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
        if (self.active and not executemany
                and statement.lstrip().upper().startswith(READS_AND_WRITES)):  # fmt: skip
            self.statements.append((statement, parameters))

    def run(self, func: Callable[[], Any]) -> list[tuple[str, Any]]:
        """Run a function and return the statements it sent (EXPLAIN ANALYZE of a write runs
        in a transaction that explain() rolls back)."""
        self.statements, self.active = [], True
        try:
            func()
        finally:
            self.active = False
        return self.statements


READS_AND_WRITES = ("SELECT", "WITH", "UPDATE", "INSERT", "DELETE")
INDEX_RE = re.compile(
    r"(?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)"
)
SEQ_RE = re.compile(r"Seq Scan on (\w+)")


def explain(engine: sa.Engine, name: str, statements: list[tuple[str, Any]], note: str,
            on: sa.Connection | None = None) -> str:  # fmt: skip
    """Write EXPLAIN (ANALYZE, BUFFERS) of the statements to `plans_dir`; return the text.
    `on`: the connection to explain them on (one with uncommitted rows), else a new one."""
    parts = [
        f"-- {name}: {note}",
        f"-- {dt.datetime.now():%Y-%m-%d %H:%M} on {engine.url.database}",
    ]
    with contextlib.nullcontext(on) if on is not None else engine.connect() as conn:
        for n, (statement, parameters) in enumerate(statements, start=1):
            parts += [f"\n-- statement {n} of {len(statements)}", statement.strip() + ";"]
            parts += [f"-- parameters: {parameters!r}", ""]
            try:
                with conn.begin_nested():  # a write explained alone may fail: note it, go on
                    explained = "EXPLAIN (ANALYZE, BUFFERS) " + statement
                    parts += list(conn.exec_driver_sql(explained, parameters).scalars())
            except sa.exc.DBAPIError as exc:
                parts.append(f"-- not explained: {str(exc.orig).splitlines()[0]}")
        if on is None:
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


def bench_call(app, capture: Capture, name: str, func: Callable[[], Any], runs: int,
               note: str, count: Callable[[Any], int] = len) -> Result:  # fmt: skip
    """Time an app function in an app context (rolled back after each call), as the
    scheduler or a request calls it; `count` says how many rows it found."""
    from app.db import session

    def once() -> Any:
        with app.app_context():
            try:
                return func()
            finally:
                session().rollback()

    result = Result(name, [], BUDGET_MS[name])
    once()  # warm up: compile the statements, fill the pool
    for _ in range(runs):
        ms, found = timed(once)
        result.times_ms.append(ms)
        result.rows.append(count(found))
    statements = capture.run(once)
    return _with_plan(app.extensions["ow_engine"], result, statements, note)


def app_calls(now: dt.datetime) -> list[tuple]:
    """The scans the scheduler and the supervision page run, and the monthly statistics:
    (name, the app's function, note, how to count what it found)."""
    from app.cases.timers import due_ids, next_due
    from app.db import session
    from app.org.absences import planned_moves
    from app.stats.periods import Period
    from app.stats.queries import register
    from app.supervision.reports import overview
    from app.supervision.services import candidates, close_finished, next_threshold

    def card_scan() -> list:
        found = candidates(session(), now)
        next_threshold(session(), now)
        return found

    def due_timers() -> list:
        found = due_ids(session(), now)
        next_due(session())
        return found

    since, until = previous_month(now)
    return [
        ("card_scan", card_scan,
         "candidates (the cards due) and next_threshold, as the warning round", len),
        ("card_close", close_finished,
         "close_finished: the open cards of finished tasks and cases", int),
        ("ab_moves", lambda: planned_moves(session(), now),
         "planned_moves: reconcile's scan at an absence boundary (what to move)",
         lambda moves: sum(len(m) for m in moves.values())),
        ("overdue", overview,
         "overview(): open cards, overdue and reported cases, urgings, rates",
         lambda o: len(o["overdue"])),
        ("due_timers", due_timers, "due_ids and next_due, as the timer round", len),
        ("monthly_statistics", lambda: register(Period(since, until), "department"),
         f"register of {since:%Y-%m} by department (the monthly report's)", len),
    ]  # fmt: skip


def bench_settled(app, capture: Capture, name: str, settle: Callable, scan: Callable,
                  runs: int, note: str, count: Callable[[Any], int] = len) -> Result:  # fmt: skip
    """Time a scan in the steady state of a running centre, which a generated database is
    not in (no card issued, tasks a B holds while A is back): `settle(db)` does first what
    the scheduler would have done, in a transaction that is rolled back at the end; the scan
    and its plans run inside it."""
    from app.db import session

    result = Result(name, [], BUDGET_MS[name])
    with app.app_context():
        db = session()
        done = settle(db)
        scan(db)
        for _ in range(runs):
            ms, found = timed(lambda: scan(db))
            result.times_ms.append(ms)
            result.rows.append(count(found))
        statements = capture.run(lambda: scan(db))
        plan = explain(app.extensions["ow_engine"], name, statements, note.format(done=done),
                       on=db.connection())  # fmt: skip
        db.rollback()
    # the rolled-back rows leave dead index entries that would slow whatever runs next
    with app.extensions["ow_engine"].connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("warnings", "tasks", "cases", "events"):
            conn.exec_driver_sql(f"VACUUM {table}")
    result.indexes, result.seq_scans = plan_indexes(plan)
    print(f"  {name:<19} index: {', '.join(result.indexes) or 'no index'}", flush=True)
    return result


def settled_scans(now: dt.datetime) -> list[tuple]:
    """The scans in the steady state: (name, settle, scan, note, count)."""
    from app.org.absences import _reconcile, planned_moves
    from app.supervision.models import WarningCard
    from app.supervision.services import candidates, next_threshold

    def issue_all(db) -> int:
        found = candidates(db, now)
        if found:
            db.execute(sa.insert(WarningCard), [
                {"subject": c.subject, "case_id": c.case_id, "task_id": c.task_id,
                 "level": c.level, "due_at": c.due_at, "holder_id": c.holder_id,
                 "post_id": c.post_id, "issued_at": now}
                for c in found
            ])  # fmt: skip
        return len(found)

    def card_scan(db) -> list:
        found = candidates(db, now)
        next_threshold(db, now)
        return found

    return [
        ("card_scan_issued", issue_all, card_scan,
         "the warning round's scan with the {done:,} cards due issued (rolled back)", len),
        ("ab_moves_settled", lambda db: _reconcile(db, now),
         lambda db: planned_moves(db, now),
         "planned_moves after the {done:,} pending moves were made (rolled back)",
         lambda moves: sum(len(m) for m in moves.values())),
    ]  # fmt: skip


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
    parser.add_argument("--runs", type=int, default=10, help="runs of each scan and statistic")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--now", type=dt.datetime.fromisoformat, default=REFERENCE_NOW)
    parser.add_argument(
        "--plans",
        type=Path,
        default=None,
        help="directory for the EXPLAIN plans (default build/bench/plans; the tracked "
        "reference plans: bench/plans)",
    )
    parser.add_argument("--only", help=f"comma-separated, of: {', '.join(BUDGET_MS)}")
    add_out_argument(parser, "scale")
    args = parser.parse_args(argv)
    global plans_dir
    plans_dir = args.plans or OUT_DIR / "plans"
    rnd = random.Random(args.seed)
    now = args.now
    app = create_app(Config, DATABASE_URL=args.database, CLOCK=lambda: now)
    engine = app.extensions["ow_engine"]
    capture = Capture(engine)
    since, until = previous_month(now)
    print(f"now {now:%Y-%m-%d %H:%M} UTC (the app's clock), statistics for {since:%Y-%m}")
    figures = database_figures(engine)
    print_figures(figures)
    wanted = set(args.only.split(",")) if args.only else set(BUDGET_MS)
    results = []
    if "inbox" in wanted:
        results.append(bench_inbox(app, capture, rnd, args.samples))
    if "case_page" in wanted:
        results.append(bench_case_page(app, capture, rnd, args.samples))
    for name, func, note, count in app_calls(now):
        if name in wanted:
            results.append(bench_call(app, capture, name, func, args.runs, note, count))
    for name, settle, scan, note, count in settled_scans(now):
        if name in wanted:
            results.append(bench_settled(app, capture, name, settle, scan, args.runs, note,
                                         count))  # fmt: skip
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
