"""Changed versions of the demo diagrams, for the tests of moving running cases (issue 22)."""

from __future__ import annotations

from pathlib import Path

from lxml import etree

BPMN_DIR = Path(__file__).resolve().parents[1] / "bpmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN}
COLLECTIVE = ("Task_collective", "Gateway_collective", "Event_denied_collective",
              "Flow_collective_done", "Flow_collective_reject", "Flow_collective_return",
              "Flow_collective_approve")  # fmt: skip
# the planning permit's renamed (Task_deputy), added (Task_legal) and removed (the
# collective decision) stages, and the mapping that takes running cases across
PLANNING_MAPPING = {"Task_deputy": "Task_vice", "Task_collective": "Task_head"}


def demo(name: str) -> bytes:
    return (BPMN_DIR / f"{name}.bpmn").read_bytes()


def _remove(root: etree._Element, ids: tuple[str, ...]) -> None:
    for el in [e for e in root.iter(etree.Element) if e.get("id") in ids
               or e.get("bpmnElement") in ids]:  # fmt: skip
        el.getparent().remove(el)
    for ref in [r for r in root.iterfind(".//bpmn:incoming", NS)] + [
        r for r in root.iterfind(".//bpmn:outgoing", NS)
    ]:
        if ref.text in ids:
            ref.getparent().remove(ref)


def _user_task(task_id: str, name: str, post: str, stage: str, flow_in: str, flow_out: str):
    return etree.fromstring(
        f'<bpmn:userTask xmlns:bpmn="{BPMN}" xmlns:camunda="{CAMUNDA}" id="{task_id}" '
        f'name="{name}" camunda:candidateGroups="{post}"><bpmn:extensionElements>'
        f'<camunda:properties><camunda:property name="stage" value="{stage}"/>'
        '<camunda:property name="timeLimit" value="2d"/></camunda:properties>'
        f"</bpmn:extensionElements><bpmn:incoming>{flow_in}</bpmn:incoming>"
        f"<bpmn:outgoing>{flow_out}</bpmn:outgoing></bpmn:userTask>"
    )


def planning_v2(content: bytes | None = None) -> bytes:
    """The planning permit with Task_deputy renamed Task_vice (approve or reject only), a
    legal review (Task_legal, planning_lead's post) added after the lead's approval, and the
    collective decision removed: projects over 20,000 m² go straight to the head."""
    text = (content or demo("planning-permit")).decode().replace("Task_deputy", "Task_vice")
    root = etree.fromstring(text.encode())
    _remove(root, COLLECTIVE)
    process = root.find("bpmn:process", NS)
    process.find("bpmn:sequenceFlow[@id='Flow_large']", NS).set("targetRef", "Task_head")
    head = process.find("bpmn:userTask[@id='Task_head']", NS)
    incoming = etree.Element(f"{{{BPMN}}}incoming")
    incoming.text = "Flow_large"
    head.find("bpmn:incoming", NS).addnext(incoming)
    approve = process.find("bpmn:sequenceFlow[@id='Flow_lead_approve']", NS)
    approve.set("targetRef", "Task_legal")
    approve.addprevious(_user_task("Task_legal", "法制审核", "planning_lead", "legal",
                                   "Flow_lead_approve", "Flow_legal_done"))  # fmt: skip
    etree.SubElement(process, f"{{{BPMN}}}sequenceFlow", id="Flow_legal_done",
                     sourceRef="Task_legal", targetRef="Task_vice")  # fmt: skip
    vice = process.find("bpmn:userTask[@id='Task_vice']", NS)
    for prop in vice.iter(f"{{{CAMUNDA}}}property"):
        if prop.get("name") == "outcomes":  # the deputy no longer returns a case
            prop.set("value", "approve,reject")
    for ref in vice.iterfind("bpmn:incoming", NS):
        if ref.text == "Flow_lead_approve":
            ref.text = "Flow_legal_done"
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def with_condition(content: bytes, flow: str, condition: str) -> bytes:
    """A diagram whose sequence flow `flow` carries another condition."""
    root = etree.fromstring(content)
    found = root.find(f".//bpmn:sequenceFlow[@id='{flow}']/bpmn:conditionExpression", NS)
    found.text = condition
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def renamed(content: bytes, old: str, new: str) -> bytes:
    return content.decode().replace(f'"{old}"', f'"{new}"').replace(
        f">{old}<", f">{new}<").replace(f'"{old}_di"', f'"{new}_di"').encode()  # fmt: skip


def bypass(content: bytes, task_id: str) -> bytes:
    """A diagram without the user task `task_id`: the flows into it go where its one outgoing
    flow went; the task, that flow and their shapes are removed."""
    root = etree.fromstring(content)
    process = root.find("bpmn:process", NS)
    [out] = process.findall(f"bpmn:sequenceFlow[@sourceRef='{task_id}']", NS)
    target = out.get("targetRef")
    node = process.find(f"*[@id='{target}']")
    for flow in process.findall(f"bpmn:sequenceFlow[@targetRef='{task_id}']", NS):
        flow.set("targetRef", target)
        incoming = etree.Element(f"{{{BPMN}}}incoming")
        incoming.text = flow.get("id")
        node.insert(_first_ref(node), incoming)
    _remove(root, (task_id, out.get("id")))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _first_ref(node: etree._Element) -> int:
    """Where an incoming reference goes among a flow node's children (after its extensions)."""
    for index, child in enumerate(node):
        if etree.QName(child).localname in ("incoming", "outgoing"):
            return index
    return len(node)


def countersign(content: bytes, task_id: str, collection: str, condition: str | None = None,
                sequential: bool = False, element: str = "signer") -> bytes:  # fmt: skip
    """A diagram whose user task `task_id` is signed by every item of the list `collection`
    (会签; 依次 when `sequential`), done when `condition` holds (all of them when None)."""
    root = etree.fromstring(content)
    task = root.find(f".//bpmn:userTask[@id='{task_id}']", NS)
    for old in task.findall("bpmn:multiInstanceLoopCharacteristics", NS):  # the demo's own
        task.remove(old)
    loop = etree.SubElement(task, f"{{{BPMN}}}multiInstanceLoopCharacteristics")
    loop.set("isSequential", "true" if sequential else "false")
    loop.set(f"{{{CAMUNDA}}}collection", collection)
    loop.set(f"{{{CAMUNDA}}}elementVariable", element)
    if condition:
        when = etree.SubElement(loop, f"{{{BPMN}}}completionCondition")
        when.set("{http://www.w3.org/2001/XMLSchema-instance}type", "bpmn:tFormalExpression")
        when.text = condition
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def single(content: bytes, task_id: str) -> bytes:
    """A diagram whose multi-instance user task `task_id` (a 会签) is one task again."""
    root = etree.fromstring(content)
    task = root.find(f".//bpmn:userTask[@id='{task_id}']", NS)
    for loop in task.findall("bpmn:multiInstanceLoopCharacteristics", NS):
        task.remove(loop)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
