"""The engine layer: compile once, run user tasks, gateways, returns, parallel joins, state."""

from __future__ import annotations

import json

import pytest

from workflows.engine import SERIALIZER_VERSION, DiagramCache, Engine, compile_diagram
from workflows.errors import DiagramError, EngineError

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
"""

APPROVAL = (
    HEAD
    + """
  <bpmn:process id="P" name="审批" isExecutable="true">
    <bpmn:laneSet id="ls">
      <bpmn:lane id="L1" name="review_post"><bpmn:flowNodeRef>review</bpmn:flowNodeRef></bpmn:lane>
      <bpmn:lane id="L2" name="chief_post"><bpmn:flowNodeRef>chief</bpmn:flowNodeRef></bpmn:lane>
    </bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="审核" camunda:formKey="review">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="opinion" label="审核意见" type="string" />
        </camunda:formData>
        <camunda:properties>
          <camunda:property name="stage" value="review" />
          <camunda:property name="timeLimit" value="2d" />
        </camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="chief" name="科长审核" camunda:formKey="chief">
      <bpmn:extensionElements>
        <camunda:properties>
          <camunda:property name="stage" value="chief" />
          <camunda:property name="timeLimit" value="4h" />
          <camunda:property name="outcomes" value="approve,return,reject" />
          <camunda:property name="decision" value="true" />
        </camunda:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw" default="f4"><bpmn:incoming>f3</bpmn:incoming>
      <bpmn:outgoing>f4</bpmn:outgoing><bpmn:outgoing>f5</bpmn:outgoing><bpmn:outgoing>f6</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="ok"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="approved" /></camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:endEvent id="no"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="denied" /></camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f6</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review" />
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="chief" />
    <bpmn:sequenceFlow id="f3" sourceRef="chief" targetRef="gw" />
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="ok" />
    <bpmn:sequenceFlow id="f5" sourceRef="gw" targetRef="review">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">outcome == "return"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="no">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">outcome == "reject" and certificates &lt;= 30</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>
"""
)


def _parallel(n: int) -> str:
    branches = "".join(
        f"""<bpmn:userTask id="t{i}" name="审查{i}" camunda:candidateGroups="post{i}">
          <bpmn:extensionElements><camunda:properties>
            <camunda:property name="outcomeVar" value="o{i}" />
            <camunda:property name="outcomes" value="approve,reject" />
          </camunda:properties></bpmn:extensionElements>
          <bpmn:incoming>a{i}</bpmn:incoming><bpmn:outgoing>b{i}</bpmn:outgoing></bpmn:userTask>
        <bpmn:sequenceFlow id="a{i}" sourceRef="split" targetRef="t{i}" />
        <bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="join" />"""
        for i in range(n)
    )
    names = ", ".join(f"o{i}" for i in range(n))
    return (
        HEAD
        + f"""
  <bpmn:process id="PP" isExecutable="true">
    <bpmn:startEvent id="s" />
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="split" />
    <bpmn:parallelGateway id="split" />
    {branches}
    <bpmn:parallelGateway id="join" />
    <bpmn:sequenceFlow id="fj" sourceRef="join" targetRef="gw" />
    <bpmn:exclusiveGateway id="gw" default="fa" />
    <bpmn:sequenceFlow id="fa" sourceRef="gw" targetRef="done" />
    <bpmn:sequenceFlow id="fr" sourceRef="gw" targetRef="denied">
      <bpmn:conditionExpression>"reject" in ({names},)</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:userTask id="done" name="发证" camunda:candidateGroups="window" />
    <bpmn:sequenceFlow id="fe" sourceRef="done" targetRef="end" />
    <bpmn:endEvent id="end"><bpmn:extensionElements><camunda:properties><camunda:property name="result" value="approved" /></camunda:properties></bpmn:extensionElements></bpmn:endEvent>
    <bpmn:userTask id="denied" name="不予许可" camunda:candidateGroups="window" />
    <bpmn:sequenceFlow id="fd" sourceRef="denied" targetRef="end2" />
    <bpmn:endEvent id="end2"><bpmn:extensionElements><camunda:properties><camunda:property name="result" value="denied" /></camunda:properties></bpmn:extensionElements></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
    )


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.standard()


def _roundtrip(engine, run):
    state = engine.serialize(run)
    assert json.loads(state)["serializer_version"] == engine.serializer_version
    return engine.restore(run.diagram, state)


def test_compile_is_cached_by_content():
    cache = DiagramCache()
    first = compile_diagram(APPROVAL.encode(), "approval.bpmn", cache=cache)
    assert compile_diagram(APPROVAL.encode(), "approval.bpmn", cache=cache) is first
    assert first.process_id == "P"
    review = first.nodes["review"]
    assert (review.post, review.stage, review.time_limit) == ("review_post", "review", (2.0, "d"))
    assert [f.id for f in review.form] == ["opinion"]
    assert first.nodes["chief"].outcomes == ("approve", "return", "reject")
    assert first.nodes["chief"].is_decision


def test_return_then_reject_reaches_denied_end(engine):
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 12})
    [task] = run.ready_tasks()
    assert (task.spec_id, task.lane, task.post) == ("review", "review_post", "review_post")
    run = _roundtrip(engine, run)
    step = run.complete(task.id, "approve", {"opinion": "材料齐全"})
    [chief] = step.created
    assert chief.spec_id == "chief" and chief.time_limit == (4.0, "h")
    run = _roundtrip(engine, run)
    step = run.complete(chief.id, "return", {"comment": "面积有误"})
    assert [t.spec_id for t in step.created] == ["review"]
    assert {"node": "gw", "type": "exclusiveGateway", "flows": ["f5"]} in step.engine_steps
    run = _roundtrip(engine, run)
    again = run.complete(step.created[0].id, "approve", {})
    step = run.complete(again.created[0].id, "reject", {"legal_basis": "《条例》第十条"})
    assert step.finished and step.result == "denied"
    assert run.data["certificates"] == 12


def test_state_is_stored_as_unescaped_utf8_json_with_the_version_stamp(engine):
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 2, "applicant": "张三"})
    state = engine.serialize(run)
    assert "张三" in state and "\\u" not in state  # as stored since the first release
    assert json.loads(state)["serializer_version"] == SERIALIZER_VERSION == "ow1/spiff1.5"
    assert "spec" not in json.loads(state)  # restored from the compiled diagram instead


def test_outcome_not_offered_by_task_is_refused(engine):
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 1})
    [task] = run.ready_tasks()
    with pytest.raises(EngineError, match="outcome 'reject' is not allowed"):
        run.complete(task.id, "reject", {})
    assert [t.spec_id for t in run.ready_tasks()] == ["review"]


def test_parallel_join_fires_once_and_any_rejection_denies(engine):
    diagram = compile_diagram(_parallel(4).encode(), "parallel.bpmn")
    run, _ = engine.start(diagram, {})
    ready = run.ready_tasks()
    assert sorted(t.post for t in ready) == ["post0", "post1", "post2", "post3"]
    created = []
    for i, task in enumerate(ready):
        run = _roundtrip(engine, run)
        step = run.complete(task.id, "reject" if i == 2 else "approve", {})
        created.extend(step.created)
    assert [t.spec_id for t in created] == ["denied"]


def test_unsafe_condition_is_refused_at_compile_time():
    bad = APPROVAL.replace('outcome == "return"', "__import__('os').system('true')")
    with pytest.raises(DiagramError) as info:
        compile_diagram(bad.encode(), "bad.bpmn")
    assert any(f.element_id == "f5" and f.line for f in info.value.findings)


def test_state_from_another_serializer_version_is_refused(engine):
    diagram = compile_diagram(APPROVAL.encode(), "approval.bpmn")
    run, _ = engine.start(diagram, {"certificates": 1})
    state = json.loads(engine.serialize(run))
    state["serializer_version"] = "0.1"
    with pytest.raises(EngineError, match="serializer version"):
        engine.restore(diagram, json.dumps(state))


@pytest.mark.parametrize(
    "name", ["house-cancellation", "house-initial", "planning-permit", "joint-investment"]
)
def test_demo_diagrams_pass_lint_without_findings(name):
    import tomllib
    from pathlib import Path

    from workflows.lint import lint
    from workflows.loader import parse_bpmn

    path = Path(__file__).resolve().parents[2] / "bpmn" / f"{name}.bpmn"
    compiled = compile_diagram(path.read_bytes(), path.name)
    entry = tomllib.loads(path.with_suffix(".toml").read_text())
    # a 会签 stage reads the signers list its item names; alone, the diagram cannot know it
    assert [(f.code, f.element_id) for f in compiled.findings] == [
        ("multi-instance-variable", node) for node in ("Task_collective",) if entry.get("signers")]
    inputs = [f["id"] for f in entry.get("form", [])] + list(entry.get("signers", {}))
    assert lint(parse_bpmn(path.read_bytes(), path.name), path.name, inputs) == []
    assert all(t.post and t.stage and t.time_limit for t in compiled.user_tasks())
