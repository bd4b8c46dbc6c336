"""A decided case's decision documents, from its `case_decisions` rows and its catalogue entry.

Each row is one authority's decision: the letter is that authority's (its name, seal and
number), its wording the item's ``[decision]`` table filled from the application form. A
joint item's rows are delivered together under the centre's delivery notice.

Fail closed: a decision without its numbered row (decided before decisions were numbered),
or whose wording needs a form value the case does not have, is not printed; the error says
what is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from ..cases import decisions
from ..cases.models import Case
from ..catalogue.models import Item
from ..clock import local
from ..db import session
from ..errors import Conflict
from ..notices import decisions as letters
from ..notices.facts import CaseFacts, Centre
from ..org.authority import government_of
from ..org.models import Department

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DEFAULT_SEAL = "行政许可专用章"


def wording(template: str, form: dict, item: Item) -> str:
    """Fill `{field}` from the application form; only plain field names are read (no
    attribute or index access). A field the case lacks stops the printing."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        found = form.get(name)
        if found is None or str(found).strip() == "":
            raise Conflict(
                _("The decision's wording for %(item)s needs the form value %(field)s, which "
                  "this case does not have: the letter is not printed.",
                  item=item.name, field=name)
            )  # fmt: skip
        return str(found).strip()

    return _FIELD.sub(value, template or "")


def seal_image(dept: Department) -> str | None:
    """The authority's seal image: SEAL_DIR/<department code>.png when the installation has
    one; otherwise the seal is drawn from the authority's name and seal words."""
    folder = current_app.config.get("SEAL_DIR") or ""
    if folder:
        path = Path(folder) / f"{dept.code}.png"
        if path.is_file():
            return str(path)
    return None


def issuer(dept: Department, centre: Centre) -> Centre:
    return Centre(name=dept.name, address=centre.address,
                  supervision_phone=centre.supervision_phone,
                  seal_text=dept.seal_text or DEFAULT_SEAL)  # fmt: skip


def _reconsideration(dept: Department, spec: decisions.Rule) -> str:
    """The reconsideration body (行政复议法 art. 24): the catalogue's, else the government of
    the authority's level; for the government itself, the government above it."""
    if spec.entry.get("reconsideration"):
        return spec.entry["reconsideration"]
    if dept.kind == "government":
        return "上一级人民政府"
    government = government_of(session(), dept.id)
    return government.name if government is not None else ""


def _denial_basis(general: str, stated: str | None) -> str:
    """A denial's basis: what the officials stated, preceded by the item's general refusal
    article unless they cited it already (the same law and article)."""
    stated = (stated or "").strip()
    general = (general or "").strip().rstrip("。；;")
    if not general or general in stated:
        return stated or general
    return "；".join(b for b in (general, stated) if b)


def letters_of(case: Case, item: Item, centre: Centre) -> list[letters.Decision]:
    """The case's decisions as their letters print them, the lead authority's first."""
    rows = decisions.of_case(session(), case.id)
    if not rows and item.kind == "reported":
        raise Conflict(
            _("Case %(case)s was decided by the upper authority (Licensing Law art. 43): the "
              "decision document is that authority's, delivered as it was received.",
              case=case.case_no)
        )  # fmt: skip
    if not rows:
        raise Conflict(
            _("Case %(case)s was decided before decisions were numbered by their authority: "
              "it has no decision document to print.", case=case.case_no)
        )  # fmt: skip
    spec = decisions.rule(item.entry or {})
    form = case.form or {}
    out = []
    for row, dept in rows:
        part = spec.parts.get(dept.code, spec.entry if len(rows) == 1 else {})
        approved = row.outcome == "approved"
        out.append(
            letters.Decision(
                authority=issuer(dept, centre), number=row.number, approved=approved,
                decided_at=local(row.decided_at).replace(tzinfo=None), kind=spec.kind,
                matter=part.get("matter", "" if len(rows) > 1 else item.name),
                content=wording(part.get("content", ""), form, item) if approved else "",
                basis=part.get("basis", ""), validity=part.get("validity", ""),
                conditions=tuple(part.get("conditions", ())),
                certificate=part.get("certificate", item.entry.get("result", "")
                                     if len(rows) == 1 and item.kind != "joint" else ""),
                certificate_no=row.certificate_no or "", reason=row.reason or "",
                refusal_basis=_denial_basis(part.get("refusal_basis", ""), row.legal_basis),
                reconsideration=_reconsideration(dept, spec), seal_image=seal_image(dept),
            )
        )  # fmt: skip
    return out


def render(case: Case, item: Item, facts: CaseFacts, centre: Centre, font_path) -> bytes:
    """The decision document of a decided case: the authority's letter, or for a joint item
    the centre's delivery notice with every department's letter."""
    if case.decision not in ("approved", "denied"):
        raise Conflict(_("The case is not decided yet."))
    found = letters_of(case, item, centre)
    if item.kind == "joint":
        delivered = local(case.decided_at).replace(tzinfo=None)
        seal = current_app.config.get("SEAL_IMAGE") or None
        return letters.joint_delivery(centre, facts, found, delivered, seal_image=seal,
                                      font_path=font_path)  # fmt: skip
    return letters.decision_letter(centre, facts, found[0], font_path=font_path)
