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
from .i18n import _
from .lint import BPMN_NS, CAMUNDA_NS, lint

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
    return DiagramError(_("%(filename)s: diagram refused", filename=filename), [finding])


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


# Encodings whose names Python knows but which are no character set an XML file is saved in.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "utf-7"})
# GB2312 files from Chinese tools routinely hold GBK characters; read them as GB18030, the
# superset, as browsers do (WHATWG Encoding Standard), instead of refusing them.
_SUPERSETS = {"gb2312": "gb18030", "gbk": "gb18030"}
_UTF16 = frozenset({"utf-16", "utf-16-le", "utf-16-be"})
_XML_DECLARATION = re.compile(r"<\?xml\s[^>]*?\?>")
_ENCODING_PSEUDO_ATTRIBUTE = re.compile(r"""(\sencoding\s*=\s*)(["'])([^"']*)\2""")


def _sniff(data: bytes) -> tuple[str | None, int]:
    """Return the encoding the first bytes prove (byte order mark or UTF-16 '<?') and BOM size."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if data.startswith(bom):
            return codec, len(bom)
    if data[:4] == b"<\x00?\x00":
        return "utf-16-le", 0
    if data[:4] == b"\x00<\x00?":
        return "utf-16-be", 0
    return None, 0


def _declared_encoding(head: str) -> str | None:
    """Return the encoding named by the XML declaration at the start of head, if any."""
    declaration = _XML_DECLARATION.match(head)
    if declaration is None:
        return None
    found = _ENCODING_PSEUDO_ATTRIBUTE.search(declaration.group())
    return found.group(3).strip() if found else None


def _codec(name: str) -> str | None:
    """Return Python's codec for an encoding name from a declaration, or None if unusable."""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return None
    return _SUPERSETS.get(info.name, info.name)


def _ascii_compatible(codec: str) -> bool:
    try:
        return "<?xml".encode(codec) == b"<?xml"
    except UnicodeError:
        return False


def _position(body: bytes, codec: str, offset: int) -> tuple[int, int]:
    """Return the 1-based line and column (in characters) of a byte offset of body."""
    try:
        before = body[:offset].decode(codec)
    except UnicodeDecodeError:  # cannot happen for a prefix the codec accepted; count bytes
        before = body[:offset].decode("latin-1")
    line_start = before.rfind("\n") + 1
    return before.count("\n") + 1, len(before) - line_start + 1


def _choose_codec(data: bytes, filename: str) -> tuple[str, str, int]:
    """Return (codec, what says so, BOM size) for diagram bytes, or refuse them."""
    proven, bom = _sniff(data)
    reader = proven or "latin-1"
    head = data[bom : bom + 1024]
    if reader in _UTF16:
        head = head[: len(head) // 2 * 2]
    try:
        declared = _declared_encoding(head.decode(reader))
    except UnicodeDecodeError:
        declared = None  # the full decoding below reports where the bytes go wrong
    codec = _codec(declared) if declared else None
    if declared and codec is None:
        raise _refuse(
            filename,
            "encoding",
            _(
                "the XML declaration names the encoding '%(declared)s' (line 1), which "
                "OneWindow cannot read; save the file as UTF-8",
                declared=declared,
            ),
            1,
        )
    if proven is None:
        if codec is not None and not _ascii_compatible(codec):
            raise _refuse(
                filename,
                "encoding",
                _(
                    "the XML declaration says encoding '%(declared)s' (line 1), but the file "
                    "is not %(declared)s: it has no byte order mark and its first bytes are "
                    "ASCII; declare the encoding the file is really saved in",
                    declared=declared,
                ),
                1,
            )
        if codec is None:
            return "utf-8", _("UTF-8 (assumed: the XML declaration names no encoding)"), 0
        return (
            codec,
            _("%(declared)s (the encoding its XML declaration names)", declared=declared),
            0,
        )
    family = _UTF16 if proven in _UTF16 else {"utf-8"}
    if codec is not None and codec not in family:
        what = _("a UTF-8 byte order mark") if proven == "utf-8" else _("UTF-16 bytes")
        raise _refuse(
            filename,
            "encoding",
            _(
                "the file starts with %(what)s but its XML declaration says encoding "
                "'%(declared)s' (line 1); make the declaration match the file",
                what=what,
                declared=declared,
            ),
            1,
        )
    return proven, _("%(codec)s (as its first bytes show)", codec=proven.upper()), bom


def diagram_text(data: bytes, filename: str = "<diagram>") -> str:
    """Decode diagram bytes as their BOM or XML declaration says (else UTF-8), relabelled UTF-8.

    Bytes the declared encoding cannot read are refused with their line and column, never
    replaced. The text's XML declaration names UTF-8, so ``text.encode("utf-8")`` is the
    same document: that is how diagrams are stored (text columns) and parsed again.
    """
    codec, written, bom = _choose_codec(data, filename)
    body = data[bom:]
    try:
        text = body.decode(codec)
    except UnicodeDecodeError as exc:
        line, column = _position(body, codec, exc.start)
        bad = body[exc.start : min(exc.end, exc.start + 4)].hex(" ").upper()
        raise _refuse(
            filename,
            "encoding",
            _(
                "line %(line)s, column %(column)s: the bytes %(bad)s are not valid %(written)s; "
                "save the file in that encoding or declare the one it is saved in",
                line=line,
                column=column,
                bad=bad,
                written=written,
            ),
            line,
        ) from None
    if codec != "utf-8":
        declaration = _XML_DECLARATION.match(text)
        if declaration is not None:
            relabelled = _ENCODING_PSEUDO_ATTRIBUTE.sub(r"\1\2UTF-8\2", declaration.group(), 1)
            text = relabelled + text[declaration.end() :]
    return text


def _doctype_line(text: str) -> int | None:
    """Return the line of a DOCTYPE declaration in the prolog, or None if there is none."""
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
    """Parse diagram bytes safely; refuse oversize, misencoded, DOCTYPE, malformed, non-BPMN."""
    if len(data) > max_bytes:
        raise _refuse(
            filename,
            "too-large",
            _(
                "diagram is %(size)s bytes (%(size_mb)s); the limit is %(limit)s bytes "
                "(%(limit_mb)s)",
                size=len(data),
                size_mb=_megabytes(len(data)),
                limit=max_bytes,
                limit_mb=_megabytes(max_bytes),
            ),
        )
    text = diagram_text(data, filename)
    doctype_line = _doctype_line(text)
    if doctype_line is not None:
        raise _refuse(filename, "doctype", _(DOCTYPE_REFUSED), doctype_line)
    try:
        root = etree.fromstring(text.encode("utf-8"), parser=_safe_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise _refuse(
            filename,
            "xml-syntax",
            _(
                "malformed XML at line %(line)s, column %(column)s: %(problem)s",
                line=line,
                column=column,
                problem=exc.msg,
            ),
            line,
        ) from None
    tree = root.getroottree()
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise _refuse(filename, "doctype", _(DOCTYPE_REFUSED))
    if root.tag != DEFINITIONS_TAG:
        raise _refuse(
            filename,
            "not-bpmn",
            _(
                "root element is '%(tag)s', expected 'definitions' in the BPMN 2.0 namespace "
                "%(namespace)s",
                tag=root.tag,
                namespace=BPMN_NS,
            ),
            root.sourceline,
        )
    return tree


@cache
def _schema() -> etree.XMLSchema:
    """Build the BPMN 2.0 schema once; imports resolve to the files next to it."""
    document = etree.parse(XSD_PATH, parser=_safe_parser())
    return etree.XMLSchema(document)


# The namespaces the BPMN 2.0 schema defines, plus those every XML schema understands.
SCHEMA_NAMESPACES = frozenset(
    {
        BPMN_NS,
        "http://www.omg.org/spec/BPMN/20100524/DI",
        "http://www.omg.org/spec/DD/20100524/DC",
        "http://www.omg.org/spec/DD/20100524/DI",
        "http://www.w3.org/2001/XMLSchema-instance",
        "http://www.w3.org/XML/1998/namespace",
    }
)
# Extensions OneWindow reads (docs/diagram-conventions.md): not foreign, so not reported.
READ_NAMESPACES = frozenset({CAMUNDA_NS})


def _namespace(name: str) -> str | None:
    return etree.QName(name).namespace


def _is_foreign(namespace: str | None) -> bool:
    return namespace is not None and namespace not in SCHEMA_NAMESPACES


@dataclass
class _Foreign:
    """The extensions of one foreign namespace: names in order of appearance, first place."""

    namespace: str
    first: etree._Element
    names: dict[str, None]
    count: int = 0


def _foreign_content(
    tree: etree._ElementTree,
) -> tuple[list[etree._Element], list[tuple[etree._Element, str]]]:
    """Return the outermost foreign elements and the foreign attributes of schema elements."""
    elements: list[etree._Element] = []
    attributes: list[tuple[etree._Element, str]] = []
    for element in tree.iter(etree.Element):
        if _is_foreign(_namespace(element)):
            parent = element.getparent()
            if parent is None or not _is_foreign(_namespace(parent)):
                elements.append(element)
            continue
        attributes.extend(
            (element, name) for name in element.attrib if _is_foreign(_namespace(name))
        )
    return elements, attributes


def _holder_id(element: etree._Element) -> str | None:
    holder: etree._Element | None = element
    while holder is not None and holder.get("id") is None:
        holder = holder.getparent()
    return holder.get("id") if holder is not None else None


def _shown(element: etree._Element, name: str) -> str:
    """Name an extension as the file writes it, with its prefix: 'zeebe:ioMapping'."""
    qname = etree.QName(name)
    prefixes = {uri: prefix for prefix, uri in element.nsmap.items() if prefix}
    prefix = prefixes.get(qname.namespace)
    return f"{prefix}:{qname.localname}" if prefix else qname.localname


def foreign_extensions(tree: etree._ElementTree, filename: str = "<diagram>") -> list[Finding]:
    """Return a warning per foreign namespace whose extensions the diagram holds (kept, unused)."""
    elements, attributes = _foreign_content(tree)
    items = [(e, str(e.tag), "") for e in elements]
    items += [(e, name, "@") for e, name in attributes]
    items.sort(key=lambda item: item[0].sourceline or 0)
    found: dict[str, _Foreign] = {}
    for element, name, marker in items:
        namespace = etree.QName(name).namespace
        if namespace in READ_NAMESPACES:
            continue
        entry = found.setdefault(namespace, _Foreign(namespace, element, {}))
        entry.names[marker + _shown(element, name)] = None
        entry.count += 1
    findings = []
    for entry in found.values():
        names = list(entry.names)
        listed = ", ".join(names[:6])
        if len(names) > 6:
            listed = _("%(shown)s and %(rest)s more", shown=listed, rest=len(names) - 6)
        times = _(" (%(count)s in all)", count=entry.count) if entry.count > 1 else ""
        findings.append(
            Finding(
                "warning",
                "foreign-extension",
                _(
                    "extensions of the namespace %(namespace)s are kept but OneWindow does not "
                    "use them: %(listed)s%(times)s; first at line %(sourceline)s",
                    namespace=entry.namespace,
                    listed=listed,
                    times=times,
                    sourceline=entry.first.sourceline,
                ),
                element_id=_holder_id(entry.first),
                line=entry.first.sourceline,
                filename=filename,
            )
        )
    return findings


def _without_tail_loss(element: etree._Element) -> None:
    """Remove an element, keeping its tail text where it was."""
    parent = element.getparent()
    if element.tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + element.tail
        else:
            parent.text = (parent.text or "") + element.tail
    parent.remove(element)


def _rewrite_for_schema(tree: etree._ElementTree) -> etree._ElementTree:
    """Return what the XSD should judge: foreign extensions left out, bpmn-js names mapped.

    The copy leaves out elements and attributes of namespaces the BPMN schema does not
    define (modelling tools' extensions, reported as warnings instead) and renames bpmn-js
    correlation expressions to what the XSD expects. The tree itself is not changed.
    """
    path = ".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression"
    elements, attributes = _foreign_content(tree)
    correlations = tree.xpath(path, namespaces={"bpmn": BPMN_NS})
    if not (elements or attributes or correlations):
        return tree
    rewritten = copy.deepcopy(tree)
    twin = dict(zip(tree.iter(etree.Element), rewritten.iter(etree.Element), strict=True))
    for element in correlations:
        twin[element].tag = f"{{{BPMN_NS}}}messagePath"
    for element, name in attributes:
        del twin[element].attrib[name]
    for element in elements:
        _without_tail_loss(twin[element])
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
    """Validate against the BPMN 2.0 XSD: an error per schema error, a warning per extension."""
    schema = _schema()
    document = _rewrite_for_schema(tree)
    with _SCHEMA_LOCK:
        valid = schema.validate(document)
        entries = [] if valid else list(schema.error_log)
    ids = _ids_by_line(tree)
    errors = [
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
    return errors + foreign_extensions(tree, filename)


def load_diagram(
    data: bytes,
    filename: str = "<diagram>",
    *,
    max_bytes: int = MAX_BPMN_BYTES,
    refuse: bool = True,
) -> LoadedDiagram:
    """Parse, validate and lint a diagram; raise DiagramError if anything blocks deployment.

    With `refuse` false, lint errors are only reported (a version deployed before a rule
    existed); unreadable or unsafe XML and schema errors are refused all the same.
    """
    tree = parse_bpmn(data, filename, max_bytes)
    schema = validate_xsd(tree, filename)
    findings = schema + lint(tree, filename)
    loaded = LoadedDiagram(tree, filename, findings, hashlib.sha256(data).hexdigest())
    if not refuse and not any(f.severity == "error" for f in schema):
        return loaded
    if loaded.errors:
        count = len(loaded.errors)
        raise DiagramError(
            _(
                "%(filename)s: diagram refused (%(count)s error(s))",
                filename=filename,
                count=count,
            ),
            findings,
        )
    return loaded
