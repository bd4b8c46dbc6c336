"""A dry run of a diagram: start it with sample data and choose an outcome at each user task.

Nothing is stored. Each call runs the diagram again from its start with the choices made
so far, so a page can keep the choices in a form and show the path taken after each one.
Timers are not fired (a dry run takes no time); the timers the run waits for are listed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .engine import DiagramCache, Engine, ReadyTask, StepLimits
from .errors import EngineError
from .i18n import _

MAX_STEPS = 200
DRY_RUN_SECONDS = 1.5  # the whole dry run, every step included: an analyst's request


@dataclass(frozen=True)
class Choice:
    """One choice of the analyst: the outcome of a ready user task, with its form data."""

    task: str  # the user task's element id
    outcome: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"task": self.task, "outcome": self.outcome, "data": self.data}

    @classmethod
    def from_dict(cls, raw: Any) -> Choice:
        if not isinstance(raw, dict):
            raise ValueError("each step must be an object with task, outcome and data")
        task, outcome, data = raw.get("task"), raw.get("outcome"), raw.get("data", {})
        if not isinstance(task, str) or not isinstance(outcome, str) or not isinstance(data, dict):
            raise ValueError("each step needs a task id, an outcome and a data object")
        return cls(task, outcome, data)


@dataclass
class Step:
    """What one choice did: the task, the outcome, and what the engine ran after it."""

    task: str
    name: str
    outcome: str
    ran: list[str]  # element ids the engine passed through after the task
    opened: list[str]  # user tasks that became ready


@dataclass
class DryRun:
    """The state after the choices: path, taken flows, ready tasks, the end or an error."""

    started: list[str] = field(default_factory=list)  # what the engine ran at the start
    steps: list[Step] = field(default_factory=list)
    ready: list[ReadyTask] = field(default_factory=list)
    timers: list[str] = field(default_factory=list)
    path: list[str] = field(default_factory=list)  # every element passed, in order
    flows: list[str] = field(default_factory=list)  # sequence flows taken
    finished: bool = False
    result: str | None = None
    data: dict = field(default_factory=dict)
    error: str | None = None
    error_element: str | None = None

    def highlight(self) -> dict[str, str]:
        """Return render highlights: the path completed, flows taken, ready tasks active."""
        marks = {node: "completed" for node in self.path}
        marks.update({flow: "taken" for flow in self.flows})
        for task in self.ready:
            marks[task.spec_id] = "active"
        if self.error_element:
            marks[self.error_element] = "late"
        return marks


def _flows_taken(diagram, path: list[str], ready: set[str], gateway_flows: set[str]) -> list[str]:
    """Flows from a passed element to a passed or ready one; a gateway's as the engine chose."""
    passed = set(path)
    taken = []
    for node_id, info in diagram.nodes.items():
        is_choice = info.type in ("exclusiveGateway", "inclusiveGateway")
        for flow_id, target in info.outgoing:
            if is_choice:
                if flow_id in gateway_flows:
                    taken.append(flow_id)
            elif node_id in passed and (target in passed or target in ready):
                taken.append(flow_id)
    return taken


# Long: one run from the start through the choices; the nested helpers share the run's
# engine, deadline and the gateway flows seen, and the result is filled in as it goes.
def dry_run(
    content: bytes,
    filename: str,
    data: dict,
    choices: list[Choice],
    *,
    cache: DiagramCache | None = None,
) -> DryRun:
    """Run a diagram from its start with `data` and apply the choices in order.

    A diagram the loader refuses raises DiagramError (with its findings). A choice that
    does not fit (no such ready task, an outcome not allowed, an expression that fails)
    stops the run there and is reported in `error`, with the element when known. A
    `cache` (the app's) keeps the diagram compiled between dry runs.
    """
    engine = Engine.standard()
    diagram = engine.compile(content, filename, cache=cache)
    out = DryRun()
    gateway_flows: set[str] = set()

    def passed(steps: list[dict]) -> list[str]:
        for step in steps:
            gateway_flows.update(step.get("flows", []))
        return [s["node"] for s in steps]

    deadline = time.monotonic() + DRY_RUN_SECONDS

    def budget() -> None:
        """Give the next step what is left of the dry run's time, within the step limits."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise EngineError(
                _(
                    "the dry run took longer than %(DRY_RUN_SECONDS)s s; stopped here",
                    DRY_RUN_SECONDS=format(DRY_RUN_SECONDS, "g"),
                )
            )
        engine.limits = StepLimits(max_tasks=StepLimits().max_tasks, max_seconds=left)

    try:
        budget()
        run, steps = engine.start(diagram, dict(data))
    except EngineError as exc:
        out.error, out.error_element = exc.message, exc.task_spec
        return out
    out.started = passed(steps)
    out.path.extend(out.started)
    try:
        for number, choice in enumerate(choices[:MAX_STEPS], start=1):
            task = next((t for t in run.ready_tasks() if t.spec_id == choice.task), None)
            if task is None:
                out.error = f"step {number}: '{choice.task}' is not waiting for a decision"
                out.error_element = choice.task
                break
            budget()
            result = run.complete(task.id, choice.outcome, choice.data)
            ran = passed(result.engine_steps)
            out.path.append(task.spec_id)
            out.path.extend(ran)
            out.steps.append(Step(task.spec_id, task.name, choice.outcome, ran,
                                  [t.spec_id for t in result.created]))  # fmt: skip
    except EngineError as exc:
        out.error, out.error_element = f"step {number}: {exc.message}", exc.task_spec
    out.ready = [] if out.error else run.ready_tasks()
    out.timers = [t.node_id for t in run.waiting_timers()] if not out.error else []
    out.finished = run.is_completed
    out.result = run.result()
    out.data = run.data
    ready = {t.spec_id for t in out.ready}
    out.flows = _flows_taken(diagram, out.path, ready, gateway_flows)
    return out
