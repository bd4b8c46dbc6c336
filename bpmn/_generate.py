"""Generate the demo centre's BPMN diagrams (bpmn/<item>.bpmn) with full BPMN DI.

Each diagram is described below as lanes (one per post in centre.toml), nodes placed on
a grid (lane, column) and sequence flows. The script writes Camunda 7 flavoured BPMN 2.0
that follows docs/diagram-conventions.md, lays it out left to right with orthogonal edges,
and checks the layout (no overlapping shapes, no edge through a shape).

    python bpmn/_generate.py            # write the five diagrams
    python bpmn/_generate.py --check    # only check that the files on disk are current

The .bpmn files are the source of truth once an analyst edits them in a modeler; rerun
this script only to reset the demo diagrams.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

HERE = Path(__file__).resolve().parent

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"
CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NSMAP = {"bpmn": BPMN, "bpmndi": BPMNDI, "dc": DC, "di": DI, "camunda": CAMUNDA, "xsi": XSI}

# layout (pixels)
POOL_X, POOL_Y = 160, 80
POOL_LABEL = 30          # the pool's name strip
LANE_LABEL = 30          # each lane's name strip
FIRST_COL = POOL_X + POOL_LABEL + LANE_LABEL + 60
COL_WIDTH = 150
LANE_HEIGHT = 180
SIZES = {"task": (100, 80), "xor": (50, 50), "and": (50, 50), "start": (36, 36), "end": (36, 36)}


def q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


# --------------------------------------------------------------------------- model


@dataclass
class Field:
    id: str
    label: str
    type: str = "string"


@dataclass
class Node:
    id: str
    kind: str                    # start | end | task | xor | and
    name: str
    lane: str                    # post code
    col: float
    dy: float = 0                # offset from the lane's centre line
    # user tasks
    stage: str = ""
    time_limit: str = ""
    outcomes: str = "approve"
    decision: bool = False
    outcome_var: str = ""
    form_key: str = ""
    fields: list[Field] = field(default_factory=list)
    doc: str = ""
    # a non-interrupting boundary timer that moves the open task to its post's leader
    escalate_after: str = ""     # ISO 8601 duration, e.g. P5D
    # 会签: a multi-instance user task over a list the item names (collection, element
    # variable, completion condition); each signer's part is one instance
    signers: tuple[str, str, str] | None = None
    # end events
    result: str = ""


@dataclass
class Flow:
    id: str
    source: str
    target: str
    name: str = ""
    condition: str = ""
    default: bool = False
    # routing: "hv" = horizontal then vertical into the target's top/bottom,
    # "vh" = out of the source's top/bottom then horizontal; None = automatic.
    route: str | None = None
    # U-shaped route through a horizontal channel: (lane, "top"|"bottom", offset)
    channel: tuple[str, str, float] | None = None
    source_dx: float = 0
    target_dx: float = 0
    label_on_channel: bool = False   # put the name on the channel, not at the exit


@dataclass
class Diagram:
    code: str
    name: str
    lanes: list[str]             # post codes, top to bottom
    nodes: list[Node]
    flows: list[Flow]
    lane_heights: dict[str, float] = field(default_factory=dict)
    doc: str = ""

    @property
    def process_id(self) -> str:
        return "Process_" + self.code.replace("-", "_")


def task(id, name, lane, col, stage, time_limit, outcomes="approve", **kw) -> Node:
    return Node(id, "task", name, lane, col, stage=stage, time_limit=time_limit,
                outcomes=outcomes, form_key=kw.pop("form_key", stage), **kw)


def opinion(id: str, label: str = "审核意见") -> Field:
    return Field(id, label, "string")


# --------------------------------------------------------------------------- diagrams

HOUSE_CANCELLATION = Diagram(
    code="house-cancellation",
    name="房屋注销登记",
    doc="即办件：窗口受理、登记审核、当场办结注销，承诺 1 个工作日内办结。",
    lanes=["window_housing", "housing_review"],
    nodes=[
        Node("Event_start", "start", "收到注销登记申请", "window_housing", 0),
        task("Task_accept", "受理", "window_housing", 1, "acceptance", "2h",
             doc="核对申请人身份、不动产权证书原件及注销原因证明材料，材料齐全的当场受理。"),
        task("Task_review", "登记审核", "housing_review", 2, "review", "4h",
             "approve,reject", decision=True, fields=[opinion("review_opinion")],
             doc="查验登记簿记载、抵押及查封情况；不符合注销条件的说明理由和法律依据。"),
        Node("Gateway_review", "xor", "审核结论", "housing_review", 3),
        Node("Event_denied", "end", "不予注销登记", "housing_review", 4, result="denied"),
        task("Task_issue", "办结注销", "window_housing", 4, "issue", "2h",
             doc="登簿注销、收回原权属证书，向申请人出具注销登记办结通知。"),
        Node("Event_approved", "end", "注销办结", "window_housing", 5, result="approved"),
    ],
    flows=[
        Flow("Flow_start", "Event_start", "Task_accept"),
        Flow("Flow_accepted", "Task_accept", "Task_review"),
        Flow("Flow_reviewed", "Task_review", "Gateway_review"),
        Flow("Flow_review_reject", "Gateway_review", "Event_denied", "不予注销",
             condition='outcome == "reject"'),
        Flow("Flow_review_approve", "Gateway_review", "Task_issue", "准予注销", default=True),
        Flow("Flow_issued", "Task_issue", "Event_approved"),
    ],
)

HOUSE_INITIAL = Diagram(
    code="house-initial",
    name="房屋所有权首次登记",
    doc="承诺件：发证 30 本以下 7 个工作日，30 本（含）以上需实地查勘，10 个工作日。",
    lanes=["window_housing", "survey_field", "housing_review", "housing_chief"],
    nodes=[
        Node("Event_start", "start", "收到首次登记申请", "window_housing", 0),
        task("Task_accept", "受理", "window_housing", 1, "acceptance", "4h",
             doc="核对权属来源、规划核实、竣工验收、测绘报告等材料，出具受理回执和承诺通知单。"),
        Node("Gateway_survey", "xor", "是否实地查勘", "window_housing", 2),
        task("Task_survey", "实地查勘", "survey_field", 3, "survey", "3d",
             "approve", decision=False,
             fields=[Field("survey_area", "实测建筑面积（平方米）", "long"),
                     opinion("survey_opinion", "查勘意见")],
             doc="发证 30 本（含）以上的项目，现场核对房屋坐落、幢号、层数与测绘成果是否一致。"),
        task("Task_review", "登记审核", "housing_review", 4, "review", "3d",
             fields=[opinion("review_opinion")], escalate_after="P5D",
             doc="审查权属来源、规划与竣工材料、测绘成果，提出初审意见报科长审核。"),
        task("Task_chief", "科长审核", "housing_chief", 5, "chief", "1d",
             "approve,return,reject", decision=True,
             fields=[opinion("chief_opinion", "科长审核意见")],
             doc="审核初审意见，决定准予登记、退回补充审核或不予登记。"),
        Node("Gateway_chief", "xor", "科长审核结论", "housing_chief", 6),
        Node("Event_denied", "end", "不予登记", "housing_chief", 7, result="denied"),
        task("Task_issue", "缮证发证", "window_housing", 7, "issue", "2d",
             fields=[Field("certificate_no", "不动产权证书号（起）", "string")],
             doc="登簿、缮制不动产权证书，通知申请人凭受理回执领取。"),
        Node("Event_approved", "end", "登记办结", "window_housing", 8, result="approved"),
    ],
    flows=[
        Flow("Flow_start", "Event_start", "Task_accept"),
        Flow("Flow_accepted", "Task_accept", "Gateway_survey"),
        Flow("Flow_need_survey", "Gateway_survey", "Task_survey", "30本及以上",
             condition="certificates >= 30", route="hv"),
        Flow("Flow_no_survey", "Gateway_survey", "Task_review", "30本以下", default=True),
        Flow("Flow_surveyed", "Task_survey", "Task_review", route="hv"),
        Flow("Flow_reviewed", "Task_review", "Task_chief"),
        Flow("Flow_chief_done", "Task_chief", "Gateway_chief"),
        Flow("Flow_chief_reject", "Gateway_chief", "Event_denied", "不予登记",
             condition='outcome == "reject"'),
        Flow("Flow_chief_return", "Gateway_chief", "Task_review", "退回审核",
             condition='outcome == "return" and certificates < 30',
             channel=("housing_chief", "bottom", 30)),
        Flow("Flow_chief_resurvey", "Gateway_chief", "Task_survey", "退回复核查勘",
             condition='outcome == "return" and certificates >= 30',
             channel=("housing_chief", "bottom", 12), label_on_channel=True),
        Flow("Flow_chief_approve", "Gateway_chief", "Task_issue", "准予登记", default=True),
        Flow("Flow_issued", "Task_issue", "Event_approved"),
    ],
)

PLANNING_PERMIT = Diagram(
    code="planning-permit",
    name="建设工程规划许可证核发",
    doc="承诺件：一般项目 12 个工作日；总建筑面积 2 万平方米以上的项目提交局务会集体研究，15 个工作日。",
    lanes=["window_planning", "planning_lead", "planning_deputy", "planning_collective",
           "planning_head"],
    nodes=[
        Node("Event_start", "start", "收到许可申请", "window_planning", 0),
        task("Task_accept", "受理", "window_planning", 1, "acceptance", "4h",
             doc="核对用地证明文件、设计方案等材料，出具受理回执和承诺通知单。"),
        task("Task_lead", "主办科室承办", "planning_lead", 2, "lead", "5d", "approve,reject",
             fields=[opinion("lead_opinion", "承办意见")],
             doc="对照控制性详细规划和规划条件审查设计方案，提出承办意见。"),
        Node("Gateway_lead", "xor", "承办意见", "planning_lead", 3),
        Node("Event_denied_lead", "end", "不予许可", "planning_lead", 4, result="denied"),
        task("Task_deputy", "分管领导审批", "planning_deputy", 4, "deputy", "2d",
             "approve,return,reject", decision=True,
             fields=[opinion("deputy_opinion", "审批意见")]),
        Node("Gateway_deputy", "xor", "分管领导意见", "planning_deputy", 5),
        Node("Event_denied_deputy", "end", "不予许可", "planning_deputy", 6, result="denied"),
        Node("Gateway_scale", "xor", "是否集体研究", "planning_collective", 6),
        task("Task_collective", "集体研究审批", "planning_collective", 7, "collective", "3d",
             "approve,return,reject", decision=True,
             fields=[Field("meeting_no", "局务会纪要编号", "string"),
                     opinion("collective_opinion", "集体研究意见")],
             signers=("collective_members", "signer",
                      "nrOfRejections > 0 or nrOfReturns > 0 "
                      "or nrOfCompletedInstances == nrOfInstances"),
             doc="总建筑面积超过 2 万平方米的项目，提交局务会集体研究：局领导逐一会签，"
                 "全体同意方为通过；任一领导不同意或退回，会签即结束，按其意见办理。"),
        Node("Gateway_collective", "xor", "集体研究结论", "planning_collective", 8),
        Node("Event_denied_collective", "end", "不予许可", "planning_collective", 9,
             result="denied"),
        task("Task_head", "一把手审批", "planning_head", 9, "head", "2d",
             "approve,return,reject", decision=True,
             fields=[opinion("head_opinion", "审批意见")]),
        Node("Gateway_head", "xor", "局长审批意见", "planning_head", 10),
        Node("Event_denied_head", "end", "不予许可", "planning_head", 11, result="denied"),
        task("Task_issue", "核发许可证", "window_planning", 11, "issue", "1d",
             fields=[Field("permit_no", "建设工程规划许可证编号", "string")],
             doc="制作并送达建设工程规划许可证及附图、附件。"),
        Node("Event_approved", "end", "准予许可", "window_planning", 12, result="approved"),
    ],
    flows=[
        Flow("Flow_start", "Event_start", "Task_accept"),
        Flow("Flow_accepted", "Task_accept", "Task_lead"),
        Flow("Flow_lead_done", "Task_lead", "Gateway_lead"),
        Flow("Flow_lead_reject", "Gateway_lead", "Event_denied_lead", "不予许可",
             condition='outcome == "reject"'),
        Flow("Flow_lead_approve", "Gateway_lead", "Task_deputy", "报分管领导", default=True),
        Flow("Flow_deputy_done", "Task_deputy", "Gateway_deputy"),
        Flow("Flow_deputy_reject", "Gateway_deputy", "Event_denied_deputy", "不予许可",
             condition='outcome == "reject"'),
        Flow("Flow_deputy_return", "Gateway_deputy", "Task_lead", "退回承办",
             condition='outcome == "return"', channel=("planning_lead", "bottom", 10),
             target_dx=-20),
        Flow("Flow_deputy_approve", "Gateway_deputy", "Gateway_scale", "同意", default=True),
        Flow("Flow_large", "Gateway_scale", "Task_collective", "2万㎡以上",
             condition="floor_area > 20000"),
        Flow("Flow_small", "Gateway_scale", "Task_head", "一般项目", default=True),
        Flow("Flow_collective_done", "Task_collective", "Gateway_collective"),
        Flow("Flow_collective_reject", "Gateway_collective", "Event_denied_collective",
             "不予许可", condition='outcome == "reject"'),
        Flow("Flow_collective_return", "Gateway_collective", "Task_lead", "退回承办",
             condition='outcome == "return"', channel=("planning_lead", "bottom", 28),
             target_dx=20),
        Flow("Flow_collective_approve", "Gateway_collective", "Task_head", "同意",
             default=True, channel=("planning_head", "top", 20)),
        Flow("Flow_head_done", "Task_head", "Gateway_head"),
        Flow("Flow_head_reject", "Gateway_head", "Event_denied_head", "不予许可",
             condition='outcome == "reject"'),
        Flow("Flow_head_return", "Gateway_head", "Task_deputy", "退回分管领导",
             condition='outcome == "return"', channel=("planning_head", "bottom", 20)),
        Flow("Flow_head_approve", "Gateway_head", "Task_issue", "同意", default=True),
        Flow("Flow_issued", "Task_issue", "Event_approved"),
    ],
)

_REVIEW_VARS = ("ndrc_outcome", "land_outcome", "construction_outcome", "env_outcome")

JOINT_INVESTMENT = Diagram(
    code="joint-investment",
    name="企业投资项目并联审批",
    doc="联办件：综合窗口一次受理，发改、自然资源、住建、生态环境四部门并联审批，"
        "任一部门不予许可即出具不予许可决定。",
    lanes=["window_centre", "ndrc_review", "land_review", "construction_review", "env_review"],
    lane_heights={"window_centre": 280},
    nodes=[
        Node("Event_start", "start", "收到并联审批申请", "window_centre", 0),
        task("Task_accept", "综合受理", "window_centre", 1, "acceptance", "1d",
             doc="一窗受理全部申报材料，分送各审批部门，出具受理回执和承诺通知单。"),
        Node("Gateway_fork", "and", "分送并联审批", "window_centre", 2),
        task("Task_ndrc", "项目核准", "ndrc_review", 3, "co_handling", "15d", "approve,reject",
             decision=True, outcome_var="ndrc_outcome",
             fields=[opinion("ndrc_opinion", "核准意见")]),
        task("Task_land", "用地预审", "land_review", 3, "co_handling", "12d", "approve,reject",
             decision=True, outcome_var="land_outcome",
             fields=[opinion("land_opinion", "预审意见")]),
        task("Task_construction", "建设审查", "construction_review", 3, "co_handling", "12d",
             "approve,reject", decision=True, outcome_var="construction_outcome",
             fields=[opinion("construction_opinion", "审查意见")]),
        task("Task_env", "环评审批", "env_review", 3, "co_handling", "15d", "approve,reject",
             decision=True, outcome_var="env_outcome",
             fields=[opinion("env_opinion", "环评审批意见")]),
        Node("Gateway_join", "and", "汇总审批意见", "window_centre", 4),
        Node("Gateway_result", "xor", "是否全部同意", "window_centre", 5),
        task("Task_issue", "联合审批决定/发证", "window_centre", 6, "issue", "2d", dy=-60,
             fields=[Field("approval_no", "核准批复文号", "string")],
             doc="汇总各部门批准文件，一次性送达申请人。"),
        Node("Event_approved", "end", "准予许可", "window_centre", 7, dy=-60, result="approved"),
        task("Task_denial", "出具不予许可决定", "window_centre", 6, "denial", "2d", dy=60,
             fields=[Field("denial_no", "不予许可决定书文号", "string")],
             doc="汇总不予许可部门的理由和法律依据，出具不予许可决定书，"
                 "告知申请人申请行政复议（60 日）或提起行政诉讼（6 个月）的权利。"),
        Node("Event_denied", "end", "不予许可", "window_centre", 7, dy=60, result="denied"),
    ],
    flows=[
        Flow("Flow_start", "Event_start", "Task_accept"),
        Flow("Flow_accepted", "Task_accept", "Gateway_fork"),
        Flow("Flow_to_ndrc", "Gateway_fork", "Task_ndrc"),
        Flow("Flow_to_land", "Gateway_fork", "Task_land"),
        Flow("Flow_to_construction", "Gateway_fork", "Task_construction"),
        Flow("Flow_to_env", "Gateway_fork", "Task_env"),
        Flow("Flow_ndrc_done", "Task_ndrc", "Gateway_join"),
        Flow("Flow_land_done", "Task_land", "Gateway_join"),
        Flow("Flow_construction_done", "Task_construction", "Gateway_join"),
        Flow("Flow_env_done", "Task_env", "Gateway_join"),
        Flow("Flow_joined", "Gateway_join", "Gateway_result"),
        Flow("Flow_any_reject", "Gateway_result", "Task_denial", "有部门不予许可",
             condition='"reject" in (' + ", ".join(_REVIEW_VARS) + ")"),
        Flow("Flow_all_approve", "Gateway_result", "Task_issue", "全部同意", default=True),
        Flow("Flow_issued", "Task_issue", "Event_approved"),
        Flow("Flow_denial_issued", "Task_denial", "Event_denied"),
    ],
)

# A licence already granted, changed, renewed, revoked or cancelled (Licensing Law arts. 49,
# 50, 69, 70): one diagram for the planning permit's four licence items; the application
# names the licence (licence_no), the registry applies the approval (app/licences).
LICENCE_MATTER = Diagram(
    code="planning-licence-matter",
    name="建设工程规划许可证延续、变更、撤销、注销",
    doc="承诺件：窗口受理、承办科室审查、分管领导审批决定；准予的，由登记簿记载许可证的延续、"
        "变更、撤销或注销。",
    lanes=["window_planning", "planning_lead", "planning_deputy"],
    nodes=[
        Node("Event_start", "start", "收到申请", "window_planning", 0),
        task("Task_accept", "受理", "window_planning", 1, "acceptance", "4h",
             doc="核对许可证号、持证人与申请材料，材料齐全的出具受理回执。"),
        task("Task_lead", "承办审查", "planning_lead", 2, "lead", "3d",
             fields=[opinion("lead_opinion", "审查意见")],
             doc="查验许可证登记簿记载、申请理由及其依据，提出审查意见。"),
        task("Task_deputy", "审批决定", "planning_deputy", 3, "deputy", "2d",
             "approve,reject", decision=True, fields=[opinion("deputy_opinion", "审批意见")],
             doc="决定准予或者不予；不予的，说明理由和法律依据。"),
        Node("Gateway_deputy", "xor", "审批结论", "planning_deputy", 4),
        Node("Event_denied", "end", "不予办理", "planning_deputy", 5, result="denied"),
        task("Task_issue", "送达决定", "window_planning", 5, "issue", "1d",
             doc="向申请人送达决定书；登记簿同时更新许可证状态。"),
        Node("Event_approved", "end", "办结", "window_planning", 6, result="approved"),
    ],
    flows=[
        Flow("Flow_start", "Event_start", "Task_accept"),
        Flow("Flow_accepted", "Task_accept", "Task_lead"),
        Flow("Flow_reviewed", "Task_lead", "Task_deputy"),
        Flow("Flow_decided", "Task_deputy", "Gateway_deputy"),
        Flow("Flow_reject", "Gateway_deputy", "Event_denied", "不予",
             condition='outcome == "reject"'),
        Flow("Flow_approve", "Gateway_deputy", "Task_issue", "准予", default=True),
        Flow("Flow_issued", "Task_issue", "Event_approved"),
    ],
)

DIAGRAMS = [HOUSE_CANCELLATION, HOUSE_INITIAL, PLANNING_PERMIT, JOINT_INVESTMENT,
            LICENCE_MATTER]


# --------------------------------------------------------------------------- layout


@dataclass
class Box:
    cx: float
    cy: float
    w: float
    h: float

    @property
    def left(self): return self.cx - self.w / 2
    @property
    def right(self): return self.cx + self.w / 2
    @property
    def top(self): return self.cy - self.h / 2
    @property
    def bottom(self): return self.cy + self.h / 2

    def dock(self, side: str, dx: float = 0) -> tuple[float, float]:
        return {
            "left": (self.left, self.cy),
            "right": (self.right, self.cy),
            "top": (self.cx + dx, self.top),
            "bottom": (self.cx + dx, self.bottom),
        }[side]


class Layout:
    def __init__(self, diagram: Diagram):
        self.d = diagram
        self.lane_top: dict[str, float] = {}
        self.lane_h: dict[str, float] = {}
        y = POOL_Y
        for lane in diagram.lanes:
            self.lane_top[lane] = y
            self.lane_h[lane] = diagram.lane_heights.get(lane, LANE_HEIGHT)
            y += self.lane_h[lane]
        self.height = y - POOL_Y
        last_col = max(n.col for n in diagram.nodes)
        self.width = FIRST_COL + last_col * COL_WIDTH + 110 - POOL_X
        self.boxes: dict[str, Box] = {}
        self.kinds: dict[str, str] = {}
        for n in diagram.nodes:
            w, h = SIZES[n.kind]
            cy = self.lane_top[n.lane] + self.lane_h[n.lane] / 2 + n.dy
            self.boxes[n.id] = Box(FIRST_COL + n.col * COL_WIDTH, cy, w, h)
            self.kinds[n.id] = n.kind

    def channel_y(self, channel: tuple[str, str, float]) -> float:
        lane, side, offset = channel
        if side == "top":
            return self.lane_top[lane] + offset
        return self.lane_top[lane] + self.lane_h[lane] - offset

    def route(self, f: Flow) -> list[tuple[float, float]]:
        s, t = self.boxes[f.source], self.boxes[f.target]
        s_gw = self.kinds[f.source] in ("xor", "and")
        t_gw = self.kinds[f.target] in ("xor", "and")
        if f.channel:
            ch = self.channel_y(f.channel)
            p0 = s.dock("top" if ch < s.cy else "bottom", f.source_dx)
            p3 = t.dock("top" if ch < t.cy else "bottom", f.target_dx)
            return [p0, (p0[0], ch), (p3[0], ch), p3]
        if abs(s.cy - t.cy) < 0.5:
            assert t.cx > s.cx, f"{f.id}: backward flow needs a channel"
            return [s.dock("right"), t.dock("left")]
        down = t.cy > s.cy
        mode = f.route or ("vh" if s_gw else "hv" if t_gw else "z")
        if mode == "vh":
            p0 = s.dock("bottom" if down else "top")
            return [p0, (p0[0], t.cy), t.dock("left")]
        if mode == "hv":
            p3 = t.dock("top" if down else "bottom")
            return [s.dock("right"), (p3[0], s.cy), p3]
        mx = (s.right + t.left) / 2
        return [s.dock("right"), (mx, s.cy), (mx, t.cy), t.dock("left")]


def check_layout(d: Diagram, lay: Layout) -> list[str]:
    """Overlapping shapes, shapes outside their lane, edges through shapes."""
    problems = []
    ids = list(lay.boxes)
    for i, a in enumerate(ids):
        A = lay.boxes[a]
        node = next(n for n in d.nodes if n.id == a)
        top, h = lay.lane_top[node.lane], lay.lane_h[node.lane]
        if A.top < top + 5 or A.bottom > top + h - 5:
            problems.append(f"{a} sticks out of lane {node.lane}")
        for b in ids[i + 1:]:
            B = lay.boxes[b]
            if A.left < B.right and B.left < A.right and A.top < B.bottom and B.top < A.bottom:
                problems.append(f"shapes {a} and {b} overlap")
    for f in d.flows:
        pts = lay.route(f)
        for (x1, y1), (x2, y2) in zip(pts, pts[1:]):
            if x1 != x2 and y1 != y2:
                problems.append(f"{f.id}: diagonal segment")
            for nid, B in lay.boxes.items():
                if nid in (f.source, f.target):
                    continue
                lo_x, hi_x = sorted((x1, x2))
                lo_y, hi_y = sorted((y1, y2))
                if lo_x < B.right and B.left < hi_x + 0.1 and lo_y < B.bottom and B.top < hi_y + 0.1:
                    problems.append(f"{f.id} runs through {nid}")
    return problems


# --------------------------------------------------------------------------- XML


def _text_width(text: str) -> float:
    return sum(12 if ord(ch) > 127 else 7 for ch in text) + 4


def build(d: Diagram, posts: dict[str, str]) -> etree._ElementTree:
    lay = Layout(d)
    slug = d.code.replace("-", "_")

    def E(ns: str, tag: str, parent=None, **attrs) -> etree._Element:
        if parent is None:
            return etree.Element(q(ns, tag), attrs, nsmap=NSMAP)
        return etree.SubElement(parent, q(ns, tag), attrs)

    defs = E(BPMN, "definitions", id=f"Definitions_{slug}",
             targetNamespace="https://onewindow.example/bpmn/demo-city",
             exporter="OneWindow demo generator", exporterVersion="1.0")
    collab = E(BPMN, "collaboration", defs, id=f"Collaboration_{slug}")
    E(BPMN, "participant", collab, id=f"Participant_{slug}", name=d.name,
      processRef=d.process_id)

    proc = E(BPMN, "process", defs, id=d.process_id, name=d.name, isExecutable="true")
    if d.doc:
        E(BPMN, "documentation", proc).text = d.doc
    lane_set = E(BPMN, "laneSet", proc, id=f"LaneSet_{slug}")
    for lane in d.lanes:
        lane_el = E(BPMN, "lane", lane_set, id=f"Lane_{lane}", name=posts[lane])
        for n in d.nodes:
            if n.lane == lane:
                E(BPMN, "flowNodeRef", lane_el).text = n.id
                if n.escalate_after:
                    E(BPMN, "flowNodeRef", lane_el).text = f"Timer_escalate_{n.id}"

    incoming = {n.id: [f.id for f in d.flows if f.target == n.id] for n in d.nodes}
    outgoing = {n.id: [f.id for f in d.flows if f.source == n.id] for n in d.nodes}
    tags = {"start": "startEvent", "end": "endEvent", "task": "userTask",
            "xor": "exclusiveGateway", "and": "parallelGateway"}
    for n in d.nodes:
        attrs = {"id": n.id, "name": n.name}
        if n.kind == "task":
            attrs[q(CAMUNDA, "formKey")] = n.form_key
            attrs[q(CAMUNDA, "candidateGroups")] = n.lane
        if n.kind == "xor":
            default = [f.id for f in d.flows if f.source == n.id and f.default]
            if default:
                attrs["default"] = default[0]
        el = E(BPMN, tags[n.kind], proc, **attrs)
        if n.doc:
            E(BPMN, "documentation", el).text = n.doc
        props: list[tuple[str, str]] = []
        if n.kind == "task":
            props = [("stage", n.stage), ("timeLimit", n.time_limit), ("outcomes", n.outcomes)]
            if n.outcome_var:
                props.append(("outcomeVar", n.outcome_var))
            if n.decision:
                props.append(("decision", "true"))
        elif n.kind == "end":
            props = [("result", n.result)]
        if props or n.fields:
            ext = E(BPMN, "extensionElements", el)
            if n.fields:
                form = E(CAMUNDA, "formData", ext)
                for fl in n.fields:
                    E(CAMUNDA, "formField", form, id=fl.id, label=fl.label, type=fl.type)
            if props:
                pe = E(CAMUNDA, "properties", ext)
                for name, value in props:
                    E(CAMUNDA, "property", pe, name=name, value=value)
        for fid in incoming[n.id]:
            E(BPMN, "incoming", el).text = fid
        for fid in outgoing[n.id]:
            E(BPMN, "outgoing", el).text = fid
        if n.signers:
            collection, element, condition = n.signers
            loop = E(BPMN, "multiInstanceLoopCharacteristics", el, isSequential="false")
            loop.set(q(CAMUNDA, "collection"), collection)
            loop.set(q(CAMUNDA, "elementVariable"), element)
            when = E(BPMN, "completionCondition", loop)
            when.set(q(XSI, "type"), "bpmn:tFormalExpression")
            when.text = condition
        if n.escalate_after:
            timer = E(BPMN, "boundaryEvent", proc, id=f"Timer_escalate_{n.id}",
                      name="超时升级至科长", attachedToRef=n.id, cancelActivity="false")
            E(BPMN, "documentation", timer).text = (
                "环节超过时限仍未办结时，任务不撤销，转由本岗位负责人（领导）督办处理。")
            pe = E(CAMUNDA, "properties", E(BPMN, "extensionElements", timer))
            E(CAMUNDA, "property", pe, name="escalate", value="leader")
            ted = E(BPMN, "timerEventDefinition", timer, id=f"TimerDef_escalate_{n.id}")
            E(BPMN, "timeDuration", ted).text = f'"{n.escalate_after}"'

    for f in d.flows:
        attrs = {"id": f.id, "sourceRef": f.source, "targetRef": f.target}
        if f.name:
            attrs["name"] = f.name
        el = E(BPMN, "sequenceFlow", proc, **attrs)
        if f.condition:
            cond = E(BPMN, "conditionExpression", el)
            cond.set(q(XSI, "type"), "bpmn:tFormalExpression")
            cond.text = f.condition

    # ------------------------------------------------------------------ DI
    diagram = E(BPMNDI, "BPMNDiagram", defs, id=f"BPMNDiagram_{slug}")
    plane = E(BPMNDI, "BPMNPlane", diagram, id=f"BPMNPlane_{slug}",
              bpmnElement=f"Collaboration_{slug}")

    def bounds(parent, x, y, w, h):
        E(DC, "Bounds", parent, x=_n(x), y=_n(y), width=_n(w), height=_n(h))

    shape = E(BPMNDI, "BPMNShape", plane, id=f"Participant_{slug}_di",
              bpmnElement=f"Participant_{slug}", isHorizontal="true")
    bounds(shape, POOL_X, POOL_Y, lay.width, lay.height)
    for lane in d.lanes:
        shape = E(BPMNDI, "BPMNShape", plane, id=f"Lane_{lane}_di",
                  bpmnElement=f"Lane_{lane}", isHorizontal="true")
        bounds(shape, POOL_X + POOL_LABEL, lay.lane_top[lane], lay.width - POOL_LABEL,
               lay.lane_h[lane])
    for n in d.nodes:
        b = lay.boxes[n.id]
        attrs = {"id": f"{n.id}_di", "bpmnElement": n.id}
        if n.kind == "xor":
            attrs["isMarkerVisible"] = "true"
        shape = E(BPMNDI, "BPMNShape", plane, **attrs)
        bounds(shape, b.left, b.top, b.w, b.h)
        if n.kind in ("start", "end"):
            label = E(BPMNDI, "BPMNLabel", shape)
            w = max(_text_width(n.name), 60)
            bounds(label, b.cx - w / 2, b.bottom + 6, w, 14)
        elif n.kind in ("xor", "and"):
            # upper left, between the gateway and the node before it
            label = E(BPMNDI, "BPMNLabel", shape)
            bounds(label, b.left - 72, b.top - 22, 70, 27)
        if n.escalate_after:  # on the task's lower edge, right side
            shape = E(BPMNDI, "BPMNShape", plane, id=f"Timer_escalate_{n.id}_di",
                      bpmnElement=f"Timer_escalate_{n.id}")
            bounds(shape, b.right - 46, b.bottom - 18, 36, 36)
            label = E(BPMNDI, "BPMNLabel", shape)
            bounds(label, b.right - 10, b.bottom + 4, 84, 14)
    for f in d.flows:
        edge = E(BPMNDI, "BPMNEdge", plane, id=f"{f.id}_di", bpmnElement=f.id)
        pts = lay.route(f)
        for x, y in pts:
            E(DI, "waypoint", edge, x=_n(x), y=_n(y))
        if f.name:
            (x1, y1), (x2, y2) = pts[0], pts[1]
            w = _text_width(f.name)
            if f.channel and f.label_on_channel:  # on the channel, next to the turn
                (cx1, ch), (cx2, _) = pts[1], pts[2]
                lx, ly = (cx1 - 6 - w if cx2 < cx1 else cx1 + 6), ch - 16
            elif x1 == x2:   # leaves vertically
                lx, ly = x1 + 4, (y1 + 4 if y2 > y1 else y1 - 18)
            else:
                lx, ly = x1 + 6, y1 - 18
            label = E(BPMNDI, "BPMNLabel", edge)
            bounds(label, lx, ly, w, 14)
    return etree.ElementTree(defs)


def _n(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:.1f}"


def render(d: Diagram, posts: dict[str, str]) -> bytes:
    tree = build(d, posts)
    return etree.tostring(tree, pretty_print=True, xml_declaration=True, encoding="UTF-8")


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    with open(HERE / "centre.toml", "rb") as fh:
        posts = {p["code"]: p["name"] for p in tomllib.load(fh)["posts"]}
    status = 0
    for d in DIAGRAMS:
        problems = check_layout(d, Layout(d))
        for p in problems:
            print(f"{d.code}: layout: {p}", file=sys.stderr)
            status = 1
        out = HERE / f"{d.code}.bpmn"
        data = render(d, posts)
        if check_only:
            if not out.exists() or out.read_bytes() != data:
                print(f"{out.name} is not what the generator produces", file=sys.stderr)
                status = 1
        else:
            out.write_bytes(data)
            print(f"wrote {out.relative_to(HERE.parent)}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
