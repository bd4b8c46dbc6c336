"""What a diagram would have done with a case already handled: its recorded history replayed
on another diagram (a draft, an older or newer version), stage by stage.

The case's form starts the diagram; at every user task the diagram makes ready, the next
recorded completion of that task (its element id, in the order they were recorded: a stage
returned to and done again is met again) gives the outcome and the form data the official
gave. A task the record has no completion left for is a stage the diagram adds: it is
completed with its first allowed outcome of approval (else its first outcome) and no data,
and its time is estimated from its own time limit. Completions left over when the diagram
ends are the stages it skips, with the office days they took. Nothing is stored; each case
is bounded by the engine's step limits and by `MAX_MOVES` user tasks.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from .engine import CompiledDiagram, Engine, ReadyTask
from .errors import EngineError

MAX_MOVES = 200  # user tasks one case may run through (a loop the record never ends)
HOURS_A_DAY = 8.0  # an estimate in hours counts in office days of this length


@dataclass(frozen=True)
class Recorded:
    """One recorded completion of a user task."""

    spec_id: str
    outcome: str
    data: dict[str, Any]
    comment: str
    office_days: float  # from its arrival to its completion, in office days
    post: str | None  # the post that held it (its code)
    arrived: Any = None  # when it arrived and was completed (datetimes), where known
    done: Any = None


@dataclass
class CaseWhatIf:
    """What the diagram would have done with one case."""

    path: list[str] = field(default_factory=list)  # user tasks run, in order
    skipped: list[Recorded] = field(default_factory=list)  # recorded, not run
    added: list[ReadyTask] = field(default_factory=list)  # run, never recorded
    # run with its recorded completion, whose outcome the diagram no longer allows (it took
    # the first it allows instead): the stage is neither skipped nor added
    changed: list[str] = field(default_factory=list)
    flows: list[str] = field(default_factory=list)  # sequence flows chosen at gateways
    result: str | None = None  # approved / denied, when the diagram ended
    stopped_at: str | None = None  # where it stopped before an end (a timer, an error)
    error: str | None = None

    @property
    def same(self) -> bool:
        """Whether the case would have gone the same way (same stages, same end)."""
        return not (self.skipped or self.added or self.changed or self.stopped_at or self.error)

    added_at: list[int] = field(default_factory=list)  # where in `path` each added one is
    skipped_at: list[int] = field(default_factory=list)  # where in the record each skipped is
    changed_at: list[int] = field(default_factory=list)  # where in `path` each changed one is

    @property
    def diverges_at(self) -> str | None:
        """The first element where it would have gone otherwise: the first recorded stage it
        skips or the first stage it adds, whichever comes first (the record's place against
        the run's; at the same place, the stage skipped)."""
        run = sorted([*zip(self.added_at, (t.spec_id for t in self.added), strict=True),
                      *zip(self.changed_at, self.changed, strict=True)])  # fmt: skip
        if self.skipped and (not run or self.skipped_at[0] <= run[0][0]):
            return self.skipped[0].spec_id
        if run:
            return run[0][1]
        return self.stopped_at

    @property
    def days_saved(self) -> float:
        return sum(r.office_days for r in self.skipped)

    @property
    def days_added(self) -> float:
        return sum(estimated_days(t) for t in self.added)


def estimated_days(task: ReadyTask) -> float:
    """A stage's time by its own limit, in office days (none: 0)."""
    if task.time_limit is None:
        return 0.0
    value, unit = task.time_limit
    return float(value) / HOURS_A_DAY if unit == "h" else float(value)


def _outcome_for(task: ReadyTask) -> str:
    return "approve" if "approve" in task.outcomes else (task.outcomes or ("approve",))[0]


# long: one case's run, the record consumed task by task, the stops reported where they fall
def simulate(engine: Engine, diagram: CompiledDiagram, form: dict[str, Any],
             recorded: list[Recorded]) -> CaseWhatIf:  # fmt: skip
    """Run `diagram` with the case's form and its recorded completions (see the module)."""
    out = CaseWhatIf()
    left: dict[str, deque[Recorded]] = defaultdict(deque)
    for record in recorded:
        left[record.spec_id].append(record)
    try:
        run, steps = engine.start(diagram, dict(form))
        out.flows.extend(f for s in steps for f in s.get("flows", ()))
        while not run.is_completed:
            ready = run.ready_tasks()
            if not ready:  # waits for a timer or a message: a what-if takes no time
                out.stopped_at = next(iter(t.node_id for t in run.waiting_timers()), "waiting")
                break
            if len(out.path) >= MAX_MOVES:
                out.stopped_at, out.error = ready[0].spec_id, "too many moves"
                break
            task = ready[0]
            queue = left.get(task.spec_id)
            if queue:
                record = queue.popleft()
                outcome, data = record.outcome, {**record.data, "comment": record.comment}
                if outcome not in task.outcomes:  # the draft no longer allows it
                    out.changed.append(task.spec_id)
                    out.changed_at.append(len(out.path))
                    outcome, data = _outcome_for(task), {}
            else:
                out.added.append(task)
                out.added_at.append(len(out.path))
                outcome, data = _outcome_for(task), {}
            out.path.append(task.spec_id)
            step = run.complete(task.id, outcome, data)
            out.flows.extend(f for s in step.engine_steps for f in s.get("flows", ()))
        out.result = run.result()
    except EngineError as exc:
        out.error = str(exc)
        out.stopped_at = exc.task_spec or (out.path[-1] if out.path else "start")
    order = {id(r): n for n, r in enumerate(recorded)}
    out.skipped = sorted((r for queue in left.values() for r in queue), key=lambda r: order[id(r)])
    out.skipped_at = [order[id(r)] for r in out.skipped]
    return out
