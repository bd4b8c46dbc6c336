"""Compile diagrams, run workflows, and serialize their state without the spec.

The engine wraps SpiffWorkflow's Camunda dialect. It is given its parser (a factory: one
fresh parser per diagram), its serializer and its script environment when it is built;
`Engine.standard()` builds the ones OneWindow uses. Compiled diagrams may be kept in a
`DiagramCache` by the sha256 of their bytes; whoever holds one (the app's runtime) parses a
diagram once. Serialized state leaves the (large, immutable) spec out: it is restored from
the compiled diagram of the version the case is pinned to.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson
from lxml import etree
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from .budget import Budget
from .compact import compact_workflow
from .errors import DiagramError, EngineError, ExpressionError, Finding, WorkflowFault
from .expressions import SafeEnvironment, SafeScriptEngine
from .i18n import _
from .loader import MAX_BPMN_BYTES, load_diagram
from .timers import make_parser, timer_converters

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "camunda": CAMUNDA_NS}

OUTCOMES = ("approve", "return", "reject")
SERIALIZER_VERSION = f"ow1/spiff{SPIFF_SERIALIZER_VERSION}"
RESULTS = ("approved", "denied")


@dataclass(frozen=True)
class StepLimits:
    """How much one step (start, completion, timer firing, dry-run step) may do.

    A step that runs more engine tasks or takes longer is stopped and rolled back: whatever
    the diagram does, no request or scheduler tick is held longer than this. The seconds are
    the CPU time of the thread running the step, with a wall-clock backstop ten times as
    long (workflows.budget; the garbage collector's time not counted): a busy server does not
    stop a legitimate case.
    """

    max_tasks: int = 500
    max_seconds: float = 1.0


_TIME_LIMIT = re.compile(r"^(\d+(?:\.\d+)?)([dh])$")
_FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "callActivity", "subProcess", "transaction",
    "exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway",
    "complexGateway",
}  # fmt: skip


@dataclass(frozen=True)
class FormField:
    """One field of a task form (camunda:formField)."""

    id: str
    label: str
    type: str
    required: bool = False
    default: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict:
        """Return the field as a JSON-ready dict."""
        return {
            "id": self.id,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "options": [{"id": i, "name": n} for i, n in self.options],
        }


@dataclass(frozen=True)
class NodeInfo:
    """What the runtime needs to know about one flow node, read from the XML."""

    id: str
    type: str
    name: str
    line: int | None
    lane: str | None = None
    candidate_groups: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    form: tuple[FormField, ...] = ()
    outgoing: tuple[tuple[str, str], ...] = ()  # (flow id, target id)
    timer: bool = False  # carries a timerEventDefinition
    attached_to: str | None = None  # a boundary event's task

    @property
    def post(self) -> str | None:
        """Return the post that does this task: candidate group first, else lane name."""
        if self.candidate_groups:
            return self.candidate_groups.split(",")[0].strip()
        return self.lane

    @property
    def stage(self) -> str | None:
        """Return the transfer-card stage of this task."""
        return self.properties.get("stage")

    @property
    def time_limit(self) -> tuple[float, str] | None:
        """Return the stage time limit as (amount, unit) with unit 'd' or 'h'."""
        match = _TIME_LIMIT.match(self.properties.get("timeLimit", "").strip())
        return (float(match.group(1)), match.group(2)) if match else None

    @property
    def outcomes(self) -> tuple[str, ...]:
        """Return the outcomes an official may choose at this task."""
        raw = self.properties.get("outcomes", "approve")
        chosen = tuple(o.strip() for o in raw.split(",") if o.strip() in OUTCOMES)
        return chosen or ("approve",)

    @property
    def outcome_var(self) -> str | None:
        """Return the extra variable that receives this task's outcome."""
        return self.properties.get("outcomeVar") or None

    @property
    def is_decision(self) -> bool:
        """Return whether this is a decision stage (four-eyes applies)."""
        return self.properties.get("decision", "").lower() == "true"

    @property
    def result(self) -> str | None:
        """Return the case result an end event stands for (approved / denied)."""
        return self.properties.get("result")


@dataclass
class CompiledDiagram:
    """A parsed, linted diagram ready to start workflows; immutable once built."""

    content_hash: str
    filename: str
    process_id: str
    process_name: str
    spec: Any
    subprocess_specs: dict
    nodes: dict[str, NodeInfo]
    findings: list[Finding]

    def user_tasks(self) -> list[NodeInfo]:
        """Return the user tasks of the diagram in document order."""
        return [n for n in self.nodes.values() if n.type == "userTask"]

    @property
    def has_timers(self) -> bool:
        """Return whether any event of the diagram waits for a timer."""
        return any(n.timer for n in self.nodes.values())


@dataclass(frozen=True)
class ReadyTask:
    """A user task waiting for an official."""

    id: UUID
    spec_id: str
    name: str
    lane: str | None
    post: str | None
    stage: str | None
    time_limit: tuple[float, str] | None
    outcomes: tuple[str, ...]
    is_decision: bool
    form: tuple[FormField, ...]
    # one instance of a multi-instance task (会签/或签/依次): the item of its collection it
    # stands for (the signer: a username), None otherwise
    signer: str | None = None


@dataclass(frozen=True)
class WaitingTimer:
    """A timer event waiting in a workflow, due at a UTC time (naive)."""

    task_id: UUID
    node_id: str
    due_at: dt.datetime


@dataclass
class StepResult:
    """What happened when a user task was completed (or timers fired) and the engine ran on."""

    completed: ReadyTask | None
    engine_steps: list[dict] = field(default_factory=list)
    created: list[ReadyTask] = field(default_factory=list)
    cancelled: list[UUID] = field(default_factory=list)
    finished: bool = False
    result: str | None = None


# --- compiling -------------------------------------------------------------------------------


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _properties(element: etree._Element) -> dict[str, str]:
    props = {}
    for prop in element.xpath(
        "./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NS
    ):
        if prop.get("name"):
            props[prop.get("name")] = prop.get("value", "")
    return props


def _form(element: etree._Element) -> tuple[FormField, ...]:
    fields = []
    for xml_field in element.xpath(
        "./bpmn:extensionElements/camunda:formData/camunda:formField", namespaces=NS
    ):
        required = bool(
            xml_field.xpath(
                "./camunda:validation/camunda:constraint[@name='required']", namespaces=NS
            )
        )
        options = tuple(
            (v.get("id", ""), v.get("name", v.get("id", "")))
            for v in xml_field.xpath("./camunda:value", namespaces=NS)
        )
        fields.append(
            FormField(
                id=xml_field.get("id", ""),
                label=xml_field.get("label") or xml_field.get("id", ""),
                type=xml_field.get("type", "string"),
                required=required,
                default=xml_field.get("defaultValue"),
                options=options,
            )
        )
    return tuple(fields)


def extract_nodes(root: etree._Element, process_id: str) -> dict[str, NodeInfo]:
    """Read every flow node of a process (sub-processes included) from the XML."""
    process = root.find(f"{{{BPMN_NS}}}process[@id='{process_id}']")
    lanes: dict[str, str] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            lanes[(ref.text or "").strip()] = lane.get("name") or lane.get("id")
    outgoing: dict[str, list[tuple[str, str]]] = {}
    for flow in process.iter(f"{{{BPMN_NS}}}sequenceFlow"):
        outgoing.setdefault(flow.get("sourceRef"), []).append(
            (flow.get("id"), flow.get("targetRef"))
        )
    nodes = {}
    for element in process.iter():
        kind = _local(element.tag)
        if kind not in _FLOW_NODE_TAGS or not element.get("id"):
            continue
        node_id = element.get("id")
        nodes[node_id] = NodeInfo(
            id=node_id,
            type=kind,
            name=(element.get("name") or "").strip() or node_id,
            line=element.sourceline,
            lane=lanes.get(node_id),
            candidate_groups=element.get(f"{{{CAMUNDA_NS}}}candidateGroups"),
            properties=_properties(element),
            form=_form(element) if kind == "userTask" else (),
            outgoing=tuple(outgoing.get(node_id, ())),
            timer=element.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None,
            attached_to=element.get("attachedToRef"),
        )
    return nodes


def _pick_process(root: etree._Element, process_id: str | None, filename: str) -> etree._Element:
    processes = root.findall(f"{{{BPMN_NS}}}process")
    if process_id:
        for process in processes:
            if process.get("id") == process_id:
                return process
        raise DiagramError(
            _("cannot compile diagram"),
            [
                Finding(
                    "error",
                    "no-process",
                    _("no process with id '%(process_id)s'", process_id=process_id),
                    None,
                    None,
                    filename,
                )
            ],
        )
    executable = [p for p in processes if p.get("isExecutable") == "true"]
    if not executable:
        raise DiagramError(
            _("cannot compile diagram"),
            [Finding("error", "not-executable", _("no executable process"), None, None, filename)],
        )
    return executable[0]


TOO_DEEP = (
    "the diagram chains or nests elements too deeply for the engine to read (a few hundred "
    "in a row at most); group them into sub-processes"
)


def _parse_with_spiff(
    root: etree._Element, process_id: str, filename: str, make: Callable[[], BpmnParser]
) -> tuple[Any, dict]:
    parser = make()
    try:
        parser.add_bpmn_xml(root, filename=filename)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except ValidationException as exc:
        text = str(getattr(exc, "message", None) or exc).split("\n")[0]
        if "RecursionError" in text:
            text = TOO_DEEP
        finding = Finding(
            "error",
            "engine",
            text,
            getattr(exc, "id", None),
            getattr(exc, "line_number", None) or None,
            filename,
        )
        raise DiagramError(_("the engine cannot parse the diagram"), [finding]) from None
    except RecursionError:
        finding = Finding("error", "engine", TOO_DEEP, None, None, filename)
        raise DiagramError(_("the engine cannot parse the diagram"), [finding]) from None
    except (SpiffWorkflowException, ExpressionError, KeyError, ValueError, TypeError) as exc:
        finding = Finding("error", "engine", f"{type(exc).__name__}: {exc}", None, None, filename)
        raise DiagramError(_("the engine cannot parse the diagram"), [finding]) from None
    return spec, subprocess_specs


COMPILED_CACHE_SIZE = 256
CacheKey = tuple[str, str | None, bool]  # (sha256 of the bytes, process id, deployed)


class DiagramCache:
    """Compiled diagrams by the sha256 of their bytes, the process and `deployed`: a bounded,
    thread-safe LRU. Compiled diagrams never change, so one may serve every caller."""

    def __init__(self, size: int = COMPILED_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[CacheKey, CompiledDiagram] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: CacheKey) -> CompiledDiagram | None:
        """Return the diagram compiled under `key`, if kept (it becomes the most recent)."""
        with self._lock:
            compiled = self._items.get(key)
            if compiled is not None:
                self._items.move_to_end(key)
            return compiled

    def put(self, key: CacheKey, compiled: CompiledDiagram) -> None:
        """Keep a compiled diagram; forget the least recently used beyond the size."""
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def compile_diagram(
    data: bytes,
    filename: str = "<diagram>",
    process_id: str | None = None,
    *,
    deployed: bool = False,
    parser: Callable[[], BpmnParser] = make_parser,
    cache: DiagramCache | None = None,
) -> CompiledDiagram:
    """Load, lint and parse a diagram with a fresh parser from `parser`; with a `cache`,
    later calls with the same bytes return the diagram compiled the first time.

    `deployed`: the diagram of a version already deployed, which its running cases need.
    Lint errors of rules added since do not stop those cases from loading it: what the
    rules guard against (loops, timers, expressions, ends without a result) is checked again
    at run time, where it stops the case in the fault state instead of deciding it.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    key = (hashlib.sha256(data).hexdigest(), process_id, deployed)
    if cache is not None and (compiled := cache.get(key)) is not None:
        return compiled
    loaded = load_diagram(data, filename, max_bytes=MAX_BPMN_BYTES, refuse=not deployed)
    root = loaded.tree.getroot()
    process = _pick_process(root, process_id, filename)
    pid = process.get("id")
    spec, subprocess_specs = _parse_with_spiff(root, pid, filename, parser)
    compiled = CompiledDiagram(
        content_hash=key[0],
        filename=filename,
        process_id=pid,
        process_name=process.get("name") or pid,
        spec=spec,
        subprocess_specs=subprocess_specs,
        nodes=extract_nodes(root, pid),
        findings=list(loaded.findings),
    )
    if cache is not None:
        cache.put(key, compiled)
    return compiled


# --- serializing -----------------------------------------------------------------------------


class _SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Leave the spec out of the stored state; restore it from the compiled diagram."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            raise EngineError(_("restoring a workflow needs its compiled diagram"))
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


# the types SpiffWorkflow's `json` encoder converts itself (its registry), not orjson
_STATE_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _state_json(dct: dict, serializer: BpmnWorkflowSerializer) -> str:
    """The JSON text of a serialized workflow dict (`Engine.serialize`).

    orjson reads back as what SpiffWorkflow's encoder wrote for everything a case's workflow
    holds: texts, whole numbers, finite floats, lists, objects with text keys; times and the
    rest through the encoder's own `default`. (A form stores checked text, whole numbers,
    booleans and dates as text; an expression stores only plain values, refuses a number that
    is not finite, and no code puts an id object in the data, which orjson would write as
    bare text.) What orjson refuses (a key that is a number, an integer beyond 64 bits) is
    written by `json` as before.
    """
    default = serializer._encoder_cls().default
    try:
        return orjson.dumps(dct, default=default, option=_STATE_OPTIONS).decode()
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(dct, cls=serializer._encoder_cls)


# twenty digits in a row: maybe an integer beyond 64 bits, which orjson would read as a float
_LONG_NUMBER = re.compile(r"\d{20}")


def _load_state(state: str) -> dict:
    """Parse a stored state: orjson, or `json` for what only it reads as `json` wrote it (a
    NaN, an integer beyond 64 bits: an expression may compute one)."""
    if isinstance(state, str) and _LONG_NUMBER.search(state) is None:
        try:
            return orjson.loads(state)
        except orjson.JSONDecodeError:
            pass
    return json.loads(state)


class _UnescapedEncoder(json.JSONEncoder):
    """Write text as it is (UTF-8), not as \\u escapes: the stored states have always been."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["ensure_ascii"] = False
        super().__init__(**kwargs)


def make_serializer() -> BpmnWorkflowSerializer:
    """Return the serializer of workflow states: the Camunda dialect, OneWindow's checked
    timers under SpiffWorkflow's names, the spec left out, stamped SERIALIZER_VERSION."""
    config = dict(CAMUNDA_CONFIG)
    config.update(timer_converters())  # after SpiffWorkflow's: ours restore its timer names
    config[BpmnWorkflow] = _SpeclessWorkflowConverter
    return BpmnWorkflowSerializer(
        BpmnWorkflowSerializer.configure(config),
        version=SERIALIZER_VERSION,
        json_encoder_cls=_UnescapedEncoder,
    )


# --- running ---------------------------------------------------------------------------------


def _failing_element(exc: BaseException) -> str | None:
    """Return the diagram element SpiffWorkflow was working on when it raised `exc`.

    Its task methods hold the task as `my_task`; the innermost frame that has one names it.
    """
    found = None
    tb = exc.__traceback__
    while tb is not None:
        task = tb.tb_frame.f_locals.get("my_task")
        spec_id = getattr(getattr(task, "task_spec", None), "bpmn_id", None)
        if spec_id:
            found = spec_id
        tb = tb.tb_next
    return found


def _spec_id(task) -> str:
    return getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name


def _timer_due(task) -> bool:
    """Return whether a READY timer task (or event-based gateway) is ready because a timer fired."""
    if task.internal_data.get("event_fired"):
        return True
    seen = task.internal_data.get("seen_events") or []
    return any(isinstance(e.event_definition, TimerEventDefinition) for e in seen)


def gateway_timer(task) -> tuple[str, TimerEventDefinition] | None:
    """Return the catch event id and definition of the timer an event-based gateway waits for.

    SpiffWorkflow moves the events after an event-based gateway into the gateway's task, one
    definition per outgoing flow in the order of `outputs`. The timers share that task's due
    time (`event_value`), set by the first timer in that order; lint refuses a gateway with
    more than one timer, so the one found here is the only one. None for any other task.
    """
    from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import EventBasedGateway

    spec = task.task_spec
    if not isinstance(spec, EventBasedGateway):
        return None
    definitions = spec.event_definition.event_definitions
    for target, definition in zip(spec.outputs, definitions, strict=True):
        if isinstance(definition, TimerEventDefinition):
            return target.bpmn_id, definition
    return None


def _instance_of(task) -> MultiInstanceTask | None:
    """The multi-instance spec a task is one instance of, if it is one."""
    parent = task.parent
    spec = parent.task_spec if parent is not None else None
    if not isinstance(spec, MultiInstanceTask) or task.task_spec.name != spec.task_spec:
        return None  # (the task after a multi-instance task is its child too)
    return spec


def _signer(task) -> str | None:
    """The item of its collection an instance of a multi-instance task stands for."""
    spec = _instance_of(task)
    if spec is None or spec.input_item is None:
        return None
    value = task.data.get(spec.input_item.bpmn_id)
    return value if isinstance(value, str) else None


def sign_counts(task, outcome: str) -> dict[str, int]:
    """The counts a multi-instance task's completion condition (and what follows it) reads,
    as Camunda names them, with this instance's `outcome` counted: nrOfInstances,
    nrOfCompletedInstances, nrOfActiveInstances, and OneWindow's nrOfApprovals,
    nrOfRejections, nrOfReturns. Empty for any other task."""
    spec = _instance_of(task)
    if spec is None:
        return {}
    parent = task.parent
    # this activation's instances only (a stage met again in a loop starts counting afresh):
    # the ones merged since it started, the ones still open, the items still to come
    merged = set(parent.internal_data.get("merged", []))
    done = [t.data.get("outcome") for t in spec._instances(parent) if str(t.id) in merged]
    done.append(outcome)
    running = [t for t in spec._instances(parent)
               if not t.has_state(TaskState.FINISHED_MASK) and t is not task]  # fmt: skip
    total = len(done) + len(running) + len(parent.internal_data.get("remaining", []))
    total = max(total, parent.internal_data.get("cardinality") or 0)  # in turn, by a count
    return {"nrOfInstances": total, "nrOfCompletedInstances": len(done),
            "nrOfActiveInstances": len(running),
            "nrOfApprovals": done.count("approve"), "nrOfRejections": done.count("reject"),
            "nrOfReturns": done.count("return")}  # fmt: skip


class WorkflowRun:
    """One running workflow of a case, with the diagram it is pinned to."""

    def __init__(self, engine: Engine, diagram: CompiledDiagram, workflow: BpmnWorkflow) -> None:
        self.engine = engine
        self.diagram = diagram
        self.workflow = workflow
        self._budget: Budget | None = None  # the time budget of the step under way
        self._ends_seen: list[str] = []  # top-level end events reached while this run was live

    def _view(self, task) -> ReadyTask:
        spec_id = task.task_spec.bpmn_id
        node = self.diagram.nodes.get(spec_id) or NodeInfo(spec_id, "userTask", spec_id, None)
        return ReadyTask(
            id=task.id,
            spec_id=spec_id,
            name=node.name,
            lane=task.task_spec.lane or node.lane,
            post=node.post or task.task_spec.lane,
            stage=node.stage,
            time_limit=node.time_limit,
            outcomes=node.outcomes,
            is_decision=node.is_decision,
            form=node.form,
            signer=_signer(task),
        )

    def _ready_manual(self) -> list:
        """Return READY user tasks by scanning the task maps (cheaper than tree iteration)."""
        workflows = [self.workflow, *self.workflow.subprocesses.values()]
        return [
            task
            for wf in workflows
            for task in wf.tasks.values()
            if task.state == TaskState.READY and task.task_spec.manual
        ]

    def ready_tasks(self) -> list[ReadyTask]:
        """Return the user tasks that are ready to be worked on."""
        return [self._view(t) for t in self._ready_manual()]

    @property
    def data(self) -> dict:
        """Return the workflow data (set when it completes) merged over the last task data."""
        last = self.workflow.last_task
        merged = dict(last.data) if last is not None else {}
        merged.update(self.workflow.data)
        return merged

    @property
    def is_completed(self) -> bool:
        """Return whether the workflow has reached its end."""
        return self.workflow.is_completed()

    def _all_tasks(self) -> list:
        """Return every task of the workflow and its sub-workflows (no depth limit)."""
        return [t for wf in (self.workflow, *self.workflow.subprocesses.values())
                for t in wf.tasks.values()]  # fmt: skip

    def result(self) -> str | None:
        """Return approved/denied from the end event reached, if the workflow ended soundly."""
        if not self.workflow.is_completed():
            return None
        try:
            return self.check_finish()
        except WorkflowFault:
            return None

    def check_finish(self) -> str:
        """Return the result of a finished workflow, or raise the fault that stops the case.

        A case is decided only when its workflow has reached an end event that states the
        result and nothing of it is left ready or waiting.
        """
        tasks = self._all_tasks()
        live = TaskState.READY | TaskState.WAITING | TaskState.STARTED
        left = [t for t in tasks if t.has_state(live)]
        if left:
            ids = tuple(dict.fromkeys(_spec_id(t) for t in left))
            raise WorkflowFault(
                _("the engine reports the workflow finished while work is left: %(ids)s",
                  ids=", ".join(ids)),
                ids[0], code="open-tasks", elements=ids,
            )  # fmt: skip
        ends = self._ends_reached()
        if not ends:
            raise WorkflowFault(
                _("the workflow ended without reaching an end event"), code="no-result"
            )
        bad = [e for e in ends if self.diagram.nodes[e].result not in RESULTS]
        if bad:
            raise WorkflowFault(
                _("end event %(value)s states no result (approved or denied)", value=bad[0]),
                bad[0], code="no-result", elements=tuple(bad),
            )  # fmt: skip
        stated = {self.diagram.nodes[e].result for e in ends}
        if len(stated) != 1:
            raise WorkflowFault(
                _("the end events reached state different results: %(results)s",
                  results=", ".join(sorted(stated))),
                ends[0], code="no-result", elements=tuple(ends),
            )  # fmt: skip
        return next(iter(stated))

    def _ends_reached(self) -> list[str]:
        """Return the top-level end events this workflow completed (still in its tree, or
        seen completing while this run was live: compaction may have removed them since)."""
        ends = []
        for task in self.workflow.tasks.values():
            spec_id = getattr(task.task_spec, "bpmn_id", None)
            node = self.diagram.nodes.get(spec_id or "")
            if task.state == TaskState.COMPLETED and node is not None and node.type == "endEvent":
                ends.append(spec_id)
        ends.extend(e for e in self._ends_seen if e not in ends)
        return ends

    def run_engine(self) -> list[dict]:
        """Run every automatic step that can run now, within the step limits; return what ran."""
        limits = self.engine.limits
        budget = self._budget or Budget.of(limits.max_seconds)
        steps: list[dict] = []
        recent: deque[str] = deque(maxlen=64)
        count = 0

        def check(task) -> None:
            nonlocal count
            count += 1
            spec_id = getattr(task.task_spec, "bpmn_id", None)
            if spec_id:
                recent.append(spec_id)
            if count > limits.max_tasks:
                raise self._limit_fault(
                    "step-limit",
                    _("one step ran more than %(count)s engine tasks", count=limits.max_tasks),
                    recent,
                )
            if budget.spent():
                raise self._limit_fault(
                    "time-limit",
                    _("one step ran longer than %(seconds)s s", seconds=f"{limits.max_seconds:g}"),
                    recent,
                )

        def record(task) -> None:
            step = self._describe_step(task)
            if step is not None:
                steps.append(step)
                if step["type"] == "endEvent" and task.workflow is self.workflow:
                    self._ends_seen.append(step["node"])

        with self._engine_errors():
            self.workflow.do_engine_steps(will_complete_task=check, did_complete_task=record)
        compact_workflow(self.workflow)
        return steps

    def _limit_fault(self, code: str, what: str, recent: deque[str]) -> WorkflowFault:
        cycle = tuple(dict.fromkeys(recent))
        names = ", ".join(
            f"{self.diagram.nodes[e].name} (`{e}`)" if e in self.diagram.nodes else f"`{e}`"
            for e in cycle
        )
        return WorkflowFault(
            _("%(what)s; it was cycling through: %(names)s", what=what, names=names),
            cycle[-1] if cycle else None, code=code, elements=cycle,
        )  # fmt: skip

    @contextlib.contextmanager
    def _engine_errors(self):
        """Turn anything the engine raises while running into a WorkflowFault with its cause."""
        try:
            yield
        except WorkflowFault:
            raise
        except SpiffWorkflowException as exc:
            raise self._engine_error(exc) from None
        except ExpressionError as exc:
            raise WorkflowFault(
                _(
                    "expression failed: %(message)s",
                    message=exc.message,
                ), exc.element_id, code="expression",
                cause=exc.message,
            ) from None  # fmt: skip
        except RecursionError:
            raise WorkflowFault(_("the workflow nests or loops too deeply"), code="engine",
                                cause="RecursionError") from None  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - whatever the engine raises stops the case
            element = _failing_element(exc) or self._current_element()
            raise WorkflowFault(
                _(
                    "the engine failed: %(type_name)s: %(exc)s",
                    type_name=type(exc).__name__,
                    exc=exc,
                ), element, code="engine",
                cause=f"{type(exc).__name__}: {exc}",
            ) from None  # fmt: skip

    def _current_element(self) -> str | None:
        """Return the element the engine was most likely running (a ready automatic task)."""
        for task in self._all_tasks():
            if task.state in (TaskState.READY, TaskState.STARTED) and not task.task_spec.manual:
                spec_id = getattr(task.task_spec, "bpmn_id", None)
                if spec_id:
                    return spec_id
        return None

    def _describe_step(self, task) -> dict | None:
        spec = task.task_spec
        bpmn_id = getattr(spec, "bpmn_id", None)
        if bpmn_id is None:
            return None
        node = self.diagram.nodes.get(bpmn_id)
        step = {"node": bpmn_id, "type": node.type if node else type(spec).__name__}
        if node is not None and node.type in ("exclusiveGateway", "inclusiveGateway"):
            taken = {
                c.task_spec.bpmn_id
                for c in task.children
                if c.has_state(TaskState.DEFINITE_MASK | TaskState.FINISHED_MASK)
                and not c.has_state(TaskState.CANCELLED)
            }
            step["flows"] = [flow for flow, target in node.outgoing if target in taken]
        if node is not None and node.type == "endEvent" and node.result:
            step["result"] = node.result
        return step

    def _engine_error(self, exc: SpiffWorkflowException) -> WorkflowFault:
        task = getattr(exc, "task", None)
        spec = getattr(task, "task_spec", None) or getattr(exc, "task_spec", None)
        spec_id = getattr(spec, "bpmn_id", None) or _failing_element(exc)
        inner = getattr(exc, "exception", None) or exc.__cause__ or exc.__context__
        if isinstance(inner, WorkflowFault):
            return inner
        message = " ".join(str(exc).split("\n")[0].replace(". .", ".").split())
        if isinstance(inner, ExpressionError):
            return WorkflowFault(
                _(
                    "expression '%(expression)s' failed: %(message)s",
                    expression=inner.expression,
                    message=inner.message,
                ),
                spec_id or inner.element_id, code="expression", cause=inner.message,
            )  # fmt: skip
        cause = f"{type(inner).__name__}: {inner}" if inner is not None else ""
        if cause and str(inner) not in message:
            message = f"{message} ({cause})"
        return WorkflowFault(message, spec_id, code="engine", cause=cause or message)

    def waiting_timers(self) -> list[WaitingTimer]:
        """Return the timer events this workflow waits for, with their due times.

        A timer behind an event-based gateway is listed under its catch event's id, with the
        id of the gateway's waiting task (that task fires it, see `gateway_timer`). A timer the
        engine found due when it looked at the timers after its last step is READY but has not
        run: it is listed too (it runs at the next step, which should be its firing).
        """
        timers = []
        for wf in (self.workflow, *self.workflow.subprocesses.values()):
            for task in wf.tasks.values():
                if not task.has_state(TaskState.WAITING | TaskState.READY):
                    continue
                definition = getattr(task.task_spec, "event_definition", None)
                node = getattr(task.task_spec, "bpmn_id", None)
                if not isinstance(definition, TimerEventDefinition):
                    node, definition = gateway_timer(task) or (None, None)
                if definition is None or (task.state == TaskState.READY and not _timer_due(task)):
                    continue
                value = definition.details(task).value
                if not value:
                    continue
                due = dt.datetime.fromisoformat(str(value))
                if due.tzinfo is not None:
                    due = due.astimezone(dt.UTC).replace(tzinfo=None)
                timers.append(WaitingTimer(task.id, node, due))
        return timers

    def fire_timers(self) -> StepResult:
        """Fire every timer that is due now and run the engine on."""
        before = {t.id for t in self._ready_manual()}
        self._budget = Budget.of(self.engine.limits.max_seconds)
        try:
            with self._engine_errors():
                self.workflow.refresh_timers()
            return self._step_result(None, before, self.run_engine())
        finally:
            self._budget = None

    def _step_result(
        self, completed: ReadyTask | None, before: set, steps: list[dict]
    ) -> StepResult:
        """Compare the ready user tasks with those before the step: opened, dropped, the end."""
        ready = self._ready_manual()
        after = {t.id for t in ready}
        done = {completed.id} if completed is not None else set()
        result = StepResult(
            completed=completed,
            engine_steps=steps,
            created=[self._view(t) for t in ready if t.id not in before],
            cancelled=sorted(before - after - done, key=str),
            finished=self._finished(ready),
        )
        result.result = self.check_finish() if result.finished else None
        if not result.finished and not ready and not self.waiting_timers():
            self._check_not_stalled()
        return result

    def _finished(self, ready: list) -> bool:
        """Return whether the workflow ended; claiming it with user tasks ready is a fault."""
        with self._engine_errors():
            completed = self.workflow.is_completed()
        if completed and ready:
            ids = tuple(dict.fromkeys(_spec_id(t) for t in ready))
            raise WorkflowFault(
                _("the engine reports the workflow finished while user tasks are ready: %(ids)s",
                  ids=", ".join(ids)), ids[0], code="open-tasks", elements=ids,
            )  # fmt: skip
        return completed

    def _check_not_stalled(self) -> None:
        """Raise when nothing is ready and nothing waits: the case could never move again."""
        tasks = self._all_tasks()
        waiting = [t for t in tasks if t.has_state(TaskState.WAITING | TaskState.READY |
                                                   TaskState.STARTED)]  # fmt: skip
        if any(not t.task_spec.manual and t.state == TaskState.WAITING
               and getattr(t.task_spec, "event_definition", None) is not None
               for t in waiting):  # fmt: skip
            return  # waits for an event (message, signal, timer)
        ids = tuple(dict.fromkeys(_spec_id(t) for t in waiting)) or ()
        stalled = _("the workflow waits for nothing and cannot go on")
        if ids:
            stalled = _("%(stalled)s: stopped at %(ids)s", stalled=stalled, ids=", ".join(ids))
        raise WorkflowFault(stalled, ids[0] if ids else None, code="stalled", elements=ids)

    def complete(self, task_id: UUID | str, outcome: str, data: dict[str, Any]) -> StepResult:
        """Complete a ready user task with an outcome and form data, then run the engine."""
        task_uuid = task_id if isinstance(task_id, UUID) else UUID(str(task_id))
        task = self.workflow.tasks.get(task_uuid) or next(
            (
                sp.tasks[task_uuid]
                for sp in self.workflow.subprocesses.values()
                if task_uuid in sp.tasks
            ),
            None,
        )
        if task is None or not task.has_state(TaskState.READY) or not task.task_spec.manual:
            raise EngineError(_("task is not ready"), str(task_uuid))
        view = self._view(task)
        if outcome not in view.outcomes:
            raise EngineError(
                _(
                    "outcome '%(outcome)s' is not allowed here; allowed: %(items)s",
                    outcome=outcome,
                    items=", ".join(view.outcomes),
                ),
                view.spec_id,
            )
        before = {t.id for t in self._ready_manual()}
        payload = dict(data)
        payload["outcome"] = outcome
        counts = sign_counts(task, outcome)  # 会签: what the signers decided so far
        payload.update(counts)
        node = self.diagram.nodes.get(view.spec_id)
        if node is not None and node.outcome_var:
            payload[node.outcome_var] = outcome
        task.data.update(payload)
        if counts:  # the stage's own data, which what follows it reads (an instance's own
            # data goes back into the collection only): the counts and the latest outcome
            task.parent.data.update({**counts, "outcome": outcome})
            if node is not None and node.outcome_var:
                task.parent.data[node.outcome_var] = outcome
        self._budget = Budget.of(self.engine.limits.max_seconds)
        try:
            with self._engine_errors():
                task.run()
            return self._step_result(view, before, self.run_engine())
        finally:
            self._budget = None


class Engine:
    """Compile diagrams, start and restore their workflows, serialize their state.

    `parser` returns a fresh BPMN parser (one per diagram), `serializer` stores and restores
    workflow states, `environment` evaluates the diagrams' expressions and scripts (inside the
    safe script engine). `Engine.standard()` builds the ones OneWindow runs with.
    """

    def __init__(
        self,
        *,
        parser: Callable[[], BpmnParser],
        serializer: BpmnWorkflowSerializer,
        environment: BasePythonScriptEngineEnvironment,
        limits: StepLimits | None = None,
    ) -> None:
        self.limits = limits or StepLimits()
        self.parser = parser
        self.serializer = serializer
        self.script_engine = SafeScriptEngine(environment)
        self._lock = threading.Lock()

    @classmethod
    def standard(cls, limits: StepLimits | None = None) -> Engine:
        """Return an engine with OneWindow's parser (checked timers), serializer and safe
        expression environment."""
        return cls(
            parser=make_parser,
            serializer=make_serializer(),
            environment=SafeEnvironment(),
            limits=limits,
        )

    @property
    def serializer_version(self) -> str:
        """Return the version stamp written into every serialized state."""
        return self.serializer.VERSION

    def compile(
        self,
        data: bytes,
        filename: str = "<diagram>",
        process_id: str | None = None,
        *,
        deployed: bool = False,
        cache: DiagramCache | None = None,
    ) -> CompiledDiagram:
        """Compile a diagram with this engine's parser (see `compile_diagram`)."""
        return compile_diagram(
            data, filename, process_id, deployed=deployed, parser=self.parser, cache=cache
        )

    def start(
        self, diagram: CompiledDiagram, data: dict[str, Any] | None = None
    ) -> tuple[WorkflowRun, list[dict]]:
        """Start a workflow with start data and run it to the first user tasks."""
        try:
            workflow = BpmnWorkflow(
                diagram.spec, diagram.subprocess_specs, script_engine=self.script_engine
            )
        except Exception as exc:  # noqa: BLE001 - a diagram the engine cannot start stops the case
            cause = f"{type(exc).__name__}: {exc}"
            raise WorkflowFault(
                _("the workflow cannot start: %(cause)s", cause=cause), code="engine", cause=cause
            ) from None
        start = workflow.task_tree
        if data:
            for task in workflow.get_tasks(state=TaskState.READY):
                task.data.update(data)
            start.data.update(data)
        run = WorkflowRun(self, diagram, workflow)
        steps = run.run_engine()
        ready = run._ready_manual()
        if run._finished(ready):
            run.check_finish()
        elif not ready and not run.waiting_timers():
            run._check_not_stalled()
        return run, steps

    def serialize(self, run: WorkflowRun) -> str:
        """Serialize the workflow state (without its spec) to JSON.

        What SpiffWorkflow's `serialize_json` does, with orjson writing the dict (tens of
        times faster than `json`: `_state_json`). `restore` reads states written either way.
        """
        serializer = self.serializer
        with self._lock:  # the serializer's registry is in its encoding mode while it works
            serializer.registry._encoder_mode = True
            try:
                dct = serializer.to_dict(run.workflow)
                dct[serializer.VERSION_KEY] = serializer.VERSION
                return _state_json(dct, serializer)
            finally:
                serializer.registry._encoder_mode = False

    def restore(self, diagram: CompiledDiagram, state: str) -> WorkflowRun:
        """Rebuild a workflow from its serialized state and its compiled diagram."""
        try:
            dct = _load_state(state)
        except (TypeError, ValueError) as exc:
            raise EngineError(_("stored workflow state is not JSON: %(exc)s", exc=exc)) from None
        version = dct.pop(self.serializer.VERSION_KEY, None)
        if version != self.serializer.VERSION:
            raise EngineError(
                _(
                    "stored state has serializer version %(version)s, expected %(VERSION)s",
                    version=repr(version),
                    VERSION=repr(self.serializer.VERSION),
                )
            )
        workflow = self.serializer.from_dict(
            dct, spec=diagram.spec, subprocess_specs=diagram.subprocess_specs
        )
        workflow.script_engine = self.script_engine
        compact_workflow(workflow)  # a state stored before compaction existed may be deep
        return WorkflowRun(self, diagram, workflow)
