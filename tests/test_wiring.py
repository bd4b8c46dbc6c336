"""How the app is wired: domains announce through app.hooks (whose subscribers run only
after a commit) instead of importing the scheduler (tests/test_layout.py checks that), and
no import cycle between the commands and the backup."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from app import hooks
from app.db import transactional

APP = Path(__file__).resolve().parent.parent / "app"


def _module(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved (at any depth in the file)."""
    module = _module(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _importers_of(target: str) -> set[str]:
    return {
        _module(path)
        for path in APP.rglob("*.py")
        if any(name == target or name.startswith(f"{target}.") for name in _imports(path))
    }


def test_the_backup_does_not_import_the_commands():
    assert "app.backup" not in _importers_of("app.cli")
    assert "app.backup" in _importers_of("app.migrate")  # the migrations have their own home


@pytest.fixture
def hooked(app):
    heard: list[tuple] = []

    def timers(due):
        heard.append(("timers", due))

    def presence(*moments):
        heard.append(("presence", *moments))

    hooks.subscribe_timers(app, timers, key="test")
    hooks.subscribe_presence(app, presence, key="test")
    yield heard
    hooks.unsubscribe(app, timers)
    hooks.unsubscribe(app, presence)


def test_hooks_run_after_the_commit_and_not_after_a_rollback(app, hooked):
    due, start, end = dt.datetime(2027, 1, 4, 9), dt.datetime(2027, 1, 5), dt.datetime(2027, 1, 6)

    @transactional
    def announce(fail: bool) -> None:
        hooks.announce_timers(due)
        hooks.announce_presence(start, end)
        assert hooked == []  # not before the commit
        if fail:
            raise ValueError("rolled back")

    with app.app_context():
        with pytest.raises(ValueError):
            announce(True)
        assert hooked == []
        announce(False)
    assert hooked == [("timers", due), ("presence", start, end)]


def test_a_new_subscriber_under_a_key_replaces_the_old_and_unsubscribing_the_old_keeps_it(app):
    heard: list[str] = []

    def old(_due):
        heard.append("old")

    def new(_due):
        heard.append("new")

    hooks.subscribe_timers(app, old, key="scheduler")
    hooks.subscribe_timers(app, new, key="scheduler")
    hooks.unsubscribe(app, old)  # the old scheduler shuts down after the new one started

    @transactional
    def announce() -> None:
        hooks.announce_timers(dt.datetime(2027, 1, 4, 9))

    with app.app_context():
        announce()
        hooks.unsubscribe(app, new)
        announce()
    assert heard == ["new"]
