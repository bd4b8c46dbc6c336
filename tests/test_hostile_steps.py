"""A hostile diagram cannot hold the service: its step is stopped at the step limits, the case
faults, and requests arriving meanwhile are answered at once. Both databases, over real HTTP
(a threaded server), with a diagram that lint accepts but whose first step never ends in time.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

from tests.apiclient import PASSWORD, required_materials, sample_form, users_with_role

CHAIN = 150  # script tasks in a row: far over the 1 s time limit together


def _slow_diagram() -> str:
    """Return a diagram whose start runs a long chain of scripts that each copy a big list."""
    scripts = "\n".join(
        f'<bpmn:scriptTask id="S{i}" name="计算{i}" scriptFormat="python">'
        f"<bpmn:script>w = sorted(big)</bpmn:script></bpmn:scriptTask>"
        for i in range(CHAIN)
    )
    flows = "\n".join(
        f'<bpmn:sequenceFlow id="F{i}" sourceRef="S{i}" targetRef="S{i + 1}" />'
        for i in range(CHAIN - 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="Defs_slow" targetNamespace="urn:test">
  <bpmn:process id="Process_planning_permit" name="慢流程" isExecutable="true">
    <bpmn:startEvent id="Ev_start" />
    <bpmn:scriptTask id="Init" name="准备" scriptFormat="python">
      <bpmn:script>big = [0] * 90000</bpmn:script></bpmn:scriptTask>
    {scripts}
    <bpmn:userTask id="Task_lead" name="主办科室承办" camunda:candidateGroups="planning_lead">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="stage" value="lead" />
        <camunda:property name="timeLimit" value="5d" />
      </camunda:properties></bpmn:extensionElements></bpmn:userTask>
    <bpmn:endEvent id="Ev_end"><bpmn:extensionElements><camunda:properties>
      <camunda:property name="result" value="approved" />
    </camunda:properties></bpmn:extensionElements></bpmn:endEvent>
    <bpmn:sequenceFlow id="Fs" sourceRef="Ev_start" targetRef="Init" />
    <bpmn:sequenceFlow id="Fi" sourceRef="Init" targetRef="S0" />
    {flows}
    <bpmn:sequenceFlow id="Fl" sourceRef="S{CHAIN - 1}" targetRef="Task_lead" />
    <bpmn:sequenceFlow id="Fe" sourceRef="Task_lead" targetRef="Ev_end" />
  </bpmn:process>
</bpmn:definitions>"""


def _call(base: str, method: str, path: str, token: str | None = None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}/api/v1{path}", data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, payload = resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, json.loads(exc.read())
    return status, payload, time.monotonic() - started


def _token(base: str, username: str) -> str:
    status, payload, _ = _call(
        base, "POST", "/auth/token", body={"username": username, "password": PASSWORD}
    )
    assert status == 200, payload
    return payload["token"]


def test_a_hostile_start_is_stopped_and_other_requests_are_answered_meanwhile(
    demo_app, live_server, tmp_path
):
    path = tmp_path / "slow.bpmn"
    path.write_text(_slow_diagram(), "utf-8")
    deployed = demo_app.test_cli_runner().invoke(
        args=["deploy", "planning-permit", str(path), "--comment", "slow"]
    )
    assert "version 2 deployed" in deployed.output, deployed.output
    clerk = _token(live_server, users_with_role("clerk")[0])
    other = _token(live_server, users_with_role("auditor")[0])
    body = {
        "item_code": "planning-permit",
        "applicant": {"name": "李华", "id_number": "330102199001011234", "phone": "13800001111"},
        "materials": required_materials("planning-permit"),
        "form": sample_form("planning-permit", floor_area=800),
    }
    hostile: dict = {}

    def create() -> None:
        hostile["answer"] = _call(live_server, "POST", "/cases", clerk, body)

    worker = threading.Thread(target=create)
    worker.start()
    time.sleep(0.3)  # the hostile start is under way
    quick = []
    while worker.is_alive() and len(quick) < 5:
        status, _payload, took = _call(live_server, "GET", "/items", other)
        assert status == 200
        quick.append(took)
    worker.join(timeout=30)
    status, payload, took = hostile["answer"]
    print(f"hostile start answered in {took:.2f} s; requests meanwhile: "
          + ", ".join(f"{t * 1000:.0f} ms" for t in quick))  # fmt: skip
    # the hostile step was stopped at its time limit: the case exists, stopped in the fault state
    assert status == 201 and payload["status"] == "fault", payload
    assert took < 5.0, f"the hostile request took {took:.1f} s"
    assert quick, "the hostile request ended before another could be sent"
    assert max(quick) < 0.5, f"requests waited {max(quick):.2f} s beside the hostile step"
    status, case, _ = _call(live_server, "GET", f"/cases/{payload['case_no']}", other)
    assert case["open_tasks"] == [] and case["decision"] is None
