"""Timer lateness: N cases each wait for a BPMN timer; how late does the scheduler fire them?

    python -m bench.timers [--timers 10000] [--window 3600] [--observe 90] [--burst 1000]
                           [--database URL ...] [--margin 10] [--workers N] [--processes P]
                           [--out PATH]

Steady load: N cases are created first (through the service layer), their due times spread
evenly over `window` seconds starting after the creation; the scheduler (the one the
server runs) then runs for `observe` seconds, with all N timers waiting, and the lateness
(fired_at - due_at as stored) of those that came due is measured. Budget: p99 < 2 s.
Burst: `burst` more timers all due at the same instant show the firing capacity (timers/s),
fired on the scheduler's lanes (--workers threads: by default 4 on PostgreSQL, 1 on SQLite;
--processes: by default one per core on PostgreSQL, none on SQLite).
Without --database it runs on a new SQLite file and a new PostgreSQL database (dropped
afterwards) if one answers at OW_BENCH_PG. The figures are saved as JSON to --out (default
build/bench/timers-<time>.json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from bench.output import add_out_argument, save  # noqa: E402
from bench.throughput import _drop_pg_database, _new_pg_database, prepare_database  # noqa: E402

DIAGRAM = Path(__file__).resolve().parent / "data" / "notice-timer.bpmn"


def _add_item(app) -> None:
    from app.catalogue.models import Item
    from app.catalogue.services import deploy_version
    from app.db import session
    from app.org.models import Department

    with app.app_context():
        db = session()
        department = db.scalars(sa.select(Department)).first()
        item = Item(
            code="notice-bench", name="公示期事项", kind="promised", department_id=department.id,
            process_id="P", statutory_days=20, promised_days=10,
            entry={"materials": [], "form": [
                {"id": "notice_ends", "label": "公示截止", "type": "string", "required": True}]},
        )  # fmt: skip
        db.add(item)
        db.flush()
        deploy_version(item, DIAGRAM.read_bytes(), DIAGRAM.name, None, "bench")
        db.commit()


def _create_cases(app, count: int, first_due: dt.datetime, window: float) -> float:
    from app.cases import services
    from app.db import session
    from app.org.models import User

    with app.app_context():
        clerk = session().scalars(sa.select(User).where(User.username == "clerk_liu")).one()
    applicant = services.Applicant("李华", "330102199001011234")
    started = time.perf_counter()
    for i in range(count):
        due = first_due + dt.timedelta(seconds=window * i / count)
        with app.app_context():
            services.receive_case(
                clerk, "notice-bench", applicant, [], {"notice_ends": due.isoformat() + "+00:00"}
            )
    return time.perf_counter() - started


def _lateness(app, until: dt.datetime) -> tuple[list[float], int]:
    """Return lateness (s) of every timer due by `until` (unfired ones count until then)."""
    from app.cases.models import Timer
    from app.db import session

    query = sa.select(Timer.due_at, Timer.fired_at, Timer.state).where(Timer.node_id == "wait")
    with app.app_context():
        rows = session().execute(query).all()
    due = [r for r in rows if r.due_at <= until]
    late = sorted(((r.fired_at or until) - r.due_at).total_seconds() for r in due)
    return late, sum(1 for r in rows if r.state == "waiting")


def bench_timers(
    url: str,
    count: int,
    window: float,
    observe: float,
    burst: int,
    margin: float = 10.0,
    workers: int | None = None,
    processes: int | None = None,
) -> dict:
    """Create the cases, run the scheduler for a while, return lateness and capacity."""
    from app import create_app
    from app.db import utcnow
    from app.scheduler import TimerScheduler
    from config import Config

    prepare_database(url)
    app = create_app(Config, DATABASE_URL=url, TIMER_WORKERS=workers, TIMER_PROCESSES=processes)
    _add_item(app)
    lead = count / 80 + margin  # creation must end before the first timer is due
    first_due = utcnow() + dt.timedelta(seconds=lead)
    created_in = _create_cases(app, count, first_due, window)
    scheduler = TimerScheduler(app)
    app.extensions["ow_scheduler"] = scheduler
    scheduler.start()
    scheduler.lanes.warm()  # the lane processes up before the burst (a centre's first burst
    # starts them and goes to the threads meanwhile)
    try:
        time.sleep(max(0.0, (first_due - utcnow()).total_seconds()) + observe)
        late, waiting = _lateness(app, utcnow())
        burst_due = utcnow() + dt.timedelta(seconds=burst / 80 + margin / 2)
        before = scheduler.fired
        _create_cases(app, burst, burst_due, 0.0)
        time.sleep(max(0.0, (burst_due - utcnow()).total_seconds()))
        started = time.perf_counter()
        while scheduler.fired - before < burst and time.perf_counter() - started < 300:
            time.sleep(0.05)
        burst_rate = (scheduler.fired - before) / (time.perf_counter() - started)
    finally:
        scheduler.shutdown()
    app.extensions["ow_engine"].dispose()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p / 100 * len(late)))] if late else float("nan")

    return {
        "waiting timers": count,
        "created per s": count / created_in,
        "first due after creation s": lead - created_in,
        "came due while observed": len(late),
        "still waiting then": waiting,
        "lateness p50 s": pct(50),
        "lateness p99 s": pct(99),
        "lateness max s": late[-1] if late else float("nan"),
        "burst capacity timers/s": burst_rate,
        "lanes": scheduler.workers,
        "lane processes": scheduler.lanes.processes,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--timers", type=int, default=10000)
    parser.add_argument("--window", type=float, default=3600.0)
    parser.add_argument("--observe", type=float, default=90.0)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--database", action="append")
    parser.add_argument(
        "--margin", type=float, default=10.0, help="seconds of slack before the timers are due"
    )
    parser.add_argument(
        "--workers", type=int, help="the scheduler's lanes (TIMER_WORKERS; default: its own)"
    )
    parser.add_argument(
        "--processes", type=int,
        help="the scheduler's lane processes (TIMER_PROCESSES; default: one per core on "
        "PostgreSQL, none on SQLite)",
    )  # fmt: skip
    add_out_argument(parser, "timers")
    args = parser.parse_args(argv)
    databases: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        targets = args.database or [f"sqlite:///{tmp}/timers.sqlite3"]
        made = None if args.database else _new_pg_database()
        if made:
            targets.append(made)
        try:
            for url in targets:
                figures = bench_timers(url, args.timers, args.window, args.observe, args.burst,
                                       args.margin, args.workers, args.processes)  # fmt: skip
                kind = url.split(":", 1)[0]
                print(f"\n{kind}: {args.timers} timers due over {args.window:.0f} s")
                for name, value in figures.items():
                    print(f"  {name:28} {value:10.3f}" if isinstance(value, float)
                          else f"  {name:28} {value:10}")  # fmt: skip
                verdict = "meets" if figures["lateness p99 s"] < 2 else "MISSES"
                print(f"  p99 lateness {verdict} the 2 s budget")
                databases[kind.split("+")[0]] = figures
        finally:
            if made:
                _drop_pg_database(made)
    save(args.out, "timers", {"timers": args.timers, "window_s": args.window,
                              "observe_s": args.observe, "burst": args.burst,
                              "databases": databases})  # fmt: skip


if __name__ == "__main__":
    main()
