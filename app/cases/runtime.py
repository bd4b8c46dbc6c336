"""Per-process runtime: the engine, the compiled diagrams, and live workflows.

The runtime owns the compile cache: a diagram's bytes are parsed once per process
(`Runtime.compile`), and a deployed version's compiled diagram is kept by its id
(`Runtime.diagram`).

A live workflow is kept after each committed step, keyed by case and the case's row
version, with the seq of the last event it covers. A request takes the workflow out of the
cache while it works on it, so two threads never share one object. Whoever finds the cache
empty or stale rebuilds the workflow from the case's events (app/cases/rebuild.py): onto
the stale live workflow, whose seq it knows, else onto the stored snapshot, else from the
start of the log. Several processes stay correct because the row version is checked on
every write.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from workflows import expressions
from workflows.engine import (
    COMPILED_CACHE_SIZE,
    CompiledDiagram,
    DiagramCache,
    Engine,
    StepLimits,
    WorkflowRun,
)

from ..catalogue.models import DiagramVersion


class Live(NamedTuple):
    """A live workflow as the cache keeps it."""

    version: int  # the case row's version it was committed with
    seq: int | None  # the seq of the case's last event it covers (None: unknown)
    run: WorkflowRun


class WorkflowCache:
    """A bounded LRU of live workflows: case id -> (row version, event seq, run)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[int, Live] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def take(self, case_id: int, version: int) -> WorkflowRun | None:
        """Remove and return the live workflow if it is at the given version."""
        with self._lock:
            entry = self._items.pop(case_id, None)
            if entry is not None and entry.version == version:
                self.hits += 1
                return entry.run
            self.misses += 1
            return None

    def take_any(self, case_id: int, version: int) -> Live | None:
        """Remove and return the live workflow of a case, at the given version or older."""
        with self._lock:
            entry = self._items.pop(case_id, None)
            if entry is not None and entry.version == version:
                self.hits += 1
            else:
                self.misses += 1
            return entry

    def peek(self, case_id: int) -> Live | None:
        """Return the live workflow of a case without taking it (what a snapshot would hold)."""
        with self._lock:
            return self._items.get(case_id)

    def put(self, case_id: int, version: int, run: WorkflowRun, seq: int | None = None) -> None:
        """Keep a live workflow that matches the committed row version (and event seq)."""
        if self.size <= 0:
            return
        with self._lock:
            self._items[case_id] = Live(version, seq, run)
            self._items.move_to_end(case_id)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every live workflow."""
        with self._lock:
            self._items.clear()


class Runtime:
    """What one app process keeps between requests."""

    def __init__(
        self, cache_size: int, limits: StepLimits | None = None, snapshot_every: int = 20
    ) -> None:
        self.engine = Engine.standard(limits)
        self.cache = WorkflowCache(cache_size)
        # store the workflow state every this many engine moves (and at the start and end)
        self.snapshot_every = max(1, snapshot_every)
        self.compiled = DiagramCache(COMPILED_CACHE_SIZE)  # by the bytes' sha256
        self._diagrams: dict[int, CompiledDiagram] = {}  # deployed versions by id
        self._lock = threading.Lock()

    def compile(
        self,
        data: bytes,
        filename: str = "<diagram>",
        process_id: str | None = None,
        *,
        deployed: bool = False,
    ) -> CompiledDiagram:
        """Compile a diagram with the engine's parser, once per process for the same bytes."""
        return self.engine.compile(
            data, filename, process_id, deployed=deployed, cache=self.compiled
        )

    def diagram(self, db: Session, version_id: int) -> CompiledDiagram:
        """Return the compiled diagram of a deployed version (versions never change)."""
        compiled = self._diagrams.get(version_id)
        if compiled is None:
            row = db.execute(
                sa.select(
                    DiagramVersion.content, DiagramVersion.filename, DiagramVersion.process_id
                ).where(DiagramVersion.id == version_id)
            ).one()
            compiled = self.compile(
                row.content.encode("utf-8"), row.filename, row.process_id, deployed=True
            )
            with self._lock:
                self._diagrams[version_id] = compiled
        return compiled


def init_app(app: Flask) -> None:
    """Create the process runtime for an app."""
    limits = StepLimits(
        max_tasks=app.config.get("STEP_MAX_TASKS", 500),
        max_seconds=app.config.get("STEP_MAX_SECONDS", 1.0),
    )
    app.extensions["ow_runtime"] = Runtime(
        app.config.get("WORKFLOW_CACHE_SIZE", 2000), limits, app.config.get("SNAPSHOT_EVERY", 20)
    )
    expressions.configure(app.config)  # EXPRESSION_* keys override the expression limits


def runtime() -> Runtime:
    """Return the runtime of the current app."""
    return current_app.extensions["ow_runtime"]
