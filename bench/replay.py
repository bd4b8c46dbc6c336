"""How long an auditor waits for the state of a case at any step of its audit log.

    python -m bench.replay [--loops N] [--repeat R] [--out PATH]

Builds a planning-permit case with N lead/deputy return loops and a return from the head
(at least 50 events with the default N=4) directly with the engine, writing the events the
case service writes. Then times, against the 50 ms budget:
  - `replay(upto_seq=k)` at every event k (a fresh re-execution from the start each time);
  - `replay_all` (every step's state in one pass) and a full `verify`;
  - the raw engine cost of the same steps: SpiffWorkflow alone (BpmnWorkflow with its default
    script engine, the same parsed spec, no OneWindow code), and what restoring the stored
    state of the finished case costs the service (deserialize the JSON).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow  # noqa: E402
from SpiffWorkflow.util.task import TaskState  # noqa: E402

from bench.output import add_out_argument, save  # noqa: E402
from workflows.engine import CompiledDiagram, Engine, compile_diagram, sign_counts  # noqa: E402
from workflows.replay import EventLog, replay, replay_all, verify  # noqa: E402

BUDGET_MS = 50.0
ITEM = "planning-permit"


def build_case(engine: Engine, loops: int) -> tuple[CompiledDiagram, EventLog, str]:
    """Run a planning-permit case with return loops; return its diagram, log and final state."""
    diagram = compile_diagram((ROOT / "bpmn" / f"{ITEM}.bpmn").read_bytes(), f"{ITEM}.bpmn")
    log = EventLog(actor="official")
    signers = tomllib.loads((ROOT / "bpmn" / f"{ITEM}.toml").read_text())["signers"]
    run = log.receive(engine, diagram, {"floor_area": 50000, "project_name": "示范大厦", **signers},
                      item=ITEM)  # fmt: skip

    def collective() -> None:  # 会签: each of the bureau's leaders signs their part
        while any(t.spec_id == "Task_collective" for t in run.ready_tasks()):
            log.complete(run, "Task_collective")

    for i in range(loops):
        log.complete(run, "Task_lead", data={})
        log.complete(run, "Task_deputy", "return", f"第{i + 1}次退回：补充日照分析")
    log.complete(run, "Task_lead")
    log.complete(run, "Task_deputy")
    collective()
    log.complete(run, "Task_head", "return", "请分管领导复核容积率")
    log.complete(run, "Task_deputy")
    collective()
    log.complete(run, "Task_head")
    log.complete(run, "Task_issue")
    assert run.is_completed and run.result() == "approved"
    return diagram, log, engine.serialize(run)


def raw_spiff(diagram: CompiledDiagram, events: list[dict]) -> None:
    """Run the log's inputs with SpiffWorkflow alone: start, then each completion."""
    form = next(e["data"]["form"] for e in events if e["type"] == "case_received")
    workflow = BpmnWorkflow(diagram.spec, diagram.subprocess_specs)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(form)
    workflow.do_engine_steps()
    for event in events:
        if event["type"] != "task_completed":
            continue
        data = event["data"]
        task = next(
            t
            for t in workflow.get_tasks(state=TaskState.READY, manual=True)
            if t.task_spec.bpmn_id == data["spec"]
        )
        task.data.update({**data["data"], "comment": data["comment"], "outcome": data["outcome"]})
        var = task.task_spec.extensions.get("outcomeVar")
        if var:
            task.data[var] = data["outcome"]
        counts = sign_counts(task, data["outcome"])  # a 会签 part: what its condition reads
        if counts:
            task.data.update(counts)
            task.parent.data.update({**counts, "outcome": data["outcome"]})
        task.run()
        workflow.do_engine_steps()
    assert workflow.is_completed()


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Return the wall time of `repeat` calls in ms."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def pct(samples: list[float], p: float) -> float:
    """Return the p-th percentile of samples."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    """Build the case, time the replays, print the figures; exit 1 if over budget."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--loops", type=int, default=4, help="lead/deputy return loops")
    parser.add_argument("--repeat", type=int, default=5, help="timings per step")
    add_out_argument(parser, "replay")
    args = parser.parse_args(argv)
    rows: dict[str, dict] = {}

    engine = Engine.standard()
    diagram, log, state = build_case(engine, args.loops)
    events = log.events
    completions = sum(e["type"] == "task_completed" for e in events)
    assert verify(diagram, events, engine=engine) is None
    replay(diagram, events, engine=engine)  # warm up (expression caches, imports)
    raw_spiff(diagram, events)

    per_step: list[float] = []
    worst_step: dict[int, float] = {}
    for event in events:
        seq = event["seq"]
        samples = timed(
            lambda s=seq: replay(diagram, events, upto_seq=s, engine=engine), args.repeat
        )
        per_step += samples
        worst_step[seq] = statistics.median(samples)
    full_replay = timed(lambda: replay(diagram, events, engine=engine), args.repeat * 4)
    every_state = timed(lambda: replay_all(diagram, events, engine=engine), args.repeat * 4)
    full_verify = timed(lambda: verify(diagram, events, engine=engine), args.repeat * 4)
    raw = timed(lambda: raw_spiff(diagram, events), args.repeat * 4)
    restore = timed(lambda: engine.restore(diagram, state), args.repeat * 4)

    print(
        f"case: {ITEM}, {len(events)} events, {completions} task completions "
        f"({args.loops} return loops), budget {BUDGET_MS:.0f} ms per step"
    )
    print(f"{'what':<52} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")

    def row(key: str, name: str, samples: list[float]) -> None:
        print(f"{name:<52} {pct(samples, 50):8.2f} {pct(samples, 95):8.2f} {max(samples):8.2f}")
        rows[key] = {"p50_ms": pct(samples, 50), "p95_ms": pct(samples, 95),
                     "max_ms": max(samples), "runs": len(samples)}  # fmt: skip

    row("replay_upto", f"replay(upto_seq=k), every k ({len(per_step)} runs)", per_step)
    row("replay", "replay, whole log", full_replay)
    row("replay_all", "replay_all (state after every event, one pass)", every_state)
    row("verify", "verify, whole log", full_verify)
    row("raw_spiff", "raw SpiffWorkflow, same start + completions", raw)
    row("restore", "engine.restore of the final stored state", restore)
    ratio = statistics.median(full_replay) / statistics.median(raw)
    slowest = max(worst_step, key=worst_step.get)
    print(
        f"replay / raw SpiffWorkflow (whole log, medians): {ratio:.2f}x; "
        f"slowest step: seq {slowest} at {worst_step[slowest]:.2f} ms (median)"
    )
    over = pct(per_step, 95) > BUDGET_MS or max(worst_step.values()) > BUDGET_MS
    print("within the 50 ms budget" if not over else "OVER the 50 ms budget")
    save(args.out, "replay", {"item": ITEM, "events": len(events), "completions": completions,
                              "loops": args.loops, "budget_ms": BUDGET_MS, "rows": rows,
                              "ratio_to_raw": ratio, "within_budget": not over})  # fmt: skip
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
