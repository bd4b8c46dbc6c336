"""Every documented benchmark runs, at tiny sizes, and saves its figures outside the tree.

`bench.all --tiny` runs throughput, timers, replay, cycles, generate and scale (SQLite and
PostgreSQL where they take both); bench.generate, bench.scale and bench.soak run again on a
generated database whose due columns are checked against the app's own rules; bench.load
runs a few seconds. Each run's JSON must hold positive figures, land where it was told (a
temporary directory), and leave `git status` of bench/ as it was.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from config import BASE_DIR, Config, TestConfig
from tests.conftest import PG_ADMIN_URL, new_pg_database

ROOT = BASE_DIR
SCALE_NAMES = (  # what bench.scale times: the app's own functions (bench/scale.py)
    "inbox", "case_page", "card_scan", "card_scan_issued", "card_close", "ab_moves",
    "ab_moves_settled", "overdue", "due_timers", "monthly_statistics",
)  # fmt: skip
pytestmark = pytest.mark.usefixtures("pg_url")  # PostgreSQL reachable (else skipped, CI fails)


def _git_status() -> str:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        return ""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "bench"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def _bench(*args: str, timeout: float = 120) -> str:
    """Run `python -m bench...` from the repository as documented; return its output."""
    env = {**os.environ, "OW_BENCH_PG": PG_ADMIN_URL}
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    assert done.returncode == 0, (
        f"{' '.join(args)} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def _figures(path: Path, name: str) -> dict:
    assert path.is_file(), f"{name} saved nothing at {path}"
    assert not path.resolve().is_relative_to(ROOT), path
    document = json.loads(path.read_text("utf-8"))
    assert document["benchmark"] == name
    return document


def _positive(*values) -> None:
    for value in values:
        assert isinstance(value, int | float) and value > 0, values


@pytest.fixture
def unchanged_bench():
    """Fail if a benchmark changed or added anything under bench/ (plans, output)."""
    before = _git_status()
    yield
    assert _git_status() == before


def test_every_part_of_bench_all_runs_tiny(tmp_path, unchanged_bench):
    out = tmp_path / "all"
    _bench("bench.all", "--tiny", "--out", str(out), timeout=110)

    throughput = _figures(out / "throughput.json", "throughput")
    assert set(throughput["databases"]) == {"sqlite", "postgresql"}
    for runs in throughput["databases"].values():
        assert [r["name"][:3] for r in runs] == ["(a)", "(b)", "(c)"]
        _positive(*(r["tasks_per_s"] for r in runs), *(r["ratio"] for r in runs))
        _positive(runs[2]["p50_ms"], runs[2]["p95_ms"], runs[2]["rss_mb"])
        _positive(runs[1]["statements"]["commits/op"])

    timers = _figures(out / "timers.json", "timers")
    assert set(timers["databases"]) == {"sqlite", "postgresql"}
    for figures in timers["databases"].values():
        _positive(figures["came due while observed"], figures["burst capacity timers/s"],
                  figures["lateness p99 s"])  # fmt: skip

    replay = _figures(out / "replay.json", "replay")
    _positive(replay["events"], *(row["p50_ms"] for row in replay["rows"].values()))

    cycles = _figures(out / "cycles.json", "cycles")
    names = [run["name"] for run in cycles["runs"]]
    assert any("sqlite" in n for n in names) and any("postgresql" in n for n in names), names
    for run in cycles["runs"]:
        assert run["stopped"] is None and run["reached"] == 3
        _positive(*(f["ms_per_cycle"] for f in run["at"].values()),
                  *(f["state_bytes"] for f in run["at"].values()))  # fmt: skip

    generate = _figures(out / "generate.json", "generate")
    _positive(*generate["counts"].values())
    scale = _figures(out / "scale.json", "scale")
    assert set(scale["summary"]) == set(SCALE_NAMES)
    _positive(*(s["p50_ms"] for s in scale["summary"].values()))
    assert sorted(p.name for p in (out / "plans").iterdir()) == sorted(
        f"{name}.txt" for name in SCALE_NAMES
    )


def test_floor_replays_what_the_service_wrote(tmp_path, unchanged_bench):
    out = tmp_path / "floor.json"
    _bench("bench.floor", "--cases", "3", "--out", str(out), timeout=110)
    floor = _figures(out, "floor")
    assert [d["kind"] for d in floor["databases"]] == ["sqlite", "postgresql"]
    for figures in floor["databases"]:
        assert figures["operations"] == 3 * 6  # a case's creation and five completions
        _positive(*figures["per task ms"].values(), figures["floor ms (e + s)"])
        variants = [k for k in figures["per task ms"] if "variant" in k]
        assert len(variants) == (2 if figures["kind"] == "postgresql" else 0), variants


def test_default_output_is_git_ignored():
    from bench.output import out_path

    path = out_path(None, "scale")
    assert path.is_relative_to(ROOT / "build" / "bench")
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} would not be ignored by git"


def _check_generated(url: str) -> None:
    """The due columns are what the app computes from the same rows; the rest is filled."""
    from app import create_app
    from app.calendar.services import calendar
    from app.cases.deadlines import case_due_values, parse_limit, promised_days, task_due_values
    from app.cases.models import Case, Task
    from app.catalogue.models import Item
    from app.db import session
    from app.org.models import Post
    from app.privacy import is_sealed

    # the generator ran as the bench runs (the demo's secret, hence its data key)
    app = create_app(TestConfig, DATABASE_URL=url, SECRET_KEY=Config.SECRET_KEY)
    try:
        with app.app_context():
            db, cal = session(), calendar()
            accepted = db.execute(
                sa.select(Case, Item).join(Item, Item.id == Case.item_id)
                .where(Case.accepted_at.is_not(None)).order_by(Case.id).limit(300)
            ).all()  # fmt: skip
            assert len(accepted) > 100
            for case, item in accepted:
                assert case.promised_days == promised_days(item, case.form), case.case_no
                expected = case_due_values(cal, case, item)
                stored = {k: getattr(case, k) for k in expected}
                assert stored == expected, case.case_no
                raw = sa.text("SELECT applicant_id_number FROM cases WHERE id = :i")
                assert is_sealed(db.scalar(raw, {"i": case.id})), case.case_no
            tasks = db.execute(
                sa.select(Task, Post).join(Post, Post.id == Task.post_id)
                .order_by(Task.state.desc(), Task.created_at.desc()).limit(400)
            ).all()  # fmt: skip
            assert {t.state for t, _p in tasks} >= {"open", "completed"}
            for task, post in tasks:
                assert task.time_limit is not None, task.spec_id
                expected = task_due_values(cal, task.created_at, parse_limit(task.time_limit))
                assert {k: getattr(task, k) for k in expected} == expected, task.id
                acting = None if task.assignee_id == post.a_user_id else post.a_user_id
                assert task.acting_for_id == acting
                if task.started_at is not None:
                    assert task.created_at <= task.started_at
                    assert task.completed_at is None or task.started_at <= task.completed_at
            assert any(t.started_at is not None for t, _p in tasks)
            assert any(t.acting_for_id is not None for t, _p in tasks)
            deciders = db.execute(sa.text(
                "SELECT count(*), count(*) FILTER (WHERE last_decider_id = t.completed_by_id)"
                " FROM cases c JOIN LATERAL (SELECT completed_by_id FROM tasks"
                "  WHERE case_id = c.id AND is_decision AND state = 'completed'"
                "  ORDER BY completed_at DESC LIMIT 1) t ON true"
            )).one()  # fmt: skip
            assert deciders[0] > 0 and deciders[0] == deciders[1]
            assert db.scalar(sa.text("SELECT count(*) FROM events WHERE key_id IS NULL")) == 0
            _check_statistics_cache(app)
    finally:
        app.extensions["ow_engine"].dispose()


def _check_statistics_cache(app) -> None:
    """The statistics cache the generator rolled settles every day but the last before the
    reference time, and the pages that read it show what counting every row shows."""
    from app.calendar.services import calendar
    from app.db import session
    from app.stats.periods import Period
    from app.stats.queries import register
    from app.stats.tables import StatRoll, settled_days
    from app.supervision.reports import overview
    from bench.generate import REFERENCE_NOW
    from bench.scale import previous_month

    app.config["CLOCK"] = lambda: REFERENCE_NOW
    db = session()
    month = Period(*previous_month(REFERENCE_NOW))
    assert set(month.days()) <= settled_days(db, calendar())
    cached = (register(month, "department"), register(month, "official"), overview()["rates"])
    db.execute(sa.delete(StatRoll))  # nothing settled: every figure counted from the rows
    counted = (register(month, "department"), register(month, "official"), overview()["rates"])
    db.rollback()
    assert cached[2] == counted[2] and cached[2]
    for mine, theirs in zip(cached[:2], counted[:2], strict=True):
        assert [(r.key, r.figures, r.tasks and r.tasks.completed) for r in mine] == [
            (r.key, r.figures, r.tasks and r.tasks.completed) for r in theirs]  # fmt: skip
        assert [r.tasks.office_days_avg for r in mine] == [r.tasks.office_days_avg for r in theirs]


def test_generate_scale_and_soak_on_a_generated_database(tmp_path, unchanged_bench):
    with new_pg_database("ow_bench_smoke") as url:
        _bench("bench.generate", "--database", url, "--cases", "1500",
               "--out", str(tmp_path / "generate.json"))  # fmt: skip
        generate = _figures(tmp_path / "generate.json", "generate")
        assert generate["counts"]["cases"] == 1500
        _positive(generate["counts"]["tasks"], generate["counts"]["events"])
        _check_generated(url)

        plans = tmp_path / "plans"
        _bench("bench.scale", "--database", url, "--samples", "5", "--runs", "1",
               "--out", str(tmp_path / "scale.json"), "--plans", str(plans))  # fmt: skip
        scale = _figures(tmp_path / "scale.json", "scale")
        _positive(scale["figures"]["open tasks"], scale["figures"]["open cases"])
        _positive(*(s["p95_ms"] for s in scale["summary"].values()))
        assert sorted(p.stem for p in plans.glob("*.txt")) == sorted(SCALE_NAMES)

        _bench("bench.soak", "--database", url, "--minutes", "0.1", "--clients", "1",
               "--workers", "1", "--out", str(tmp_path / "soak.json"))  # fmt: skip
        soak = _figures(tmp_path / "soak.json", "soak")
        assert soak["client_errors"] == []
        _positive(soak["tasks"], soak["cases"], *(s["rss_mb"] for s in soak["samples"]))


def test_load_runs_and_loses_nothing(tmp_path, unchanged_bench):
    _bench("bench.load", "--clients", "5", "--seconds", "3", "--workers", "1", "--threads", "4",
           "--raw-cases", "5", "--out", str(tmp_path / "load.json"))  # fmt: skip
    load = _figures(tmp_path / "load.json", "load")
    assert load["ok"] is True
    _positive(load["completions_per_s"], load["raw_engine_tasks_per_s"],
              load["kinds"]["create"]["requests"], load["kinds"]["complete"]["p95_ms"])  # fmt: skip
    assert load["checks"]["cases with a broken hash chain"] == 0
    assert load["checks"]["completions answered 200 twice"] == 0
