"""Diagram input as written: bytes decoded as declared, foreign extensions kept and listed."""

from __future__ import annotations

import codecs

import pytest
from lxml import etree

from tests.workflows.test_loader import BPMN_NS, VALID, line_of
from workflows.errors import DiagramError
from workflows.loader import diagram_text, load_diagram, parse_bpmn, validate_xsd

NAME = f".//{{{BPMN_NS}}}userTask"


def refused(data: bytes) -> str:
    """Load data, expect one encoding finding; return its message."""
    with pytest.raises(DiagramError) as info:
        load_diagram(data, "upload.bpmn")
    [finding] = info.value.findings
    assert (finding.code, finding.severity, finding.filename) == (
        "encoding",
        "error",
        "upload.bpmn",
    )
    return finding.message


# --- encodings ---------------------------------------------------------------------------


@pytest.mark.parametrize("declaration", ['<?xml version="1.0" encoding="UTF-8"?>\n', ""])
def test_latin1_bytes_in_a_utf8_file_are_refused_with_line_and_column(declaration: str) -> None:
    text = declaration + VALID.split("\n", 1)[1].replace("受理", "klären")
    message = refused(text.encode("latin-1", errors="ignore"))
    line = line_of(text, "klären")
    column = text.index("klären") - text.rindex("\n", 0, text.index("klären")) + 2
    assert message.startswith(f"line {line}, column {column}: the bytes E4 are not valid UTF-8")
    assert ("declaration names no encoding" in message) == (declaration == "")


def test_the_refusal_points_at_the_line_in_the_file() -> None:
    text = VALID.replace("受理", "kl\u00e4ren")
    with pytest.raises(DiagramError) as info:
        load_diagram(text.encode("latin-1", errors="ignore"), "upload.bpmn")
    assert info.value.findings[0].line == line_of(text, "klären")


@pytest.mark.parametrize("encoding", ["GB18030", "GBK", "gb2312", "Big5", "Shift_JIS"])
def test_a_file_in_its_declared_east_asian_encoding_is_read(encoding: str) -> None:
    name = "審批" if encoding in ("Big5", "Shift_JIS") else "审批"
    text = VALID.replace("UTF-8", encoding).replace("受理", name)
    loaded = load_diagram(text.encode(encoding))
    assert loaded.tree.find(NAME).get("name") == name
    assert loaded.findings == []


def test_gbk_characters_in_a_file_declared_gb2312_are_read_as_browsers_read_them() -> None:
    # '镕' is in GBK but not in GB2312; Chinese tools that say GB2312 mean GBK
    text = VALID.replace("UTF-8", "GB2312").replace("受理", "朱镕审批")
    assert load_diagram(text.encode("gbk")).tree.find(NAME).get("name") == "朱镕审批"


def test_gb18030_bytes_declared_utf8_are_refused() -> None:
    text = VALID.replace("受理", "审批")
    message = refused(text.encode("gb18030"))
    assert f"line {line_of(text, '审批')}, column " in message and "not valid UTF-8" in message


@pytest.mark.parametrize(
    ("codec", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-8", codecs.BOM_UTF8),
    ],
)
def test_a_file_with_a_byte_order_mark_is_read_by_it(codec: str, bom: bytes) -> None:
    declared = "UTF-8" if codec == "utf-8" else "UTF-16"
    text = VALID.replace("UTF-8", declared).replace("受理", "审批")
    loaded = load_diagram(bom + text.encode(codec))
    assert loaded.tree.find(NAME).get("name") == "审批"


def test_utf16_without_a_declaration_is_read_by_its_bom() -> None:
    body = VALID.split("\n", 1)[1]
    assert load_diagram(body.encode("utf-16")).findings == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (VALID.replace("UTF-8", "UTF-16").encode(), "has no byte order mark"),
        (codecs.BOM_UTF8 + VALID.replace("UTF-8", "ISO-8859-1").encode(), "UTF-8 byte order mark"),
        (VALID.replace("UTF-8", "ISO-8859-1").encode("utf-16"), "UTF-16 bytes"),
        (VALID.replace("UTF-8", "x-klingon").encode(), "'x-klingon'"),
        (VALID.replace("UTF-8", "unicode_escape").encode(), "'unicode_escape'"),
        (VALID.replace("UTF-8", "base64").encode(), "'base64'"),
    ],
)
def test_a_declaration_that_does_not_match_the_bytes_is_refused_on_line_1(
    data: bytes, words: str
) -> None:
    with pytest.raises(DiagramError) as info:
        load_diagram(data, "upload.bpmn")
    [finding] = info.value.findings
    assert (finding.code, finding.line) == ("encoding", 1)
    assert words in finding.message


def test_diagram_text_relabels_the_declaration_so_the_text_reads_back_the_same() -> None:
    text = VALID.replace('encoding="UTF-8"', "encoding='GB18030'").replace("受理", "审批")
    stored = diagram_text(text.encode("gb18030"))
    assert stored == text.replace("encoding='GB18030'", "encoding='UTF-8'")
    assert parse_bpmn(stored.encode("utf-8")).find(NAME).get("name") == "审批"
    assert diagram_text(VALID.encode()) == VALID  # UTF-8 is kept as it is, character for character


def test_parse_bpmn_gives_the_same_tree_for_every_encoding_of_a_document() -> None:
    utf8 = etree.tostring(parse_bpmn(VALID.encode()))
    gb = etree.tostring(parse_bpmn(VALID.replace("UTF-8", "GB18030").encode("gb18030")))
    assert utf8 == gb


# --- foreign extensions ------------------------------------------------------------------

DI = (
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"'
)
VENDORS = {
    "signavio": "http://www.signavio.com",
    "bizagi": "http://www.bizagi.com/bpmn20",
    "yaoqiang": "http://bpmn.sourceforge.net",
    "bioc": "http://bpmn.io/schema/bpmn/biocolor/1.0",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "trisotech": "http://www.trisotech.com/2015/triso/modeling",
}
DECLARED = " ".join(f'xmlns:{p}="{u}"' for p, u in VENDORS.items())


def vendor_diagram() -> str:
    """Return VALID with extensions of six tools where they put them, some outside the XSD."""
    text = VALID.replace('id="Defs"', f'{DECLARED} {DI} id="Defs" trisotech:logoChoice="Default"')
    text = text.replace(
        '<camunda:properties>\n          <camunda:property name="stage"',
        '<zeebe:taskDefinition type="x"/>\n        <camunda:properties>\n'
        '          <camunda:property name="stage"',
    )
    text = text.replace(
        '    <bpmn:startEvent id="StartEvent_1"/>',
        '    <bizagi:BizagiExtensions><bizagi:Property v="1"/></bizagi:BizagiExtensions>\n'
        '    <bpmn:startEvent id="StartEvent_1"/>',
    )
    return text.replace(
        "</bpmn:definitions>",
        '  <signavio:signavioDiagramMetaData metaKey="revisionid" metaValue="1"/>\n'
        '  <bpmndi:BPMNDiagram id="Diagram">\n'
        '    <bpmndi:BPMNPlane id="Plane" bpmnElement="Proc">\n'
        '      <di:extension><yaoqiang:pageFormat height="842"/></di:extension>\n'
        '      <bpmndi:BPMNShape id="Accept_di" bpmnElement="Accept" bioc:stroke="#1e88e5">\n'
        '        <dc:Bounds x="1" y="1" width="100" height="80"/>\n'
        "      </bpmndi:BPMNShape>\n"
        "    </bpmndi:BPMNPlane>\n"
        "  </bpmndi:BPMNDiagram>\n"
        "</bpmn:definitions>",
    )


def test_foreign_extensions_load_as_warnings_naming_namespace_element_and_line() -> None:
    text = vendor_diagram()
    loaded = load_diagram(text.encode(), "vendor.bpmn")
    assert loaded.errors == []
    warnings = {w.message.split()[4]: w for w in loaded.warnings}
    assert set(warnings) == set(VENDORS.values())
    assert all(w.code == "foreign-extension" for w in loaded.warnings)
    bizagi = warnings[VENDORS["bizagi"]]
    assert bizagi.line == line_of(text, "<bizagi:BizagiExtensions>")
    assert "bizagi:BizagiExtensions" in bizagi.message and "bizagi:Property" not in bizagi.message
    assert bizagi.element_id == "Proc"
    yaoqiang = warnings[VENDORS["yaoqiang"]]
    assert (yaoqiang.line, yaoqiang.element_id) == (line_of(text, "<yaoqiang:"), "Plane")
    assert "@bioc:stroke" in warnings[VENDORS["bioc"]].message
    assert warnings[VENDORS["bioc"]].element_id == "Accept_di"
    assert "@trisotech:logoChoice" in warnings[VENDORS["trisotech"]].message


def test_the_tree_keeps_every_extension() -> None:
    text = vendor_diagram()
    tree = parse_bpmn(text.encode())
    validate_xsd(tree)
    written = etree.tostring(tree, encoding="unicode")
    assert written.count("<bizagi:") == 2 and written.count("</bizagi:BizagiExtensions>") == 1
    assert tree.getroot().get(f"{{{VENDORS['trisotech']}}}logoChoice") == "Default"
    assert tree.find(f".//{{{VENDORS['yaoqiang']}}}pageFormat") is not None


@pytest.mark.parametrize(
    ("vendor", "words"),
    [("yaoqiang", "strict wildcard"), ("bizagi", "This element is not expected")],
)
def test_without_leaving_extensions_out_the_schema_would_refuse_them(
    vendor: str, words: str
) -> None:
    from workflows.loader import _schema

    text = vendor_diagram()
    for other in {"bizagi", "yaoqiang", "signavio"} - {vendor}:  # one refusal at a time
        text = "\n".join(line for line in text.split("\n") if f"<{other}:" not in line)
    schema = _schema()
    assert not schema.validate(parse_bpmn(text.encode()))
    assert words in str(schema.error_log) and VENDORS[vendor] in str(schema.error_log)
    assert [f.code for f in load_diagram(text.encode()).findings] == ["foreign-extension"] * 4


def test_genuine_schema_errors_still_fail_next_to_foreign_extensions() -> None:
    text = vendor_diagram().replace(
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:startEvent id="StartEvent_1"/>\n    <bpmn:task id="Task_bad" colour="red"/>',
    )
    with pytest.raises(DiagramError) as info:
        load_diagram(text.encode(), "vendor.bpmn")
    [xsd] = [f for f in info.value.findings if f.code == "xsd"]
    assert (xsd.element_id, xsd.line) == ("Task_bad", line_of(text, 'id="Task_bad"'))
    assert "colour" in xsd.message


def test_a_bpmn_element_in_the_wrong_place_is_still_an_error_even_inside_an_extension() -> None:
    text = VALID.replace(
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:startEvent id="StartEvent_1"/>\n    <bpmn:definitions id="Nested"/>',
    )
    with pytest.raises(DiagramError) as info:
        load_diagram(text.encode(), "x.bpmn")
    assert [f.code for f in info.value.findings] == ["xsd"]


def test_camunda_extensions_onewindow_reads_are_not_reported() -> None:
    assert load_diagram(VALID.encode()).warnings == []
