"""Exceptions of OneWindow; every error the project raises derives from OneWindowError."""

from __future__ import annotations

from dataclasses import dataclass, field

from .i18n import _


class OneWindowError(Exception):
    """Base class of every error OneWindow raises on purpose."""

    def __init__(self, message: str) -> None:
        message = str(message)  # a lazy translation is put into words when raised
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Finding:
    """One problem found in a diagram, pointing at the element and line."""

    severity: str  # "error" or "warning"
    code: str  # short stable identifier, e.g. "xsd", "unassigned-task"
    message: str
    element_id: str | None = None
    line: int | None = None
    filename: str | None = None

    def __str__(self) -> str:
        where = []
        if self.filename:
            where.append(self.filename)
        if self.line:
            where.append(_("line %(line)s", line=self.line))
        if self.element_id:
            where.append(_("element %(id)s", id=self.element_id))
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message

    def as_dict(self) -> dict:
        """Return the finding as a JSON-ready dict."""
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "element_id": self.element_id,
            "line": self.line,
            "filename": self.filename,
        }


class DiagramError(OneWindowError):
    """A diagram cannot be loaded, validated or compiled."""

    def __init__(self, message: str, findings: list[Finding] | None = None) -> None:
        self.findings: list[Finding] = findings or []
        detail = "; ".join(str(f) for f in self.findings if f.severity == "error")
        super().__init__(f"{message}: {detail}" if detail else message)
        self.summary = message


class ExpressionError(OneWindowError):
    """An expression or script from a diagram is unsafe or invalid."""

    def __init__(self, message: str, expression: str = "", element_id: str | None = None) -> None:
        super().__init__(message)
        self.expression = expression
        self.element_id = element_id


@dataclass
class EngineError(OneWindowError):
    """The engine could not run a step (bad task, bad data, broken state)."""

    message: str
    task_spec: str | None = None
    details: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)


@dataclass
class WorkflowFault(EngineError):
    """A step ran into something that must stop the case (流程异常) instead of deciding it.

    ``code`` says what kind: ``engine`` (SpiffWorkflow raised), ``expression``, ``step-limit``
    (too many engine tasks in one step), ``time-limit`` (one step ran too long), ``no-result``
    (an end event without a result), ``open-tasks`` (finished while work was left), ``timer``.
    ``elements`` lists the diagram elements concerned (for a limit: those it was cycling
    through) and ``cause`` the root cause in the engine's words.
    """

    code: str = "engine"
    elements: tuple[str, ...] = ()
    cause: str = ""

    def as_dict(self) -> dict:
        """Return the fault as a JSON-ready dict, as stored in the case's fault event."""
        return {
            "code": self.code,
            "message": self.message,
            "element": self.task_spec,
            "elements": list(self.elements),
            "cause": self.cause,
        }
