"""The OMG BPMN MIWG reference models: diagrams nobody here wrote must load or be refused clearly.

Each model either loads or is refused with a DiagramError whose findings all have a code and a
message; no other exception may escape. EXPECTED records what each model gives today (recorded
by running the loader on them), so that a change in the loader or the lint shows up here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from workflows.errors import DiagramError, Finding
from workflows.loader import load_diagram


def reference_dir() -> Path:
    """Return the folder of reference models: OW_REFERENCE_DIR, else the copy in this repository.

    tests/workflows/data/miwg holds the models' .bpmn files (CC BY 3.0, see its README.md and
    LICENSE.txt there), so that the tests read nothing outside the repository.
    """
    configured = os.environ.get("OW_REFERENCE_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "data" / "miwg"


REFERENCE_DIR = reference_dir()

NOT_EXECUTABLE = (["not-executable"], [])
# descriptive models drawn with tools that add their own extensions (kept, reported)
NOT_EXECUTABLE_EXTENDED = (["not-executable"], ["foreign-extension"])
USER_TASK_WARNINGS = ["foreign-extension", "missing-stage", "missing-time-limit"]

# file -> (error codes, warning codes); no error codes means the model loads.
# None of the reference models is an OneWindow procedure: the descriptive ones are not
# executable, the executable ones (C.1.x, C.3.0, C.8.1, C.9.x) use Camunda/Zeebe expression
# syntax (${...}, =..., XPath), unquoted ISO timers, service/send/receive/business-rule tasks,
# data stores and call activities to processes outside the file.
EXPECTED: dict[str, tuple[list[str], list[str]]] = {
    "A.1.0.bpmn": NOT_EXECUTABLE,
    "A.2.0.bpmn": NOT_EXECUTABLE,
    "A.2.1.bpmn": NOT_EXECUTABLE_EXTENDED,
    "A.3.0.bpmn": NOT_EXECUTABLE,
    "A.4.0.bpmn": NOT_EXECUTABLE,
    "A.4.1.bpmn": NOT_EXECUTABLE_EXTENDED,
    "B.1.0.bpmn": NOT_EXECUTABLE,
    "B.2.0.bpmn": NOT_EXECUTABLE,
    "C.1.0.bpmn": (
        ["juel-expression", "missing-result", "unsupported-element"],
        [*USER_TASK_WARNINGS, "no-default"],
    ),
    "C.1.1.bpmn": (
        ["missing-result", "unassigned-task", "unsafe-expression", "unsupported-element"],
        [*USER_TASK_WARNINGS, "no-default"],
    ),
    "C.2.0.bpmn": NOT_EXECUTABLE,
    "C.3.0.bpmn": (
        [
            "missing-condition",
            "missing-result",
            "subprocess-events",
            "unassigned-task",
            "unquoted-timer",
            "unsafe-expression",
        ],
        [*USER_TASK_WARNINGS, "no-default"],
    ),
    "C.4.0.bpmn": NOT_EXECUTABLE_EXTENDED,
    "C.5.0.bpmn": NOT_EXECUTABLE_EXTENDED,
    "C.6.0.bpmn": NOT_EXECUTABLE_EXTENDED,
    "C.7.0.bpmn": NOT_EXECUTABLE_EXTENDED,
    "C.8.0.bpmn": NOT_EXECUTABLE_EXTENDED,
    "C.8.1.bpmn": (
        ["missing-result", "unassigned-task", "unsafe-expression", "unsupported-element"],
        USER_TASK_WARNINGS,
    ),
    "C.9.0.bpmn": (
        [
            "feel-expression",
            "missing-called-element",
            "missing-result",
            "unassigned-task",
            "unsupported-element",
        ],
        [*USER_TASK_WARNINGS, "no-default"],
    ),
    "C.9.1.bpmn": (
        ["missing-result", "unassigned-task", "unquoted-timer", "unsupported-element"],
        USER_TASK_WARNINGS,
    ),
    "C.9.2.bpmn": (
        [
            "feel-expression",
            "missing-called-element",
            "missing-result",
            "multi-instance-input",
            "unassigned-task",
            "unquoted-timer",
            "unsupported-element",
        ],
        USER_TASK_WARNINGS,
    ),
}

MISSING = f"reference models not found at {REFERENCE_DIR} (set OW_REFERENCE_DIR)"


def model_files() -> list[Path]:
    return sorted(REFERENCE_DIR.glob("*.bpmn")) if REFERENCE_DIR.is_dir() else []


def findings_of(path: Path) -> list[Finding]:
    """Load a model; return its findings whether it loads or is refused."""
    try:
        return load_diagram(path.read_bytes(), path.name).findings
    except DiagramError as error:
        assert error.findings, f"{path.name}: refused without findings: {error}"
        return error.findings


def codes(findings: list[Finding], severity: str) -> list[str]:
    return sorted({f.code for f in findings if f.severity == severity})


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
def test_every_model_has_an_expected_outcome() -> None:
    assert sorted(p.name for p in model_files()) == sorted(EXPECTED)


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_reference_model_loads_or_is_refused_clearly(name: str) -> None:
    path = REFERENCE_DIR / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {REFERENCE_DIR}")
    findings = findings_of(path)
    for finding in findings:
        assert finding.code and finding.message.strip(), finding
        assert finding.filename == name
        assert finding.line is not None, finding
    errors, warnings = EXPECTED[name]
    assert (codes(findings, "error"), codes(findings, "warning")) == (errors, warnings)


@pytest.mark.skipif(not REFERENCE_DIR.is_dir(), reason=MISSING)
@pytest.mark.parametrize(
    "name",
    sorted(n for n, e in EXPECTED.items() if e in (NOT_EXECUTABLE, NOT_EXECUTABLE_EXTENDED)),
)
def test_descriptive_model_is_refused_only_for_not_being_executable(name: str) -> None:
    [finding] = [f for f in findings_of(REFERENCE_DIR / name) if f.severity == "error"]
    assert finding.code == "not-executable"
    assert 'isExecutable="true"' in finding.message
    assert finding.element_id
