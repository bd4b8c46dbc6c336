"""Time budgets for what a diagram makes the server do: one step of a case, one expression.

A budget counts the CPU time of the thread that does the work (`time.thread_time`), less
what the garbage collector took meanwhile: what a runaway loop, a huge expression or a
script burns, and nothing else. Wall-clock time would also count what the step does not
control (another request's thread holding the GIL, the database or other workers sharing
the cores, a pause of the machine), and the collector's time is the size of the whole
process's heap, not the diagram's doing; on a busy server either would stop a legitimate
case in the fault state. A wall-clock backstop, WALL_FACTOR times the budget, still ends a
step held that long for any reason: no request or scheduler tick is held without end.
"""

from __future__ import annotations

import gc
import threading
import time
from dataclasses import dataclass

WALL_FACTOR = 10.0
_cpu = time.thread_time  # the clocks, by name here (the tests move the wall clock)
_wall = time.monotonic
_collector = threading.local()  # per thread: the collector's CPU time, and its current start


def _collecting(phase: str, info: dict) -> None:
    """gc callback: add each collection's CPU time to the thread that ran it."""
    now = _cpu()
    if phase == "start":
        _collector.started = now
    else:
        started = getattr(_collector, "started", now)
        _collector.spent = getattr(_collector, "spent", 0.0) + now - started


def collector_seconds() -> float:
    """Return the CPU time the garbage collector has taken in this thread so far."""
    return getattr(_collector, "spent", 0.0)


if _collecting not in gc.callbacks:
    gc.callbacks.append(_collecting)


@dataclass(slots=True)
class Budget:
    """The ends of one budget: this thread's CPU time and the wall clock."""

    cpu_end: float
    wall_end: float
    collected: float  # the collector's time in this thread when the budget began

    @classmethod
    def of(cls, seconds: float) -> Budget:
        """Return a budget of `seconds` of this thread's CPU time, starting now."""
        seconds = max(seconds, 0.0)
        return cls(_cpu() + seconds, _wall() + seconds * WALL_FACTOR, collector_seconds())

    def spent(self) -> bool:
        """True once the thread has used up its CPU time (the collector's not counted), or
        the backstop has passed."""
        collected = collector_seconds() - self.collected
        return _cpu() - collected > self.cpu_end or _wall() > self.wall_end
