"""Semantic checks of a BPMN diagram against what the OneWindow runtime executes.

The XSD says whether a diagram is well-formed BPMN; this module says whether OneWindow
can run it: an executable process, every user task assigned to a post, every gateway
decidable, every expression inside the safe subset, no element the engine would refuse
or silently skip. Errors block deployment; warnings are shown to the analyst.
See docs/diagram-conventions.md for the contract being checked.
"""

from __future__ import annotations

import ast
import keyword
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator

from lxml import etree

from .errors import ExpressionError, Finding
from .expressions import LIMITS, ExpressionLimit, check_expression, check_script, constant_limit
from .graphs import is_cycle, path_back, strongly_connected
from .i18n import _, element_word
from .juel import translate, translate_script
from .timers import KINDS as TIMER_KINDS
from .timers import TimerValueError, check_timer, constant_string, parse_date, utc_now

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

TIME_LIMIT = re.compile(r"^\d+(\.\d+)?[dh]$", re.ASCII)
# An ISO 8601 duration, date or cycle written bare, as Camunda Modeler expects it.
ISO_TIMER = re.compile(r"^(R\d*/)?(P[\dYMWDTHS.,]+|\d{4}-\d{2}-\d{2}\S*)(/\S+)?$", re.ASCII)
TIMER_LABELS = frozenset({"timer date", "timer duration", "timer cycle"})
RESULTS = ("approved", "denied")

EVENTS = frozenset(
    {
        "startEvent",
        "endEvent",
        "intermediateCatchEvent",
        "intermediateThrowEvent",
        "boundaryEvent",
        "implicitThrowEvent",
    }
)
ACTIVITIES = frozenset(
    {
        "task",
        "userTask",
        "manualTask",
        "scriptTask",
        "serviceTask",
        "sendTask",
        "receiveTask",
        "businessRuleTask",
        "subProcess",
        "transaction",
        "adHocSubProcess",
        "callActivity",
    }
)
GATEWAYS = frozenset(
    {
        "exclusiveGateway",
        "inclusiveGateway",
        "parallelGateway",
        "eventBasedGateway",
        "complexGateway",
    }
)
FLOW_NODES = EVENTS | ACTIVITIES | GATEWAYS
CONTAINERS = ("subProcess", "transaction", "adHocSubProcess")
CONDITIONAL_GATEWAYS = frozenset({"exclusiveGateway", "inclusiveGateway"})
# SpiffWorkflow refuses more than one outgoing flow on anything else.
MAY_SPLIT = GATEWAYS | {"startEvent"}

# Task spec names SpiffWorkflow creates itself; a flow node with such an id is mistaken for them.
RESERVED_IDS = frozenset({"Start", "End", "Root", "StartEventSplit", "StartEventJoin"})
RESERVED_SUFFIXES = (".EndJoin", ".BoundaryEventSplit", ".BoundaryEventJoin", " [child]")

UNSUPPORTED = {
    "complexGateway": "SpiffWorkflow does not execute complex gateways",
    "serviceTask": "OneWindow has no service implementation, the task would do nothing",
    "sendTask": "OneWindow has no message transport, the message would go nowhere",
    "receiveTask": "OneWindow never delivers messages, the case would wait forever",
    "businessRuleTask": "OneWindow deploys no DMN decision tables for it to call",
    "dataStoreReference": "OneWindow has no data store implementation",
}

# Event definitions SpiffWorkflow's parser reads for each kind of event; others are dropped.
SUPPORTED_DEFINITIONS = {
    "intermediateCatchEvent": {"message", "signal", "timer", "conditional"},
    "boundaryEvent": {"cancel", "error", "escalation", "message", "signal", "timer", "conditional"},
    "intermediateThrowEvent": {"escalation", "message", "signal", "timer"},
    "endEvent": {"message", "cancel", "error", "escalation", "terminate"},
}
MUST_CATCH = frozenset({"intermediateCatchEvent", "boundaryEvent"})

# (path from a process, what it is) for every text SpiffWorkflow evaluates as an expression.
EXPRESSION_PATHS = (
    (".//bpmn:multiInstanceLoopCharacteristics/bpmn:loopCardinality", "loop cardinality"),
    (".//bpmn:multiInstanceLoopCharacteristics/bpmn:completionCondition", "completion condition"),
    (".//bpmn:standardLoopCharacteristics/bpmn:loopCondition", "loop condition"),
    (".//bpmn:adHocSubProcess/bpmn:completionCondition", "completion condition"),
    (".//bpmn:timerEventDefinition/bpmn:timeDate", "timer date"),
    (".//bpmn:timerEventDefinition/bpmn:timeDuration", "timer duration"),
    (".//bpmn:timerEventDefinition/bpmn:timeCycle", "timer cycle"),
    (".//bpmn:conditionalEventDefinition/bpmn:condition", "event condition"),
)


def _q(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


def _kind(element: etree._Element) -> str:
    return etree.QName(element).localname


def describe(element: etree._Element) -> str:
    """Name an element for a message: its type, id (marked as code in Chinese) and name."""
    kind, element_id = element_word(_kind(element)), element.get("id", "?")
    name = " ".join((element.get("name") or "").split())
    if name:
        return _("%(kind)s '%(id)s' (%(name)s)", kind=kind, id=element_id, name=name)
    return _("%(kind)s '%(id)s'", kind=kind, id=element_id)


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Findings:
    """Collects findings of one diagram, filling in the element id, line and file."""

    def __init__(self, filename: str, ids: set[str]) -> None:
        self.filename = filename
        self.ids = ids
        self.items: list[Finding] = []

    def add(self, severity: str, code: str, element: etree._Element, message: str) -> None:
        self.items.append(
            Finding(severity, code, message, element.get("id"), element.sourceline, self.filename)
        )

    def error(self, code: str, element: etree._Element, message: str) -> None:
        self.add("error", code, element, message)

    def warning(self, code: str, element: etree._Element, message: str) -> None:
        self.add("warning", code, element, message)


class _Graph:
    """The flow nodes and sequence flows directly inside one process or sub-process."""

    def __init__(self, container: etree._Element) -> None:
        self.container = container
        self.nodes = {
            child.get("id"): child
            for child in container.iterchildren(etree.Element)
            if _kind(child) in FLOW_NODES and child.get("id")
        }
        self.flows = list(container.iterchildren(_q("sequenceFlow")))
        self.outgoing: dict[str, list[etree._Element]] = defaultdict(list)
        self.incoming: dict[str, list[etree._Element]] = defaultdict(list)
        for flow in self.flows:
            self.outgoing[flow.get("sourceRef")].append(flow)
            self.incoming[flow.get("targetRef")].append(flow)
        self.attached = {
            node.get("attachedToRef")
            for node in self.nodes.values()
            if _kind(node) == "boundaryEvent"
        }


def lint(
    tree: etree._ElementTree, filename: str = "<diagram>", inputs: Iterable[str] | None = None
) -> list[Finding]:
    """Check the semantics the OneWindow runtime needs and return the findings.

    ``inputs`` names the variables a case starts with (the item's application form fields),
    when known: a multi-instance task reading a variable that neither they nor the diagram
    set is then an error, not a warning.
    """
    root = tree.getroot()
    ids = {element.get("id") for element in root.iter(etree.Element) if element.get("id")}
    out = _Findings(filename, ids)
    processes = root.findall(_q("process"))
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    if not executable:
        _report_not_executable(root, processes, out)
        return out.items
    called = {c.get("calledElement") for p in executable for c in p.iter(_q("callActivity"))}
    by_id = {p.get("id"): p for p in executable}
    for process in executable:
        _lint_process(process, out)
        # a called process's end events return to the caller; they do not end the case
        if process is executable[0] or process.get("id") not in called:
            _lint_end_results(process, out)
        _lint_cycles(process, by_id, out)
        _lint_multi_instance(process, out, None if inputs is None else set(inputs))
    _lint_definitions(root, executable, out)
    _lint_recursive_calls(executable, out)
    return out.items


def _report_not_executable(
    root: etree._Element, processes: list[etree._Element], out: _Findings
) -> None:
    if not processes:
        out.error("not-executable", root, _("the diagram has no process to execute"))
        return
    names = ", ".join(describe(p) for p in processes)
    out.error(
        "not-executable",
        processes[0],
        _(
            'no process is marked isExecutable="true" (found %(names)s); mark the process '
            "OneWindow should run as executable",
            names=names,
        ),
    )


def _lint_process(process: etree._Element, out: _Findings) -> None:
    if process.find(_q("startEvent")) is None:
        out.error(
            "no-start-event",
            process,
            _(
                "%(element)s has no start event",
                element=describe(process),
            ),
        )
    for container in [process, *process.iter(*map(_q, CONTAINERS))]:
        _lint_graph(_Graph(container), out)
    _lint_subprocess_events(process, out)
    _lint_reserved_ids(process, out)
    _lint_user_tasks(process, out)
    _lint_expressions(process, out)
    _lint_scripts(process, out)
    _lint_timers(process, out)
    _lint_unsupported(process, out)
    _lint_event_definitions(process, out)
    for lane in process.iter(_q("lane")):
        if not (lane.get("name") or "").strip():
            out.warning(
                "unnamed-lane",
                lane,
                _(
                    "%(element)s has no name; name it after a post",
                    element=describe(lane),
                ),
            )


def _lint_definitions(
    root: etree._Element, executable: list[etree._Element], out: _Findings
) -> None:
    executable_ids = {p.get("id") for p in executable}
    for call in (c for p in executable for c in p.iter(_q("callActivity"))):
        called = call.get("calledElement")
        if called not in executable_ids:
            out.error(
                "missing-called-element",
                call,
                _(
                    "%(element)s calls '%(called)s', which is not an executable process of this "
                    "diagram",
                    element=describe(call),
                    called=called,
                ),
            )
    for store in root.iter(_q("dataStore")):
        out.error(
            "unsupported-element",
            store,
            _(
                "%(element)s is not supported: OneWindow has no data store implementation",
                element=describe(store),
            ),
        )


def _lint_graph(graph: _Graph, out: _Findings) -> None:
    for flow in graph.flows:
        _check_flow_ends(graph, flow, out)
    if _kind(graph.container) != "adHocSubProcess":
        for node_id, node in graph.nodes.items():
            _check_reachability(graph, node_id, node, out)
    for node_id, node in graph.nodes.items():
        outgoing = graph.outgoing.get(node_id, [])
        if len(outgoing) > 1 and _kind(node) not in MAY_SPLIT:
            out.error(
                "implicit-split",
                node,
                _(
                    "%(element)s has %(count)s outgoing sequence flows; split with a gateway "
                    "instead",
                    element=describe(node),
                    count=len(outgoing),
                ),
            )
        if _kind(node) == "eventBasedGateway":
            _check_event_gateway_timers(graph, node, outgoing, out)
        if _kind(node) in CONDITIONAL_GATEWAYS:
            _check_gateway(node, outgoing, out)
        elif _kind(node) != "complexGateway":
            for flow in outgoing:
                if flow.find(_q("conditionExpression")) is not None:
                    out.warning(
                        "ignored-condition",
                        flow,
                        _(
                            "condition of %(element)s is ignored: only exclusive and inclusive "
                            "gateways evaluate conditions, not %(element2)s",
                            element=describe(flow),
                            element2=describe(node),
                        ),
                    )


def _check_event_gateway_timers(
    graph: _Graph, gateway: etree._Element, outgoing: list[etree._Element], out: _Findings
) -> None:
    """Refuse an event-based gateway that waits for more than one timer.

    SpiffWorkflow keeps one due time for all the gateway's timers (that of the first in the
    layout order) and may follow another timer's flow, so which branch a case takes would
    depend on where the events are drawn.
    """
    targets = [graph.nodes.get(flow.get("targetRef") or "") for flow in outgoing]
    timers = [t for t in targets if t is not None and "timer" in _definitions(t)]
    if len(timers) > 1:
        out.error(
            "event-gateway-timers",
            gateway,
            _(
                "%(element)s waits for %(count)s timers (%(items)s); the engine gives them one "
                "due time and may take the wrong branch: keep one timer after the gateway and "
                "put the others on a later step",
                element=describe(gateway),
                count=len(timers),
                items=", ".join(str(t.get("id")) for t in timers),
            ),
        )


def _check_flow_ends(graph: _Graph, flow: etree._Element, out: _Findings) -> None:
    for attribute in ("sourceRef", "targetRef"):
        ref = flow.get(attribute)
        if ref in graph.nodes:
            continue
        if not ref:
            problem = _(" has no %(attribute)s", attribute=attribute)
        elif ref in out.ids:
            problem = _(
                " %(attribute)s '%(ref)s' is not a flow node of the same (sub-)process",
                attribute=attribute,
                ref=ref,
            )
        else:
            problem = _(" %(attribute)s '%(ref)s' names no element", attribute=attribute, ref=ref)
        out.error(
            "dangling-flow",
            flow,
            _(
                "%(element)s%(problem)s",
                element=describe(flow),
                problem=problem,
            ),
        )


def _is_event_subprocess(node: etree._Element) -> bool:
    return _kind(node) in CONTAINERS and node.get("triggeredByEvent") == "true"


def _check_reachability(graph: _Graph, node_id: str, node: etree._Element, out: _Findings) -> None:
    kind = _kind(node)
    compensation = node.get("isForCompensation") == "true" or "compensate" in _definitions(node)
    if _is_event_subprocess(node) or compensation:
        return
    if kind not in ("startEvent", "boundaryEvent") and not graph.incoming.get(node_id):
        # a disconnected activity is work the analyst drew but no case will ever reach
        report = out.error if kind in ACTIVITIES else out.warning
        message = _("%(element)s has no incoming flow and can never run", element=describe(node))
        report("unreachable", node, message)
    # a boundary timer that only escalates its task (property escalate) needs no path of its own
    escalates = kind == "boundaryEvent" and bool(properties(node).get("escalate"))
    needs_way_out = kind != "endEvent" and not escalates and node_id not in graph.attached
    if needs_way_out and not graph.outgoing.get(node_id):
        message = _(
            "%(element)s has no outgoing flow; end the path with an end event",
            element=describe(node),
        )
        out.warning("dead-end", node, message)


def _has_condition(flow: etree._Element) -> bool:
    condition = flow.find(_q("conditionExpression"))
    return condition is not None and bool((condition.text or "").strip())


def _check_gateway(gateway: etree._Element, outgoing: list[etree._Element], out: _Findings) -> None:
    default = gateway.get("default")
    flow_ids = {flow.get("id") for flow in outgoing}
    if default and default not in flow_ids:
        out.error(
            "bad-default",
            gateway,
            _(
                "default flow '%(default)s' of %(element)s is not one of its outgoing flows",
                default=default,
                element=describe(gateway),
            ),
        )
    if len(outgoing) < 2:
        return
    for flow in outgoing:
        if not _has_condition(flow) and flow.get("id") != default:
            out.error(
                "missing-condition",
                flow,
                _(
                    "%(element)s leaves %(element2)s without a condition and is not its default "
                    "flow",
                    element=describe(flow),
                    element2=describe(gateway),
                ),
            )
    if not default:
        out.warning(
            "no-default",
            gateway,
            _(
                "%(element)s has no default flow; the case stops with an error when no "
                "condition holds",
                element=describe(gateway),
            ),
        )


def _lint_reserved_ids(process: etree._Element, out: _Findings) -> None:
    for node in process.iter(*map(_q, FLOW_NODES)):
        node_id = node.get("id") or ""
        if node_id in RESERVED_IDS or node_id.endswith(RESERVED_SUFFIXES):
            out.error(
                "reserved-id",
                node,
                _(
                    "%(element)s: the id '%(node_id)s' is reserved by SpiffWorkflow for its own "
                    "tasks; rename the element",
                    element=describe(node),
                    node_id=node_id,
                ),
            )


def _lint_subprocess_events(process: etree._Element, out: _Findings) -> None:
    for sub in process.iter(_q("subProcess"), _q("transaction")):
        starts = len(sub.findall(_q("startEvent")))
        if starts != 1 or sub.find(_q("endEvent")) is None:
            out.error(
                "subprocess-events",
                sub,
                _(
                    "%(element)s needs exactly one start event (has %(starts)s) and at least "
                    "one end event",
                    element=describe(sub),
                    starts=starts,
                ),
            )


def properties(element: etree._Element) -> dict[str, str]:
    """Return the camunda:properties of an element as a dict."""
    path = "./bpmn:extensionElements/camunda:properties/camunda:property"
    return {
        prop.get("name", ""): prop.get("value", "") for prop in element.xpath(path, namespaces=NS)
    }


def _lane_refs(process: etree._Element) -> set[str]:
    refs: set[str] = set()
    for lane in process.iter(_q("lane")):
        if (lane.get("name") or "").strip():
            refs.update((ref.text or "").strip() for ref in lane.findall(_q("flowNodeRef")))
    return refs


def _in_lane(task: etree._Element, lanes: set[str]) -> bool:
    node: etree._Element | None = task
    while node is not None and _kind(node) != "process":
        if node.get("id") in lanes:
            return True
        node = node.getparent()
    return False


def _lint_user_tasks(process: etree._Element, out: _Findings) -> None:
    lanes = _lane_refs(process)
    for task in process.iter(_q("userTask")):
        groups = (task.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").strip()
        if not groups and not _in_lane(task, lanes):
            out.error(
                "unassigned-task",
                task,
                _(
                    "%(element)s has no post: put it in a named lane or set "
                    "camunda:candidateGroups",
                    element=describe(task),
                ),
            )
        _check_task_properties(task, properties(task), out)


def _check_task_properties(task: etree._Element, props: dict[str, str], out: _Findings) -> None:
    if not props.get("stage", "").strip():
        out.warning(
            "missing-stage",
            task,
            _(
                "%(element)s has no 'stage' property",
                element=describe(task),
            ),
        )
    limit = props.get("timeLimit")
    if limit is None:
        out.warning(
            "missing-time-limit",
            task,
            _(
                "%(element)s has no 'timeLimit' property",
                element=describe(task),
            ),
        )
    elif not TIME_LIMIT.fullmatch(limit):
        out.error(
            "bad-time-limit",
            task,
            _(
                "timeLimit '%(limit)s' of %(element)s is not working days or hours such as '2d' "
                "or '4h'",
                limit=limit,
                element=describe(task),
            ),
        )


def _owner(element: etree._Element) -> etree._Element:
    """Return the flow node or sequence flow an expression belongs to."""
    node = element.getparent()
    while node is not None and _kind(node) not in FLOW_NODES | {"sequenceFlow", "process"}:
        node = node.getparent()
    return node if node is not None else element


def _expressions(process: etree._Element) -> Iterator[tuple[etree._Element, str, str]]:
    for flow in process.iter(_q("sequenceFlow")):
        if _has_condition(flow):
            yield flow, "condition", flow.find(_q("conditionExpression")).text
    for path, label in EXPRESSION_PATHS:
        for element in process.xpath(path, namespaces=NS):
            yield _owner(element), label, element.text or ""
    for definition in process.iter(_q("messageEventDefinition")):
        payload = definition.get(f"{{{CAMUNDA_NS}}}expression")
        if payload is not None:
            yield _owner(definition), "message payload", payload


def _lint_expressions(process: etree._Element, out: _Findings) -> None:
    """Check every expression of a process; each gets one finding at most, its first problem."""
    for owner, label, text in _expressions(process):
        if not _lint_expression_form(out, owner, label, text):
            _lint_expression_limits(out, owner, label, text)


def _lint_expression_form(out: _Findings, owner: etree._Element, label: str, text: str) -> bool:
    """Report an expression that is empty, written in JUEL or FEEL, or an unquoted timer;
    whether one was reported (then nothing else of it is checked)."""
    if not text.strip():
        out.error(
            "empty-expression",
            owner,
            _(
                "%(label)s of %(element)s is empty",
                label=_(label),
                element=describe(owner),
            ),
        )
        return True
    translated = translate(text, "timer" if label in TIMER_LABELS else "condition")
    if translated is not None:
        out.error(
            translated.code,
            owner,
            _(
                "%(label)s of %(element)s %(advice)s",
                label=_(label),
                element=describe(owner),
                advice=translated.advice(),
            ),
        )
        return True
    if label in TIMER_LABELS and ISO_TIMER.fullmatch(text.strip()):
        out.error(
            "unquoted-timer",
            owner,
            _(
                "%(label)s of %(element)s `%(text)s` is evaluated as an expression; write "
                'it as a quoted string: "%(text2)s"',
                label=_(label),
                element=describe(owner),
                text=_clip(text),
                text2=_clip(text.strip()),
            ),
        )
        return True
    return False


def _lint_expression_limits(out: _Findings, owner: etree._Element, label: str, text: str) -> None:
    """Report an expression the sandbox refuses, or whose constant parts go past its limits."""
    try:
        passed = _constant_limit(out, text)
    except ExpressionError as exc:
        out.error(
            "unsafe-expression",
            owner,
            _(
                "%(label)s of %(element)s `%(text)s` is refused: %(message)s",
                label=_(label),
                element=describe(owner),
                text=_clip(text),
                message=exc.message,
            ),
        )
        return
    if passed is not None:
        out.error(
            "expression-limit",
            owner,
            _(
                "%(label)s of %(element)s `%(text)s` would stop every case that evaluates "
                "it: %(message)s",
                label=_(label),
                element=describe(owner),
                text=_clip(text),
                message=passed.message,
            ),
        )


# Computing the constant parts of a diagram's expressions takes at most this long in all (and
# this long for one expression): a diagram of thousands of costly constants cannot hold the
# worker that checks it. What is not computed in time is left to the run's limits.
CONSTANT_SECONDS = 0.5
CONSTANT_SECONDS_EACH = 0.1


def _constant_limit(out: _Findings, text: str) -> ExpressionLimit | None:
    """Return constant_limit(text) within what is left of the diagram's time for constants."""
    left = getattr(out, "constant_seconds", CONSTANT_SECONDS)
    if left <= 0:
        check_expression(text)
        return None
    started = time.perf_counter()
    try:
        return constant_limit(text, seconds=min(left, CONSTANT_SECONDS_EACH))
    finally:
        out.constant_seconds = left - (time.perf_counter() - started)


# A script line whose value grows geometrically each time it runs: x = x * x, x = x ** 2,
# x = x + x, x = [x, x]; on a cycle it passes a limit after a few rounds.
_GROWING = (ast.Mult, ast.Pow, ast.Add)


def _grows(target: str, value: ast.AST) -> bool:
    def uses(node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id == target for n in ast.walk(node))

    if isinstance(value, ast.BinOp) and isinstance(value.op, _GROWING):
        if isinstance(value.op, ast.Pow):
            return uses(value.left)
        return uses(value.left) and uses(value.right)
    if isinstance(value, ast.List | ast.Tuple):
        return sum(1 for element in value.elts if uses(element)) >= 2
    return False


def _on_cycle(process: etree._Element, task: etree._Element) -> bool:
    """Return whether the task, or a sub-process holding it, can be reached from itself."""
    successors: dict[str, list[str]] = defaultdict(list)
    for flow in process.iter(_q("sequenceFlow")):
        successors[flow.get("sourceRef")].append(flow.get("targetRef"))
    for event in process.iter(_q("boundaryEvent")):
        successors[event.get("attachedToRef")].append(event.get("id"))
    node: etree._Element | None = task
    while node is not None and node is not process:
        start = node.get("id")
        seen, stack = set(), list(successors.get(start, []))
        while stack:
            current = stack.pop()
            if current == start:
                return True
            if current not in seen:
                seen.add(current)
                stack.extend(successors.get(current, []))
        node = node.getparent()
    return False


def _lint_scripts(process: etree._Element, out: _Findings) -> None:
    for task in process.iter(_q("scriptTask")):
        script = task.find(_q("script"))
        if script is None:
            out.error(
                "missing-script",
                task,
                _(
                    "%(element)s has no inline script",
                    element=describe(task),
                ),
            )
            continue
        text = script.text or ""
        translated = translate_script(text, task.get(f"{{{CAMUNDA_NS}}}resultVariable"))
        if translated is not None:
            out.error(
                translated.code,
                task,
                _(
                    "script of %(element)s %(advice)s",
                    element=describe(task),
                    advice=translated.advice(),
                ),
            )
            continue
        try:
            lines = check_script(text, task.get("id"))
        except ExpressionError as exc:
            out.error(
                "unsafe-expression",
                task,
                _(
                    "script of %(element)s `%(text)s` is refused: %(message)s",
                    element=describe(task),
                    text=_clip(exc.expression),
                    message=exc.message,
                ),
            )
            continue
        _check_script_growth(process, task, script, lines, out)


def _check_script_growth(
    process: etree._Element,
    task: etree._Element,
    script: etree._Element,
    lines: list[tuple[str, str]],
    out: _Findings,
) -> None:
    numbered = [
        (number, raw.strip())
        for number, raw in enumerate((script.text or "").splitlines(), start=1)
        if raw.strip() and not raw.strip().startswith("#")
    ]
    cycle: bool | None = None
    for (number, line), (target, expression) in zip(numbered, lines, strict=False):
        where = (script.sourceline or task.sourceline or 0) + number - 1
        passed = _constant_limit(out, expression)
        if passed is not None:
            message = _(
                "script line %(number)s of %(element)s `%(text)s` would stop every case that "
                "runs it: %(message)s",
                number=number,
                element=describe(task),
                text=_clip(line),
                message=passed.message,
            )
            out.items.append(
                Finding("error", "expression-limit", message, task.get("id"), where, out.filename)
            )
            continue
        if not _grows(target, ast.parse(expression, mode="eval").body):
            continue
        cycle = _on_cycle(process, task) if cycle is None else cycle
        if cycle:
            limits = LIMITS
            message = _(
                "script line %(number)s of %(element)s `%(text)s` at least doubles the size of "
                "'%(target)s' each time it runs, and the task is on a cycle: after a few rounds "
                "the case stops at the limit max_int_bits = %(bits)s bits (numbers) or "
                "max_length = %(length)s characters or items (text, lists); compute it from the "
                "inputs instead of from its last value",
                number=number,
                element=describe(task),
                text=_clip(line),
                target=target,
                bits=limits.max_int_bits,
                length=limits.max_length,
            )
            out.items.append(
                Finding("error", "expression-limit", message, task.get("id"), where, out.filename)
            )


def _lint_timers(process: etree._Element, out: _Findings) -> None:
    times = {_q(kind): kind for kind in TIMER_KINDS}
    labels = dict(zip(TIMER_KINDS, ("timer date", "timer duration", "timer cycle"), strict=True))
    now = utc_now()
    for timer in process.iter(_q("timerEventDefinition")):
        owner = _owner(timer)
        values = [child for child in timer if child.tag in times]
        if not values:
            out.error(
                "empty-expression",
                owner,
                _("timer of %(element)s has no date, duration or cycle", element=describe(owner)),
            )
        for value in values:
            # Only a constant can be checked now; an expression is checked when it is evaluated.
            text = constant_string(value.text or "")
            if text is None:
                continue
            kind, label = times[value.tag], labels[times[value.tag]]
            try:
                check_timer(kind, text, now)
            except TimerValueError as exc:
                message = _(
                    "%(label)s of %(element)s is refused: %(message)s",
                    label=_(label),
                    element=describe(owner),
                    message=exc.message,
                )
                where = (owner.get("id"), value.sourceline, out.filename)
                out.items.append(Finding("error", "bad-timer", message, *where))
                continue
            if kind == "timeDate" and parse_date(text, now) < now:
                message = _(
                    '%(label)s of %(element)s "%(text)s" is already past: the timer fires as '
                    "soon as a case reaches it",
                    label=_(label),
                    element=describe(owner),
                    text=_clip(text),
                )
                where = (owner.get("id"), value.sourceline, out.filename)
                out.items.append(Finding("warning", "past-timer", message, *where))


def _lint_unsupported(process: etree._Element, out: _Findings) -> None:
    for element in process.iter(*map(_q, UNSUPPORTED)):
        out.error(
            "unsupported-element",
            element,
            _(
                "%(element)s is not supported: %(value)s",
                element=describe(element),
                value=UNSUPPORTED[_kind(element)],
            ),
        )


def _definitions(event: etree._Element) -> Iterable[str]:
    for child in event.iterchildren(etree.Element):
        kind = _kind(child)
        if kind.endswith("EventDefinition"):
            yield kind.removesuffix("EventDefinition")


def _lint_event_definitions(process: etree._Element, out: _Findings) -> None:
    for event in process.iter(*map(_q, SUPPORTED_DEFINITIONS)):
        kind = _kind(event)
        found = list(_definitions(event))
        refused = [d for d in found if d not in SUPPORTED_DEFINITIONS[kind]]
        if refused:
            names = ", ".join(f"{d}EventDefinition" for d in refused)
            out.error(
                "unsupported-element",
                event,
                _(
                    "%(element)s with %(names)s is not supported",
                    element=describe(event),
                    names=names,
                ),
            )
        elif not found and kind in MUST_CATCH:
            never = _(
                "%(element)s has no event definition, so it would never be triggered",
                element=describe(event),
            )
            out.error("unsupported-element", event, never)


def _interrupts(sub: etree._Element) -> bool:
    start = sub.find(_q("startEvent"))
    return start is None or start.get("isInterrupting", "true") != "false"


def _case_ends(process: etree._Element) -> Iterator[etree._Element]:
    """Yield the end events that end a case: the process's own and its interrupting handlers'."""
    yield from process.findall(_q("endEvent"))
    for sub in process.iterchildren(*map(_q, CONTAINERS)):
        if _is_event_subprocess(sub) and _interrupts(sub):
            yield from sub.findall(_q("endEvent"))


def _lint_end_results(process: etree._Element, out: _Findings) -> None:
    for end in _case_ends(process):
        result = properties(end).get("result")
        if result in RESULTS:
            continue
        found = (
            _("result '%(result)s'", result=result)
            if result is not None
            else _("no 'result' property")
        )
        out.error(
            "missing-result",
            end,
            _(
                "%(element)s ends the case but has %(found)s; set the property 'result' to "
                "'approved' or 'denied' (no case may end without a decision)",
                element=describe(end),
                found=found,
            ),
        )


# --- cycles, recursive calls -----------------------------------------------------------------

# Flow nodes at which a case stops until a person, a timer or a message moves it on.
WAITS = frozenset(
    {"userTask", "manualTask", "receiveTask", "intermediateCatchEvent", "eventBasedGateway"}
)
WAITING_TRIGGERS = frozenset({"timer", "message", "signal", "conditional"})
MAX_LISTED = 12


def _contains_wait(
    node: etree._Element, processes: dict[str, etree._Element], seen: set[str]
) -> bool:
    """Return whether a flow node waits, or a (called) sub-process it runs contains a wait."""
    kind = _kind(node)
    if kind in WAITS:
        return True
    if kind == "boundaryEvent":
        return bool(WAITING_TRIGGERS & set(_definitions(node)))
    if kind in CONTAINERS:
        inner = node.iter(*map(_q, WAITS | {"boundaryEvent", "callActivity"}))
        return any(_contains_wait(n, processes, seen) for n in inner if n is not node)
    if kind == "callActivity":
        called = node.get("calledElement") or ""
        if called in seen or called not in processes:
            return False
        seen.add(called)
        body = processes[called].iter(*map(_q, WAITS | {"boundaryEvent", "callActivity"}))
        return any(_contains_wait(n, processes, seen) for n in body)
    return False


def _flow_edges(graph: _Graph) -> dict[str, list[str]]:
    """Return the successors of each node: its sequence flows and its boundary events."""
    edges: dict[str, list[str]] = defaultdict(list)
    for flow in graph.flows:
        source, target = flow.get("sourceRef"), flow.get("targetRef")
        if source in graph.nodes and target in graph.nodes:
            edges[source].append(target)
    for node_id, node in graph.nodes.items():
        host = node.get("attachedToRef")
        if _kind(node) == "boundaryEvent" and host in graph.nodes:
            edges[host].append(node_id)
    return edges


def _listed(elements: list[etree._Element]) -> str:
    shown = ", ".join(describe(e) for e in elements[:MAX_LISTED])
    rest = len(elements) - MAX_LISTED
    return _("%(shown)s and %(rest)s more", shown=shown, rest=rest) if rest > 0 else shown


def _lint_cycles(
    process: etree._Element, processes: dict[str, etree._Element], out: _Findings
) -> None:
    for container in [process, *process.iter(*map(_q, CONTAINERS))]:
        graph = _Graph(container)
        edges = _flow_edges(graph)
        for component in strongly_connected(list(graph.nodes), edges):
            if not is_cycle(component, edges):
                continue
            members = sorted((graph.nodes[i] for i in component), key=lambda e: e.sourceline or 0)
            if any(_contains_wait(node, processes, set()) for node in members):
                continue
            out.error(
                "cycle-without-wait",
                members[0],
                _(
                    "the loop through %(listed)s never waits for a person, a timer or a "
                    "message, so a case that enters it would run in circles; put a user task, a "
                    "timer or a message catch event on the loop",
                    listed=_listed(members),
                ),
            )


def _lint_recursive_calls(executable: list[etree._Element], out: _Findings) -> None:
    ids = [p.get("id") for p in executable]
    calls: dict[str, list[str]] = defaultdict(list)
    first_call: dict[tuple[str, str], etree._Element] = {}
    for process in executable:
        for call in process.iter(_q("callActivity")):
            called = call.get("calledElement")
            if called in ids:
                calls[process.get("id")].append(called)
                first_call.setdefault((process.get("id"), called), call)
    for component in strongly_connected(ids, calls):
        if not is_cycle(component, calls):
            continue
        start = min(component, key=ids.index)
        chain = path_back(start, calls, set(component))
        call = first_call[(start, chain[1])]
        out.error(
            "recursive-call",
            call,
            _(
                "%(element)s calls process '%(value)s', which calls back into itself: "
                "%(items)s; a case would open sub-processes without end",
                element=describe(call),
                value=chain[1],
                items=" → ".join(chain),
            ),
        )


# --- multi-instance tasks --------------------------------------------------------------------

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$", re.ASCII)


def _variables_set(element: etree._Element) -> set[str] | None:
    """Return the variables an element sets when it completes; None when it may set anything."""
    found: set[str] = set()
    for node in element.iter(etree.Element):
        kind = _kind(node)
        if kind == "callActivity":
            return None
        if kind in ("userTask", "startEvent"):
            path = "./bpmn:extensionElements/camunda:formData/camunda:formField"
            found.update(f.get("id", "") for f in node.xpath(path, namespaces=NS))
            if kind == "userTask":
                found.add("outcome")
                found.add(properties(node).get("outcomeVar", ""))
        elif kind == "scriptTask" and node.find(_q("script")) is not None:
            try:
                assignments = check_script(node.find(_q("script")).text or "", node.get("id"))
            except ExpressionError:
                continue  # reported by _lint_scripts
            found.update(target for target, _ in assignments)
    return found


def _set_before(task: etree._Element) -> set[str] | None:
    """Return what the flow nodes from which task can be reached set; None if anything."""
    found: set[str] = set()
    node = task
    while _kind(node) != "process" and node.getparent() is not None:
        graph = _Graph(node.getparent())
        incoming: dict[str, list[str]] = defaultdict(list)
        for source, targets in _flow_edges(graph).items():
            for target in targets:
                incoming[target].append(source)
        seen = {node.get("id")}
        queue = [node.get("id")]
        while queue:
            for source in incoming.get(queue.pop(), []):
                if source not in seen:
                    seen.add(source)
                    queue.append(source)
                    variables = _variables_set(graph.nodes[source])
                    if variables is None:
                        return None
                    found |= variables
        node = node.getparent()
    return found


def _names_read(text: str) -> set[str]:
    """Return the variables an expression reads (not the functions it calls)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return set()  # reported by _lint_expressions
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    bound = {
        n.id
        for c in ast.walk(tree)
        if isinstance(c, ast.comprehension)
        for n in ast.walk(c.target)
        if isinstance(n, ast.Name)
    }
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and id(n) not in called and n.id not in bound
    }


def _lint_multi_instance(process: etree._Element, out: _Findings, inputs: set[str] | None) -> None:
    collection_attr = f"{{{CAMUNDA_NS}}}collection"
    for loop in process.iter(_q("multiInstanceLoopCharacteristics")):
        task = loop.getparent()
        cardinality = loop.find(_q("loopCardinality"))
        collection = loop.get(collection_attr)
        if cardinality is None and not (collection or "").strip():
            ignored = (
                _(" (loopDataInputRef is not read by OneWindow's engine)")
                if loop.find(_q("loopDataInputRef")) is not None
                else ""
            )
            out.error(
                "multi-instance-input",
                task,
                _(
                    "%(element)s is multi-instance but says neither how many instances "
                    "(loopCardinality) nor over which list (camunda:collection)%(ignored)s",
                    element=describe(task),
                    ignored=ignored,
                ),
            )
            continue
        read: set[str] = set()
        if cardinality is not None:
            read = _check_cardinality(task, (cardinality.text or "").strip(), out)
        else:
            read = _check_collection(task, loop, collection.strip(), out)
        if read:
            _check_inputs(task, read, inputs, out)


def _check_cardinality(task: etree._Element, text: str, out: _Findings) -> set[str]:
    if not text:
        return set()  # an empty expression, reported by _lint_expressions
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _names_read(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        out.error(
            "multi-instance-input",
            task,
            _(
                "loop cardinality `%(text)s` of %(element)s is no positive whole number nor an "
                "expression; write a number such as 3 or an expression such as len(experts)",
                text=_clip(text),
                element=describe(task),
            ),
        )
    return set()


def _check_collection(
    task: etree._Element, loop: etree._Element, collection: str, out: _Findings
) -> set[str]:
    if not _VARIABLE.match(collection) or keyword.iskeyword(collection):
        out.error(
            "multi-instance-input",
            task,
            _(
                "camunda:collection '%(text)s' of %(element)s is not a variable name; name the "
                "list variable itself, such as experts",
                text=_clip(collection),
                element=describe(task),
            ),
        )
        return set()
    if not (loop.get(f"{{{CAMUNDA_NS}}}elementVariable") or "").strip():
        out.error(
            "multi-instance-input",
            task,
            _(
                "%(element)s runs over camunda:collection '%(collection)s' but has no "
                "camunda:elementVariable to receive each item",
                element=describe(task),
                collection=collection,
            ),
        )
    return {collection}


def _check_inputs(
    task: etree._Element, read: set[str], inputs: set[str] | None, out: _Findings
) -> None:
    known = _set_before(task)
    if known is None:
        return  # a call activity before it may set anything
    missing = sorted(read - known - (inputs or set()))
    if not missing:
        return
    names = ", ".join(f"'{n}'" for n in missing)
    if inputs is None:
        out.warning(
            "multi-instance-variable",
            task,
            _(
                "%(element)s reads %(names)s, which nothing before it in the diagram sets; it "
                "must be a field of the item's application form, or cases stop there",
                element=describe(task),
                names=names,
            ),
        )
    else:
        out.error(
            "multi-instance-variable",
            task,
            _(
                "%(element)s reads %(names)s, which neither a form field, script or task before "
                "it in the diagram nor the item's application form sets; a case would stop there",
                element=describe(task),
                names=names,
            ),
        )
