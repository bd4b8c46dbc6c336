"""Safe loading of uploaded diagrams: hostile XML is refused, schema errors point at lines."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from workflows.errors import DiagramError
from workflows.loader import MAX_BPMN_BYTES, load_diagram, parse_bpmn, validate_xsd

DATA = Path(__file__).parent / "data"

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"

VALID = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="{BPMN_NS}" xmlns:camunda="{CAMUNDA_NS}"
    id="Defs" targetNamespace="http://onewindow.test/loader">
  <bpmn:process id="Proc" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1"/>
    <bpmn:userTask id="Accept" name="受理" camunda:candidateGroups="window">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="stage" value="acceptance"/>
          <camunda:property name="timeLimit" value="2d"/>
        </camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:endEvent id="Done">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="result" value="approved"/></camunda:properties>
      </bpmn:extensionElements>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="Flow_1" sourceRef="StartEvent_1" targetRef="Accept"/>
    <bpmn:sequenceFlow id="Flow_2" sourceRef="Accept" targetRef="Done"/>
  </bpmn:process>
</bpmn:definitions>
"""


def line_of(text: str, needle: str) -> int:
    """Return the 1-based line on which needle first occurs."""
    return text[: text.index(needle)].count("\n") + 1


def refusal(data: bytes, **kwargs) -> DiagramError:
    with pytest.raises(DiagramError) as info:
        load_diagram(data, "upload.bpmn", **kwargs)
    assert info.value.findings, "a refusal must say why"
    return info.value


def test_valid_diagram_loads_without_findings() -> None:
    data = VALID.encode()
    loaded = load_diagram(data, "ok.bpmn")
    assert loaded.findings == []
    assert loaded.errors == [] and loaded.warnings == []
    assert loaded.filename == "ok.bpmn"
    assert loaded.content_hash == hashlib.sha256(data).hexdigest()
    assert loaded.tree.getroot().get("id") == "Defs"


def test_bytes_with_bom_and_without_declaration_load() -> None:
    body = VALID.split("\n", 1)[1]
    assert load_diagram(b"\xef\xbb\xbf" + body.encode()).findings == []
    assert load_diagram(body.encode()).findings == []


def test_declared_latin1_encoding_is_honoured() -> None:
    text = VALID.replace("UTF-8", "ISO-8859-1").replace("受理", "Réception")
    loaded = load_diagram(text.encode("latin-1"))
    assert loaded.tree.find(f".//{{{BPMN_NS}}}userTask").get("name") == "Réception"


def test_warnings_do_not_block_loading() -> None:
    text = VALID.replace('<camunda:property name="stage" value="acceptance"/>', "")
    loaded = load_diagram(text.encode())
    assert [(w.code, w.element_id) for w in loaded.warnings] == [("missing-stage", "Accept")]


@pytest.mark.parametrize("fixture", ["billion_laughs.bpmn", "external_entity.bpmn"])
def test_doctype_documents_are_refused(fixture: str) -> None:
    error = refusal((DATA / fixture).read_bytes())
    [finding] = error.findings
    assert finding.code == "doctype"
    assert "DOCTYPE declarations are not allowed (entity expansion is disabled)" in finding.message
    assert finding.line == 2
    assert "root:" not in str(error)  # nothing of /etc/passwd leaks into the message


def test_doctype_is_found_in_utf16_and_after_prolog_comments() -> None:
    text = (DATA / "external_entity.bpmn").read_text(encoding="utf-8")
    utf16 = text.replace("UTF-8", "UTF-16").encode("utf-16")
    commented = text.replace("\n<!DOCTYPE", "\n<!-- <a/> -->\n<?pi x?>\n<!DOCTYPE", 1).encode()
    assert [f.line for f in refusal(utf16).findings] == [2]
    assert [f.line for f in refusal(commented).findings] == [4]


def test_doctype_text_inside_the_document_is_not_a_doctype() -> None:
    text = VALID.replace("受理", "&lt;!DOCTYPE x&gt;")
    assert load_diagram(text.encode()).findings == []


def test_external_dtd_reference_is_refused() -> None:
    text = VALID.replace(
        "<bpmn:definitions",
        '<!DOCTYPE bpmn:definitions SYSTEM "http://evil.test/x.dtd">\n<bpmn:definitions',
    )
    assert refusal(text.encode()).findings[0].code == "doctype"


def test_oversize_input_is_refused_fast_before_parsing() -> None:
    padding = b"<!--" + b"x" * (50 * 1024 * 1024) + b"-->"
    data = VALID.encode().replace(b"<bpmn:process", padding + b"<bpmn:process", 1)
    started = time.perf_counter()
    error = refusal(data)
    elapsed = time.perf_counter() - started
    [finding] = error.findings
    assert finding.code == "too-large"
    assert f"{len(data)} bytes" in finding.message
    assert f"{MAX_BPMN_BYTES} bytes" in finding.message
    assert elapsed < 0.5


def test_size_limit_can_be_lowered() -> None:
    error = refusal(VALID.encode(), max_bytes=100)
    assert "the limit is 100 bytes" in error.findings[0].message


def test_malformed_xml_reports_the_line() -> None:
    text = VALID.replace(
        '<bpmn:startEvent id="StartEvent_1"/>', '<bpmn:startEvent id="StartEvent_1">'
    )
    [finding] = refusal(text.encode()).findings
    assert finding.code == "xml-syntax"
    assert finding.line == line_of(text, "</bpmn:process>")
    assert f"line {finding.line}" in finding.message


def test_empty_input_is_malformed() -> None:
    assert refusal(b"").findings[0].code == "xml-syntax"


@pytest.mark.parametrize(
    "xml",
    [
        "<html><body/></html>",
        '<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/DI"/>',
        f'<bpmn:process xmlns:bpmn="{BPMN_NS}" id="P"/>',
    ],
)
def test_non_bpmn_root_is_refused(xml: str) -> None:
    [finding] = refusal(xml.encode()).findings
    assert finding.code == "not-bpmn"
    assert "expected 'definitions'" in finding.message
    assert BPMN_NS in finding.message


def test_parse_bpmn_returns_a_tree() -> None:
    tree = parse_bpmn(VALID.encode())
    assert tree.getroot().tag == f"{{{BPMN_NS}}}definitions"


def test_every_schema_error_is_reported_with_line_and_element() -> None:
    text = VALID.replace(
        '<bpmn:startEvent id="StartEvent_1"/>',
        '<bpmn:startEvent id="StartEvent_1"/>\n'
        '    <bpmn:task id="Task_bad" colour="red"/>\n'
        '    <bpmn:task id="Task_child">\n'
        '      <bpmn:startEvent id="Nested_start"/>\n'
        "    </bpmn:task>",
    )
    error = refusal(text.encode())
    xsd = [f for f in error.findings if f.code == "xsd"]
    assert [(f.element_id, f.line) for f in xsd] == [
        ("Task_bad", line_of(text, 'id="Task_bad"')),
        ("Nested_start", line_of(text, 'id="Nested_start"')),
    ]
    assert "colour" in xsd[0].message
    assert "bpmn:startEvent" in xsd[1].message
    assert all(f.filename == "upload.bpmn" and f.severity == "error" for f in xsd)


def test_validate_xsd_alone_on_a_valid_tree() -> None:
    assert validate_xsd(parse_bpmn(VALID.encode())) == []


def test_bpmn_js_correlation_expressions_validate_without_changing_the_tree() -> None:
    correlation = (
        '<bpmn:correlationProperty id="Corr" name="case">\n'
        '    <bpmn:correlationPropertyRetrievalExpression messageRef="Msg">\n'
        "      <bpmn:formalExpression>case_id</bpmn:formalExpression>\n"
        "    </bpmn:correlationPropertyRetrievalExpression>\n"
        "  </bpmn:correlationProperty>\n"
        '  <bpmn:message id="Msg" name="reply"/>\n'
        "  <bpmn:process"
    )
    tree = parse_bpmn(VALID.replace("<bpmn:process", correlation, 1).encode())
    assert validate_xsd(tree) == []
    assert tree.find(f".//{{{BPMN_NS}}}formalExpression") is not None


def test_lint_errors_refuse_the_diagram() -> None:
    text = VALID.replace('isExecutable="true"', 'isExecutable="false"')
    error = refusal(text.encode())
    assert [f.code for f in error.findings] == ["not-executable"]
    assert "upload.bpmn" in str(error)
