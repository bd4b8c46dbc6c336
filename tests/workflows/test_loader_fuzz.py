"""Hostile diagrams: the loader either accepts a mutated diagram or refuses it clearly.

Property-based fuzzing (hypothesis) of what analysts' uploads and deploys go through:
`load_diagram` (parse, XSD, lint: the validation report) and `compile_diagram` (the same plus
SpiffWorkflow's parser: what deployment runs). The inputs are the demo diagrams (bpmn/) and
the OMG MIWG reference models, mutated: an element or attribute deleted, an id or reference
made dangling or duplicate, the bytes truncated, random bytes or unicode inserted, element
tags swapped, conditions replaced by random or hostile Python, deep nesting, long chains,
huge attribute values, foreign encodings, and XXE / billion-laughs / XInclude payloads.

The property: the call returns, or raises DiagramError whose findings each carry a code and
a message and say where (line or element), except for the few findings about the whole
document. No other exception may escape, nothing may be expanded or read from disk.

Reproducible: hypothesis is derandomized (same examples every run, no example database), so
a failure prints the same falsifying example in CI and on a laptop. OW_FUZZ_EXAMPLES raises
the number of examples for a longer run by hand.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from config import BASE_DIR
from tests.workflows.test_reference_models import REFERENCE_DIR
from workflows.engine import compile_diagram
from workflows.errors import DiagramError
from workflows.loader import MAX_BPMN_BYTES, load_diagram

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
EXAMPLES = int(os.environ.get("OW_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # a fixed order of examples: the same run in CI and by hand
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DEMO = sorted((BASE_DIR / "bpmn").glob("*.bpmn"))
REFERENCE = sorted(REFERENCE_DIR.glob("*.bpmn"))
SEEDS: dict[str, bytes] = {f"{p.parent.name}/{p.name}": p.read_bytes() for p in DEMO + REFERENCE}
# refusals about the document as a whole: no single element or line to point at
WHOLE_DOCUMENT = {"too-large", "not-executable", "no-process"}
SECRET_FILE = "/etc/passwd"  # what an external entity would try to read
SECRET_TEXT = "root:x:0:0"

REFERENCE_ATTRS = (
    "id", "sourceRef", "targetRef", "attachedToRef", "default", "processRef", "calledElement",
    "bpmnElement", "messageRef", "errorRef", "signalRef", "escalationRef", "dataObjectRef",
)  # fmt: skip
HOSTILE_PYTHON = [
    "__import__('os').system('id')",
    "().__class__.__bases__[0].__subclasses__()",
    "open('/etc/passwd').read()",
    "9 ** 9 ** 9 ** 9",
    "'a' * 10 ** 10",
    "[x for x in range(10 ** 12)]",
    "lambda: 1",
    "exec('1')",
    "eval('1+1')",
    "getattr(amount, '__class__')",
    "amount.__dict__",
    "((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))",
    "-" * 500 + "1",
    "not " * 2000 + "True",
    "amount > ",
    "${amount > 5}",
    "= amount > 5",
    "\x00",
    "'\\N{LATIN SMALL LETTER A}'",
    "f'{amount!r:>{10**9}}'",
    "yield 1",
    "import os",
    "amount if True else (1/0)",
    "1/0",
    "{}.get('x').y",
    "[1][5]",
]
HOSTILE_NAMES = ["<script>alert(1)</script>", "&amp;", "\u202eevil\u200b", "🙂" * 50, "' OR 1=1 --"]
ENCODINGS = ["UTF-8", "UTF-16", "ISO-8859-1", "GB18030", "EBCDIC-US", "x-unknown", "UTF-7", ""]


def _tree(data: bytes) -> etree._ElementTree:
    return etree.ElementTree(etree.fromstring(data))


def _bytes(tree: etree._ElementTree) -> bytes:
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")


def _elements(tree: etree._ElementTree) -> list[etree._Element]:
    return [e for e in tree.iter(etree.Element) if e.getparent() is not None]


def _check(data: bytes, label: str, *, compile_too: bool = True) -> DiagramError | None:
    """Load (and compile) the bytes; return the refusal, fail on anything but a clear one."""
    refusal = None
    for run in (load_diagram, compile_diagram) if compile_too else (load_diagram,):
        try:
            run(data, "fuzz.bpmn")
        except DiagramError as exc:
            _assert_clear(exc, label)
            refusal = refusal or exc
        except RecursionError as exc:  # pragma: no cover - a failure, reported with context
            pytest.fail(f"{run.__name__} on {label}: RecursionError {exc}")
    return refusal


def _assert_clear(exc: DiagramError, label: str) -> None:
    assert exc.findings, f"{label}: a refusal without findings: {exc}"
    assert "fuzz.bpmn" in str(exc), f"{label}: the refusal does not name the file: {exc}"
    for finding in exc.findings:
        assert finding.code and finding.message.strip(), (label, finding)
        assert finding.severity in ("error", "warning"), (label, finding)
        if finding.severity == "error" and finding.code not in WHOLE_DOCUMENT:
            where = finding.line or finding.element_id
            assert where, f"{label}: finding says what but not where: {finding}"
        if finding.line is not None:
            assert finding.line >= 1, (label, finding)


# half the examples start from a demo diagram (executable: mutations reach the lint, the
# expression checks and SpiffWorkflow's parser), half from a reference model
seed_names = st.one_of(
    st.sampled_from([n for n in sorted(SEEDS) if n.startswith("bpmn/")]),
    st.sampled_from([n for n in sorted(SEEDS) if not n.startswith("bpmn/")]),
)


def _xml_text(text: str) -> str:
    """Keep the characters XML can hold (lxml refuses the others before the loader sees them)."""
    return "".join(
        c for c in text
        if (c in "\t\n\r" or c >= " ")
        and not 0xD800 <= ord(c) <= 0xDFFF
        and c not in "\ufffe\uffff"
    )  # fmt: skip


# --- structural mutations ----------------------------------------------------------------


@st.composite
def structural(draw) -> tuple[str, bytes]:
    """A seed with one structural mutation, re-serialized as well-formed XML."""
    name = draw(seed_names)
    tree = _tree(SEEDS[name])
    elements = _elements(tree)
    kind = draw(
        st.sampled_from(
            ["delete-element", "delete-attribute", "dangle", "duplicate", "swap-tags",
             "condition", "text", "value", "huge-attribute", "hostile-name", "move-element"]
        )
    )  # fmt: skip
    pick = draw(st.integers(0, len(elements) - 1))
    element = elements[pick]
    label = f"{kind} on {name} at <{etree.QName(element).localname}> line {element.sourceline}"
    if kind == "delete-element":
        element.getparent().remove(element)
    elif kind == "delete-attribute":
        with_attrs = [e for e in elements if e.attrib] or [tree.getroot()]
        target = with_attrs[pick % len(with_attrs)]
        attr = draw(st.sampled_from(sorted(target.attrib)))
        del target.attrib[attr]
        label += f" attribute {attr}"
    elif kind in ("dangle", "duplicate"):
        refs = [(e, a) for e in elements for a in REFERENCE_ATTRS if e.get(a)]
        if refs:
            target, attr = refs[pick % len(refs)]
            if kind == "dangle":
                value = draw(st.sampled_from(["dangling_ref", "", " ", "1bad id", "Start Event"]))
            else:
                ids = sorted({e.get("id") for e in elements if e.get("id")})
                value = draw(st.sampled_from(ids))
            target.set(attr, value)
            label += f" {attr}={value!r}"
    elif kind == "swap-tags":
        other = elements[draw(st.integers(0, len(elements) - 1))]
        element.tag, other.tag = other.tag, element.tag
    elif kind == "condition":
        flows = tree.getroot().findall(f".//{{{BPMN_NS}}}sequenceFlow") or [element]
        flow = flows[pick % len(flows)]
        source = _xml_text(draw(st.one_of(st.sampled_from(HOSTILE_PYTHON), st.text(max_size=60))))
        for old in flow.findall(f"{{{BPMN_NS}}}conditionExpression"):
            flow.remove(old)
        condition = etree.SubElement(flow, f"{{{BPMN_NS}}}conditionExpression")
        condition.set("{http://www.w3.org/2001/XMLSchema-instance}type", "bpmn:tFormalExpression")
        condition.text = source
        label += f" condition {source[:80]!r}"
    elif kind == "text":  # timers, scripts, expressions, documentation: any element's text
        leaves = [e for e in elements if len(e) == 0] or elements
        target = leaves[pick % len(leaves)]
        target.text = _xml_text(
            draw(st.one_of(st.sampled_from(HOSTILE_PYTHON), st.text(max_size=40)))
        )
        label = f"text of <{etree.QName(target).localname}> line {target.sourceline} on {name}"
        label += f" = {target.text[:80]!r}"
    elif kind == "value":  # camunda properties, form fields, names: any attribute's value
        with_attrs = [e for e in elements if e.attrib] or [tree.getroot()]
        target = with_attrs[pick % len(with_attrs)]
        attr = draw(st.sampled_from(sorted(target.attrib)))
        value = _xml_text(
            draw(
                st.one_of(
                    st.sampled_from(
                        HOSTILE_PYTHON + ["-1d", "1e999d", "nand", "0h", "99999999999d"]
                    ),
                    st.text(max_size=20),
                )
            )
        )
        target.set(attr, value)
        label += f" {attr}={value[:80]!r}"
    elif kind == "huge-attribute":
        size = draw(st.sampled_from([10_000, 1_000_000, 4_000_000]))
        element.set(draw(st.sampled_from(["name", "id", "x-huge"])), "名" * (size // 3))
        label += f" {size} bytes"
    elif kind == "hostile-name":
        element.set("name", draw(st.sampled_from(HOSTILE_NAMES)))
    elif kind == "move-element":
        target = elements[draw(st.integers(0, len(elements) - 1))]
        if element is not target and element not in target.iterancestors():
            target.append(element)
    return label, _bytes(tree)


@FUZZ
@given(structural())
def test_structural_mutations_are_accepted_or_refused_clearly(mutated) -> None:
    label, data = mutated
    _check(data, label, compile_too=len(data) < MAX_BPMN_BYTES)


# --- byte-level mutations ----------------------------------------------------------------


@st.composite
def byte_level(draw) -> tuple[str, bytes]:
    name = draw(seed_names)
    data = SEEDS[name]
    kind = draw(st.sampled_from(["truncate", "insert-bytes", "insert-text", "encoding"]))
    at = draw(st.integers(0, len(data)))
    if kind == "truncate":
        return f"{name} truncated at byte {at}", data[:at]
    if kind == "insert-bytes":
        junk = draw(st.binary(min_size=1, max_size=16))
        return f"{name} with {junk!r} at byte {at}", data[:at] + junk + data[at:]
    if kind == "insert-text":
        junk = draw(st.text(min_size=1, max_size=16)).encode("utf-8", "surrogatepass")
        return f"{name} with {junk!r} at byte {at}", data[:at] + junk + data[at:]
    encoding = draw(st.sampled_from(ENCODINGS))
    body = data.split(b"?>", 1)[1] if data.startswith(b"<?xml") else data
    declared = f'<?xml version="1.0" encoding="{encoding}"?>'.encode()
    if draw(st.booleans()) and encoding.startswith("UTF-16"):
        return f"{name} re-encoded as UTF-16", (declared + body).decode("utf-8").encode("utf-16")
    return f"{name} declared as {encoding!r}", declared + body


@FUZZ
@given(byte_level())
def test_byte_mutations_are_accepted_or_refused_clearly(mutated) -> None:
    label, data = mutated
    _check(data, label)


# --- entity payloads, nesting, size --------------------------------------------------------

VALID = (BASE_DIR / "bpmn" / "house-cancellation.bpmn").read_bytes()
BODY = VALID.split(b"?>", 1)[1]
ENTITY_DTDS = {
    "xxe-file": f'<!DOCTYPE d [<!ENTITY xxe SYSTEM "file://{SECRET_FILE}">]>',
    "xxe-http": '<!DOCTYPE d [<!ENTITY xxe SYSTEM "http://127.0.0.1:9/x">]>',
    "xxe-parameter": f'<!DOCTYPE d [<!ENTITY % p SYSTEM "file://{SECRET_FILE}"> %p;]>',
    "external-dtd": '<!DOCTYPE definitions SYSTEM "http://127.0.0.1:9/bpmn.dtd">',
    "billion-laughs": '<!DOCTYPE d [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i else "&lol;" * 10}">'
        for i in range(10)
    )
    + "]>",  # fmt: skip
    "quadratic-blowup": f'<!DOCTYPE d [<!ENTITY a "{"x" * 50_000}">]>',
}
PLACEMENTS = ["after-declaration", "no-declaration", "after-comment", "after-pi", "utf16", "bom"]


def _with_doctype(doctype: str, placement: str, use: str) -> bytes:
    body = BODY.replace(b'name="', f'name="{use}'.encode(), 1).decode("utf-8")
    declaration = '<?xml version="1.0" encoding="UTF-8"?>\n'
    if placement == "no-declaration":
        return (doctype + "\n" + body).encode()
    if placement == "after-comment":
        return (declaration + "<!-- hi -->\n" + doctype + body).encode()
    if placement == "after-pi":
        return (declaration + '<?pi x="1"?>' + doctype + body).encode()
    if placement == "utf16":
        text = '<?xml version="1.0" encoding="UTF-16"?>\n' + doctype + body
        return text.encode("utf-16")
    if placement == "bom":
        return b"\xef\xbb\xbf" + (declaration + doctype + body).encode()
    return (declaration + doctype + body).encode()


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("payload", sorted(ENTITY_DTDS))
def test_entity_payloads_are_refused_without_expansion(payload, placement) -> None:
    use = {"billion-laughs": "&lol9;", "quadratic-blowup": "&a;" * 100}.get(payload, "&xxe;")
    data = _with_doctype(ENTITY_DTDS[payload], placement, use)
    started = time.monotonic()
    refusal = _check(data, f"{payload} {placement}")
    assert time.monotonic() - started < 5, "the payload took long: was it expanded?"
    assert refusal is not None, f"{payload} ({placement}) was accepted"
    assert {f.code for f in refusal.findings} == {"doctype"}, refusal
    assert SECRET_TEXT not in str(refusal)


@pytest.mark.parametrize(
    "use",
    ["&xxe;", "&lol9;", "&#0;", "&#x110000;", "&unknown;", "&amp", "&#xD800;"],
)
def test_entity_references_without_a_declaration_are_refused(use) -> None:
    data = BODY.replace(b'name="', f'name="{use}'.encode(), 1)
    refusal = _check(data, f"undeclared {use}")
    assert refusal is not None and SECRET_TEXT not in str(refusal)


def test_xinclude_and_schema_locations_are_not_followed() -> None:
    xinclude = (
        f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{SECRET_FILE}" '
        'parse="text"/>'
    ).encode()
    data = BODY.replace(b"<bpmn:documentation>", xinclude + b"<bpmn:documentation>", 1)
    data = data.replace(
        b"<bpmn:definitions ",
        b'<bpmn:definitions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        b'xsi:schemaLocation="http://www.omg.org/spec/BPMN/20100524/MODEL file:///etc/passwd" ',
        1,
    )
    assert xinclude in data
    refusal = _check(data, "xinclude")
    text = str(refusal) if refusal else ""
    assert SECRET_TEXT not in text
    if refusal is None:
        assert SECRET_TEXT.encode() not in etree.tostring(load_diagram(data).tree)


def _nested(depth: int, tag: str) -> bytes:
    """A process whose start event sits `depth` containers deep."""
    open_tags = "".join(f'<bpmn:{tag} id="{tag}_{i}">' for i in range(depth))
    close_tags = f"</bpmn:{tag}>" * depth
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="{BPMN_NS}" '
        'id="D" targetNamespace="http://onewindow.test/fuzz"><bpmn:process id="P" '
        f'isExecutable="true"><bpmn:startEvent id="S"/>{open_tags}{close_tags}'
        "</bpmn:process></bpmn:definitions>"
    ).encode()


@pytest.mark.parametrize("depth", [50, 250, 300, 5_000, 100_000])
@pytest.mark.parametrize("tag", ["subProcess", "extensionElements", "x"])
def test_deep_nesting_is_accepted_or_refused_clearly(depth, tag) -> None:
    data = _nested(depth, tag)
    if len(data) > MAX_BPMN_BYTES:
        data = data[: MAX_BPMN_BYTES + 1]
    _check(data, f"{depth} nested {tag}")


def _chain(length: int) -> bytes:
    """An executable process that is one long chain of script-free user tasks."""
    tasks = "".join(
        f'<bpmn:userTask id="T{i}" name="审核{i}" camunda:candidateGroups="window"/>'
        for i in range(length)
    )
    ids = ["S", *(f"T{i}" for i in range(length)), "E"]
    flows = "".join(
        f'<bpmn:sequenceFlow id="F{i}" sourceRef="{a}" targetRef="{b}"/>'
        for i, (a, b) in enumerate(zip(ids, ids[1:], strict=False))
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions xmlns:bpmn="{BPMN_NS}" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="D" '
        'targetNamespace="http://onewindow.test/fuzz"><bpmn:process id="P" isExecutable="true">'
        f'<bpmn:startEvent id="S"/>{tasks}<bpmn:endEvent id="E"/>{flows}'
        "</bpmn:process></bpmn:definitions>"
    ).encode()


@pytest.mark.parametrize("length", [10, 3_000])
def test_long_chains_are_accepted_or_refused_clearly(length) -> None:
    _check(_chain(length), f"chain of {length} tasks")


def test_oversize_input_is_refused_before_parsing() -> None:
    data = VALID + b"<!--" + b"x" * MAX_BPMN_BYTES + b"-->"
    refusal = _check(data, "oversize")
    assert refusal is not None and [f.code for f in refusal.findings] == ["too-large"]


def test_every_seed_is_accepted_or_refused_clearly() -> None:
    assert len(DEMO) >= 4 and len(REFERENCE) >= 20, (DEMO, REFERENCE_DIR)
    for name, data in SEEDS.items():
        _check(data, name)


def test_the_seeds_are_the_files_on_disk() -> None:
    assert all(isinstance(p, Path) and p.exists() for p in DEMO + REFERENCE)
