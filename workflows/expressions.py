"""Safe evaluation of gateway conditions and scripts found in diagrams.

SpiffWorkflow's default script engine hands diagram text to Python's eval/exec.
Here every expression is first checked against a whitelist of syntax (no dunders,
no imports, no calls except a few pure functions) and then evaluated by simpleeval.
Scripts are limited to lines of the form ``name = expression``.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .errors import ExpressionError

MAX_EXPRESSION_LENGTH = 2000

SAFE_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "sum": sum,
    "any": any,
    "all": all,
    "sorted": sorted,
}

SAFE_NAMES: dict[str, Any] = {"True": True, "False": False, "None": None}

_ALLOWED_NODES: tuple[type, ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.Subscript,
    ast.Slice,
    ast.Attribute,
    ast.Call,
)


def check_expression(text: str, element_id: str | None = None) -> ast.Expression:
    """Parse an expression and refuse anything outside the safe subset."""
    if text is None or not text.strip():
        raise ExpressionError("empty expression", text or "", element_id)
    source = text.strip()
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters", source[:80], element_id
        )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"not a valid expression ({exc.msg}); only single expressions are allowed, "
            "not statements or assignments",
            source,
            element_id,
        ) from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(
                f"'{type(node).__name__}' is not allowed in an expression", source, element_id
            )
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise ExpressionError(f"name '{node.id}' is not allowed", source, element_id)
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise ExpressionError(f"attribute '{node.attr}' is not allowed", source, element_id)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in SAFE_FUNCTIONS:
                called = ast.unparse(node.func)
                raise ExpressionError(
                    f"call of '{called}' is not allowed; allowed functions: "
                    + ", ".join(sorted(SAFE_FUNCTIONS)),
                    source,
                    element_id,
                )
            if node.keywords and any(k.arg is None for k in node.keywords):
                raise ExpressionError("'**' arguments are not allowed", source, element_id)
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            raise ExpressionError("bytes literals are not allowed", source, element_id)
    return tree


def check_script(text: str, element_id: str | None = None) -> list[tuple[str, str]]:
    """Split a script into ``name = expression`` lines, checking each expression."""
    assignments: list[tuple[str, str]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            statement = ast.parse(line, mode="exec").body
        except SyntaxError as exc:
            raise ExpressionError(f"script line {number}: {exc.msg}", line, element_id) from None
        if (
            len(statement) != 1
            or not isinstance(statement[0], ast.Assign)
            or len(statement[0].targets) != 1
            or not isinstance(statement[0].targets[0], ast.Name)
        ):
            raise ExpressionError(
                f"script line {number}: only 'name = expression' lines are allowed",
                line,
                element_id,
            )
        target = statement[0].targets[0].id
        if target.startswith("_"):
            raise ExpressionError(
                f"script line {number}: name '{target}' is not allowed", line, element_id
            )
        expression = ast.unparse(statement[0].value)
        check_expression(expression, element_id)
        assignments.append((target, expression))
    return assignments


@lru_cache(maxsize=4096)
def _checked(text: str) -> tuple[str, ast.Expression]:
    tree = check_expression(text)
    return text.strip(), tree


@lru_cache(maxsize=1024)
def _checked_script(text: str) -> tuple[tuple[str, str], ...]:
    return tuple(check_script(text))


def evaluate(text: str, data: dict[str, Any]) -> Any:
    """Evaluate a checked expression against task data."""
    source, _tree = _checked(text)
    evaluator = EvalWithCompoundTypes(names={**SAFE_NAMES, **data}, functions=SAFE_FUNCTIONS)
    try:
        return evaluator.eval(source)
    except InvalidExpression as exc:
        raise ExpressionError(f"cannot evaluate: {exc}", source) from None
    except (TypeError, ValueError, ZeroDivisionError, KeyError, IndexError) as exc:
        raise ExpressionError(f"cannot evaluate: {type(exc).__name__}: {exc}", source) from None


def run_script(text: str, data: dict[str, Any]) -> None:
    """Run a checked script (assignment lines) against task data, in place."""
    for target, expression in _checked_script(text):
        data[target] = evaluate(expression, data)


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that never calls eval or exec."""

    def evaluate(self, expression, context, external_context=None):
        scope = dict(external_context or {})
        scope.update(context)
        return evaluate(expression, scope)

    def execute(self, script, context, external_context=None):
        run_script(script, context)
        return True

    def call_service(self, context, **kwargs):
        raise ExpressionError("service tasks are not supported")


class SafeScriptEngine(PythonScriptEngine):
    """Script engine whose validation and evaluation use the safe subset only."""

    def __init__(self) -> None:
        super().__init__(environment=SafeEnvironment())

    def validate(self, expression):
        check_expression(expression)
