"""Camunda's expression languages recognised, and translated where the form is common.

Diagrams drawn for Camunda 7 carry JUEL (``${approved}``, ``#{amount > 1000 && urgent}``),
diagrams drawn for Camunda 8 / Zeebe carry FEEL (``=approved``, ``= x = "y"``). OneWindow
runs neither: its expressions are the safe Python subset of ``expressions.py``. This module
says which language a text is written in, translates the common forms (names, literals,
comparisons, and/or/not, ``empty``, arithmetic) into OneWindow's language, names the part it
cannot translate otherwise, and rewrites a whole diagram's translatable expressions in place,
leaving every other byte of the XML as it was.

``empty x`` becomes ``not x``: the same for text, lists and missing values; JUEL's ``empty 0``
is false where ``not 0`` is true.
"""

from __future__ import annotations

import ast
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from .errors import ExpressionError
from .expressions import check_expression
from .i18n import _

JUEL = "JUEL"
FEEL = "FEEL"
CODES = {JUEL: "juel-expression", FEEL: "feel-expression"}
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[^\W\d]\w*(?:\.[^\W\d]\w*)*)
      | (?P<op>==|!=|<=|>=|&&|\|\||[<>=!()+\-*/%])
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_JUEL_WORDS = {
    "and": "and",
    "or": "or",
    "not": "!",
    "eq": "==",
    "ne": "!=",
    "lt": "<",
    "gt": ">",
    "le": "<=",
    "ge": ">=",
    "div": "/",
    "mod": "%",
}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_FEEL_KEYWORDS = {
    "if": "`if ... then ... else`",
    "then": "`if ... then ... else`",
    "else": "`if ... then ... else`",
    "for": "`for ... in ... return`",
    "some": "`some ... satisfies`",
    "every": "`every ... satisfies`",
    "in": "`in`",
    "between": "`between`",
    "instance": "`instance of`",
    "function": "a function definition",
}
_COMPARISONS = {"==", "!=", "<", ">", "<=", ">="}
_HINTS = {
    "?": "the conditional `a ? b : c`",
    ":": "the conditional `a ? b : c`",
    "[": "a list or indexing `[...]`",
    "{": "a map or context `{...}`",
    ",": "a list of arguments",
}

# Python precedence of what we emit: a child binding less tightly than needed gets parentheses.
_OR, _AND, _NOT, _CMP, _ADD, _MUL, _NEG, _ATOM = range(1, 9)


class _Untranslatable(Exception):
    """The text uses a form this module does not translate; the message names it."""


@dataclass(frozen=True)
class Translation:
    """A JUEL or FEEL text and its equivalent in OneWindow's expression language, if any."""

    dialect: str
    original: str
    python: str | None
    problem: str = ""

    @property
    def code(self) -> str:
        """Return the lint finding code for this dialect."""
        return CODES[self.dialect]

    def advice(self) -> str:
        """Say what was written and what to write instead (or why there is no translation)."""
        written = " ".join(self.original.split())
        if self.python is not None:
            return _(
                "is a %(dialect)s expression, which OneWindow does not run: write `%(python)s` "
                "instead of `%(written)s`",
                dialect=self.dialect,
                python=self.python,
                written=written,
            )
        return _(
            "`%(written)s` is a %(dialect)s expression, which OneWindow does not run, and it "
            "cannot be translated: %(problem)s; write it in OneWindow's expression language "
            '(e.g. `not approved`, `amount > 1000 and kind == "A"`)',
            written=written,
            dialect=self.dialect,
            problem=self.problem,
        )


def dialect_of(text: str | None) -> str | None:
    """Return "JUEL" or "FEEL" if the text is written in one of them, else None."""
    source = (text or "").strip()
    if source.startswith(("${", "#{")) or "${" in source or "#{" in source:
        return JUEL
    if source.startswith("=") and not source.startswith("=="):
        return FEEL
    return None


def translate(text: str, kind: str = "condition") -> Translation | None:
    """Translate a JUEL or FEEL expression; None if the text is neither.

    ``kind`` "timer" accepts only trivial results (a variable or a quoted value).
    """
    found = dialect_of(text)
    if found is None:
        return None
    try:
        body = _juel_body(text) if found == JUEL else text.strip()[1:]
        python = _Parser(body, found).translate()
        if kind == "timer":
            _check_trivial(python)
        check_expression(python)
    except _Untranslatable as exc:
        return Translation(found, text.strip(), None, str(exc))
    except ExpressionError as exc:
        return Translation(found, text.strip(), None, f"its translation is refused: {exc.message}")
    return Translation(found, text.strip(), python)


def translate_script(text: str, result_variable: str | None) -> Translation | None:
    """Translate a script that is one JUEL or FEEL expression into a ``name = expression`` line."""
    translated = translate(text)
    if translated is None or translated.python is None:
        return translated
    target = (result_variable or "").strip()
    if not target.isidentifier() or target.startswith("_"):
        problem = (
            "the script task names no camunda:resultVariable to receive the result; "
            f"write `name = {translated.python}`"
        )
        return Translation(translated.dialect, translated.original, None, problem)
    return Translation(translated.dialect, translated.original, f"{target} = {translated.python}")


def _check_trivial(python: str) -> None:
    node = ast.parse(python, mode="eval").body
    if isinstance(node, ast.Name) or (
        isinstance(node, ast.Constant) and isinstance(node.value, str)
    ):
        return
    raise _Untranslatable("a timer is translated only when it is a variable or a quoted value")


def _juel_body(text: str) -> str:
    """Return what is inside ``${...}``; refuse text around it or several of them."""
    source = text.strip()
    if not source.startswith(("${", "#{")):
        raise _Untranslatable("text mixed with `${...}` (a composite expression)")
    quote, depth = "", 0
    for index in range(2, len(source)):
        char = source[index]
        if quote:
            if char == "\\":
                continue
            if char == quote and source[index - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                if source[index + 1 :].strip():
                    raise _Untranslatable("text after the closing `}` (a composite expression)")
                return source[2:index]
            depth -= 1
    raise _Untranslatable("the `${` is never closed with `}`")


class _Parser:
    """Recursive descent over JUEL or FEEL tokens, emitting OneWindow's (Python) syntax."""

    def __init__(self, body: str, dialect: str) -> None:
        self.dialect = dialect
        self.tokens = self._tokens(body)
        self.position = 0

    def _tokens(self, body: str) -> list[tuple[str, str]]:
        tokens = []
        for match in _TOKEN.finditer(body):
            kind = match.lastgroup
            value = match.group(kind)
            if kind == "other":
                what = _HINTS.get(value, f"`{value}`")
                raise _Untranslatable(f"{what} (at `{body[match.start(kind) :].strip()[:30]}`)")
            if kind == "string" and self.dialect == FEEL and value.startswith("'"):
                raise _Untranslatable(f"FEEL strings use double quotes, not {value}")
            if kind == "name" and self.dialect == FEEL and value in _FEEL_KEYWORDS:
                raise _Untranslatable(f"FEEL's {_FEEL_KEYWORDS[value]}")
            if kind == "name" and value == "instanceof":
                raise _Untranslatable("`instanceof`")
            if kind == "name" and keyword.iskeyword(value.split(".")[0]) and value not in (
                "and", "or", "not"
            ):  # fmt: skip
                raise _Untranslatable(
                    f"the name `{value}`, a reserved word in OneWindow's expressions; "
                    "rename the variable"
                )
            if kind == "name" and self.dialect == JUEL and value in _JUEL_WORDS:
                kind, value = "op", _JUEL_WORDS[value]
            elif kind == "name" and value in ("and", "or"):
                kind = "op"
            if kind == "op" and self.dialect == JUEL and value in ("and", "or"):
                value = {"and": "&&", "or": "||"}[value]
            tokens.append((kind, value))
        if not tokens:
            raise _Untranslatable("the expression is empty")
        return tokens

    def translate(self) -> str:
        """Return the whole expression in OneWindow's syntax."""
        text, _precedence = self._or()
        if self.position < len(self.tokens):
            rest = " ".join(value for _kind, value in self.tokens[self.position :])
            raise _Untranslatable(f"the part `{rest[:40]}`")
        return text

    # -- tokens --

    def _peek(self) -> tuple[str, str]:
        if self.position < len(self.tokens):
            return self.tokens[self.position]
        return ("end", "")

    def _take(self, *values: str) -> str | None:
        kind, value = self._peek()
        if kind == "op" and value in values:
            self.position += 1
            return value
        return None

    # -- grammar, loosest first --

    def _or(self) -> tuple[str, int]:
        parts = [self._and()]
        while self._take("||", "or"):
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return " or ".join(_wrap(p, _AND) for p in parts), _OR

    def _and(self) -> tuple[str, int]:
        parts = [self._comparison()]
        while self._take("&&", "and"):
            parts.append(self._comparison())
        if len(parts) == 1:
            return parts[0]
        return " and ".join(_wrap(p, _NOT) for p in parts), _AND

    def _comparison(self) -> tuple[str, int]:
        left = self._sum()
        operators = ("==", "!=", "<", ">", "<=", ">=") if self.dialect == JUEL else (
            "=", "!=", "<", ">", "<=", ">="
        )  # fmt: skip
        while operator := self._take(*operators):
            right = self._sum()
            python = "==" if operator == "=" else operator
            left = (f"{_wrap(left, _ADD)} {python} {_wrap(right, _ADD)}", _CMP)
        return left

    def _sum(self) -> tuple[str, int]:
        left = self._product()
        while operator := self._take("+", "-"):
            right = self._product()
            left = (f"{_wrap(left, _ADD)} {operator} {_wrap(right, _MUL)}", _ADD)
        return left

    def _product(self) -> tuple[str, int]:
        left = self._unary()
        while operator := self._take("*", "/", "%"):
            right = self._unary()
            left = (f"{_wrap(left, _MUL)} {operator} {_wrap(right, _NEG)}", _MUL)
        return left

    def _unary(self) -> tuple[str, int]:
        kind, value = self._peek()
        if kind == "name" and value == "not" and self.dialect == FEEL:
            self.position += 1
            if not self._take("("):
                raise _Untranslatable("FEEL's `not` is a function: write `not(x)`")
            inner = self._or()
            self._close()
            return f"not {_wrap(inner, _NOT)}", _NOT
        if self.dialect == JUEL and (self._take("!") or self._take_word("empty")):
            return f"not {_wrap(self._unary(), _NOT)}", _NOT
        if self._take("-"):
            return f"-{_wrap(self._unary(), _NEG)}", _NEG
        return self._primary()

    def _take_word(self, word: str) -> bool:
        if self._peek() == ("name", word):
            self.position += 1
            return True
        return False

    def _close(self) -> None:
        if not self._take(")"):
            kind, value = self._peek()
            raise _Untranslatable(f"a missing `)` (found `{value or 'the end'}`)")

    def _primary(self) -> tuple[str, int]:
        kind, value = self._peek()
        self.position += 1
        if kind == "op" and value == "(":
            inner = self._or()
            self._close()
            return inner
        if kind == "number":
            return value, _ATOM
        if kind == "string":
            return _python_string(value[1:-1]), _ATOM
        if kind == "name":
            if value in _LITERALS:
                return _LITERALS[value], _ATOM
            if self._peek() == ("op", "("):
                raise _Untranslatable(f"the function or method call `{value}(...)`")
            return value, _ATOM
        raise _Untranslatable(f"`{value or 'the end of the expression'}` where a value belongs")


def _wrap(part: tuple[str, int], at_least: int) -> str:
    text, precedence = part
    return text if precedence >= at_least else f"({text})"


def _python_string(escaped: str) -> str:
    """Return a double-quoted literal of a JUEL or FEEL string body (with its escapes)."""
    value = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), escaped)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


# --- rewriting a diagram ---------------------------------------------------------------------


@dataclass
class Rewritten:
    """A diagram after its translatable JUEL/FEEL expressions were rewritten."""

    content: str
    rewritten: list[tuple[str | None, Translation]] = field(default_factory=list)
    refused: list[tuple[str | None, Translation]] = field(default_factory=list)


_Target = tuple[etree._Element, str | None, Translation, str | None]


def _targets(root: etree._Element) -> list[_Target]:
    """Return (element, owner id, translation, attribute or None for the element's text)."""
    from .lint import EXPRESSION_PATHS, NS, TIMER_LABELS, _owner

    found: list[_Target] = []
    for process in root.iterfind("bpmn:process", NS):
        for condition in process.iterfind(".//bpmn:sequenceFlow/bpmn:conditionExpression", NS):
            translated = translate(condition.text or "")
            if translated:
                found.append((condition, condition.getparent().get("id"), translated, None))
        for path, label in EXPRESSION_PATHS:
            kind = "timer" if label in TIMER_LABELS else "condition"
            for element in process.xpath(path, namespaces=NS):
                translated = translate(element.text or "", kind)
                if translated:
                    found.append((element, _owner(element).get("id"), translated, None))
        for script in process.iterfind(".//bpmn:scriptTask/bpmn:script", NS):
            task = script.getparent()
            variable = task.get(f"{{{CAMUNDA_NS}}}resultVariable")
            translated = translate_script(script.text or "", variable)
            if translated:
                found.append((script, task.get("id"), translated, None))
        payload = f"{{{CAMUNDA_NS}}}expression"
        for definition in process.iterfind(".//bpmn:messageEventDefinition", NS):
            translated = translate(definition.get(payload) or "")
            if translated:
                found.append((definition, _owner(definition).get("id"), translated, payload))
    return found


_DECLARATION = re.compile(r"\A\s*<\?xml[^>]*\?>")
_ENCODING = re.compile(r"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def declared_encoding(content: str) -> str | None:
    """Return the encoding the XML declaration of a diagram's text names, if any."""
    declaration = _DECLARATION.match(content)
    found = declaration and _ENCODING.search(declaration.group(0))
    return found.group(1) if found else None


def diagram_bytes(content: str) -> bytes:
    """Encode a diagram's text in the encoding its XML declaration names (else UTF-8)."""
    try:
        return content.encode(declared_encoding(content) or "utf-8")
    except (LookupError, UnicodeEncodeError):
        return content.encode("utf-8")


def rewrite_diagram(content: str) -> Rewritten:
    """Rewrite every translatable JUEL/FEEL expression of a diagram, keeping the rest as is."""
    from .loader import parse_bpmn

    tree = parse_bpmn(diagram_bytes(content), "draft.bpmn")
    root = tree.getroot()
    targets = _targets(root)
    result = Rewritten(content)
    changes = []
    for element, owner, translated, attribute in targets:
        if translated.python is None:
            result.refused.append((owner, translated))
        else:
            result.rewritten.append((owner, translated))
            changes.append((element, translated.python, attribute))
    if not changes:
        return result
    result.content = _splice(content, changes) or _reserialize(content, root, changes)
    return result


_Change = tuple[etree._Element, str, str | None]


def _qname(element: etree._Element) -> str:
    local = etree.QName(element).localname
    return f"{element.prefix}:{local}" if element.prefix else local


def _splice(content: str, changes: list[_Change]) -> str | None:
    """Replace each text (or attribute) in the source itself; None if one cannot be found."""
    starts = [0]
    for line in content.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    spans = []
    for element, python, attribute in changes:
        line = max((element.sourceline or 1) - 1, 0)
        qname = _qname(element)
        opening = re.compile(rf"<{re.escape(qname)}(?:\s[^>]*)?>")
        found = opening.search(content, starts[min(line, len(starts) - 1)])
        if not found:
            return None
        span = (
            _attribute_span(content, found, element, attribute, python)
            if attribute
            else _text_span(content, found, element, qname, python)
        )
        if span is None:
            return None
        spans.append(span)
    spans.sort()
    if any(a[1] > b[0] for a, b in zip(spans, spans[1:], strict=False)):
        return None
    out, last = [], 0
    for begin, end, text in spans:
        out.extend((content[last:begin], text))
        last = end
    out.append(content[last:])
    return "".join(out)


def _text_span(
    content: str, found: re.Match, element: etree._Element, qname: str, python: str
) -> tuple[int, int, str] | None:
    closing = content.find(f"</{qname}>", found.end())
    if closing < 0:
        return None
    inner = content[found.end() : closing]
    if _text_of(inner) != (element.text or ""):
        return None
    return found.end(), closing, _escaped(python, inner)


def _attribute_span(
    content: str, found: re.Match, element: etree._Element, attribute: str, python: str
) -> tuple[int, int, str] | None:
    name = etree.QName(attribute)
    prefixes = [p for p, uri in element.nsmap.items() if uri == name.namespace and p]
    for prefix in prefixes:
        pattern = re.compile(
            rf"""\s{re.escape(prefix)}:{name.localname}\s*=\s*(["'])(.*?)\1""", re.S
        )
        match = pattern.search(found.group(0))
        if match and _attribute_of(match.group(0)) == element.get(attribute):
            quote = match.group(1)
            value = python.replace("&", "&amp;").replace("<", "&lt;").replace(quote, _QUOTES[quote])
            begin = found.start() + match.start(2)
            return begin, begin + len(match.group(2)), value
    return None


_QUOTES = {'"': "&quot;", "'": "&apos;"}


def _attribute_of(text: str) -> str | None:
    try:
        element = etree.fromstring(f"<x {text.strip().split(':', 1)[1]}/>")
    except etree.XMLSyntaxError:
        return None
    return next(iter(element.attrib.values()), None)


def _text_of(inner: str) -> str | None:
    try:
        return etree.fromstring(f"<x>{inner}</x>", etree.XMLParser(resolve_entities=False)).text
    except etree.XMLSyntaxError:
        return None


def _escaped(python: str, previous: str) -> str:
    stripped = previous.strip()
    if stripped.startswith("<![CDATA[") and stripped.endswith("]]>") and "]]>" not in python:
        return previous.replace(stripped, f"<![CDATA[{python}]]>")
    return python.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reserialize(content: str, root: Any, changes: list[_Change]) -> str:
    """Fall back on lxml's serialization (keeping the original XML declaration)."""
    for element, python, attribute in changes:
        if attribute:
            element.set(attribute, python)
        else:
            element.text = python
    body = etree.tostring(root.getroottree(), encoding="unicode")
    declaration = _DECLARATION.match(content)
    body = _DECLARATION.sub("", body, count=1).lstrip()
    if declaration:
        return f"{declaration.group(0)}\n{body}"
    return body
