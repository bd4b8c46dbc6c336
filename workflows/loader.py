"""Safe loading of BPMN diagrams: size limit, no DTDs or entities, XSD validation, lint.

Diagrams are uploaded by analysts, so the XML is treated as hostile: it is refused
before parsing when too large, parsed without network access or entity expansion, and
refused outright when it declares a DOCTYPE (the carrier of entity bombs and external
entities). A document that parses is validated against the BPMN 2.0 schema bundled with
SpiffWorkflow and then linted for what the OneWindow runtime needs.
"""

from __future__ import annotations

import codecs
import copy
import hashlib
import os
import re
import threading
from dataclasses import dataclass
from functools import cache

import SpiffWorkflow.bpmn.parser
from lxml import etree

from .errors import DiagramError, Finding
from .lint import BPMN_NS, lint

MAX_BPMN_BYTES = 5 * 1024 * 1024
DOCTYPE_REFUSED = "DOCTYPE declarations are not allowed (entity expansion is disabled)"

# What may precede the root element: processing instructions, comments, a DOCTYPE.
_PROLOG_ITEM = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.DOTALL)
_DOCTYPE = re.compile(r"\s*<!DOCTYPE")

DEFINITIONS_TAG = f"{{{BPMN_NS}}}definitions"
XSD_PATH = os.path.join(os.path.dirname(SpiffWorkflow.bpmn.parser.__file__), "schema", "BPMN20.xsd")
# One schema object is shared; its error log is per object, so validations take turns.
_SCHEMA_LOCK = threading.Lock()


@dataclass
class LoadedDiagram:
    """A parsed diagram that passed the schema and the lint, with its warnings."""

    tree: etree._ElementTree
    filename: str
    findings: list[Finding]
    content_hash: str

    @property
    def errors(self) -> list[Finding]:
        """Return the findings that block deployment."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Return the findings that do not block deployment."""
        return [f for f in self.findings if f.severity == "warning"]


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
    )


def _refuse(filename: str, code: str, message: str, line: int | None = None) -> DiagramError:
    finding = Finding("error", code, message, line=line, filename=filename)
    return DiagramError(f"{filename}: diagram refused", [finding])


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _markup_text(data: bytes) -> str:
    """Decode the input far enough to read its markup: UTF-16 by its bytes, else latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("latin-1")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if data[:1] == b"\x00":
        return data.decode("utf-16-be", errors="replace")
    if data[1:2] == b"\x00":
        return data.decode("utf-16-le", errors="replace")
    return data.decode("latin-1")


def _doctype_line(data: bytes) -> int | None:
    """Return the line of a DOCTYPE declaration in the prolog, or None if there is none."""
    text = _markup_text(data)
    position = 0
    while (item := _PROLOG_ITEM.match(text, position)) is not None:
        position = item.end()
    doctype = _DOCTYPE.match(text, position)
    if doctype is None:
        return None
    return text.count("\n", 0, doctype.end()) + 1


def parse_bpmn(
    data: bytes, filename: str = "<diagram>", max_bytes: int = MAX_BPMN_BYTES
) -> etree._ElementTree:
    """Parse diagram bytes safely, refusing oversize, DOCTYPE, malformed and non-BPMN input."""
    if len(data) > max_bytes:
        raise _refuse(
            filename,
            "too-large",
            f"diagram is {len(data)} bytes ({_megabytes(len(data))}); "
            f"the limit is {max_bytes} bytes ({_megabytes(max_bytes)})",
        )
    doctype_line = _doctype_line(data)
    if doctype_line is not None:
        raise _refuse(filename, "doctype", DOCTYPE_REFUSED, doctype_line)
    try:
        root = etree.fromstring(data, parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise _refuse(
            filename,
            "xml-syntax",
            f"malformed XML at line {line}, column {column}: {exc.msg}",
            line,
        ) from None
    tree = root.getroottree()
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse(filename, "doctype", DOCTYPE_REFUSED)
    if root.tag != DEFINITIONS_TAG:
        raise _refuse(
            filename,
            "not-bpmn",
            f"root element is '{root.tag}', expected 'definitions' in the BPMN 2.0 "
            f"namespace {BPMN_NS}",
            root.sourceline,
        )
    return tree


@cache
def _schema() -> etree.XMLSchema:
    """Build the BPMN 2.0 schema once; imports resolve to the files next to it."""
    document = etree.parse(XSD_PATH, parser=_safe_parser())
    return etree.XMLSchema(document)


def _rewrite_for_schema(tree: etree._ElementTree) -> etree._ElementTree:
    """Return a copy with bpmn-js correlation expressions renamed to what the XSD expects."""
    path = ".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression"
    if not tree.xpath(path, namespaces={"bpmn": BPMN_NS}):
        return tree
    rewritten = copy.deepcopy(tree)
    for element in rewritten.xpath(path, namespaces={"bpmn": BPMN_NS}):
        element.tag = f"{{{BPMN_NS}}}messagePath"
    return rewritten


def _ids_by_line(tree: etree._ElementTree) -> dict[int, str]:
    """Map each line to the id of the first element on it, or of its nearest ancestor."""
    found: dict[int, str] = {}
    for element in tree.iter(etree.Element):
        line = element.sourceline
        if line is None or line in found:
            continue
        holder = element
        while holder is not None and holder.get("id") is None:
            holder = holder.getparent()
        if holder is not None:
            found[line] = holder.get("id")
    return found


def _readable(message: str) -> str:
    return message.replace(f"{{{BPMN_NS}}}", "bpmn:")


def validate_xsd(tree: etree._ElementTree, filename: str = "<diagram>") -> list[Finding]:
    """Validate against the BPMN 2.0 XSD and return one finding per schema error."""
    schema = _schema()
    document = _rewrite_for_schema(tree)
    with _SCHEMA_LOCK:
        if schema.validate(document):
            return []
        entries = list(schema.error_log)
    ids = _ids_by_line(tree)
    return [
        Finding(
            "error",
            "xsd",
            _readable(entry.message),
            element_id=ids.get(entry.line),
            line=entry.line or None,
            filename=filename,
        )
        for entry in entries
    ]


def load_diagram(
    data: bytes, filename: str = "<diagram>", *, max_bytes: int = MAX_BPMN_BYTES
) -> LoadedDiagram:
    """Parse, validate and lint a diagram; raise DiagramError if anything blocks deployment."""
    tree = parse_bpmn(data, filename, max_bytes)
    findings = validate_xsd(tree, filename) + lint(tree, filename)
    loaded = LoadedDiagram(tree, filename, findings, hashlib.sha256(data).hexdigest())
    if loaded.errors:
        count = len(loaded.errors)
        raise DiagramError(f"{filename}: diagram refused ({count} error(s))", findings)
    return loaded
