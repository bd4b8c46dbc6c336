"""Printable notices of a licensing case as PDF (reportlab).

Every notice is an A4 page (or several) in the sober style of a government notice (the page
and its pieces: app.notices.layout). The notices that the applicant uses to follow the case
(receipt, supplement notice, commitment notice) carry the case number, the query code and a
QR code in the top right corner.

The functions are pure: they take plain dataclasses (app.notices.facts), need no database
and no Flask request, and return the PDF as bytes. Chinese text is set in an embedded
TrueType CJK font, found by :func:`app.printing.cjk_font`; nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from datetime import date
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    KeepTogether,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from ..printing import chinese_date, markup
from .blocks import (
    EXCLUDED_PERIODS,
    FORMS,
    RIGHTS,
    acceptance_notes,
    acceptance_text,
    accepting_unit,
    acceptor,
    applied,
    body,
    field_table,
    heading,
    label,
    limits,
    list_table,
    opening,
    sentence,
)
from .facts import CaseFacts, Centre, Opinion
from .layout import (
    FRAME_H_QR,
    FRAME_W,
    SignLine,
    Styles,
    build,
    font_and_styles,
    signature,
)


def acceptance_receipt(
    centre: Centre,
    facts: CaseFacts,
    materials: list[tuple[str, str, int]],
    *,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """受理通知书 (acceptance receipt, Law art. 32(1)(5)): the case is accepted.

    `materials` are those received: (name, form, count), form being 原件 / 复印件 / 原件及复印件
    (or the catalogue's original / copy / original_and_copy). 受理时间 is the acceptance day
    the limits count from (`acceptance_text`); signed on the day the window accepted it.
    """
    font, st = font_and_styles(font_path)
    accepted = facts.accepted_at or facts.received_at
    story = opening(
        centre,
        facts,
        "受理通知书",
        "",
        f"{applied(facts)}申请，经审查，申请事项属于本机关职权范围，申请材料齐全、符合法定"
        "形式。根据《中华人民共和国行政许可法》第三十二条第一款第（五）项的规定，决定予以受理。",
        st,
    )
    story += [body("本中心已收到你（单位）提交的下列申请材料：", st), Spacer(1, 1.5 * mm)]
    story += [_materials_table(materials, st), Spacer(1, 3 * mm)]
    # one line each: the authority's name with its section and window, and an acceptance
    # moved to the next working day, are too long to share a row
    info = field_table(
        [
            [label("受理单位", st), accepting_unit(facts)],
            [label("受理时间", st), Paragraph(markup(acceptance_text(facts)), st.cell)],
            [label("承诺办结", st), Paragraph(markup(limits(facts)), st.cell)],
        ],
        [22 * mm, FRAME_W - 22 * mm],
        st,
    )
    # tighter than the default, so that nine materials, the notes and the seal fit one page
    info.setStyle(TableStyle([("TOPPADDING", (0, 0), (-1, -1), 3),
                              ("BOTTOMPADDING", (0, 0), (-1, -1), 4)]))  # fmt: skip
    story += [info, Spacer(1, 3 * mm)]
    notes = [
        "请凭办件编号和查询码（或扫描右上角二维码）查询办理进度，凭本通知书领取办理结果。",
        *acceptance_notes(facts),
        EXCLUDED_PERIODS,
    ]
    # The notes go with the signature: a page with only the seal on it is no notice.
    story.append(
        KeepTogether(
            [Paragraph(f"{i}．{t}", st.note) for i, t in enumerate(notes, 1)]
            + [Spacer(1, 2 * mm), signature(centre, accepted, font, seal_image, acceptor(facts))]
        )
    )
    return build(centre, facts, "受理通知书", story, font=font, with_qr=True)


def _materials_table(materials: list[tuple[str, str, int]], st: Styles) -> Table:
    """The materials received: number, name, form, count."""
    head = [label(t, st) for t in ("序号", "材料名称", "原件/复印件", "份数")]
    rows: list[list[Any]] = [head]
    for i, (name, form, count) in enumerate(materials, 1):
        rows.append(
            [
                Paragraph(str(i), st.cell_c),
                Paragraph(markup(name), st.cell),
                Paragraph(markup(FORMS.get(form, form)), st.cell_c),
                Paragraph(str(count), st.cell_c),
            ]
        )
    if not materials:
        rows.append([Paragraph("—", st.cell_c), Paragraph("（无）", st.cell), "", ""])
    table = list_table(rows, [14 * mm, FRAME_W - 60 * mm, 30 * mm, 16 * mm], st)
    return table


SUPPLEMENT_LICENCE = (
    "《中华人民共和国行政许可法》第三十二条第一款第（四）项的规定，现一次性告知你（单位）需要补正的"
)
SUPPLEMENT_REGISTRATION = (
    "《不动产登记暂行条例》第十七条第一款第（三）项的规定，现当场书面告知你（单位）不予受理，"
    "并一次性告知需要补正的"
)


# Long: the notice is one page of legal text laid out in its order, and half the length is
# its arguments and their explanation.
def supplement_notice(
    centre: Centre,
    facts: CaseFacts,
    missing: list[tuple[str, str]],
    deadline_note: str,
    *,
    remarks: str = "",
    issued_on: date | None = None,
    registration: bool = False,
    online: bool = False,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """补正材料一次性告知书 (Law art. 32(1)(4)): every missing material, numbered, at once,
    each with what is required of it. For a real-estate registration (`registration`) the
    basis is the registration regulations' art. 17(1)(3): told in writing on the spot.

    `missing` are (name, requirement): the requirement says the form, the count and the
    catalogue's note (`blocks.requirement`), so the applicant need not come back to ask.
    `remarks` are what the reviewer wrote about the materials, if anything. `deadline_note`
    says by when and where to hand the materials in. Dated `issued_on`, the centre's local
    day it was first issued (default: the day the application was received). An `online`
    application is supplemented online: `deadline_note` says how, and the notice does not
    also send the applicant to the window.
    """
    if not missing:
        raise ValueError("a supplement notice must list at least one missing material")
    font, st = font_and_styles(font_path)
    story = opening(
        centre,
        facts,
        "补正材料一次性告知书",
        "",
        f"{applied(facts)}申请材料，经审查，申请材料不齐全或者不符合法定形式。根据"
        + (SUPPLEMENT_REGISTRATION if registration else SUPPLEMENT_LICENCE)
        + f"全部内容如下（共 {len(missing)} 项）：",
        st,
    )
    story.append(Spacer(1, 1.5 * mm))
    where = f"到{markup(facts.window)}" if facts.window else "到本中心受理窗口"
    story += [_missing_table(missing, st), Spacer(1, 3 * mm)]
    if sentence(remarks):
        story.append(body(f"审查意见：{markup(sentence(remarks))}。", st))
    hand_in = "" if online else f"请你（单位）按照上述要求补正全部材料后，{where}提交。"
    story += [
        body(f"补正要求：{markup(sentence(deadline_note))}。", st),
        body(
            f"{hand_in}补正的材料齐全、符合法定形式的，本中心将依法予以受理。"
            "本告知书所列为需要补正的全部内容，本中心不再要求补正本告知书未列明的材料。",
            st,
        ),
        KeepTogether(
            [
                Spacer(1, 3 * mm),
                signature(
                    centre, issued_on or facts.received_at.date(), font, seal_image, acceptor(facts)
                ),
            ]
        ),
    ]
    return build(centre, facts, "补正材料一次性告知书", story, font=font, with_qr=True)


def _missing_table(missing: list[tuple[str, str]], st: Styles) -> Table:
    """The missing materials: number, name, what is required of each."""
    rows: list[list[Any]] = [[label(t, st) for t in ("序号", "需要补正的材料", "要求")]]
    rows += [
        [
            Paragraph(str(i), st.cell_c),
            Paragraph(markup(name), st.cell),
            Paragraph(markup(required or "—"), st.cell),
        ]
        for i, (name, required) in enumerate(missing, 1)
    ]
    return list_table(rows, [14 * mm, 66 * mm, FRAME_W - 80 * mm], st, valign="TOP")


def refusal_notice(
    centre: Centre,
    facts: CaseFacts,
    reason: str,
    legal_basis: str,
    *,
    issued_on: date | None = None,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """不予受理决定书 (Law art. 32(1)(1)–(2)): the reason, its legal basis and the applicant's
    rights. Not accepting is for a matter that needs no licence (32(1)(1)) or is not this
    authority's (32(1)(2)); incomplete materials are a supplement notice (32(1)(4)), never a
    refusal.

    Dated `issued_on`, the centre's local day it was first issued (default: the day the
    application was received).
    """
    if not reason.strip() or not legal_basis.strip():
        raise ValueError("a refusal needs its reason and its legal basis")
    font, st = font_and_styles(font_path)
    story = opening(
        centre,
        facts,
        "不予受理决定书",
        f"办件编号：{facts.case_no}",
        f"{applied(facts)}申请，经审查，{markup(sentence(reason))}。",
        st,
    )
    story += [
        body(f"根据{markup(sentence(legal_basis))}的规定，本中心决定不予受理。", st),
        body("你（单位）提交的申请材料已全部退回，请核对查收。", st),
        body(RIGHTS, st),
        KeepTogether(
            [
                Spacer(1, 6 * mm),
                signature(centre, issued_on or facts.received_at.date(), font, seal_image),
            ]
        ),
    ]
    return build(centre, facts, "不予受理决定书", story, font=font, with_qr=False)


COPIES = ("第一联　受理单位存根", "第二联　申请人收执", "第三联　驻厅监察室存查")
"""The three copies of the commitment notice, one page each."""
SUPERVISION_COPY = 2
"""The supervision office's copy: the only one its opinion is printed on."""
SIGNED_FOR = (0, 2)
"""The copies the applicant signs for receipt: the two the administration keeps (the unit's
stub and the supervision office's file) are its proof that the promise was given and when.
The applicant's own copy carries the acceptor's signature and the seal, not theirs."""


def commitment_notice(
    centre: Centre,
    facts: CaseFacts,
    opinion: Opinion | None = None,
    *,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """行政许可承诺通知单 (DESIGN rule 3), in three copies on three pages.

    Each copy has the nine fields, its copy mark, the case number, query code and QR code,
    the supervision phone, the seal and the acceptor's signature line; the unit's and the
    supervision office's copies also the applicant's, with the day they signed for it
    (`SIGNED_FOR`). The supervision office's `opinion` is printed on its own copy only, with
    who entered it and when (`_opinion_cell`); without one, that copy leaves room to sign.
    """
    font, st = font_and_styles(font_path)
    accepted = facts.accepted_at or facts.received_at
    story: list[Flowable] = []
    for n, copy in enumerate(COPIES):
        if n:
            story.append(PageBreak())
        page: list[Flowable] = heading(centre, "行政许可承诺通知单", "", st)[:-1]
        page += [Spacer(1, 1 * mm), Paragraph(f"（{copy}）", st.copy), Spacer(1, 3 * mm)]
        page.append(_commitment_fields(facts, _opinion_cell(n, opinion, font.name, st), st))
        notes = [
            "本通知单一式三联：第一联由受理单位存根，第二联交申请人收执，第三联送驻厅监察室存查。",
            "申请人可凭办件编号和查询码（或扫描右上角二维码）查询办理进度，"
            "并在承诺办结时间凭本通知单领取办理结果。",
            *acceptance_notes(facts),
            EXCLUDED_PERIODS,
            "受理单位未在承诺时间内办结，或者在办理过程中有刁难、推诿等行为的，"
            f"请拨打驻厅监察室监督电话 {markup(centre.supervision_phone)} 投诉。",
        ]
        page.append(Spacer(1, 2.5 * mm))
        page += [Paragraph(f"{i}．{t}", st.note) for i, t in enumerate(notes, 1)]
        signers = ["受理人（签名）："]
        if n in SIGNED_FOR:
            signers += ["申请人（签名）：", "签收日期：　　　年　　月　　日"]
        page.append(signature(centre, accepted, font, seal_image, left=signers))
        # One copy, one page, whatever the length of the texts: shrink to fit if need be.
        story.append(KeepInFrame(FRAME_W, FRAME_H_QR, page, mode="shrink"))
    return build(
        centre, facts, "行政许可承诺通知单", story, font=font, with_qr=True, numbered=False
    )


def _opinion_cell(copy: int, opinion: Opinion | None, font: str, st: Styles) -> list[Flowable]:
    """The 监察室意见 cell of one copy.

    A centre's three-part form has the box on every part, but only the supervision office's
    part is ever filled in: the window hands the applicant their copy and files its stub on
    the day of acceptance, and the office gives its opinion later, on the copy sent to it.
    So the opinion is printed on the third copy alone, signed with the supervisor's name and
    the day it was entered; the first two say where the opinion is given instead of leaving
    an empty signature box that anyone could fill in afterwards. Until an opinion is
    entered, the third copy leaves room for the office to write and sign by hand.
    """
    if copy != SUPERVISION_COPY:
        return [Paragraph("（由驻厅监察室在第三联签署意见）", st.cell)]
    if opinion is None:
        return [Spacer(1, 18 * mm), SignLine(font)]
    return [
        Paragraph(markup(opinion.text), st.cell),
        Spacer(1, 2 * mm),
        Paragraph(f"驻厅监察室　{markup(opinion.by)}　　{chinese_date(opinion.on)}", st.cell_r),
    ]


def _commitment_fields(facts: CaseFacts, opinion: list[Flowable], st: Styles) -> Table:
    """The nine fields of a copy of the commitment notice, the opinion's cell last."""
    table = field_table(
        [
            [label("办件编号", st), facts.case_no, label("查 询 码", st), facts.query_code],
            [label("受理单位", st), accepting_unit(facts), "", ""],
            [label("申请事项", st), facts.item_name, "", ""],
            [label("受理时间", st), Paragraph(markup(acceptance_text(facts)), st.cell), "", ""],
            [label("承诺办结时间", st), Paragraph(markup(limits(facts)), st.cell), "", ""],
            [
                label("受 理 人", st),
                facts.acceptor_name or "—",
                label("受理人电话", st),
                facts.acceptor_phone or "—",
            ],
            [
                label("申 请 人", st),
                facts.applicant_name,
                label("申请人电话", st),
                facts.applicant_phone or "—",
            ],
            [label("监察室意见", st), opinion, "", ""],
        ],
        [29 * mm, 63 * mm, 26 * mm, FRAME_W - 118 * mm],
        st,
    )
    table.setStyle(
        TableStyle(
            [("SPAN", (1, r), (3, r)) for r in (1, 2, 3, 4, 7)]
            + [
                ("VALIGN", (1, 7), (3, 7), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 6.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 7.5),
            ]
        )
    )
    return table
