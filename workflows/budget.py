"""Time budgets for what a diagram makes the server do: one step of a case, one expression.

A budget counts the CPU time of the thread that does the work (`time.thread_time`): what a
runaway loop, a huge expression or a script burns, and nothing else. Wall-clock time would
also count what the step does not control (another request's thread holding the GIL, the
database or other workers sharing the cores, a pause of the machine), so on a busy server a
legitimate case would stop in the fault state for nothing it did. A wall-clock backstop,
WALL_FACTOR times the budget, still ends a step held that long for any other reason: no
request or scheduler tick is held without end.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

WALL_FACTOR = 10.0
_cpu = time.thread_time  # the clocks, by name here (the tests move the wall clock)
_wall = time.monotonic


@dataclass(slots=True)
class Budget:
    """The ends of one budget: this thread's CPU time and the wall clock."""

    cpu_end: float
    wall_end: float

    @classmethod
    def of(cls, seconds: float) -> Budget:
        """Return a budget of `seconds` of this thread's CPU time, starting now."""
        seconds = max(seconds, 0.0)
        return cls(_cpu() + seconds, _wall() + seconds * WALL_FACTOR)

    def spent(self) -> bool:
        """True once the thread has used up its CPU time, or the backstop has passed."""
        return _cpu() > self.cpu_end or _wall() > self.wall_end
