"""The cost of one return cycle as a case's history grows: raw engine, OneWindow engine, service.

    python -m bench.cycles [--cycles N] [--database URL ...] [--out PATH]

The planning permit's lead stage approves and the deputy returns it, N times (default
1,000). One cycle is those two completions. For cycles 1, 100 and N it prints the time of a
cycle (the median of that cycle and the eight before it; for cycle 1, of cycles 1 to 9: the
machine is shared) and the size of the stored state:
(a) raw SpiffWorkflow: parse once, serialize and deserialize the whole workflow (spec
    included, as the library does by default) after every step; its task tree keeps every
    pass, and once it is about 1,000 tasks deep the library stops seeing the open task,
    so (a) stops there and says where;
(e) OneWindow's engine alone (workflows/engine.py, compaction on), state serialized
    without the spec and restored after every step;
(b) OneWindow's service layer with its database: complete_task for the task the previous
    step opened, the state written to and read from the case row; on a new SQLite file,
    and on each --database URL given (e.g. PostgreSQL).
All run in the same process, one after another; (b) and (e) must stay flat. The figures
are saved as JSON to --out (default build/bench/cycles-<time>.json).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer  # noqa: E402
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.camunda.parser import CamundaParser  # noqa: E402
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from bench.output import add_out_argument, save  # noqa: E402
from bench.throughput import prepare_database  # noqa: E402

ITEM = "planning-permit"
DIAGRAM = ROOT / "bpmn" / f"{ITEM}.bpmn"
PROCESS = "Process_planning_permit"
FORM = {"project_name": "示范市第三中学综合楼", "floor_area": 8600}
LEAD, DEPUTY = "Task_lead", "Task_deputy"
WINDOW = 9  # cycles whose median is shown


@dataclass
class Series:
    """Cycle times and state sizes of one way of running the case."""

    name: str
    seconds: list[float] = field(default_factory=list)  # per cycle, in order
    sizes: list[int] = field(default_factory=list)  # stored state after each cycle, bytes
    stopped: str | None = None

    def at(self, cycle: int) -> tuple[float, int] | None:
        """Return (ms per cycle, state bytes) at a cycle, or None if it was not reached."""
        if cycle > len(self.seconds):
            return None
        start = max(0, cycle - WINDOW)
        window = self.seconds[start : max(cycle, start + WINDOW)]
        return statistics.median(window) * 1000, self.sizes[cycle - 1]


def _cycles(
    series: Series,
    cycles: int,
    step: Callable[[str, str], int],
    measure: Callable[[], int] | None = None,
) -> Series:
    """Time `cycles` return cycles; `step` completes one task and returns the state size,
    or `measure` (outside the timed part) returns it."""
    for number in range(1, cycles + 1):
        started = time.perf_counter()
        try:
            step(LEAD, "approve")
            size = step(DEPUTY, "return")
        except _Broken as broken:
            series.stopped = f"cycle {number}: {broken}"
            break
        series.seconds.append(time.perf_counter() - started)
        series.sizes.append(measure() if measure is not None else size)
    return series


class _Broken(Exception):
    """The run cannot go on: the engine no longer shows the task the case waits for."""


def bench_raw(cycles: int) -> Series:
    """Run the bare library, serializing and deserializing the whole workflow every step."""
    parser = CamundaParser()
    parser.add_bpmn_file(str(DIAGRAM))
    spec = parser.get_spec(PROCESS)
    subs = parser.get_subprocess_specs(PROCESS)
    serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG))
    workflow = BpmnWorkflow(spec, subs)
    for start in workflow.get_tasks(state=TaskState.READY):
        start.data.update(FORM)
    workflow.do_engine_steps()
    state = serializer.serialize_json(workflow)

    def step(spec_id: str, outcome: str) -> int:
        nonlocal state
        workflow = serializer.deserialize_json(state)
        ready = workflow.get_tasks(state=TaskState.READY, manual=True)
        task = next((t for t in ready if t.task_spec.bpmn_id == spec_id), None)
        if task is None:
            seen = sorted(t.task_spec.bpmn_id for t in ready) or "none"
            raise _Broken(
                f"{spec_id} is not among the ready tasks the library returns ({seen}); "
                f"is_completed()={workflow.is_completed()}, {len(workflow.tasks)} tasks"
            )
        task.data.update({"outcome": outcome, "comment": "意见"})
        task.run()
        workflow.do_engine_steps()
        state = serializer.serialize_json(workflow)
        return len(state.encode())

    step("Task_accept", "approve")
    return _cycles(Series("(a) raw SpiffWorkflow, serialize+deserialize every step"), cycles, step)


def bench_engine(cycles: int) -> Series:
    """Run OneWindow's engine (compaction on), storing and restoring the state every step."""
    from workflows.engine import Engine, compile_diagram

    diagram = compile_diagram(DIAGRAM.read_bytes(), DIAGRAM.name)
    engine = Engine.standard()
    run, _ = engine.start(diagram, dict(FORM))
    state = engine.serialize(run)

    def step(spec_id: str, outcome: str) -> int:
        nonlocal state
        run = engine.restore(diagram, state)
        task = next((t for t in run.ready_tasks() if t.spec_id == spec_id), None)
        if task is None:
            raise _Broken(f"{spec_id} is not ready")
        run.complete(task.id, outcome, {"comment": "意见"})
        state = engine.serialize(run)
        return len(state.encode())

    step("Task_accept", "approve")
    return _cycles(
        Series("(e) OneWindow engine, compaction, store+restore every step"), cycles, step
    )


def bench_service(url: str, cycles: int) -> Series:
    """Run the cycles through complete_task on a database holding the demo centre."""
    from app import create_app
    from app.cases import services
    from app.cases.runtime import runtime
    from app.db import session
    from app.org.models import User
    from config import Config

    prepare_database(url)
    app = create_app(Config, DATABASE_URL=url)
    materials, form = _materials_and_form()
    with app.app_context():
        db = session()
        users = {u.id: u for u in db.scalars(sa.select(User))}
        clerk = next(u for u in users.values() if u.has_role("clerk"))
        applicant = services.Applicant("李华", "330102199001011234", "13800001111")
        received = services.receive_case(clerk, ITEM, applicant, materials, form)
        case_id = received.subject.id
    waiting = list(received.opened)

    def step(spec_id: str, outcome: str) -> int:
        task = next((t for t in waiting if t["spec_id"] == spec_id), None)
        if task is None:
            raise _Broken(f"{spec_id} was not opened by the previous step")
        with app.app_context():
            done = services.complete_task(
                users[task["assignee_id"]], task["id"], outcome, "请补充材料"
            )
            waiting[:] = done.opened
        return 0

    def snapshot_bytes() -> int:
        # the bytes a snapshot of the case's workflow takes now (one is stored every
        # OW_SNAPSHOT_EVERY moves): the live workflow serialized as a step would store it
        with app.app_context():
            rt = runtime()
            live = rt.cache.peek(case_id)
            if live is None:
                raise _Broken("the case's live workflow is not in the cache")
            return len(rt.engine.serialize(live.run).encode())

    kind = url.split(":", 1)[0].split("+")[0]
    series = _cycles(Series(f"(b) service layer + {kind}"), cycles, step, snapshot_bytes)
    app.extensions["ow_engine"].dispose()
    return series


def _materials_and_form() -> tuple[list[str], dict]:
    """Return the required material codes and a filled form of the item, from bpmn/."""
    import tomllib

    entry = tomllib.loads((ROOT / "bpmn" / f"{ITEM}.toml").read_text("utf-8"))
    values = {"string": "示例", "long": 10, "boolean": True, "date": "2026-11-20"}
    form = {
        f["id"]: f["options"][0] if f["type"] == "enum" else values.get(f["type"], "x")
        for f in entry.get("form", [])
    }
    form.update(FORM)
    return [m["code"] for m in entry["materials"] if m.get("required", True)], form


def print_table(runs: list[Series], cycles: int) -> None:
    """Print ms per cycle and state size at cycles 1, 100 and the last one."""
    marks = [c for c in dict.fromkeys((1, 100, cycles)) if c <= cycles]
    head = "".join(f"{f'cycle {c:,}':>22}" for c in marks)
    print(f"\n{'run':62}{head}")
    print(f"{'':62}" + f"{'ms/cycle   state KB':>22}" * len(marks))
    for run in runs:
        cells = []
        for mark in marks:
            figures = run.at(mark)
            cells.append(f"{figures[0]:>10.2f} {figures[1] / 1024:>9.1f}  " if figures else
                         f"{'—':>10} {'—':>9}  ")  # fmt: skip
        print(f"{run.name:62}" + "".join(cells))
    for run in runs:
        if run.stopped:
            last = len(run.seconds)
            figures = run.at(last) if last else None
            reached = (
                f"; cycle {last}: {figures[0]:.2f} ms, {figures[1] / 1024:.1f} KB"
                if figures
                else ""
            )
            print(f"{run.name}: stopped at {run.stopped}{reached}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--database", action="append", default=[], help="database URL")
    add_out_argument(parser, "cycles")
    args = parser.parse_args(argv)
    print(f"{ITEM}: lead approves, deputy returns, {args.cycles:,} times")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [bench_raw(args.cycles), bench_engine(args.cycles)]
        for url in [f"sqlite:///{tmp}/cycles.sqlite3", *args.database]:
            runs.append(bench_service(url, args.cycles))
    print_table(runs, args.cycles)
    marks = [c for c in dict.fromkeys((1, 100, args.cycles)) if c <= args.cycles]
    save(args.out, "cycles", {"item": ITEM, "cycles": args.cycles, "runs": [
        {"name": run.name, "stopped": run.stopped, "reached": len(run.seconds),
         "at": {str(m): {"ms_per_cycle": f[0], "state_bytes": f[1]}
                for m in marks if (f := run.at(m)) is not None}}
        for run in runs
    ]})  # fmt: skip


if __name__ == "__main__":
    main()
