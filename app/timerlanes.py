"""Firing timers: one timer, a lane of cases, and lanes as processes for a burst.

A timer fires in its own transaction (`fire_timer`, which claims it FOR UPDATE SKIP LOCKED
on PostgreSQL and fires it only while it is still waiting). The scheduler's leader cuts a
batch of due timers into groups by case (a case's timers in due order, one group) and hands
the groups to lanes: threads of its own process and, on PostgreSQL, processes
(`TIMER_PROCESSES`, by default one per core): a timer's step is mostly Python, which the
threads of one interpreter take turns at, so only processes put the other cores to work.
Each process is a fresh interpreter (spawned, never forked from a process holding
connections and threads) that builds the app from the leader's configuration once and
then fires the groups it is sent; a group goes to exactly one lane, and the leader waits
for every lane before it reads the next batch, so no two lanes ever step the same case.
A process that dies takes nothing with it: the groups it had not reported on are fired
again on the leader's own lanes (a timer it did fire is no longer waiting and is skipped).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from flask import Flask

log = logging.getLogger("onewindow.scheduler")
GROUPS_PER_SEND = 16  # cases sent to a process at a time: few round trips, even shares
PROCESS_MIN_GROUPS = 32  # a batch smaller than this is fired on the leader's threads


def fire_one(timer_id) -> bool:
    """Fire one timer; return whether it fired. One that fails stops its case in the fault
    state (logged); one held, postponed or taken by another scheduler is left as it is."""
    from .cases.services import fail_timer, fire_timer

    try:
        return bool(fire_timer(timer_id))
    except Exception as exc:
        log.exception("timer %s could not fire; its case stops in the fault state", timer_id)
        try:
            fail_timer(timer_id, f"{type(exc).__name__}: {exc}"[:500])
        except Exception:
            log.exception("timer %s could not be marked failed", timer_id)
        return False


def fire_groups(groups: Iterable[list], stop: Callable[[], bool] = lambda: False):
    """Fire the timers of each group in order; return (fired, the ids tried in vain)."""
    from .db import session

    fired, tried = 0, set()
    try:
        for timer_ids in groups:
            if stop():
                break
            for timer_id in timer_ids:
                if fire_one(timer_id):
                    fired += 1
                else:
                    tried.add(timer_id)
    finally:
        session().close()
    return fired, tried


# --- in a lane process -------------------------------------------------------------------
_LANE_APP: Flask | None = None


def _start_lane(config: dict) -> None:
    global _LANE_APP
    from . import create_app

    _LANE_APP = create_app(None, **config)


def _ready() -> int:
    return os.getpid()


def _fire_in_lane(groups: list[list]):
    with _LANE_APP.app_context():
        return fire_groups(groups)


# --- in the leader -----------------------------------------------------------------------
def _portable_config(app: Flask) -> dict:
    """The app's settings a lane process rebuilds the app from (what pickles)."""
    config = {}
    for key, value in app.config.items():
        if key.isupper():
            try:
                pickle.dumps(value)
            except Exception:  # e.g. a callable set by a test: not needed to fire timers
                continue
            config[key] = value
    return config


class ProcessLanes:
    """A pool of lane processes, started by the leader's first burst (none until one comes)."""

    def __init__(self, app: Flask, processes: int) -> None:
        self.app = app
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._warming: list[Future] = []

    def warm(self) -> None:
        """Start the processes (each builds its app, a second or two) without waiting."""
        if self._pool is None and self.processes > 0:
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_lane, initargs=(_portable_config(self.app),),
            )  # fmt: skip
            self._warming = [self._pool.submit(_ready) for _ in range(self.processes)]

    def ready(self) -> bool:
        """Whether every process has built its app (a burst before that goes to threads)."""
        return self._pool is not None and all(f.done() for f in self._warming)

    def fire(self, groups: list[list], stop: Callable[[], bool]):
        """Fire the groups on the processes; return (fired, tried in vain, groups not done:
        those of a process that died, for the caller to fire itself)."""
        sends = [groups[i : i + GROUPS_PER_SEND] for i in range(0, len(groups), GROUPS_PER_SEND)]
        fired, tried, undone, broken = 0, set(), [], False
        futures = []
        for chunk in sends:
            if stop():
                break
            if broken:
                undone.extend(chunk)
                continue
            try:
                futures.append((chunk, self._pool.submit(_fire_in_lane, chunk)))
            except BrokenProcessPool:  # a process died before (the pool takes no more)
                undone.extend(chunk)
                broken = True
        for chunk, future in futures:
            try:
                got, vain = future.result()
                fired += got
                tried |= vain
            except BrokenProcessPool:
                undone.extend(chunk)
                broken = True
            except Exception:  # e.g. its session could not close: fire its groups here
                log.exception("a timer lane process failed a send; the leader fires it")
                undone.extend(chunk)
        if broken:
            log.error("a timer lane process died; %d cases go to the leader's threads",
                      len(undone))  # fmt: skip
            self.shutdown()
        return fired, tried, undone

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._warming = []
