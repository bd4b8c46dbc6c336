"""Semantic difference between two versions of a BPMN 2.0 diagram, for process analysts.

`diff_diagrams` compares two files element by element, matched by id, and says which were
added, removed and changed, and for a changed one what changed: its name, type, the source
or target of a flow, a condition, the lane, the assignment, the form, the properties, the
default flow, a timer, the documentation, or something else.

Compared are the elements of the BPMN model with an id that sit directly in a process or a
sub-process (flow nodes, sequence flows, data objects and references, text annotations,
associations, groups), the lanes, and the parts of a collaboration (participants, message
flows and the artifacts drawn on it). Everything below such an element (condition, timer
and event definitions, extension elements, documentation, loop characteristics, data
associations) belongs to its signature. Processes, collaborations and the definitions
themselves are not compared, nor the global elements beside them (messages, signals,
errors, item definitions): they show up where a compared element refers to them.

Not a change:
- layout, that is everything in the BPMNDI, DC and DI namespaces (shapes, edges, bounds,
  waypoints, labels);
- namespace prefixes, also inside QName values such as xsi:type="bpmn:tFormalExpression",
  which are compared by their local part;
- formatting, whitespace around text, comments, and the order of elements in a process;
- ids of elements below a compared one (modelers regenerate them);
- attributes that only repeat the schema default (cancelActivity="true", startQuantity="1"):
  they count as absent;
- line breaks in names, which only lay out the label: names are compared and shown on one
  line, a break counting as a blank between words and as nothing between CJK characters;
- the incoming/outgoing children of flow nodes, which repeat what the flows say, and the
  flowNodeRef children of lanes: a flow node carries the id of the innermost lane listing
  it (shown with the lane's name), so moving a task to another lane changes the task, not
  the lanes, and renaming a lane changes the lane alone.

An element that moves into or out of a sub-process changes ("other": its container), since
its scope changed; the id of the process holding it is not compared.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from lxml import etree

from .lint import BPMN_NS, CAMUNDA_NS, CONTAINERS, FLOW_NODES
from .loader import parse_bpmn
from .render import BPMNDI_NS, DC_NS, DI_NS

XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
LAYOUT_NAMESPACES = frozenset({BPMNDI_NS, DC_NS, DI_NS})

# The aspects of an element, compared separately, in the order details are reported.
CATEGORIES = (
    "name",
    "type",
    "source",
    "target",
    "condition",
    "lane",
    "assignment",
    "form",
    "properties",
    "default flow",
    "timer",
    "documentation",
    "other",
)

FLOWS = frozenset({"sequenceFlow", "messageFlow"})
PROCESSES = frozenset({"process", *CONTAINERS})
# Children of a process or sub-process that may have an id but are part of the container.
CONTAINER_PARTS = frozenset(
    {
        "documentation",
        "extensionElements",
        "auditing",
        "monitoring",
        "property",
        "laneSet",
        "ioSpecification",
        "ioBinding",
        "supportedInterfaceRef",
        "correlationSubscription",
        "resourceRole",
        "performer",
        "humanPerformer",
        "potentialOwner",
        "loopCharacteristics",
        "standardLoopCharacteristics",
        "multiInstanceLoopCharacteristics",
        "dataInputAssociation",
        "dataOutputAssociation",
        "completionCondition",
        "incoming",
        "outgoing",
    }
)
# Children of a collaboration compared as elements of their own.
COLLABORATION_PARTS = frozenset(
    {
        "participant",
        "messageFlow",
        "textAnnotation",
        "association",
        "group",
        "conversation",
        "subConversation",
        "callConversation",
        "conversationLink",
    }
)
RESOURCE_ROLES = frozenset({"resourceRole", "performer", "humanPerformer", "potentialOwner"})
ASSIGNMENT_ATTRIBUTES = ("candidateGroups", "candidateUsers", "assignee")
FORM_ATTRIBUTES = ("formKey", "formRef", "formRefBinding", "formRefVersion")
TIMER_PARTS = ("timeDate", "timeDuration", "timeCycle")
# Prefixes used to show names from other namespaces; BPMN names are shown bare.
PREFIXES = {CAMUNDA_NS: "camunda", XSI_NS: "xsi", ZEEBE_NS: "zeebe"}
LINE_BREAK = re.compile(r"\s*[\r\n]\s*")
QNAME_VALUE = re.compile(r"^([A-Za-z_][\w.-]*):([A-Za-z_][\w.-]*)$")
# Attribute values the BPMN schema assumes when an attribute is left out; a modeler that
# writes them out does not change the model. "implementation" is in IMPLEMENTATION_DEFAULTS.
SCHEMA_DEFAULTS = {
    "associationDirection": "None",
    "behavior": "All",
    "cancelActivity": "true",
    "cancelRemainingInstances": "true",
    "completionQuantity": "1",
    "eventGatewayType": "Exclusive",
    "gatewayDirection": "Unspecified",
    "instantiate": "false",
    "isClosed": "false",
    "isCollection": "false",
    "isForCompensation": "false",
    "isInterrupting": "true",
    "isSequential": "false",
    "isUnlimited": "true",
    "itemKind": "Information",
    "maximum": "1",
    "method": "##Compensate",
    "minimum": "0",
    "mustUnderstand": "false",
    "parallelMultiple": "false",
    "processType": "None",
    "startQuantity": "1",
    "testBefore": "false",
    "textFormat": "text/plain",
    "triggeredByEvent": "false",
}
IMPLEMENTATION_DEFAULTS = {
    "serviceTask": "##WebService",
    "sendTask": "##WebService",
    "receiveTask": "##WebService",
}
BOOLEAN_ATTRIBUTES = frozenset(k for k, v in SCHEMA_DEFAULTS.items() if v in ("true", "false"))
BOOLEANS = {"1": "true", "0": "false"}


@dataclass(frozen=True)
class Detail:
    """One aspect of an element that differs between the two versions."""

    what: str  # one of CATEGORIES
    before: str  # readable text, "" when absent
    after: str


@dataclass(frozen=True)
class ElementChange:
    """An element added, removed or changed; details only for a changed one."""

    id: str
    kind: str  # local tag name, e.g. "userTask", "sequenceFlow", "lane", "participant"
    name: str  # the name in the newer version (the older one when removed), "" if none
    details: tuple[Detail, ...] = ()


@dataclass(frozen=True)
class DiagramDiff:
    """What differs between two versions of a diagram, each part sorted deterministically."""

    added: tuple[ElementChange, ...]
    removed: tuple[ElementChange, ...]
    changed: tuple[ElementChange, ...]

    @property
    def empty(self) -> bool:
        """Return True when the two versions have the same semantics."""
        return not (self.added or self.removed or self.changed)

    def highlight_new(self) -> dict[str, str]:
        """Return the states to mark on the newer diagram: "added" and "changed" by id."""
        states = {change.id: "added" for change in self.added}
        states.update((change.id, "changed") for change in self.changed)
        return states

    def highlight_old(self) -> dict[str, str]:
        """Return the states to mark on the older diagram: "removed" by id."""
        return {change.id: "removed" for change in self.removed}


class _Node(NamedTuple):
    """An XML element (or, with a tag starting with "@", an attribute) in canonical form."""

    tag: str  # Clark notation
    attributes: tuple[tuple[str, str], ...]  # sorted (Clark name, value)
    text: str  # stripped
    children: tuple[_Node, ...]


class _Aspect(NamedTuple):
    """One aspect of an element: what is compared and how it is shown."""

    key: object
    text: str


_ABSENT = _Aspect("", "")


def _namespace(tag: str) -> str | None:
    return etree.QName(tag).namespace


def _local(tag: str) -> str:
    return etree.QName(tag).localname


def _is_element(node: object) -> bool:
    return isinstance(node, etree._Element) and isinstance(node.tag, str)


def _bpmn(element: etree._Element, *names: str) -> bool:
    """Return True if the element is in the BPMN namespace (and has one of the names)."""
    if _namespace(element.tag) != BPMN_NS:
        return False
    return not names or _local(element.tag) in names


def _camunda(element: etree._Element, name: str) -> bool:
    return element.tag == f"{{{CAMUNDA_NS}}}{name}"


def _children(element: etree._Element) -> Iterator[etree._Element]:
    """Yield the child elements that are not layout, skipping comments and instructions."""
    for child in element:
        if _is_element(child) and _namespace(child.tag) not in LAYOUT_NAMESPACES:
            yield child


def _value(element: etree._Element, value: str) -> str:
    """Return a value with the prefix of a QName dropped when it is a declared prefix."""
    match = QNAME_VALUE.match(value)
    if match is not None and match.group(1) in element.nsmap:
        return match.group(2)
    return value


def _wide(character: str) -> bool:
    return bool(character) and unicodedata.east_asian_width(character) in ("W", "F")


def _join_lines(match: re.Match[str]) -> str:
    """Join the lines of a name: nothing between CJK characters, else one blank."""
    text, start, end = match.string, match.start(), match.end()
    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return "" if _wide(before) and _wide(after) else " "


def _name(value: str | None) -> str:
    """Return a name as one line: line breaks joined, other whitespace collapsed."""
    text = LINE_BREAK.sub(_join_lines, value or "")
    return " ".join(text.split())


def _text(element: etree._Element) -> str:
    """Return all text inside the element, stripped."""
    return "".join(element.itertext()).strip()


def _show_name(clark: str) -> str:
    """Show a Clark name readably: bare for BPMN and no namespace, else with a prefix."""
    namespace, local = _namespace(clark), _local(clark)
    if namespace in (None, BPMN_NS):
        return local
    prefix = PREFIXES.get(namespace)
    return f"{prefix}:{local}" if prefix else clark


def _attributes(element: etree._Element) -> dict[str, str]:
    """Return the attributes that carry meaning, QName values by their local part.

    A BPMN element loses its id and the attributes that only repeat the schema default.
    """
    bpmn = _bpmn(element)
    local = _local(element.tag)
    found: dict[str, str] = {}
    for name, value in element.attrib.items():
        if bpmn and name in BOOLEAN_ATTRIBUTES:
            value = BOOLEANS.get(value.strip(), value.strip())
        if bpmn and name == "implementation":
            default = IMPLEMENTATION_DEFAULTS.get(local, "##unspecified")
        else:
            default = SCHEMA_DEFAULTS.get(name) if bpmn else None
        if (bpmn and name == "id") or value == default:
            continue
        found[name] = _name(value) if name == "name" else _value(element, value)
    return found


def _canon(element: etree._Element) -> _Node:
    """Return the canonical form of an element: ids of BPMN children and layout dropped."""
    attributes = tuple(sorted(_attributes(element).items()))
    own_text = (element.text or "") + "".join(child.tail or "" for child in element)
    text = _value(element, own_text.strip())
    children = tuple(_canon(child) for child in _children(element))
    return _Node(element.tag, attributes, text, children)


def _attribute_item(name: str, value: str) -> _Node:
    return _Node(f"@{name}", (), value, ())


def _show(node: _Node) -> str:
    """Show a canonical element or attribute as one line of text."""
    if node.tag.startswith("@"):
        return f"{_show_name(node.tag[1:])}={node.text}"
    text = _show_name(node.tag)
    if node.attributes:
        text += "(" + ", ".join(f"{_show_name(k)}={v}" for k, v in node.attributes) + ")"
    if node.text:
        text += f' "{node.text}"'
    if node.children:
        text += " {" + "; ".join(_show(child) for child in node.children) + "}"
    return text


def _list_value(value: str) -> str:
    """Normalise a comma-separated list: no blanks around the items."""
    return ",".join(item.strip() for item in value.split(","))


def _form_field(field: etree._Element) -> str:
    """Show a camunda:formField as e.g. "opinion:string 意见 default=x [required]"."""
    attributes = dict(field.attrib)
    key = attributes.pop("id", "")
    kind = attributes.pop("type", "")
    label = attributes.pop("label", "")
    default = attributes.pop("defaultValue", "")
    parts = [f"{key}:{kind}" if kind else key]
    if label:
        parts.append(label)
    if default:
        parts.append(f"default={default}")
    parts.extend(f"{_show_name(name)}={value}" for name, value in sorted(attributes.items()))
    values: list[str] = []
    for child in _children(field):
        if _camunda(child, "validation"):
            constraints = [
                f"{c.get('name', '')}={c.get('config')}" if c.get("config") else c.get("name", "")
                for c in _children(child)
            ]
            parts.append("[" + ", ".join(constraints) + "]")
        elif _camunda(child, "value"):
            value_id, value_name = child.get("id", ""), child.get("name", "")
            values.append(f"{value_id}={value_name}" if value_name else value_id)
        elif _camunda(child, "properties"):
            pairs = [f"{p.get('id', '')}={p.get('value', '')}" for p in _children(child)]
            parts.append("(" + ", ".join(pairs) + ")")
        else:
            parts.append(_show(_canon(child)))
    if values:
        parts.append("{" + ", ".join(values) + "}")
    return " ".join(parts)


def _form_data(form_data: etree._Element) -> list[str]:
    """Show the attributes and fields of a camunda:formData, one text each."""
    shown = [f"{_show_name(k)}={v}" for k, v in sorted(form_data.attrib.items())]
    for child in _children(form_data):
        shown.append(_form_field(child) if _camunda(child, "formField") else _show(_canon(child)))
    return shown


def _properties(elements: Iterable[etree._Element]) -> str:
    """Show camunda:property pairs sorted by name: "stage=lead, timeLimit=1d"."""
    pairs = sorted(
        (prop.get("name") or prop.get("id") or "", prop.get("value") or "")
        for properties in elements
        for prop in _children(properties)
    )
    return ", ".join(f"{name}={value}" for name, value in pairs)


def _timer(definition: etree._Element) -> list[str]:
    """Show the date, duration or cycle of a timerEventDefinition."""
    return [
        f"{_local(child.tag)}: {_text(child)}"
        for child in _children(definition)
        if _bpmn(child, *TIMER_PARTS)
    ]


def _condition(expression: etree._Element) -> str:
    text = _text(expression)
    language = expression.get("language")
    return f"{text} (language {language})" if language else text


def _aspect(parts: list[str], separator: str = "; ") -> _Aspect:
    text = separator.join(parts)
    return _Aspect(text, text)


class _Version:
    """One version of a diagram: its compared elements, every id, and the lanes of nodes."""

    def __init__(self, tree: etree._ElementTree) -> None:
        root = tree.getroot()
        self.by_id: dict[str, etree._Element] = {}
        self.compared: dict[str, etree._Element] = {}
        for element in root.iter(f"{{{BPMN_NS}}}*"):
            key = element.get("id")
            if not key:
                continue
            self.by_id.setdefault(key, element)
            if self._is_compared(element):
                self.compared.setdefault(key, element)
        self.lanes = self._lanes(root)

    @staticmethod
    def _is_compared(element: etree._Element) -> bool:
        local = _local(element.tag)
        if local == "lane":
            return True
        parent = element.getparent()
        if parent is None or not _bpmn(parent):
            return False
        if _local(parent.tag) in PROCESSES:
            return local not in CONTAINER_PARTS
        return _local(parent.tag) == "collaboration" and local in COLLABORATION_PARTS

    @staticmethod
    def _lanes(root: etree._Element) -> dict[str, str]:
        """Map each flow node id to the id of the innermost lane listing it."""
        found: dict[str, tuple[int, str]] = {}
        for lane in root.iter(f"{{{BPMN_NS}}}lane"):
            depth = sum(1 for _ in lane.iterancestors(f"{{{BPMN_NS}}}lane"))
            label = lane.get("id", "")
            for ref in lane.iterchildren(f"{{{BPMN_NS}}}flowNodeRef"):
                node = _value(ref, (ref.text or "").strip())
                if node not in found or depth > found[node][0]:
                    found[node] = (depth, label)
        return {node: label for node, (_, label) in found.items()}

    def describe(self, ref: str) -> str:
        """Show a reference as "name (id)", or the id alone when the target is unnamed."""
        target = self.by_id.get(ref)
        name = _name(target.get("name")) if target is not None else ""
        return f"{name} ({ref})" if name else ref

    def _reference(self, value: str) -> _Aspect:
        ref = value.strip()
        return _Aspect(ref, self.describe(ref))

    @staticmethod
    def _container(element: etree._Element) -> str:
        """Return the id of the sub-process directly holding the element, "" for a process."""
        parent = element.getparent()
        if parent is None or not _bpmn(parent, *CONTAINERS) or _local(element.tag) == "lane":
            return ""
        return parent.get("id", "")

    # Long: one pass over the element's attributes and children that sorts each into the
    # aspect it belongs to; the lists it fills are read together at the end.
    def signature(self, key: str) -> tuple[dict[str, _Aspect], tuple[_Node, ...]]:
        """Return the aspects of a compared element and the canonical items of "other"."""
        element = self.compared[key]
        attributes = _attributes(element)
        aspects: dict[str, _Aspect] = {"type": _Aspect(_local(element.tag), _local(element.tag))}
        name = attributes.pop("name", "")
        aspects["name"] = _Aspect(name, name)
        for what, attribute in (("source", "sourceRef"), ("target", "targetRef")):
            if attribute in attributes:
                aspects[what] = self._reference(attributes.pop(attribute))
        if "default" in attributes:
            aspects["default flow"] = self._reference(attributes.pop("default"))
        lane = self.lanes.get(key, "")
        aspects["lane"] = _Aspect(lane, self.describe(lane) if lane else "")

        assignment = [
            f"{local}={_list_value(attributes.pop(f'{{{CAMUNDA_NS}}}{local}'))}"
            for local in ASSIGNMENT_ATTRIBUTES
            if f"{{{CAMUNDA_NS}}}{local}" in attributes
        ]
        form = [
            f"{local}={attributes.pop(f'{{{CAMUNDA_NS}}}{local}')}"
            for local in FORM_ATTRIBUTES
            if f"{{{CAMUNDA_NS}}}{local}" in attributes
        ]
        properties: list[etree._Element] = []
        conditions: list[str] = []
        timers: list[str] = []
        documentation: list[str] = []
        other = [_attribute_item(name, value) for name, value in attributes.items()]
        container = self._container(element)
        if container:
            other.append(_attribute_item("container", container))

        lane_element = _bpmn(element, "lane")
        for child in _children(element):
            if _bpmn(child):
                local = _local(child.tag)
                if local in ("incoming", "outgoing", "laneSet", "childLaneSet"):
                    continue
                if lane_element and local == "flowNodeRef":
                    continue
                if self.compared.get(child.get("id", "")) is child:
                    continue  # content of a sub-process, compared on its own
                if local == "documentation":
                    documentation.append(_text(child))
                elif local == "conditionExpression":
                    conditions.append(_condition(child))
                elif local == "timerEventDefinition":
                    timers.extend(_timer(child))
                elif local in RESOURCE_ROLES:
                    assignment.append(_show(_canon(child)))
                elif local == "extensionElements":
                    for extension in _children(child):
                        if _camunda(extension, "formData"):
                            form.extend(_form_data(extension))
                        elif _camunda(extension, "properties"):
                            properties.append(extension)
                        else:
                            other.append(_canon(extension))
                else:
                    other.append(_canon(child))
            else:
                other.append(_canon(child))

        aspects["condition"] = _aspect(conditions)
        aspects["assignment"] = _aspect(assignment)
        aspects["form"] = _aspect(form)
        aspects["properties"] = _aspect([_properties(properties)])
        aspects["timer"] = _aspect(timers)
        aspects["documentation"] = _aspect(documentation, "\n")
        return aspects, tuple(other)


def _compare(before: _Version, after: _Version, key: str) -> tuple[Detail, ...]:
    """Return one detail per aspect of the element that differs, in CATEGORIES order."""
    old_aspects, old_other = before.signature(key)
    new_aspects, new_other = after.signature(key)
    details: list[Detail] = []
    for what in CATEGORIES:
        if what == "other":
            old_items, new_items = Counter(old_other), Counter(new_other)
            if old_items != new_items:
                gone = sorted(_show(item) for item in (old_items - new_items).elements())
                came = sorted(_show(item) for item in (new_items - old_items).elements())
                details.append(Detail(what, "; ".join(gone), "; ".join(came)))
            continue
        old, new = old_aspects.get(what, _ABSENT), new_aspects.get(what, _ABSENT)
        if old.key != new.key:
            details.append(Detail(what, old.text, new.text))
    return tuple(details)


def _rank(kind: str) -> int:
    if kind in FLOW_NODES:
        return 0
    if kind in FLOWS:
        return 1
    if kind == "lane":
        return 2
    if kind == "participant":
        return 3
    return 4


def _change(version: _Version, key: str, details: tuple[Detail, ...] = ()) -> ElementChange:
    element = version.compared[key]
    return ElementChange(key, _local(element.tag), _name(element.get("name")), details)


def _sorted(changes: Iterable[ElementChange]) -> tuple[ElementChange, ...]:
    return tuple(sorted(changes, key=lambda change: (_rank(change.kind), change.id)))


def diff_diagrams(
    old: bytes, new: bytes, *, old_name: str = "old.bpmn", new_name: str = "new.bpmn"
) -> DiagramDiff:
    """Compare two versions of a diagram; raise DiagramError if either cannot be parsed."""
    before = _Version(parse_bpmn(old, old_name))
    after = _Version(parse_bpmn(new, new_name))
    added = [_change(after, key) for key in after.compared if key not in before.compared]
    removed = [_change(before, key) for key in before.compared if key not in after.compared]
    changed = []
    for key in after.compared:
        if key in before.compared:
            details = _compare(before, after, key)
            if details:
                changed.append(_change(after, key, details))
    return DiagramDiff(_sorted(added), _sorted(removed), _sorted(changed))
