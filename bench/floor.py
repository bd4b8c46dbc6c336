"""What a step must cost at least: the raw engine (a) against the parts of a OneWindow step.

    python -m bench.floor [--cases N] [--only sqlite|postgresql] [--out PATH]

On the joint-approval item of bench.throughput, in one run per database:

(a)  raw SpiffWorkflow serializing and deserializing the whole workflow after every step
     (bench.throughput's baseline);
(e)  the same engine moves without any serializing: what any service running this diagram
     must compute per task;
(b)  OneWindow's service layer with its database, one thread (bench.throughput's (b)), while
     every SQL statement it sends, with its parameters, is recorded per operation;
(s)  those recorded statements replayed on a second, identical database with the bare driver
     and nothing else: per operation BEGIN and the statements in one pipeline (PostgreSQL;
     reads synced where their rows are needed), then the COMMIT. This is the database's part
     of a step with the fewest round trips the step allows, no SQLAlchemy, no engine, no app.
     PostgreSQL also runs two variants that the app does not use, to show where (s) goes:
     the COMMIT in the same round trip as the writes, and `synchronous_commit = off`.

floor = (e) + (s): a step of (b) can cost no less, whatever its own code does. What is left
of (a)'s time per task after the floor is all the room (b) has for the rest of a step (the
access check, the A/B choice of holder, due dates on the working-day calendar, the sealed
audit events, the plan of the next tasks); (b) - floor is what that rest costs today.
The replay checks that it wrote what (b) wrote (cases, tasks and events counted).
Figures are saved as JSON to --out (default build/bench/floor-<time>.json).
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402

from bench import throughput  # noqa: E402
from bench.output import add_out_argument, save  # noqa: E402

COUNTED = ("cases", "tasks", "events")


@dataclass
class Recorder:
    """The statements (b) sends, grouped by the commit that ends each operation."""

    ops: list[list[tuple[str, object, bool]]] = field(default_factory=list)
    current: list[tuple[str, object, bool]] = field(default_factory=list)

    def statement(self, _conn, _cursor, sql, params, _context, many) -> None:
        self.current.append((sql, params, many))

    def commit(self, _conn) -> None:
        if self.current:
            self.ops.append(self.current)
        self.current = []


def bare_engine(cases: int) -> float:
    """Return ms per task of the engine's moves alone, as (a) makes them, never serialized."""
    run = throughput.bench_raw(cases, serialize=False)
    return run.seconds * 1000 / run.tasks


def recorded_service(url: str, cases: int) -> tuple[throughput.Run, list]:
    """Run (b), recording every statement; return its figures and the measured operations."""
    recorder = Recorder()
    sa.event.listen(sa.Engine, "before_cursor_execute", recorder.statement)
    sa.event.listen(sa.Engine, "commit", recorder.commit)
    try:
        run = throughput.bench_service(url, cases)
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", recorder.statement)
        sa.event.remove(sa.Engine, "commit", recorder.commit)
    return run, recorder.ops


def _is_read(sql: str) -> bool:
    """A statement whose rows the step reads (a write the app queues reads nothing)."""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or ("RETURNING" in sql and head != "WITH M")


def replay_pg(url: str, ops: list, commit_apart: bool = True, sync_commit: bool = True):
    """Replay the operations with bare psycopg; return (wall ms, client CPU ms) per operation."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor()
        if not sync_commit:
            cur.execute("SET synchronous_commit = off")
        wall, cpu = time.perf_counter(), time.process_time()
        for op in ops:
            with conn.pipeline() as pipeline:
                cur.execute("BEGIN")
                for sql, params, many in op:
                    if many:
                        cur.executemany(sql, params)
                    else:
                        cur.execute(sql, params)
                    if _is_read(sql):
                        pipeline.sync()
                        cur.fetchall()
                if not commit_apart:
                    cur.execute("COMMIT")
            if commit_apart:
                cur.execute("COMMIT")
        return time.perf_counter() - wall, time.process_time() - cpu


def replay_sqlite(url: str, ops: list, **_ignored):
    """Replay the operations with bare sqlite3, as the app's connections are set up."""
    conn = sqlite3.connect(url.split("sqlite:///", 1)[1], isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        conn.execute(f"PRAGMA {pragma}")
    wall, cpu = time.perf_counter(), time.process_time()
    for op in ops:
        conn.execute("BEGIN")
        for sql, params, many in op:
            if many:
                conn.executemany(sql, params)
            else:
                conn.execute(sql, params).fetchall()
        conn.execute("COMMIT")
    result = time.perf_counter() - wall, time.process_time() - cpu
    conn.close()
    return result


def counts(url: str) -> dict[str, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        found = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar() for t in COUNTED}
    engine.dispose()
    return found


def measure(source: str, target: str, cases: int) -> dict:
    """All the figures of one database: source runs (b), target receives the replay."""
    kind = source.split(":", 1)[0].split("+")[0]
    throughput.prepare_database(source)
    throughput.prepare_database(target)
    throughput.bench_raw(max(5, cases // 10))  # imports and caches warm
    raw = throughput.bench_raw(cases)
    per_task = {
        "(a) raw engine, serialize + deserialize every step": raw.seconds * 1000 / raw.tasks
    }
    per_task["(e) the same engine moves, nothing serialized"] = bare_engine(cases)
    run, ops = recorded_service(source, cases)
    per_task["(b) service layer + database, 1 thread"] = run.seconds * 1000 / run.tasks
    before = counts(target)
    replay = replay_pg if kind == "postgresql" else replay_sqlite
    wall, cpu = replay(target, ops)
    after = counts(target)
    wrote = {t: after[t] - before[t] for t in COUNTED}
    measured = {t: n - before[t] for t, n in counts(source).items()}  # both start alike
    assert wrote == measured, f"the replay wrote {wrote}, (b) wrote {measured}"
    per_task["(s) its SQL replayed with the bare driver"] = wall * 1000 / run.tasks
    per_task["(s) client CPU of the replay"] = cpu * 1000 / run.tasks
    statements = sum(len(op) for op in ops)
    figures = {"operations": len(ops), "statements per operation": statements / len(ops)}
    if kind == "postgresql":  # where (s) goes; the app keeps the COMMIT apart and durable
        for label, options in (("COMMIT in the writes' round trip", {"commit_apart": False}),
                               ("synchronous_commit = off", {"sync_commit": False})):  # fmt: skip
            throughput.prepare_database(target2 := _new_pg_database())
            wall, _cpu = replay_pg(target2, ops, **options)
            throughput._drop_pg_database(target2)
            per_task[f"(s) variant: {label}"] = wall * 1000 / run.tasks
    a = per_task["(a) raw engine, serialize + deserialize every step"]
    floor = (
        per_task["(e) the same engine moves, nothing serialized"]
        + per_task["(s) its SQL replayed with the bare driver"]
    )
    b = per_task["(b) service layer + database, 1 thread"]
    figures.update(
        {
            "per task ms": per_task,
            "floor ms (e + s)": floor,
            "room for the rest of a step ms ((a) - floor)": a - floor,
            "the rest of a step today ms ((b) - floor)": b - floor,
            "(b) / (a) (the budget: >= 1.0)": a / b,
            "best (b) / (a) possible with today's SQL: (a) / floor": a / floor,
        }
    )
    return {"kind": kind, **figures}


def _new_pg_database() -> str:
    made = throughput._new_pg_database()
    assert made, "PostgreSQL went away"
    return made


def print_figures(figures: dict) -> None:
    print(f"\n{figures['kind']}: {figures['operations']} operations, "
          f"{figures['statements per operation']:.2f} statements each")  # fmt: skip
    for name, ms in figures["per task ms"].items():
        print(f"  {name:62} {ms:7.3f} ms/task")
    for name, value in figures.items():
        if isinstance(value, float) and name != "statements per operation":
            print(f"  {name:62} {value:7.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database")
    add_out_argument(parser, "floor")
    args = parser.parse_args(argv)
    kinds = [args.only] if args.only else ["sqlite", "postgresql"]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if kind == "sqlite":
                pair = [f"sqlite:///{tmp}/source.sqlite3", f"sqlite:///{tmp}/replay.sqlite3"]
            else:
                pair = [throughput._new_pg_database(), throughput._new_pg_database()]
                if None in pair:
                    print(f"(PostgreSQL not reachable at {throughput.PG_ADMIN}: skipped)")
                    continue
            try:
                figures = measure(pair[0], pair[1], args.cases)
            finally:
                if kind == "postgresql":
                    for url in pair:
                        throughput._drop_pg_database(url)
            print_figures(figures)
            results.append(figures)
    save(args.out, "floor", {"cases": args.cases, "databases": results})


if __name__ == "__main__":
    main()
