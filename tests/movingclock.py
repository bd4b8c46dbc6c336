"""A clock for tests that the centre (the app's CLOCK) and SpiffWorkflow's timers share.

`use(app, monkeypatch)` starts it at the real time; setting `Clock.offset` moves both on.
"""

from __future__ import annotations

import datetime as dt

import SpiffWorkflow.bpmn.specs.event_definitions.timer as spiff_timer


class Clock:
    """The real time moved on by `offset`."""

    offset = dt.timedelta()

    @classmethod
    def now(cls) -> dt.datetime:
        """Return the moved time as naive UTC (the app's CLOCK)."""
        return dt.datetime.now(dt.UTC).replace(tzinfo=None) + cls.offset


class EngineTime(dt.datetime):
    """SpiffWorkflow's (and workflows.timers') clock, moved on with Clock."""

    @classmethod
    def now(cls, tz: dt.tzinfo | None = None) -> dt.datetime:
        """Return the moved time, as datetime.now does."""
        return dt.datetime.now(tz) + Clock.offset


def use(app, monkeypatch) -> type[Clock]:
    """Make the app and the engine read the moving clock, starting now; return it."""
    Clock.offset = dt.timedelta()
    monkeypatch.setattr(spiff_timer, "datetime", EngineTime)
    app.config["CLOCK"] = Clock.now
    return Clock
