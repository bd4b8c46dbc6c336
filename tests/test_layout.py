"""The layout's rules, checked on the code itself (issue 17: one domain, one folder).

- View modules (each domain's `pages` and `api`, and `app/web`, `app/api`) run no query:
  they call the domain's reads and operations.
- A domain never imports the scheduler, the web or API layers or the CLI; only its own
  view modules import `app.web` / `app.api`.
- A case is looked up by its number only behind the access gate (`app/cases/access.py`),
  or where a listed reason says why the gate does not apply.
- No module of `app/` is over 500 lines (but the OpenAPI document, a literal); a function
  over 60 lines has a comment right above it saying why.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"
OUTER = ("app.scheduler", "app.web", "app.api", "app.cli")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
DATA_LIKE = {"app/api/openapi.py": "the OpenAPI document, one literal"}

# looking a case up by its number outside the gate, and why the gate does not apply there
CASE_LOOKUPS = {
    "app/cases/access.py": "the gate itself",
    "app/applicants/tracking.py": "public tracking: the case number and its query code are "
    "the applicant's credential (rate-limited); there is no user to check",
    "app/complaints/services.py": "a complaint names a case: the office records its id and "
    "reads nothing of it",
}
# a task selected by an id that is not the gate's, and why that is not a user's read
TASK_LOOKUPS = {
    "app/cases/access.py": "the gate itself",
    "app/cases/deadlines.py": "recomputed due dates: the ids come from its own query of a "
    "case's open tasks",
    "app/supervision/services.py": "an urging notice names one open task of the case the "
    "supervisor reached through the gate",
}


def _modules(folder: Path = APP) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _domain(path: Path) -> str | None:
    """The domain folder a module belongs to (None for app-wide modules and layers)."""
    parts = path.relative_to(APP).parts
    if len(parts) < 2 or parts[0] in ("web", "api"):
        return None
    return parts[0]


def _is_view(path: Path) -> bool:
    parts = path.relative_to(APP).parts
    if parts[0] in ("web", "api"):
        return True
    return len(parts) >= 2 and (parts[1] in ("pages.py", "api.py", "pages"))


def _imports(path: Path) -> list[tuple[str, int]]:
    """Every module a file imports (relative imports resolved), with its line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _dotted(path) if path.name == "__init__.py" else _dotted(path).rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((module, node.lineno))
            found += [(f"{module}.{a.name}", node.lineno) for a in node.names]
    return found


VIEWS = [p for p in _modules() if _is_view(p)]
DOMAIN_MODULES = [p for p in _modules() if _domain(p) and not _is_view(p)]


def test_the_layout_is_what_the_rules_speak_of():
    """The checks below see the view modules and the domains (they would pass on nothing)."""
    views = {_rel(p) for p in VIEWS}
    assert {"app/cases/pages/tasks.py", "app/cases/api.py", "app/web/login.py"} <= views
    assert len(views) >= 15
    domains = {_domain(p) for p in DOMAIN_MODULES}
    assert {"cases", "org", "catalogue", "supervision", "audit", "applicants", "complaints",
            "stats", "calendar", "notices"} <= domains  # fmt: skip


@pytest.mark.parametrize("path", VIEWS, ids=_rel)
def test_a_view_module_runs_no_query(path):
    problems = []
    for module, line in _imports(path):
        if module == "sqlalchemy" or module.startswith("sqlalchemy."):
            problems.append(f"line {line}: imports {module}")
        if module in ("app.db.session", "app.db.get_engine"):
            problems.append(f"line {line}: imports {module} (a database session)")
    source = path.read_text(encoding="utf-8")
    for match in re.finditer(r"\b(session|db_session)\(\)", source):
        problems.append(f"line {source[: match.start()].count(chr(10)) + 1}: calls {match[0]}")
    assert not problems, f"{_rel(path)} queries itself: " + "; ".join(problems)


@pytest.mark.parametrize("path", DOMAIN_MODULES, ids=_rel)
def test_a_domain_never_imports_the_outer_layers(path):
    wrong = [
        f"line {line}: {module}"
        for module, line in _imports(path)
        if any(module == o or module.startswith(o + ".") for o in OUTER)
    ]
    assert not wrong, f"{_rel(path)} imports an outer layer: " + "; ".join(wrong)


@pytest.mark.parametrize("path", [p for p in VIEWS if _domain(p)], ids=_rel)
def test_a_domains_view_module_imports_no_scheduler_or_cli(path):
    wrong = [
        f"line {line}: {module}"
        for module, line in _imports(path)
        if any(module == o or module.startswith(o + ".") for o in ("app.scheduler", "app.cli"))
    ]
    assert not wrong, f"{_rel(path)}: " + "; ".join(wrong)


def test_the_scheduler_is_imported_by_no_domain_and_no_view():
    importers = [
        _rel(p)
        for p in _modules()
        if p.name != "scheduler.py"
        and _rel(p) not in ("app/cli.py", "app/__init__.py", "app/wsgi.py")  # entry points
        and any(m == "app.scheduler" or m.startswith("app.scheduler.") for m, _l in _imports(p))
    ]
    assert importers == []


def test_cases_are_looked_up_by_number_only_behind_the_gate():
    lookup = re.compile(r"Case\.case_no\s*==")
    found = {
        _rel(p): [i + 1 for i, line in enumerate(p.read_text().splitlines()) if lookup.search(line)]
        for p in _modules()
    }
    outside = {path: lines for path, lines in found.items() if lines and path not in CASE_LOOKUPS}
    assert outside == {}, "look the case up with app.cases.access.require_case"
    assert found["app/cases/access.py"], "the gate itself looks cases up by number"


def test_tasks_are_read_for_a_user_only_behind_the_gate():
    """Loading a task by the id a user sent happens in `require_task` only."""
    lookup = re.compile(r"\.where\(Task\.id == task_id\)")
    found = {_rel(p) for p in _modules() if lookup.search(p.read_text())}
    assert found - set(TASK_LOOKUPS) == set(), "load the task with app.cases.access.require_task"
    assert "app/cases/access.py" in found


@pytest.mark.parametrize("path", _modules(), ids=_rel)
def test_no_module_of_app_is_over_500_lines(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    if _rel(path) in DATA_LIKE:
        return
    assert lines <= MAX_MODULE_LINES, f"{_rel(path)} has {lines} lines: split it by topic"


def _long_functions_without_a_reason(folder: Path) -> list[str]:
    out = []
    for path in _modules(folder):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = node.end_lineno - node.lineno + 1
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            above = lines[first - 2].strip() if first >= 2 else ""
            if length > MAX_FUNCTION_LINES and not above.startswith("#"):
                out.append(f"{_rel(path)}:{node.lineno} {node.name} ({length} lines)")
    return out


@pytest.mark.parametrize("folder", ["app", "workflows"])
def test_a_long_function_says_why(folder):
    assert _long_functions_without_a_reason(ROOT / folder) == []
