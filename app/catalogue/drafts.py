"""Analysts' drafts: save a diagram with its validation report, deploy it as a new version.

The report is the loader's (XSD, then lint) plus what only the centre knows: lanes and
candidate groups must name existing posts, and the stage limits along the longest path
should fit in the item's promised limit. Errors block deployment; warnings do not. Every
finding names the element (and line), so the modeler can select it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext as _
from lxml import etree
from sqlalchemy.orm import Mapped, mapped_column

from workflows.errors import DiagramError, Finding
from workflows.juel import CODES as JUEL_CODES
from workflows.juel import Rewritten, diagram_bytes, rewrite_diagram
from workflows.lint import describe, lint, properties
from workflows.loader import BPMN_NS, diagram_text, parse_bpmn, validate_xsd

from ..cases.intake import signer_lists
from ..db import Base, session, transactional, utcnow
from ..errors import Forbidden, InvalidInput, NotFound
from ..org.models import Post, User
from .models import DiagramVersion, Item
from .services import deploy_version, require_item

log = logging.getLogger("onewindow.analysts")
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
HOURS_PER_DAY = 8


class UnreadableDiagram(InvalidInput):
    """Diagram bytes that are not in the encoding they declare; nothing is stored."""


class DiagramDraft(Base):
    """The draft an analyst is editing for an item (one per item), not yet deployed."""

    __tablename__ = "diagram_drafts"

    item_id: Mapped[int] = mapped_column(sa.ForeignKey("items.id"), primary_key=True)
    content: Mapped[str] = mapped_column(sa.Text)
    based_on_version: Mapped[int | None]
    saved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    saved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # the last report (of a save or a refused deployment), shown again on reopening:
    # {"action": "save"|"deploy", "at": ISO UTC, "findings": [{severity, code, element_id,
    # line}]}; no message text, which is worded again in the reader's language
    report: Mapped[dict | None] = mapped_column(sa.JSON)


def _require_analyst(actor: User) -> None:
    if not actor.has_role("analyst"):
        raise Forbidden(_("only process analysts edit and deploy diagrams"))


def _limit_days(element) -> float:
    text = properties(element).get("timeLimit", "").strip()
    if len(text) < 2 or text[-1] not in "dh":
        return 0.0
    try:
        value = float(text[:-1])
    except ValueError:
        return 0.0
    return value if text[-1] == "d" else value / HOURS_PER_DAY


def _longest_limits(tree: etree._ElementTree, starts: list[str]) -> float:
    """Return the longest path of stage limits (working days) through the flows from the
    start events; loops are cut."""
    ns = {"bpmn": BPMN_NS}
    nodes = {el.get("id"): el for el in tree.iter() if el.get("id")}
    outgoing: dict[str, list[str]] = {}
    for flow in tree.iterfind(".//bpmn:sequenceFlow", ns):
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    best: dict[str, float] = {}

    def longest(start: str) -> float:
        """Depth-first without recursion: an uploaded chain may be thousands of tasks long."""
        on_path = {start}
        stack: list[tuple[str, Iterator[str], list[float]]] = []
        if start not in best:
            stack.append((start, iter(outgoing.get(start, [])), []))
        while stack:
            node_id, successors, after = stack[-1]
            for successor in successors:
                if successor in on_path:
                    continue  # a loop: cut
                if successor in best:
                    after.append(best[successor])
                    continue
                on_path.add(successor)
                stack.append((successor, iter(outgoing.get(successor, [])), []))
                break
            else:
                stack.pop()
                on_path.discard(node_id)
                own = _limit_days(nodes[node_id]) if node_id in nodes else 0.0
                best[node_id] = own + max(after, default=0.0)
                if stack:
                    stack[-1][2].append(best[node_id])
        return best[start]

    return max((longest(s) for s in starts), default=0.0)


def centre_findings(tree: etree._ElementTree, item: Item, filename: str) -> list[Finding]:
    """Check the diagram against the centre: existing posts, limits within the promise."""
    findings: list[Finding] = []
    db = session()
    posts = {name for row in db.execute(sa.select(Post.code, Post.name)) for name in row}
    ns = {"bpmn": BPMN_NS}
    lane_of = {}
    for lane in tree.iterfind(".//bpmn:lane", ns):
        for ref in lane.iterfind("bpmn:flowNodeRef", ns):
            lane_of[(ref.text or "").strip()] = lane
    for task in tree.iterfind(".//bpmn:userTask", ns):
        group = task.get(f"{{{CAMUNDA_NS}}}candidateGroups")
        lane = lane_of.get(task.get("id"))
        name = (group or (lane.get("name") if lane is not None else "") or "").strip()
        if name and name not in posts:
            findings.append(Finding(
                "error", "unknown-post",
                _(
                    "%(element)s is assigned to '%(name)s', which is no post of this centre "
                    "(use a post's code or name)",
                    element=describe(task),
                    name=name,
                ),
                task.get("id"), task.sourceline, filename,
            ))  # fmt: skip
    starts = [el.get("id") for el in tree.iterfind(".//bpmn:process/bpmn:startEvent", ns)]
    total = _longest_limits(tree, starts)
    # the longest promise this item makes (its rules may promise more for large cases)
    rules = [int(r.get("days", 0)) for r in item.entry.get("promised_rules", [])]
    promised = max([item.promised_days, *rules]) if item.kind != "immediate" else 1
    if total > promised:
        findings.append(Finding(
            "warning", "limits-exceed-promise",
            _(
                "the stage limits along the longest path add up to %(total)s working days, more "
                "than the %(promised)s days this item promises",
                total=format(total, 'g'),
                promised=promised,
            ),
            starts[0] if starts else None, None, filename,
        ))  # fmt: skip
    return findings


def report(item: Item, content: bytes, filename: str) -> list[Finding]:
    """Return every finding for a diagram: parse, XSD, lint, centre checks."""
    try:
        tree = parse_bpmn(content, filename)
    except DiagramError as exc:
        return list(exc.findings) or [Finding("error", "parse", exc.summary, None, None, filename)]
    # a case starts with the fields of the item's application form and its signers lists
    inputs = [f["id"] for f in item.entry.get("form", []) if isinstance(f, dict) and f.get("id")]
    inputs += list(signer_lists(item))
    found = validate_xsd(tree, filename) + lint(tree, filename, inputs)
    return found + centre_findings(tree, item, filename)


@transactional
def save_draft(actor: User, code: str, content: bytes, based_on: int | None = None):
    """Store the analyst's draft (errors and all) and return it with its findings."""
    _require_analyst(actor)
    item = require_item(code)
    filename = f"{code}.bpmn"
    try:
        text = diagram_text(content, filename)
    except DiagramError as exc:
        raise UnreadableDiagram(
            f"the diagram cannot be read: {exc.findings[0].message}",
            findings=[f.as_dict() for f in exc.findings],
        ) from None
    findings = report(item, content, filename)
    db = session()
    draft = db.get(DiagramDraft, item.id) or DiagramDraft(item_id=item.id)
    draft.content, draft.based_on_version = text, based_on
    draft.saved_by_id, draft.saved_at = actor.id, utcnow()
    draft.report = _stored_report("save", [f.as_dict() for f in findings])
    db.add(draft)
    return draft, findings


STORED_KEYS = ("severity", "code", "element_id", "line")


def _stored_report(action: str, findings: list[dict]) -> dict:
    kept = [{k: f.get(k) for k in STORED_KEYS} for f in findings]
    return {"action": action, "at": utcnow().isoformat(), "findings": kept}


@transactional
def remember_refusal(code: str, findings: list[dict]) -> None:
    """Keep the findings that refused the draft's deployment as its last report (the
    refusal itself rolled back, so this is a transaction of its own)."""
    if not findings:
        return
    draft = draft_of(require_item(code))
    if draft is not None:
        draft.report = _stored_report("deploy", findings)


@dataclass(frozen=True)
class DraftReport:
    """The draft's findings (in the reader's language), how many JUEL/FEEL expressions can be
    rewritten, and the last report stored with the draft: what made it, when, how many
    errors and warnings it had."""

    findings: list[Finding]
    rewritable: int
    last: dict | None = None  # DiagramDraft.report; None for a draft saved before it was kept

    @property
    def action(self) -> str:
        return (self.last or {}).get("action", "save")

    @property
    def at(self) -> str | None:
        return (self.last or {}).get("at")

    @property
    def errors(self) -> int:
        return sum(1 for f in self._counted if f.get("severity") == "error")

    @property
    def warnings(self) -> int:
        return len(self._counted) - self.errors

    @property
    def _counted(self) -> list[dict]:
        if self.last is not None:
            return self.last.get("findings") or []
        return [f.as_dict() for f in self.findings]


def draft_of(item: Item) -> DiagramDraft | None:
    """Return the item's draft, or None when it has none."""
    return session().get(DiagramDraft, item.id)


def drafts_by_item() -> dict[int, DiagramDraft]:
    """Return every saved draft by the id of its item."""
    return {d.item_id: d for d in session().scalars(sa.select(DiagramDraft))}


def draft_report(code: str) -> DraftReport | None:
    """Return the report of an item's saved draft with its last stored report, or None when
    it has no draft."""
    item = require_item(code)
    draft = draft_of(item)
    if draft is None:
        return None
    findings = report(item, diagram_bytes(draft.content), f"{code}.bpmn")
    rewritable = 0
    if any(f.code in JUEL_CODES.values() for f in findings):
        try:
            rewritable = len(rewrite_diagram(draft.content).rewritten)
        except DiagramError:
            rewritable = 0
    return DraftReport(findings, rewritable, draft.report)


def apply_rewrites(actor: User, code: str) -> tuple[Rewritten, list[Finding]]:
    """Rewrite the draft's translatable JUEL/FEEL expressions and save it as the new draft.

    Everything else of the XML stays as it was, and the draft is saved through save_draft,
    with its report. Returns what was rewritten and the new draft's findings; when nothing
    can be rewritten the draft is left alone.
    """
    _require_analyst(actor)
    item = require_item(code)
    draft = draft_of(item)
    if draft is None:
        raise NotFound(_("this item has no draft"))
    try:
        rewritten = rewrite_diagram(draft.content)
    except DiagramError as exc:
        raise InvalidInput(exc.message, findings=[f.as_dict() for f in exc.findings]) from None
    if not rewritten.rewritten:
        return rewritten, []
    based_on = draft.based_on_version
    _saved, findings = save_draft(actor, code, diagram_bytes(rewritten.content), based_on)
    log.info("draft of %s: %d JUEL/FEEL expression(s) rewritten by %s", code,
             len(rewritten.rewritten), actor.username)  # fmt: skip
    return rewritten, findings


@transactional
def deploy_draft(actor: User, code: str, comment: str) -> DiagramVersion:
    """Deploy the item's draft as its newest version; refuse while it has errors."""
    _require_analyst(actor)
    item = require_item(code)
    db = session()
    draft = db.get(DiagramDraft, item.id)
    if draft is None:
        raise InvalidInput(_("there is no draft of this item to deploy; save one first"))
    if not (comment or "").strip():
        raise InvalidInput(_("say what changed (the comment is kept with the version)"))
    findings = report(item, draft.content.encode("utf-8"), f"{code}.bpmn")
    errors = [f for f in findings if f.severity == "error"]
    if errors:
        raise InvalidInput(_(
            "the draft has %(count)s error(s); fix them before deploying",
            count=len(errors),
        ),
                           findings=[f.as_dict() for f in findings])  # fmt: skip
    version = deploy_version(item, draft.content.encode("utf-8"), f"{code}.bpmn", actor,
                             comment.strip())  # fmt: skip
    db.delete(draft)
    log.info("item %s version %d deployed by %s", code, version.version, actor.username)
    return version


def versions(code: str) -> list[DiagramVersion]:
    """Return an item's deployed versions, newest first."""
    item = require_item(code)
    return list(session().scalars(
        sa.select(DiagramVersion).where(DiagramVersion.item_id == item.id)
        .order_by(DiagramVersion.version.desc())
    ))  # fmt: skip
