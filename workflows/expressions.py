"""Safe, bounded evaluation of gateway conditions and scripts found in diagrams.

SpiffWorkflow's default script engine hands diagram text to Python's eval/exec.
Here every expression is first checked against a whitelist of syntax (no dunders,
no imports, no calls except a few pure functions) and then evaluated by simpleeval.
Scripts are limited to lines of the form ``name = expression``.

Evaluation is bounded as well (``Limits``): the size of the integers, strings and
containers it builds, the total it builds, the syntax nodes it evaluates and the CPU time
it takes (``workflows.budget``), for one expression and for one script as a whole. Sizes
are checked before anything big is built (``'9' * 10**9`` is refused without
allocating), so no diagram can hold a worker for long or grow it by more than a few tens
of MB. A limit that is passed raises
``ExpressionLimit`` naming the limit, its value and the element.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from .budget import Budget
from .errors import ExpressionError
from .i18n import _

MAX_EXPRESSION_LENGTH = 2000


@dataclass(frozen=True)
class Limits:
    """How much one expression, or one script as a whole, may build and do."""

    max_int_bits: int = 1024  # about 308 digits: the range of a float
    max_length: int = 100_000  # characters of a string; weighted items of a list, tuple, dict
    max_total: int = 1_000_000  # weighted items built or walked by one evaluation or script
    max_nesting: int = 32  # lists in lists (in dicts ...) of a value built
    max_nodes: int = 20_000  # syntax nodes evaluated by one evaluation or script
    max_syntax_depth: int = 100  # nesting of one expression's syntax tree
    max_seconds: float = 0.5  # CPU time of one evaluation or script (workflows.budget)


# What each limit is, for messages: "<what> exceeds the limit <name> = <value> <unit>".
LIMIT_UNITS = {
    "max_int_bits": "bits",
    "max_length": "characters or items",
    "max_total": "items in all",
    "max_nesting": "levels",
    "max_nodes": "evaluation steps",
    "max_syntax_depth": "levels",
    "max_seconds": "seconds",
}  # put into the reader's words (the catalogue) when a message is made

LIMITS = Limits()
# Config keys that override a limit, e.g. EXPRESSION_MAX_INT_BITS in the app's config or
# OW_EXPRESSION_MAX_INT_BITS in the environment; the defaults stay those of Limits.
CONFIG_PREFIX = "EXPRESSION_"


def configure(config: Mapping[str, Any]) -> Limits:
    """Set the limits from config keys EXPRESSION_<LIMIT> (or OW_EXPRESSION_<LIMIT> variables)."""
    global LIMITS
    changes = {}
    for item in dataclasses.fields(Limits):
        key = CONFIG_PREFIX + item.name.upper()
        value = config.get(key)
        if value in (None, ""):
            value = os.environ.get(f"OW_{key}")
        if value not in (None, ""):
            changes[item.name] = type(getattr(Limits(), item.name))(value)
    LIMITS = dataclasses.replace(Limits(), **changes)
    _checked.cache_clear()
    _checked_script.cache_clear()
    return LIMITS


class ExpressionLimit(ExpressionError):
    """An expression or script went past one of the evaluation limits."""

    def __init__(
        self, what: str, limit: str, value: Any, expression: str = "", element_id: str | None = None
    ) -> None:
        self.what = what
        self.limit = limit
        self.value = value
        super().__init__(self._text(element_id), expression, element_id)

    def _text(self, element_id: str | None) -> str:
        where = _("element '%(id)s': ", id=element_id) if element_id else ""
        unit = _(LIMIT_UNITS[self.limit]) if self.limit in LIMIT_UNITS else ""
        text = _(
            "%(where)s%(what)s exceeds the limit %(limit)s = %(value)s %(unit)s",
            where=where,
            what=self.what,
            limit=self.limit,
            value=self.value,
            unit=unit,
        )
        return text.rstrip()

    def locate(self, element_id: str, expression: str) -> None:
        """Name the element (and expression) the limit was passed in, once known."""
        self.element_id = element_id
        self.expression = self.expression or expression
        self.message = self._text(element_id)
        self.args = (self.message,)


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
    ast.Pow,
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


def syntax_depth(tree: ast.AST) -> int:
    """Return how deeply the nodes of a syntax tree nest (without recursion)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def check_expression(text: str, element_id: str | None = None) -> ast.Expression:
    """Parse an expression and refuse anything outside the safe subset."""
    if text is None or not text.strip():
        raise ExpressionError(_("empty expression"), text or "", element_id)
    source = text.strip()
    if len(source) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            _(
                "expression longer than %(MAX_EXPRESSION_LENGTH)s characters",
                MAX_EXPRESSION_LENGTH=MAX_EXPRESSION_LENGTH,
            ),
            source[:80],
            element_id,
        )
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            _(
                "not a valid expression (%(msg)s); only single expressions are allowed, not "
                "statements or assignments",
                msg=exc.msg,
            ),
            source,
            element_id,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(
            _(
                "not a valid expression (%(exc)s)",
                exc=exc,
            ),
            source[:80],
            element_id,
        ) from None
    depth = syntax_depth(tree)
    if depth > LIMITS.max_syntax_depth:
        raise ExpressionLimit(
            f"nesting of the expression ({depth} levels)",
            "max_syntax_depth",
            LIMITS.max_syntax_depth,
            source[:80],
            element_id,
        )
    for node in ast.walk(tree):
        _check_node(node, source, element_id)
    return tree


def _check_node(node: ast.AST, source: str, element_id: str | None) -> None:
    if not isinstance(node, _ALLOWED_NODES):
        raise ExpressionError(
            _(
                "'%(type_name)s' is not allowed in an expression",
                type_name=type(node).__name__,
            ),
            source,
            element_id,
        )
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        raise ExpressionError(_("name '%(id)s' is not allowed", id=node.id), source, element_id)
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        raise ExpressionError(
            _(
                "attribute '%(attr)s' is not allowed",
                attr=node.attr,
            ),
            source,
            element_id,
        )
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in SAFE_FUNCTIONS:
            called = ast.unparse(node.func)
            raise ExpressionError(
                _(
                    "call of '%(called)s' is not allowed; allowed functions: %(functions)s",
                    called=called,
                    functions=", ".join(sorted(SAFE_FUNCTIONS)),
                ),
                source,
                element_id,
            )
        if node.keywords and any(k.arg is None for k in node.keywords):
            raise ExpressionError(_("'**' arguments are not allowed"), source, element_id)
    if isinstance(node, ast.Constant) and isinstance(node.value, bytes | complex):
        kind = "bytes" if isinstance(node.value, bytes) else "complex number"
        raise ExpressionError(_("%(kind)s literals are not allowed", kind=kind), source, element_id)


def check_script(text: str, element_id: str | None = None) -> list[tuple[str, str]]:
    """Split a script into ``name = expression`` lines, checking each expression."""
    assignments: list[tuple[str, str]] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            assignments.append(_script_line(number, line, element_id))
    return assignments


def _script_line(number: int, line: str, element_id: str | None) -> tuple[str, str]:
    """Check line `number` of a script: one ``name = expression``, the name not starting
    with '_' and the expression one the sandbox accepts. Return the name and the expression."""
    try:
        statement = ast.parse(line, mode="exec").body
    except SyntaxError as exc:
        raise ExpressionError(
            _(
                "script line %(number)s: %(msg)s",
                number=number,
                msg=exc.msg,
            ),
            line,
            element_id,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(
            _(
                "script line %(number)s: %(exc)s",
                number=number,
                exc=exc,
            ),
            line[:80],
            element_id,
        ) from None
    if (
        len(statement) != 1
        or not isinstance(statement[0], ast.Assign)
        or len(statement[0].targets) != 1
        or not isinstance(statement[0].targets[0], ast.Name)
    ):
        raise ExpressionError(
            _(
                "script line %(number)s: only 'name = expression' lines are allowed",
                number=number,
            ),
            line,
            element_id,
        )
    target = statement[0].targets[0].id
    if target.startswith("_"):
        raise ExpressionError(
            _(
                "script line %(number)s: name '%(target)s' is not allowed",
                number=number,
                target=target,
            ),
            line,
            element_id,
        )
    expression = line.split("=", 1)[1].strip()
    try:
        check_expression(expression, element_id)
    except ExpressionError as exc:
        exc.message = f"script line {number}: {exc.message}"
        exc.args = (exc.message,)
        raise
    return target, expression


# --- sizes ---------------------------------------------------------------------------------


class _TooBig(Exception):
    """A value walked by _weight went past the size or nesting limit."""

    def __init__(self, limit: str, what: str) -> None:
        super().__init__(limit)
        self.limit = limit
        self.what = what


_SCALARS = (bool, float, type(None))
_MISSING = object()
_PLAIN = (str, int, float, bool, type(None), list, tuple, dict)


def _weight(value: Any, limits: Limits, plain: bool = False) -> int:
    """Return the size of a value (characters of strings, items of containers, int words).

    Shared items count each time they appear, as that is the work of printing, comparing or
    flattening them. Raise _TooBig as soon as the size passes max_length or the nesting
    max_nesting; with ``plain``, refuse anything a case's data cannot store.
    """
    cap = limits.max_length
    total, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is str:
            total += len(item) or 1
        elif kind is int:
            total += item.bit_length() // 64 + 1
        elif kind in _SCALARS:
            total += 1
        elif kind is list or kind is tuple or kind is set or kind is frozenset:
            if depth >= limits.max_nesting:
                raise _TooBig("max_nesting", "nesting of a value")
            if plain and kind not in _PLAIN:
                raise ExpressionError(
                    _(
                        "a %(type_name)s cannot be stored in the case's data",
                        type_name=kind.__name__,
                    )
                )
            total += 1
            stack.extend((child, depth + 1) for child in item)
        elif kind is dict:
            if depth >= limits.max_nesting:
                raise _TooBig("max_nesting", "nesting of a value")
            if plain and not all(type(key) in (str, int, float, bool) for key in item):
                raise ExpressionError(
                    _(
                        "a dict stored in the case's data needs text or number keys",
                    )
                )
            total += 1
            stack.extend((child, depth + 1) for child in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            if plain and not isinstance(item, _PLAIN):
                raise ExpressionError(
                    _(
                        "a %(type_name)s cannot be stored in the case's data; store numbers, "
                        "text, lists or dicts",
                        type_name=kind.__name__,
                    )
                )
            total += 1
        if total > cap:
            break
    if total > cap:
        raise _TooBig("max_length", f"size of a value (over {cap})")
    return total


def _sized(value: Any) -> bool:
    kind = type(value)
    return kind is str or kind is list or kind is tuple or kind is dict or kind is set


# --- the evaluator ---------------------------------------------------------------------------


class _BoundedEval(EvalWithCompoundTypes):
    """simpleeval with every operator and function checked against the limits.

    One instance per thread is reused: ``start`` resets the budget before each expression or
    script, so that its construction cost stays off the path of a simple condition.
    """

    def __init__(self) -> None:
        functions = {name: getattr(self, f"_f_{name}") for name in SAFE_FUNCTIONS}
        super().__init__(operators=self._operators(), functions=functions, names={})
        self.limits = LIMITS
        self.steps = 0
        self.built = 0
        self.budget = Budget.of(0.0)
        self.expression = ""

    def _operators(self) -> dict[type, Callable]:
        return {
            ast.Add: self._add,
            ast.Sub: self._arith(lambda a, b: a - b),
            ast.Mult: self._mult,
            ast.Div: self._arith(lambda a, b: a / b),
            ast.FloorDiv: self._arith(lambda a, b: a // b),
            ast.Mod: self._mod,
            ast.Pow: self._pow,
            ast.Eq: lambda a, b: a == b,
            ast.NotEq: lambda a, b: a != b,
            ast.Gt: lambda a, b: a > b,
            ast.Lt: lambda a, b: a < b,
            ast.GtE: lambda a, b: a >= b,
            ast.LtE: lambda a, b: a <= b,
            ast.Not: lambda a: not a,
            ast.USub: lambda a: -a,
            ast.UAdd: lambda a: +a,
            ast.In: lambda a, b: a in b,
            ast.NotIn: lambda a, b: a not in b,
            ast.Is: lambda a, b: a is b,
            ast.IsNot: lambda a, b: a is not b,
        }

    # -- budget --

    def start(self, names: dict[str, Any], expression: str) -> None:
        """Begin one expression or script with a fresh budget."""
        self.limits = LIMITS
        self.names = names
        self.steps = 0
        self.built = 0
        self.budget = Budget.of(self.limits.max_seconds)
        self.expression = expression

    def limit(self, what: str, limit: str) -> ExpressionLimit:
        """Return the error for passing a limit while evaluating the current expression."""
        value = getattr(self.limits, limit)
        return ExpressionLimit(what, limit, value, self.expression)

    def _clock(self) -> None:
        if self.budget.spent():
            raise self.limit("evaluation time", "max_seconds")

    def _eval(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps & 63 == 0:
            if self.steps > self.limits.max_nodes:
                raise self.limit(f"{self.steps} evaluation steps", "max_nodes")
            self._clock()
        # simpleeval's own _eval also walks every result looking for modules and forbidden
        # functions; values here come from case data and the wrapped functions only, and that
        # walk would cost as much as the expression itself on large lists.
        try:
            handler = self.nodes[type(node)]
        except KeyError:
            raise ExpressionError(
                _(
                    "'%(type_name)s' is not allowed in an expression",
                    type_name=type(node).__name__,
                ),
                self.expression,
            ) from None
        return handler(node)

    def _build(self, value: Any, what: str, plain: bool = False) -> Any:
        """Count a value just built against the limits; return it."""
        kind = type(value)
        if kind is int:
            if value.bit_length() > self.limits.max_int_bits:
                raise self.limit(f"integer {what} ({value.bit_length()} bits)", "max_int_bits")
        elif kind is float:
            if not math.isfinite(value):
                raise ExpressionError(
                    _(
                        "%(what)s is not a finite number (%(value)s)",
                        what=what,
                        value=value,
                    ),
                    self.expression,
                )
        elif _sized(value) or plain:
            try:
                size = _weight(value, self.limits, plain=plain)
            except _TooBig as exc:
                raise self.limit(f"{exc.what} from {what}", exc.limit) from None
            self.built += size
            if self.built > self.limits.max_total:
                raise self.limit("everything built or walked by the expression", "max_total")
            self._clock()
        return value

    def _size(self, value: Any, what: str) -> int:
        """Return the size of a value about to be worked on, counting the walk as work."""
        try:
            size = _weight(value, self.limits)
        except _TooBig as exc:
            raise self.limit(f"{exc.what} of {what}", exc.limit) from None
        self.built += size
        if self.built > self.limits.max_total:
            raise self.limit("everything built or walked by the expression", "max_total")
        return size

    def _would_build(self, size: int, what: str) -> None:
        if size > self.limits.max_length:
            raise self.limit(f"{what} ({size} characters or items)", "max_length")
        if self.built + size > self.limits.max_total:
            raise self.limit("everything built or walked by the expression", "max_total")

    # -- operators --

    def _arith(self, operation: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def checked(a: Any, b: Any) -> Any:
            return self._build(operation(a, b), "result")

        return checked

    def _add(self, a: Any, b: Any) -> Any:
        if _sized(a) and _sized(b):
            self._would_build(self._size(a, "a sum") + self._size(b, "a sum"), "a sum")
        return self._build(a + b, "sum")

    def _mult(self, a: Any, b: Any) -> Any:
        for seq, times in ((a, b), (b, a)):
            if _sized(seq) and type(times) in (int, bool):
                own = 0 if type(seq) is str else 1  # the container itself, not repeated
                items = self._size(seq, "a repetition") - own
                self._would_build(items * max(times, 0) + own, "a repetition")
        if type(a) is int and type(b) is int:
            bits = a.bit_length() + b.bit_length()
            if bits > self.limits.max_int_bits + 1:
                raise self.limit(f"integer product (about {bits} bits)", "max_int_bits")
        return self._build(a * b, "product")

    def _mod(self, a: Any, b: Any) -> Any:
        if isinstance(a, str):
            raise ExpressionError(_("formatting text with '%' is not allowed"), self.expression)
        return self._build(a % b, "remainder")

    def _pow(self, a: Any, b: Any) -> Any:
        if type(a) in (int, bool) and type(b) in (int, bool) and b > 0:
            bits = int(math.log2(abs(a)) * b) + 1 if abs(a) > 1 else 1
            if bits > self.limits.max_int_bits:
                raise self.limit(f"integer power (about {bits} bits)", "max_int_bits")
        elif isinstance(b, int | float) and abs(b) > self.limits.max_int_bits:
            if isinstance(a, int | float) and abs(a) not in (0, 1):
                raise self.limit(f"power with exponent {b:g}", "max_int_bits")
        result = a**b
        if isinstance(result, complex):
            raise ExpressionError(_("the power has no real result"), self.expression)
        return self._build(result, "power")

    # -- nodes building containers --

    def _eval_list(self, node: ast.List) -> list:
        return self._build(super()._eval_list(node), "a list")

    def _eval_tuple(self, node: ast.Tuple) -> tuple:
        return self._build(super()._eval_tuple(node), "a tuple")

    def _eval_set(self, node: ast.Set) -> set:
        return self._build(super()._eval_set(node), "a set")

    def _eval_dict(self, node: ast.Dict) -> dict:
        return self._build(super()._eval_dict(node), "a dict")

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        owner = self._eval(node.value)
        if isinstance(owner, dict):  # form.amount: a field of the data, even one named "items"
            if node.attr in owner:
                return owner[node.attr]
            raise ExpressionError(
                _(
                    "'%(attr)s' is not in the data",
                    attr=node.attr,
                ),
                self.expression,
            )
        value = getattr(owner, node.attr, _MISSING)
        if value is _MISSING:
            kind = type(owner).__name__
            raise ExpressionError(
                _(
                    "a %(kind)s has no attribute '%(attr)s'",
                    kind=kind,
                    attr=node.attr,
                ),
                self.expression,
            )
        if callable(value):
            raise ExpressionError(
                _(
                    "'%(attr)s' is a method; expressions cannot call or keep methods",
                    attr=node.attr,
                ),
                self.expression,
            )
        return value

    # -- functions --

    def _f_len(self, value: Any) -> int:
        return len(value)

    def _f_abs(self, value: Any) -> Any:
        return abs(value)

    def _f_bool(self, value: Any = False) -> bool:
        return bool(value)

    def _f_any(self, values: Iterable) -> bool:
        self._size(values, "any()")
        return any(values)

    def _f_all(self, values: Iterable) -> bool:
        self._size(values, "all()")
        return all(values)

    def _f_min(self, *args: Any, **kwargs: Any) -> Any:
        self._size(args, "min()")
        return min(*args, **kwargs)

    def _f_max(self, *args: Any, **kwargs: Any) -> Any:
        self._size(args, "max()")
        return max(*args, **kwargs)

    def _f_round(self, number: Any, ndigits: Any = None) -> Any:
        # rounding an int to -n digits computes 10 ** n first
        digits = int(self.limits.max_int_bits * math.log10(2)) + 2
        if isinstance(ndigits, int) and abs(ndigits) > digits:
            raise self.limit(f"rounding to {ndigits} digits", "max_int_bits")
        return self._build(round(number, ndigits), "round()")

    def _f_int(self, value: Any = 0, *base: int) -> int:
        digits = int(self.limits.max_int_bits * math.log10(2)) + 2
        if isinstance(value, str) and len(value.strip()) > digits:
            raise self.limit(f"integer from int() ({len(value.strip())} digits)", "max_int_bits")
        return self._build(int(value, *base), "int()")

    def _f_float(self, value: Any = 0.0) -> float:
        return self._build(float(value), "float()")

    def _f_str(self, value: Any = "") -> str:
        if not isinstance(value, str | int | float | bool | type(None)):
            self._would_build(self._size(value, "str()"), "str()")
        text = str(value)
        if len(text) > self.limits.max_length:
            raise self.limit(f"text from str() ({len(text)} characters)", "max_length")
        return self._build(text, "str()")

    def _f_sorted(self, values: Iterable, **kwargs: Any) -> list:
        self._would_build(self._size(values, "sorted()"), "sorted()")
        return self._build(sorted(values, **kwargs), "sorted()")

    def _f_sum(self, values: Iterable, /, start: Any = 0) -> Any:
        items = list(values) if _sized(values) else values
        if isinstance(start, list | tuple):
            size = self._size(start, "sum()") + self._size(items, "sum()")
            self._would_build(size, "sum()")
            joined = list(start)
            for item in items:
                if type(item) is not type(start):
                    raise TypeError(
                        f"can only add {type(start).__name__} to {type(start).__name__} in sum()"
                    )
                joined.extend(item)
            return self._build(type(start)(joined), "sum()")
        if _sized(items):
            self._size(items, "sum()")
        return self._build(sum(items, start), "sum()")


_local = threading.local()


def _evaluator() -> _BoundedEval:
    evaluator = getattr(_local, "evaluator", None)
    if evaluator is None:
        evaluator = _local.evaluator = _BoundedEval()
    return evaluator


@lru_cache(maxsize=4096)
def _checked(text: str) -> tuple[str, ast.AST]:
    tree = check_expression(text)
    return text.strip(), tree.body


@lru_cache(maxsize=1024)
def _checked_script(text: str) -> tuple[tuple[str, str, ast.AST], ...]:
    return tuple((target, source, _checked(source)[1]) for target, source in check_script(text))


_EVALUATION_ERRORS = (
    TypeError,
    ValueError,
    ZeroDivisionError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    MemoryError,
)


def _run(evaluator: _BoundedEval, source: str, tree: ast.AST) -> Any:
    evaluator.expression = source
    try:
        return evaluator.eval(source, tree)
    except ExpressionError:
        raise
    except InvalidExpression as exc:
        raise ExpressionError(_("cannot evaluate: %(exc)s", exc=exc), source) from None
    except _EVALUATION_ERRORS as exc:
        raise ExpressionError(
            _(
                "cannot evaluate: %(type_name)s: %(exc)s",
                type_name=type(exc).__name__,
                exc=exc,
            ),
            source,
        ) from None


def _name_element(error: ExpressionError, element_id: str | None, text: str) -> None:
    """Name the element an expression belongs to in its error, if not named yet."""
    if not element_id or error.element_id:
        return
    if isinstance(error, ExpressionLimit):
        error.locate(element_id, text)
    else:
        error.element_id = element_id


def evaluate(text: str, data: dict[str, Any], element_id: str | None = None) -> Any:
    """Evaluate a checked expression against task data, within the limits."""
    evaluator = _evaluator()
    try:
        source, tree = _checked(text)
        evaluator.start(data, source)
        return _run(evaluator, source, tree)
    except ExpressionError as exc:
        _name_element(exc, element_id, text)
        raise
    finally:
        evaluator.names = {}


def run_script(text: str, data: dict[str, Any], element_id: str | None = None) -> None:
    """Run a checked script (assignment lines) against task data, in place, within the limits."""
    evaluator = _evaluator()
    try:
        lines = _checked_script(text)
        evaluator.start(data, text)
        for target, source, tree in lines:
            value = _run(evaluator, source, tree)
            data[target] = evaluator._build(value, f"the value of '{target}'", plain=True)
    except ExpressionError as exc:
        _name_element(exc, element_id, text)
        raise
    finally:
        evaluator.names = {}


def _constant_parts(tree: ast.AST) -> list[ast.AST]:
    """Return the largest parts of a syntax tree that name no variable (computable now)."""
    parts, stack = [], [tree.body if isinstance(tree, ast.Expression) else tree]
    while stack:
        node = stack.pop()
        if not any(isinstance(child, ast.Name) for child in ast.walk(node)):
            if not isinstance(node, ast.Constant):
                parts.append(node)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return parts


def constant_limit(
    text: str, element_id: str | None = None, seconds: float | None = None
) -> ExpressionLimit | None:
    """Return the limit a checked expression is bound to pass whatever the data, if any.

    Every part that names no variable (``9 ** 9 ** 9``, ``'9' * 10 ** 9``) is computed
    now, within the limits, so what would pass one at run time is seen when the diagram
    is loaded. ``seconds`` (less than max_seconds) caps the time spent: running out of
    it proves nothing, so nothing is returned then.
    """
    tree = check_expression(text, element_id)
    evaluator = _evaluator()
    capped = seconds is not None and seconds < LIMITS.max_seconds
    for part in _constant_parts(tree):
        evaluator.start({}, text.strip())
        if capped:
            evaluator.budget = Budget.of(seconds)
        try:
            _run(evaluator, ast.unparse(part), part)
        except ExpressionLimit as exc:
            if capped and exc.limit == "max_seconds":
                return None
            _name_element(exc, element_id, text)
            return exc
        except ExpressionError:
            continue  # an error that is not a limit is the run's to report, with the data
        finally:
            evaluator.names = {}
    return None


def _current_element() -> str | None:
    return getattr(_local, "element_id", None)


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that never calls eval or exec."""

    def evaluate(self, expression, context, external_context=None):
        if external_context:
            scope = dict(external_context)
            scope.update(context)
        else:
            scope = context
        return evaluate(expression, scope, _current_element())

    def execute(self, script, context, external_context=None):
        run_script(script, context, _current_element())
        return True

    def call_service(self, context, **kwargs):
        raise ExpressionError(_("service tasks are not supported"))


class SafeScriptEngine(PythonScriptEngine):
    """Script engine whose validation and evaluation use the safe, bounded subset only.

    The element being run is kept for the thread while its expression runs, so that an
    error names it before SpiffWorkflow wraps the error into its own.
    """

    def __init__(self, environment: BasePythonScriptEngineEnvironment | None = None) -> None:
        super().__init__(environment=environment or SafeEnvironment())

    def validate(self, expression):
        check_expression(expression)

    def evaluate(self, task, expression, external_context=None):
        outer = _current_element()
        _local.element_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        try:
            return super().evaluate(task, expression, external_context)
        finally:
            _local.element_id = outer

    def execute(self, task, script, external_context=None):
        outer = _current_element()
        _local.element_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        try:
            return super().execute(task, script, external_context)
        finally:
            _local.element_id = outer
