"""The time bound of a step is the CPU time of the thread that runs it, less the garbage
collector's (workflows.budget), with a wall-clock backstop ten times as long: a legitimate
case never stops in the fault state because the server was busy (another thread holding
the GIL, the database sharing the cores, a collection over a big heap, a pause), while a
runaway diagram still does. A CI run found the old wall-clock bound stopping a plain
planning-permit start on a loaded machine."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from tests.apiclient import Api, sample_form
from tests.test_fail_closed import _events, _limit
from workflows import budget as budget_module
from workflows import engine as engine_module
from workflows.budget import WALL_FACTOR, Budget

ITEM = "planning-permit"


def _burn(seconds: float) -> None:
    """Use `seconds` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        sum(range(1000))


def test_a_budget_counts_its_own_threads_cpu_not_waiting(monkeypatch):
    monkeypatch.setattr(budget_module, "_wall", lambda: 0.0)  # the backstop is tested below
    waiting = Budget.of(0.05)
    other = threading.Thread(target=_burn, args=(0.2,))
    other.start()
    other.join()  # another thread works; this one waits
    time.sleep(0.1)  # and sleeps: twice the budget of wall-clock time, no CPU
    assert not waiting.spent()
    _burn(0.06)
    assert waiting.spent()


def test_the_collectors_time_is_not_the_steps(monkeypatch):
    # the wall clock stands still here: on a long test process's heap one collection can
    # take longer than this small budget's backstop, which is not what is tested
    monkeypatch.setattr(budget_module, "_wall", lambda: 0.0)
    heap = [(i, [i]) for i in range(1_000_000)]  # a big heap: each collection takes a while
    budget = Budget.of(0.05)
    before = time.thread_time()
    while time.thread_time() - before < 0.2:  # four times the budget, in the collector
        gc.collect()
    assert budget_module.collector_seconds() - budget.collected >= 0.15
    assert not budget.spent()
    del heap
    _burn(0.06)
    assert budget.spent()


def test_the_wall_clock_backstop_still_ends_a_held_step(monkeypatch):
    held = Budget.of(0.5)
    start = time.monotonic()
    monkeypatch.setattr(budget_module, "_wall", lambda: start + 0.5 * WALL_FACTOR - 0.1)
    assert not held.spent()
    monkeypatch.setattr(budget_module, "_wall", lambda: start + 0.5 * WALL_FACTOR + 0.1)
    assert held.spent()


def _held_up(seconds: float) -> type[Budget]:
    """A step budget whose thread, once the step is under way, has waited `seconds` of wall-
    clock time for the CPU or the GIL (spending none of its own)."""

    class HeldUp(Budget):
        reads = 0

        def spent(self) -> bool:
            HeldUp.reads += 1
            return budget_module._cpu() > self.cpu_end or (
                budget_module._wall() + seconds > self.wall_end
            )

    return HeldUp


@pytest.mark.parametrize("held, faulted", [(5.0, False), (10.5, True)])
def test_a_start_held_up_by_the_server_is_not_the_diagrams_fault(demo_app, monkeypatch,
                                                                 held, faulted):  # fmt: skip
    api = Api(demo_app.test_client())
    _limit(demo_app, max_tasks=500, max_seconds=1.0)
    budget = _held_up(held)
    monkeypatch.setattr(engine_module, "Budget", budget)
    case_no = api.apply(ITEM, sample_form(ITEM, floor_area=5000))["case_no"]
    monkeypatch.undo()
    assert budget.reads > 0  # the step's budget was read while the start ran
    case = api.case(case_no)
    if not faulted:  # five times the bound on the wall clock, little CPU: the case goes on
        assert case["status"] == "accepted"
        [task] = case["open_tasks"]
        assert task["spec_id"] == "Task_lead" and task["assignee"]
    else:  # past the backstop: stopped, with the time limit named
        assert case["status"] == "fault" and case["open_tasks"] == []
        assert _events(demo_app, case_no)[-1][1]["code"] == "time-limit"
