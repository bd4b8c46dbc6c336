"""A hypothesis strategy that builds BPMN 2.0 diagrams for the planning-permit item's posts.

Diagrams are random combinations of user tasks (outcomes approve / return / reject, some of
them decision stages), exclusive gateways on `outcome` or on the application form (with a
default flow), parallel split and join, return paths that loop back to an earlier task,
intermediate and boundary timers, script tasks and end events stating a result. Some
diagrams are hostile on purpose: script-only loops, end events without a result or with a
bogus one, a parallel join that can never fire, an exclusive gateway with no condition that
holds and no default, scripts and conditions that raise, timers out of range, tasks that
name no post. `Generated.hostile` lists what was made hostile, so a test can tell.

The process id is the planning-permit item's, so a diagram deploys to that item (or to a
copy of it); user tasks go to the posts of bpmn/centre.toml through a lane named after the
post, `camunda:candidateGroups` with the post's code, or both.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from xml.sax.saxutils import escape, quoteattr

from hypothesis import strategies as st

from tests.apiclient import POSTS

PROCESS_ID = "Process_planning_permit"
PLANNING_POSTS = (
    "window_planning", "planning_lead", "planning_deputy", "planning_collective", "planning_head"
)  # fmt: skip
STAGE_OF = {
    "window_planning": "issue", "planning_lead": "lead", "planning_deputy": "deputy",
    "planning_collective": "collective", "planning_head": "head",
}  # fmt: skip
OUTCOME_SETS = ("approve", "approve,reject", "approve,return", "approve,return,reject")
TIME_LIMITS = ("1d", "2d", "4h")
RESULTS = ("approved", "denied")

GOOD_TIMERS = (
    ("timeDuration", '"PT1H"'), ("timeDuration", '"P1D"'), ("timeDuration", '"PT30M"'),
    ("timeDuration", '"PT2H"'),
)  # fmt: skip
HOSTILE_TIMERS = (
    ("timeDuration", '"PT1S"'),  # below the minimum
    ("timeDuration", '"-P1D"'),  # negative
    ("timeDuration", '"P9999Y"'),  # beyond the horizon
    ("timeDuration", "PT1H"),  # unquoted: read as an expression
    ("timeDuration", '"soon"'),  # not a duration
    ("timeDuration", "floor_area"),  # a number at run time, not a duration
    ("timeDuration", "project_name"),  # text at run time, not a duration
    ("timeCycle", '"R/PT1S"'),  # an endless cycle every second
    ("timeDuration", '""'),
)  # fmt: skip
GOOD_SCRIPTS = (
    "x = 1", "checked = True", "total = floor_area * 2", "label = project_name + '审查'",
    "large = floor_area > 20000",
)  # fmt: skip
COUNTER = "rounds = rounds + 1"
HOSTILE_SCRIPTS = (
    "x = 1 / 0", "x = missing_value + 1", "x = [1][5]", "x = 9 ** 9 ** 9",
    "x = __import__('os').system('id')", "x = 'a' * 10 ** 9", "import os", "x = int('abc')",
    "x = {}['k']", COUNTER,  # a counter nobody set first
)  # fmt: skip
GOOD_CONDITIONS = ("floor_area > 20000", 'land_use == "居住"', "floor_area <= 5000")
HOSTILE_CONDITIONS = ("missing_flag == True", "floor_area > ", "floor_area / 0 > 1",
                      "open('/etc/passwd')")  # fmt: skip
HOSTILE_RESULTS = (None, "bogus", "", "Approved")
HOSTILE_ASSIGNMENTS = ("unknown-post", "unassigned")
# the kinds lint lets through (they fault at run time, if a case gets there) come twice
HOSTILE_KINDS = (
    "assignment", "timer", "end-result", "script-loop",
    "script", "condition", "unmatched-gateway", "join-never-fires", "end-in-branch",
    "script", "condition", "unmatched-gateway", "join-never-fires", "end-in-branch",
)  # fmt: skip

Exit = tuple[str, str | None, bool]  # (source node, condition of the flow, is the default flow)


@dataclass
class Generated:
    """A generated diagram with what a test needs to know about it."""

    xml: str
    ends: dict[str, str | None]  # end event id -> its result property (None: none)
    posts: dict[str, str]  # user task id -> post code
    hostile: list[str] = field(default_factory=list)  # what was made hostile on purpose
    features: set[str] = field(default_factory=set)


class _Builder:
    """Collect the nodes and flows of one process, then write it as BPMN XML."""

    def __init__(self, draw, hostile: bool) -> None:
        self.draw = draw
        self.count = 0
        self.nodes: list[tuple[str, str, dict, str]] = []  # (tag, id, attributes, body)
        self.flows: list[tuple[str, str, str, str | None]] = []
        self.defaults: dict[str, str] = {}
        self.lanes: dict[str, list[str]] = defaultdict(list)
        self.ends: dict[str, str | None] = {}
        self.posts: dict[str, str] = {}
        self.hostile: list[str] = []
        self.features: set[str] = set()
        self.counter_ready = False
        self.branches = 0  # how many parallel branches the node being added is inside
        # the one way a hostile diagram is hostile, at most `budget` times
        self.kind = draw(st.sampled_from(HOSTILE_KINDS)) if hostile else None
        self.budget = draw(st.integers(1, 2))

    def new_id(self, prefix: str) -> str:
        """Return a new element id."""
        self.count += 1
        return f"{prefix}_{self.count}"

    def spend(self, kind: str, odds: int = 2) -> bool:
        """Return whether to make this choice hostile: only of the diagram's kind of hostility,
        one time in `odds`, at most `budget` times."""
        if kind != self.kind or self.budget <= 0 or self.draw(st.integers(0, odds - 1)) != 0:
            return False
        self.budget -= 1
        return True

    def pick(self, good, bad, label: str, kind: str):
        """Draw a good value, or sometimes a bad one when the diagram is hostile that way."""
        if self.spend(kind):
            value = self.draw(st.sampled_from(bad))
            self.hostile.append(f"{label}: {value!r}")
            return value
        return self.draw(st.sampled_from(good))

    def add(self, tag: str, prefix: str, body: str = "", **attributes: str) -> str:
        """Add a flow node with a new id; return the id."""
        node_id = self.new_id(prefix)
        self.nodes.append((tag, node_id, attributes, body))
        return node_id

    def connect(self, exits: list[Exit], target: str) -> None:
        """Draw a sequence flow from every exit to `target` (conditions, default flags kept)."""
        for source, condition, is_default in exits:
            flow_id = self.new_id("Flow")
            self.flows.append((flow_id, source, target, condition))
            if is_default:
                self.defaults[source] = flow_id

    def end(self, result: str | None, name: str) -> str:
        """Add an end event with this result property (None: no property); return its id."""
        body = "" if result is None else _properties({"result": result})
        end_id = self.add("endEvent", "End", body, name=name)
        self.ends[end_id] = result
        return end_id

    def result_end(self, result: str, name: str) -> str:
        """Add an end event stating `result` (or, when hostile that way, a bad one or none)."""
        return self.end(self.pick((result,), HOSTILE_RESULTS, "end result", "end-result"), name)

    def xml(self) -> str:
        """Write the process as BPMN XML, one element per line (findings name real lines)."""
        lines = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
            'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="Definitions_generated" '
            'targetNamespace="https://onewindow.example/bpmn/generated">',
            f'  <bpmn:process id="{PROCESS_ID}" name="生成的流程" isExecutable="true">',
        ]
        if self.lanes:
            lines.append('    <bpmn:laneSet id="LaneSet_generated">')
            for number, (post, refs) in enumerate(sorted(self.lanes.items()), start=1):
                lines.append(f'      <bpmn:lane id="Lane_{number}" name={quoteattr(post)}>')
                lines += [f"        <bpmn:flowNodeRef>{ref}</bpmn:flowNodeRef>" for ref in refs]
                lines.append("      </bpmn:lane>")
            lines.append("    </bpmn:laneSet>")
        for tag, node_id, attributes, body in self.nodes:
            if node_id in self.defaults:
                attributes = {**attributes, "default": self.defaults[node_id]}
            attrs = "".join(f" {k}={quoteattr(v)}" for k, v in attributes.items())
            if body:
                lines.append(f'    <bpmn:{tag} id="{node_id}"{attrs}>\n{body}    </bpmn:{tag}>')
            else:
                lines.append(f'    <bpmn:{tag} id="{node_id}"{attrs}/>')
        for flow_id, source, target, condition in self.flows:
            head = (
                f'    <bpmn:sequenceFlow id="{flow_id}" sourceRef="{source}" targetRef="{target}"'
            )
            if condition is None:
                lines.append(head + "/>")
            else:
                lines.append(
                    head + '>\n      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">'
                    f"{escape(condition)}</bpmn:conditionExpression>\n    </bpmn:sequenceFlow>"
                )
        lines += ["  </bpmn:process>", "</bpmn:definitions>", ""]
        return "\n".join(lines)


def _properties(values: dict[str, str]) -> str:
    """Return camunda:properties inside extensionElements."""
    props = "".join(
        f"        <camunda:property name={quoteattr(k)} value={quoteattr(v)}/>\n"
        for k, v in values.items()
    )
    return (
        "      <bpmn:extensionElements>\n        <camunda:properties>\n"
        f"{props}        </camunda:properties>\n      </bpmn:extensionElements>\n"
    )


def _timer_body(kind: str, text: str) -> str:
    """Return a timerEventDefinition holding a timeDuration, timeDate or timeCycle."""
    return (
        f"      <bpmn:timerEventDefinition>\n        <bpmn:{kind}>{escape(text)}</bpmn:{kind}>\n"
        "      </bpmn:timerEventDefinition>\n"
    )


def _user_task(
    b: _Builder, exits: list[Exit], targets: list[str], *, stage: str | None = None,
    post: str | None = None, outcomes: str | None = None, outcome_vars: list[str] | None = None,
) -> tuple[str, list[Exit]]:  # fmt: skip
    """Add a user task (with its boundary timer and outcome gateway); return it and its exits."""
    draw = b.draw
    post = post or draw(st.sampled_from(PLANNING_POSTS))
    outcomes = outcomes or draw(st.sampled_from(OUTCOME_SETS))
    task_id = b.new_id("Task")
    props = {"stage": stage or STAGE_OF[post], "timeLimit": draw(st.sampled_from(TIME_LIMITS)),
             "outcomes": outcomes}  # fmt: skip
    if stage is None and post != "window_planning" and draw(st.booleans()):
        props["decision"] = "true"
    boundary = draw(st.sampled_from(("none", "none", "escalate", "interrupt")))
    if outcome_vars is not None and not (boundary == "interrupt" and stage is None):
        # an interrupted task sets no outcome: only the others are read after the join
        props["outcomeVar"] = f"{task_id}_outcome"
        outcome_vars.append(props["outcomeVar"])
    assignment = b.pick(("group", "lane", "both"), HOSTILE_ASSIGNMENTS, "assignment", "assignment")
    attributes = {"name": f"{POSTS[post]['name']} {task_id}"}
    if assignment in ("group", "both"):
        attributes["camunda:candidateGroups"] = post
    elif assignment == "unknown-post":
        attributes["camunda:candidateGroups"] = "no_such_post"
    if assignment in ("lane", "both"):
        b.lanes[POSTS[post]["name"]].append(task_id)
    b.nodes.append(("userTask", task_id, attributes, _properties(props)))
    b.posts[task_id] = post
    b.connect(exits, task_id)
    targets.append(task_id)
    out: list[Exit] = []
    if boundary != "none" and stage is None:
        b.features.add(f"boundary-{boundary}")
        kind, text = b.pick(GOOD_TIMERS, HOSTILE_TIMERS, "boundary timer", "timer")
        body = _timer_body(kind, text)
        if boundary == "escalate":
            body = _properties({"escalate": "leader"}) + body
        event = b.add("boundaryEvent", "Boundary", body, attachedToRef=task_id,
                      cancelActivity="false" if boundary == "escalate" else "true")  # fmt: skip
        if boundary == "interrupt":
            _, urge_exits = _user_task(b, [(event, None, False)], [], post="planning_head",
                                       outcomes="approve,reject")  # fmt: skip
            # an end event inside a parallel branch leaves its join waiting for ever
            to_end = b.spend("end-in-branch", 2) if b.branches else draw(st.booleans())
            if to_end:
                if b.branches:
                    b.hostile.append("an end event inside a parallel branch")
                b.connect(urge_exits, b.result_end("denied", "超期不予许可"))
            else:
                out += urge_exits  # back on the main path
    choices = outcomes.split(",")
    if len(choices) == 1 or not draw(st.booleans()):
        return task_id, out + [(task_id, None, False)]
    gateway = b.add("exclusiveGateway", "Gateway", name="审查意见")
    b.connect([(task_id, None, False)], gateway)
    b.features.add("outcome-gateway")
    if b.spend("unmatched-gateway"):  # only approve has a flow, and it is not the default
        b.hostile.append(f"gateway {gateway}: no default, not every outcome has a flow")
        return task_id, out + [(gateway, 'outcome == "approve"', False)]
    if "reject" in choices and (not b.branches or b.spend("end-in-branch", 2)):
        if b.branches:
            b.hostile.append("an end event inside a parallel branch")
        end = b.result_end("denied", "不予许可")
        b.connect([(gateway, 'outcome == "reject"', False)], end)
    if "return" in choices and targets:
        b.connect([(gateway, 'outcome == "return"', False)], draw(st.sampled_from(targets)))
        b.features.add("return-loop")
    return task_id, out + [(gateway, None, True)]


def _script(b: _Builder, exits: list[Exit], text: str | None = None) -> list[Exit]:
    """Add a script task (drawn unless given)."""
    good = GOOD_SCRIPTS + ((COUNTER,) if b.counter_ready else ())
    text = text or b.pick(good, HOSTILE_SCRIPTS, "script", "script")
    body = f"      <bpmn:script>{escape(text)}</bpmn:script>\n"
    task = b.add("scriptTask", "Script", body, name="计算", scriptFormat="python")
    b.connect(exits, task)
    b.features.add("script")
    return [(task, None, False)]


def _timer(b: _Builder, exits: list[Exit]) -> list[Exit]:
    """Add an intermediate timer catch event."""
    kind, text = b.pick(GOOD_TIMERS, HOSTILE_TIMERS, "timer", "timer")
    event = b.add("intermediateCatchEvent", "Timer", _timer_body(kind, text), name="等待期")
    b.connect(exits, event)
    b.features.add("timer")
    return [(event, None, False)]


def _merge(b: _Builder, exits: list[Exit]) -> list[Exit]:
    """Merge several exits through an exclusive gateway (one exit is left as it is)."""
    if len(exits) == 1:
        return exits
    merge = b.add("exclusiveGateway", "Gateway", name="汇合")
    b.connect(exits, merge)
    return [(merge, None, False)]


def _parallel(b: _Builder, exits: list[Exit], depth: int) -> list[Exit]:
    """Add a parallel split, two or three branches and their join (then maybe a denial)."""
    exits = _merge(b, exits)  # a parallel gateway with two incoming flows would wait for both
    split = b.add("parallelGateway", "Gateway", name="并联审批")
    b.connect(exits, split)
    b.features.add("parallel")
    joined: list[Exit] = []
    outcome_vars: list[str] = []
    for _ in range(b.draw(st.integers(2, 3))):
        b.branches += 1
        branch = _sequence(b, [(split, None, False)], depth + 1, [], outcome_vars, 2)
        b.branches -= 1
        if len(branch) > 1 and b.spend("join-never-fires", 2):
            b.hostile.append("a branch enters the parallel join twice (join never fires)")
        else:
            branch = _merge(b, branch)
        joined += branch
    join = b.add("parallelGateway", "Gateway", name="并联汇合")
    b.connect(joined, join)
    if not outcome_vars or not b.draw(st.booleans()):
        return [(join, None, False)]
    if b.branches and not b.spend("end-in-branch", 1):
        return [(join, None, False)]  # a denial inside an outer branch: only when hostile
    if b.branches:
        b.hostile.append("an end event inside a parallel branch")
    gateway = b.add("exclusiveGateway", "Gateway", name="并联意见")
    b.connect([(join, None, False)], gateway)
    condition = f'"reject" in ({", ".join(outcome_vars)},)'
    end = b.result_end("denied", "并联不予许可")
    b.connect([(gateway, condition, False)], end)
    return [(gateway, None, True)]


def _choice(b: _Builder, exits: list[Exit], depth: int, targets: list[str]) -> list[Exit]:
    """Add an exclusive choice on the application form, its two paths and their merge."""
    gateway = b.add("exclusiveGateway", "Gateway", name="是否")
    b.connect(exits, gateway)
    b.features.add("choice")
    condition = b.pick(GOOD_CONDITIONS, HOSTILE_CONDITIONS, "condition", "condition")
    first = _sequence(b, [(gateway, condition, False)], depth + 1, list(targets), None, 2)
    if b.spend("unmatched-gateway"):
        b.hostile.append(f"gateway {gateway}: no default and no condition holds")
        other: Exit = (gateway, "floor_area < 0", False)
    else:
        other = (gateway, None, True)
    second = (
        _sequence(b, [other], depth + 1, list(targets), None, 2)
        if b.draw(st.booleans())
        else [other]
    )
    if b.spend("join-never-fires"):
        b.hostile.append("both paths of an exclusive choice meet at a parallel join")
        join = b.add("parallelGateway", "Gateway", name="错误的汇合")
        b.connect(_merge(b, first) + _merge(b, second), join)
        return [(join, None, False)]
    return _merge(b, first + second)


def _script_loop(b: _Builder, exits: list[Exit]) -> list[Exit]:
    """Add a loop of script tasks that never waits (hostile: lint must refuse it)."""
    b.hostile.append("a loop of scripts only")
    start = _script(b, exits, "spins = 0")
    spin = _script(b, start, "spins = spins + 1")
    gateway = b.add("exclusiveGateway", "Gateway", name="再来")
    b.connect(spin, gateway)
    b.connect([(gateway, "spins < 100000", False)], spin[0][0])
    return [(gateway, None, True)]


def _sequence(
    b: _Builder, exits: list[Exit], depth: int, targets: list[str],
    outcome_vars: list[str] | None, most: int,
) -> list[Exit]:  # fmt: skip
    """Add one to `most` blocks in a row; return the open exits of the last."""
    kinds = ["user", "user", "user", "script", "timer"]
    if depth < 2:
        kinds += ["parallel", "choice"]
    if b.kind == "script-loop":
        kinds.append("script-loop")
    for position in range(b.draw(st.integers(1, most))):
        kind = b.draw(st.sampled_from(kinds))
        if kind == "script-loop" and not b.spend("script-loop", 1):
            kind = "script"
        if kind == "user":
            # only a task every path of the branch passes sets a variable the join may read
            top = outcome_vars if position == 0 else None
            exits = _user_task(b, exits, targets, outcome_vars=top)[1]
        elif kind == "script":
            exits = _script(b, exits)
        elif kind == "timer":
            exits = _timer(b, exits)
        elif kind == "parallel":
            exits = _parallel(b, exits, depth)
        elif kind == "choice":
            exits = _choice(b, exits, depth, targets)
        else:
            exits = _script_loop(b, exits)
    return exits


@st.composite
def diagrams(draw) -> Generated:
    """Draw a diagram for the planning-permit item; two in three may be hostile on purpose."""
    b = _Builder(draw, hostile=draw(st.integers(0, 2)) > 0)
    start = b.add("startEvent", "Start", name="收到申请")
    exits: list[Exit] = [(start, None, False)]
    targets: list[str] = []
    if draw(st.booleans()):
        _, exits = _user_task(b, exits, [], stage="acceptance", post="window_planning",
                              outcomes="approve")  # fmt: skip
        b.features.add("acceptance")
    if draw(st.booleans()):
        exits = _script(b, exits, "rounds = 0")
        b.counter_ready = True
    exits = _sequence(b, exits, 0, targets, None, 4)
    b.connect(exits, b.result_end("approved", "准予许可"))
    return Generated(b.xml(), b.ends, b.posts, b.hostile, b.features)
