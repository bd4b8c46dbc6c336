"""App-wide hooks: domains announce that timers or presence boundaries changed; whoever
listens subscribes (the scheduler, when it runs in this process).

Domains import this module and never the scheduler: the scheduler imports the domains.
An announcement runs the app's subscribers after the current transaction commits
(`app.db.on_commit`), so a change that rolls back announces nothing. Other processes
hear of new due times through PostgreSQL's NOTIFY on `TIMERS_CHANNEL`, sent inside the
transaction by the timers table's writer (`app.cases.timers.announce`).

Subscriptions belong to one app (tests run several apps in one process) and are keyed:
a scheduler that starts again replaces the subscription of the one before it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from types import MappingProxyType

from flask import Flask, current_app

from .db import on_commit

TIMERS_CHANNEL = "ow_timers"  # PostgreSQL LISTEN/NOTIFY channel: a new due time (ISO text)
TIMERS = "timers"
PRESENCE = "presence"
_EXTENSION = "ow_hooks"
_create_lock = threading.Lock()


class _Hooks:
    """The subscribers of one app, by topic and key; replaced whole on each change so that
    an announcement reads a snapshot while another thread subscribes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.topics: dict[str, MappingProxyType] = {
            TIMERS: MappingProxyType({}),
            PRESENCE: MappingProxyType({}),
        }

    def subscribe(self, topic: str, key: str, callback: Callable) -> None:
        with self._lock:
            self.topics[topic] = MappingProxyType({**self.topics[topic], key: callback})

    def unsubscribe(self, callback: Callable) -> None:
        with self._lock:
            for topic, subscribers in self.topics.items():
                kept = {k: cb for k, cb in subscribers.items() if cb != callback}
                self.topics[topic] = MappingProxyType(kept)

    def callbacks(self, topic: str) -> tuple[Callable, ...]:
        return tuple(self.topics[topic].values())


def _hooks(app: Flask) -> _Hooks:
    hooks = app.extensions.get(_EXTENSION)
    if hooks is None:
        with _create_lock:
            hooks = app.extensions.setdefault(_EXTENSION, _Hooks())
    return hooks


def subscribe_timers(
    app: Flask, callback: Callable[[dt.datetime], None], key: str = "scheduler"
) -> None:
    """Call `callback(due)` after each commit that made a timer due at `due` (naive UTC)."""
    _hooks(app).subscribe(TIMERS, key, callback)


def subscribe_presence(app: Flask, callback: Callable[..., None], key: str = "scheduler") -> None:
    """Call `callback(*moments)` after each commit that registered presence boundaries (the
    start and end of an absence, naive UTC) at which task holders must be reconciled."""
    _hooks(app).subscribe(PRESENCE, key, callback)


def unsubscribe(app: Flask, callback: Callable) -> None:
    """Stop calling `callback` (if a newer subscriber replaced it already, nothing changes)."""
    _hooks(app).unsubscribe(callback)


def announce_timers(due: dt.datetime) -> None:
    """Tell this process's subscribers, once the transaction commits, of a new due time."""
    on_commit(lambda: _run(TIMERS, due))


def announce_presence(*moments: dt.datetime) -> None:
    """Tell this process's subscribers, once the transaction commits, of presence
    boundaries registered just now."""
    on_commit(lambda: _run(PRESENCE, *moments))


def _run(topic: str, *args: dt.datetime) -> None:
    for callback in _hooks(current_app).callbacks(topic):
        callback(*args)
