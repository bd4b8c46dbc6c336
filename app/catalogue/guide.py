"""What the public sees: the catalogue and its search, the service guide, published results.

Nothing here writes, and nothing here reads personal data beyond an applicant's name, which
leaves this module masked (`public_name`). Search runs in Python over the whole catalogue (a
centre publishes tens to a few hundred items), so SQLite and PostgreSQL match alike:
substrings of text normalised by Unicode NFKC (full-width letters, digits, punctuation and
spaces become their half-width forms), case-folded, with all whitespace removed; every word
of the query must match.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from workflows.errors import OneWindowError
from workflows.render import render_svg

from ..cases import decisions
from ..cases.models import Case
from ..cases.status import CaseStatus
from ..db import session
from ..errors import Conflict
from ..org.models import Department
from .models import ITEM_KINDS, DiagramVersion, Item
from .services import every_item, latest_version

RESULTS_PER_PAGE = 50
FEED_ENTRIES = 50
# a licence is published once decided; a withdrawn or refused case never had a decision
PUBLISHED_STATUSES = (CaseStatus.DECIDED, CaseStatus.CLOSED)
# names of organisations, published in full as registers do; a person's name is masked
ORGANISATION_SUFFIXES = (
    "公司", "厂", "中心", "集团", "合作社", "事务所", "协会", "商会", "学会", "基金会",
    "研究院", "研究所", "设计院", "医院", "卫生院", "学校", "大学", "学院", "幼儿园", "银行",
    "委员会", "商行", "门市部", "经营部", "工作室", "农场", "林场", "酒店", "宾馆", "饭店",
    "超市", "有限合伙", "分行", "支行", "分公司", "办事处", "联合社",
)  # fmt: skip
_TRAILING_BRACKETS = re.compile(r"[(（][^()（）]*[)）]\s*$")
_NAME_SEPARATORS = re.compile(r"([、,，;；])")
_QUERY_SEPARATORS = re.compile(r"[\s,、;]+")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = {">=": "≥", "<=": "≤", "==": "=", "!=": "≠"}
_SVG_CACHE: OrderedDict[tuple[str, str | None, str], str | None] = OrderedDict()
_SVG_CACHE_SIZE = 64


# --- text matching -------------------------------------------------------------------------


def normalise(text: str) -> str:
    """Return text for matching: NFKC (full-width to half-width), case-folded, no whitespace."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return "".join(folded.split())


def query_words(query: str) -> list[str]:
    """Split a search into normalised words (whitespace, commas or 、 between them)."""
    spread = unicodedata.normalize("NFKC", query or "")
    return [w for w in (normalise(part) for part in _QUERY_SEPARATORS.split(spread)) if w]


def _texts(value) -> list[str]:
    """Return a catalogue field that may be a string or a list of strings as a list."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if str(v).strip()]
    return [str(value)] if str(value).strip() else []


# --- the catalogue -------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One item as the catalogue shows it, with its handling and publishing departments."""

    item: Item
    section: Department  # the department that handles it
    department: Department  # the top-level department that publishes it
    haystack: str  # normalised text the search looks in

    @property
    def fee(self) -> str:
        return str(self.item.entry.get("fee") or "")


@dataclass
class Group:
    """The listed items of one department."""

    department: Department
    items: list[Listed] = field(default_factory=list)


class Departments:
    """Every department, once per request, with its chain of parents."""

    def __init__(self) -> None:
        rows = session().scalars(sa.select(Department).order_by(Department.id))
        self.by_id = {d.id: d for d in rows}

    def chain(self, dept_id: int) -> list[Department]:
        """Return the department and its parents, nearest first."""
        out: list[Department] = []
        seen: set[int] = set()
        current = self.by_id.get(dept_id)
        while current is not None and current.id not in seen:
            out.append(current)
            seen.add(current.id)
            current = self.by_id.get(current.parent_id) if current.parent_id else None
        return out

    def top(self, dept_id: int) -> Department:
        """Return the top-level department above (or being) a department."""
        return self.chain(dept_id)[-1]


def _haystack(item: Item, chain: list[Department]) -> str:
    entry = item.entry or {}
    parts = [item.name, item.code, *(d.name for d in chain)]
    parts += _texts(entry.get("legal_basis")) + _texts(entry.get("procedure_basis"))
    parts += _texts(entry.get("conditions"))
    parts += [str(m.get("name") or "") for m in entry.get("materials", [])]
    # a separator no normalised query word contains: words never match across two fields
    return "\n".join(normalise(p) for p in parts if p)


def listed_items() -> list[Listed]:
    """Return every active item with its departments, by department and code."""
    departments = Departments()
    items = session().scalars(sa.select(Item).where(Item.active.is_(True)).order_by(Item.code))
    out = []
    for item in items:
        if (item.entry or {}).get("ex_officio"):  # started by the authority: not applied for
            continue
        chain = departments.chain(item.department_id)
        out.append(Listed(item, chain[0], chain[-1], _haystack(item, chain)))
    return out


def publishing_departments(listed: list[Listed]) -> list[Department]:
    """Return the top-level departments that publish at least one item, in their order."""
    found = {entry.department.id: entry.department for entry in listed}
    return [found[key] for key in sorted(found)]


def search(
    listed: list[Listed], query: str = "", department: str = "", kind: str = ""
) -> list[Group]:
    """Return the items matching every word of `query`, a department code and a kind,
    grouped by publishing department (in the departments' order), by code within each."""
    words = query_words(query)
    groups: dict[int, Group] = {}
    for entry in listed:
        if kind in ITEM_KINDS and entry.item.kind != kind:
            continue
        if department and department not in (entry.section.code, entry.department.code):
            continue
        if not all(word in entry.haystack for word in words):
            continue
        groups.setdefault(entry.department.id, Group(entry.department)).items.append(entry)
    return [groups[key] for key in sorted(groups)]


# --- the service guide ---------------------------------------------------------------------


@dataclass(frozen=True)
class PromisedRule:
    """A condition that changes the promised time limit, in words, and its working days."""

    when: str
    days: int


@dataclass(frozen=True)
class Guide:
    """Everything the service guide (办事指南) of an item shows."""

    item: Item
    section: Department
    department: Department
    version: DiagramVersion | None

    @property
    def entry(self) -> dict:
        return self.item.entry or {}

    @property
    def reported_to(self) -> str:
        """The upper authority that decides a reported item (上报件), else ''."""
        spec = self.entry.get("reported") if self.item.kind == "reported" else None
        return str(spec.get("to") or "") if isinstance(spec, dict) else ""

    @property
    def decided_by(self) -> str:
        """The authority that decides the item (in whose name its decisions are written):
        for a joint item the departments that decide their parts."""
        db = session()
        spec = decisions.rule(self.entry)
        if self.item.kind == "joint" and spec.parts:
            by_code = {d.code: d.name for d in db.scalars(sa.select(Department))}
            return "、".join(by_code.get(code, code) for code in spec.parts)
        try:
            return decisions.authority_for(db, self.item).name
        except Conflict:  # a misconfigured entry: say nothing rather than guess
            return "—"

    @property
    def registration(self) -> bool:
        """Whether the item is a real-estate registration (不动产登记), not a licence."""
        return (self.entry.get("decision") or {}).get("kind") == "registration"

    @property
    def conditions(self) -> list[str]:
        return _texts(self.entry.get("conditions"))

    @property
    def legal_basis(self) -> list[str]:
        """设定依据: the substantive law that sets up the licence (or registration)."""
        return _texts(self.entry.get("legal_basis"))

    @property
    def procedure_basis(self) -> list[str]:
        """办理依据: the law the handling follows (acceptance, time limits, decision)."""
        return _texts(self.entry.get("procedure_basis"))

    @property
    def materials(self) -> list[dict]:
        return [m for m in self.entry.get("materials", []) if isinstance(m, dict)]

    @property
    def form_fields(self) -> list[dict]:
        return [f for f in self.entry.get("form", []) if isinstance(f, dict) and f.get("label")]

    @property
    def quantity(self) -> str:
        """The limit on the number of licences granted (数量限制), if the entry states one."""
        return str(self.entry.get("quantity_limit") or self.entry.get("quantity") or "")

    @property
    def office_hours(self) -> tuple[str, str]:
        """The centre's office hours (OFFICE_HOURS, local time): when they close on a working
        day decides the acceptance day (the acceptance rule, stated in section 5)."""
        opens, closes = current_app.config["OFFICE_HOURS"].split("-")
        return opens.strip(), closes.strip()

    @property
    def promised_rules(self) -> list[PromisedRule]:
        labels = {f["id"]: str(f["label"]) for f in self.form_fields if f.get("id")}
        rules = []
        for rule in self.entry.get("promised_rules", []):
            if isinstance(rule, dict) and rule.get("when") and rule.get("days") is not None:
                rules.append(PromisedRule(describe_condition(str(rule["when"]), labels),
                                          int(rule["days"])))  # fmt: skip
        return rules


def describe_condition(when: str, labels: dict[str, str]) -> str:
    """Return a rule's condition in words: form field ids become their labels."""
    text = _IDENTIFIER.sub(lambda m: labels.get(m.group(0), m.group(0)), when)
    for operator, sign in _OPERATORS.items():
        text = text.replace(operator, sign)
    return text


def guide(code: str) -> Guide | None:
    """Return the guide of an active item, or None if there is no such item."""
    query = sa.select(Item).where(Item.code == code, Item.active.is_(True))
    item = session().scalars(query).first()
    if item is None or (item.entry or {}).get("ex_officio"):
        return None
    chain = Departments().chain(item.department_id)
    return Guide(item, chain[0], chain[-1], latest_version(item.id))


def procedure_svg(version: DiagramVersion | None, diagram_id: str | None = None) -> str | None:
    """Return a diagram of a version as SVG (None if there is none or it cannot be drawn).

    diagram_id picks one BPMNDiagram of the file (default: the file's default diagram).
    Versions never change, so drawings are kept by content hash (the newest few)."""
    if version is None:
        return None
    from flask_babel import get_locale

    from ..labels import element_type_name

    key = (version.content_hash, diagram_id, str(get_locale()))  # tooltips in its language
    if key in _SVG_CACHE:
        _SVG_CACHE.move_to_end(key)
        return _SVG_CACHE[key]
    try:
        svg = render_svg(version.content.encode("utf-8"), filename=version.filename,
                         diagram_id=diagram_id, kind_name=element_type_name)  # fmt: skip
    except OneWindowError:
        svg = None
    _SVG_CACHE[key] = svg
    while len(_SVG_CACHE) > _SVG_CACHE_SIZE:
        _SVG_CACHE.popitem(last=False)
    return svg


# --- published results --------------------------------------------------------------------


def public_name(name: str | None) -> str:
    """Return an applicant's name as published: an organisation's in full, a person's masked
    to the first and last characters ("张*明", "张*"); several applicants each on their own."""
    parts = _NAME_SEPARATORS.split((name or "").strip())
    shown = [p if _NAME_SEPARATORS.fullmatch(p) else _mask_one(p.strip()) for p in parts]
    return "".join(shown) or "—"


def _is_organisation(name: str) -> bool:
    core = _TRAILING_BRACKETS.sub("", name).strip()
    return any(core.endswith(s) and len(core) >= len(s) + 2 for s in ORGANISATION_SUFFIXES)


def _mask_one(name: str) -> str:
    if not name:
        return ""
    if _is_organisation(name):
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


@dataclass(frozen=True)
class Published:
    """One granted licence as published: never an ID number, phone or form data."""

    case_no: str
    item_code: str
    item_name: str
    applicant: str  # masked
    decided_at: dt.datetime  # naive UTC
    result: str


@dataclass(frozen=True)
class ResultsPage:
    """One page of published results."""

    rows: list[Published]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class ResultFilter:
    """Which results to publish: an item code and a period of decision (naive UTC, the end
    not included)."""

    item: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def local_day_start(day: dt.date, zone: str) -> dt.datetime:
    """Return the start of a local day in the centre's zone as naive UTC."""
    local = dt.datetime.combine(day, dt.time(), ZoneInfo(zone))
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def _where(wanted: ResultFilter) -> list:
    clauses = [
        Case.decision == "approved",
        Case.status.in_(PUBLISHED_STATUSES),
        Case.decided_at.is_not(None),
    ]
    if wanted.item:
        clauses.append(Case.item_id.in_(sa.select(Item.id).where(Item.code == wanted.item)))
    if wanted.since is not None:
        clauses.append(Case.decided_at >= wanted.since)
    if wanted.until is not None:
        clauses.append(Case.decided_at < wanted.until)
    return clauses


def _published(rows, items: dict[int, Item]) -> list[Published]:
    out = []
    for row in rows:
        item = items[row.item_id]
        result = str((item.entry or {}).get("result") or "")
        name = public_name(row.applicant_name)
        out.append(Published(row.case_no, item.code, item.name, name, row.decided_at, result))
    return out


def all_items() -> dict[int, Item]:
    """Return every item by id, active or not (results of a retired item stay published)."""
    return {i.id: i for i in every_item()}


def _newest(clauses: list, offset: int, limit: int) -> list[Published]:
    query = (
        sa.select(Case.case_no, Case.applicant_name, Case.decided_at, Case.item_id)
        .where(*clauses)
        .order_by(Case.decided_at.desc(), Case.id.desc())
        .offset(offset)
        .limit(limit)
    )
    rows = session().execute(query).all()
    return _published(rows, all_items()) if rows else []


def results(wanted: ResultFilter, page: int = 1, per_page: int | None = None) -> ResultsPage:
    """Return a page of granted licences, newest decision first (RESULTS_PER_PAGE a page)."""
    per_page = per_page or RESULTS_PER_PAGE
    clauses = _where(wanted)
    total = session().scalar(sa.select(sa.func.count()).select_from(Case).where(*clauses)) or 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)
    return ResultsPage(_newest(clauses, (page - 1) * per_page, per_page), total, page, pages)


def newest_results(wanted: ResultFilter, limit: int = FEED_ENTRIES) -> list[Published]:
    """Return the newest granted licences, for the feed."""
    return _newest(_where(wanted), 0, limit)
