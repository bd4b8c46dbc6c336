"""Run every benchmark of the performance budget, one after another.

    python -m bench.all [--scale-database URL | --scale-cases N] [--quick | --tiny] [--out DIR]

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
--quick makes smaller runs; --tiny the smallest that still exercise every part (seconds
each, as tests/test_bench_smoke.py runs it). Each part prints its own table; budgets are
printed beside the figures, and saves its figures as DIR/<part>.json (default DIR:
build/bench/all-<time>/; the scale part's plans go to DIR/plans/, never over the tracked
bench/plans/).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.output import OUT_DIR  # noqa: E402
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


def _scale(database: str | None, cases: int, out: Path, extra: tuple = ()) -> None:
    where = ("--out", str(out / "scale.json"), "--plans", str(out / "plans"), *extra)
    if database:
        _run("scale (given database)", "bench.scale", "--database", database, *where)
        return
    with _pg_database("ow_scale") as url:
        if url is None:
            print("PostgreSQL is not reachable: scale benchmark skipped")
            return
        _run(f"generate {cases:,} cases", "bench.generate", "--database", url,
             "--cases", str(cases), "--out", str(out / "generate.json"))  # fmt: skip
        _run(f"scale ({cases:,} cases)", "bench.scale", "--database", url, *where)


def _cycles(cycles: int, out: Path) -> None:
    """Time return cycles on SQLite and on a PostgreSQL database made for the run."""
    with _pg_database("ow_cycles") as url:
        extra = ("--database", url) if url else ()
        _run("long histories", "bench.cycles", "--cycles", str(cycles), *extra,
             "--out", str(out / "cycles.json"))  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale-database", help="a database filled by bench.generate")
    parser.add_argument("--scale-cases", type=int, default=20000)
    parser.add_argument("--soak-minutes", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="smaller runs")
    parser.add_argument("--tiny", action="store_true", help="the smallest runs, for a smoke test")
    parser.add_argument(
        "--out", type=Path, default=None, help="directory for the figures (build/bench/all-<time>/)"
    )
    args = parser.parse_args(argv)
    out = args.out or OUT_DIR / f"all-{dt.datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    cases, clients, workers = {"tiny": ("3", "1", "1"), "quick": ("60", "4", "2"),
                               "full": ("300", "4", "2")}[size]  # fmt: skip
    timers = {"tiny": ("10", "3", "2", "10", "1"), "quick": ("1000", "3600", "15", "200", "10"),
              "full": ("10000", "3600", "90", "1000", "10")}[size]  # fmt: skip
    _run("throughput", "bench.throughput", "--cases", cases, "--clients", clients,
         "--workers", workers, "--out", str(out / "throughput.json"))  # fmt: skip
    _run("timers", "bench.timers", "--timers", timers[0], "--window", timers[1],
         "--observe", timers[2], "--burst", timers[3], "--margin", timers[4],
         "--out", str(out / "timers.json"))  # fmt: skip
    _run("replay", "bench.replay", *(("--loops", "1", "--repeat", "1") if args.tiny else ()),
         "--out", str(out / "replay.json"))  # fmt: skip
    _cycles({"tiny": 3, "quick": 200, "full": 1000}[size], out)
    scale_cases = 1000 if args.tiny else args.scale_cases
    _scale(
        args.scale_database,
        scale_cases,
        out,
        ("--samples", "5", "--runs", "1") if args.tiny else (),
    )
    if args.scale_database:
        _run("memory over a long run", "bench.soak", "--database", args.scale_database,
             "--minutes", str(args.soak_minutes), "--out", str(out / "soak.json"))  # fmt: skip
    print(f"\nevery part's figures are in {out}/")


if __name__ == "__main__":
    main()
