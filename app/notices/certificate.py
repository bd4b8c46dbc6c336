"""The electronic licence (电子证照) as a document: what the registry records of a licence,
set on one A4 page under the issuing authority's seal, with the code and QR code that open
its public status page (the signature is added by app.licences.documents)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, Spacer

from ..printing import chinese_date, markup
from .blocks import field_table, heading, label
from .facts import CaseFacts, Centre
from .layout import FRAME_W, build, font_and_styles, signature


@dataclass(frozen=True)
class LicenceFacts:
    """A licence as its document prints it (local days)."""

    authority: Centre  # the issuer: its name and seal words
    title: str  # 建设工程规划许可证
    number: str
    holder: str
    matter: str
    content: str
    issued_on: date
    valid_until: date | None
    conditions: tuple[str, ...] = ()
    seal_image: str | None = None
    replaces: str = ""  # the number of the licence this one replaces after a change


def validity_text(issued_on: date, valid_until: date | None) -> str:
    if valid_until is None:
        return "长期有效"
    return f"自{chinese_date(issued_on)}至{chinese_date(valid_until)}"


def licence_document(centre: Centre, facts: CaseFacts, lic: LicenceFacts, *,
                     font_path: str | os.PathLike[str] | None = None) -> bytes:  # fmt: skip
    """One licence on one page: the table of what it allows, the seal and the day."""
    font, st = font_and_styles(font_path)
    rows = [
        [label("持证单位（人）", st), lic.holder],
        [label("许可事项", st), lic.matter],
        [label("许可内容", st), lic.content],
        [label("有效期限", st), validity_text(lic.issued_on, lic.valid_until)],
    ]
    if lic.conditions:
        listed = "<br/>".join(f"{i}. {markup(c)}" for i, c in enumerate(lic.conditions, 1))
        rows.append([label("附加条件", st), Paragraph(listed, st.cell)])
    if lic.replaces:
        rows.append([label("备注", st), f"本证因变更换发，原证{lic.replaces}同时失效"])
    rows.append([label("办件编号", st), facts.case_no])
    story = [
        *heading(lic.authority, lic.title, f"编号：{lic.number}", st),
        field_table(rows, [32 * mm, FRAME_W - 32 * mm], st),
        KeepTogether([
            Spacer(1, 10 * mm),
            signature(lic.authority, lic.issued_on, font, lic.seal_image,
                      left=["发证机关（印章）"]),
        ]),  # fmt: skip
    ]
    return build(centre, facts, lic.title, story, font=font, with_qr=True, numbered=False)
