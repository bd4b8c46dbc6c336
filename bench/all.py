"""Run every benchmark of the performance budget, one after another.

    python -m bench.all [--scale-database URL | --scale-cases N] [--quick]

1. throughput: raw engine (a), service layer (b), HTTP with several client threads (c),
   SQL statements and commits per operation, latencies, server memory; SQLite and PostgreSQL;
2. timers: 10,000 waiting BPMN timers, lateness p50/p99, burst capacity; both databases;
3. replay: the state at every step of a 50+-event case, and a full re-execution;
   cycles: one return cycle of the planning permit at cycles 1, 100 and 1,000 (raw engine,
   OneWindow's engine, the service on SQLite and PostgreSQL): flat, and the state size;
4. scale: inbox, case page, supervision scans and monthly statistics on a generated
   PostgreSQL database: the one given (e.g. the 1,000,000-case `ow_scale`), or one
   generated now with --scale-cases cases (default 20,000) and dropped afterwards;
5. memory: with --scale-database, the server's resident memory over a --soak-minutes run
   against that database (bench.soak).
Each part prints its own table; budgets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.throughput import PG_ADMIN  # noqa: E402


def _run(title: str, *args: str, env: dict | None = None) -> None:
    print(f"\n{'=' * 78}\n{title}\n{'=' * 78}", flush=True)
    subprocess.run([sys.executable, "-m", *args], cwd=ROOT, check=True,
                   env={**os.environ, **(env or {})})  # fmt: skip


@contextlib.contextmanager
def _pg_database(prefix: str):
    """Create a PostgreSQL database for one benchmark and drop it after; None if unreachable."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        yield None
        return
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _scale(database: str | None, cases: int) -> None:
    if database:
        _run("scale (given database)", "bench.scale", "--database", database)
        return
    with _pg_database("ow_scale") as url:
        if url is None:
            print("PostgreSQL is not reachable: scale benchmark skipped")
            return
        _run(f"generate {cases:,} cases", "bench.generate", "--database", url,
             "--cases", str(cases))  # fmt: skip
        # the committed plans in bench/plans are the 1,000,000-case ones; keep them
        _run(f"scale ({cases:,} cases)", "bench.scale", "--database", url,
             env={"OW_PLANS_DIR": str(ROOT / "bench" / "out" / "plans-small")})  # fmt: skip


def _cycles(cycles: int) -> None:
    """Time return cycles on SQLite and on a PostgreSQL database made for the run."""
    with _pg_database("ow_cycles") as url:
        extra = ("--database", url) if url else ()
        _run("long histories", "bench.cycles", "--cycles", str(cycles), *extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale-database", help="a database filled by bench.generate")
    parser.add_argument("--scale-cases", type=int, default=20000)
    parser.add_argument("--soak-minutes", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    args = parser.parse_args()
    cases, timers, observe = ("60", "1000", "15") if args.quick else ("300", "10000", "90")
    _run("throughput", "bench.throughput", "--cases", cases)
    _run("timers", "bench.timers", "--timers", timers, "--observe", observe,
         "--burst", "200" if args.quick else "1000")  # fmt: skip
    _run("replay", "bench.replay")
    _cycles(200 if args.quick else 1000)
    _scale(args.scale_database, args.scale_cases)
    if args.scale_database:
        _run("memory over a long run", "bench.soak", "--database", args.scale_database,
             "--minutes", str(args.soak_minutes))  # fmt: skip


if __name__ == "__main__":
    main()
