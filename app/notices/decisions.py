"""Decision letters (决定书) of a licensing case, in the licensing authority's name.

The service centre accepts the application and delivers the decision; the licensing
authority decides it (行政许可法 arts. 22–23, 26, 38). A letter is headed and sealed by the
authority, carries the authority's own number (机关代字〔年〕序号), names the centre as the
place of acceptance and delivery, and says what was granted: the matter, its content from
the application (project, site, scale), the substantive legal basis, validity and
conditions. A denial gives its reasons, their basis and the rights to reconsideration
(naming the body) or litigation.

A registration item (不动产登记) is decided by the registration agency under the Interim
Regulations on Real Estate Registration: a registration is recorded in the register and
told by a result notice; a refusal is a 不予登记告知书 (art. 22), not a licensing decision.

A joint item (并联审批, art. 26(2)) is decided by each department in its own name; the centre
delivers their letters with its delivery notice listing them (`joint_delivery`). Each
letter carries its authority's seal (an image where the installation has one, else drawn
with the authority's name and seal words); the delivery notice the centre's.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, PageBreak, Paragraph, Spacer

from ..printing import chinese_date, markup
from .blocks import acceptance_day, applied, body, label, list_table, opening, sentence
from .facts import CaseFacts, Centre
from .layout import FRAME_W, Styles, build, font_and_styles, signature

PROCEDURE = "《中华人民共和国行政许可法》第三十八条第一款"
DENIAL_PROCEDURE = "《中华人民共和国行政许可法》第三十八条第二款"


@dataclass(frozen=True)
class Decision:
    """One authority's decision of a case, as its letter prints it."""

    authority: Centre  # the issuer: its name and seal words
    number: str  # 示自然资规许〔2026〕12号
    approved: bool
    decided_at: datetime  # local time
    kind: str = "licence"  # licence | registration
    matter: str = ""  # the licensed matter (许可事项); default: the item
    content: str = ""  # what is granted, filled from the application
    basis: str = ""  # the substantive legal basis (设定依据)
    validity: str = ""
    conditions: tuple[str, ...] = ()
    certificate: str = ""  # the licence issued (e.g. 建设工程规划许可证)
    certificate_no: str = ""
    reason: str = ""  # a denial's reasons
    refusal_basis: str = ""  # a denial's legal basis
    reconsideration: str = ""  # the body that hears a reconsideration (复议机关)
    seal_image: str | None = None  # the authority's seal as an image; None: drawn


def rights(decision: Decision) -> str:
    """The applicant's rights against an adverse decision, naming the reconsideration body
    (行政复议法 art. 20: 60 days; 行政诉讼法 art. 46: six months)."""
    body_name = decision.reconsideration or "有管辖权的行政复议机关"
    return (
        f"如不服本{_doc_word(decision)[:-1]}，可以自收到本{_doc_word(decision)}之日起六十日内向"
        f"{markup(body_name)}"
        "申请行政复议，或者自收到之日起六个月内依法向人民法院提起行政诉讼。"
    )


def _doc_word(decision: Decision) -> str:
    return "告知书" if decision.kind == "registration" and not decision.approved else "决定书"


def title_of(decision: Decision) -> str:
    if decision.kind == "registration":
        return "不动产登记结果通知书" if decision.approved else "不予登记告知书"
    return "准予行政许可决定书" if decision.approved else "不予行政许可决定书"


def _recalled(facts: CaseFacts, centre: Centre, who: str) -> str:
    return (
        f"{applied(facts, '提出的')}申请（办件编号：{markup(facts.case_no)}），"
        f"{who}已于{chinese_date(acceptance_day(facts))}在{markup(centre.name)}依法受理。"
    )


def _granted(facts: CaseFacts, decision: Decision, st: Styles) -> list[Flowable]:
    """The numbered particulars of an approval: matter, content, licence, validity, conditions."""
    parts = [("许可事项" if decision.kind != "registration" else "登记事项",
              decision.matter or facts.item_name)]  # fmt: skip
    if decision.content:
        parts.append(("许可内容" if decision.kind != "registration" else "登记内容",
                      decision.content))  # fmt: skip
    if decision.certificate:
        number = f"（编号：{decision.certificate_no}）" if decision.certificate_no else ""
        parts.append(("颁发证件", f"{decision.certificate}{number}"))
    if decision.validity:
        parts.append(("有效期限", decision.validity))
    out = [
        body(f"{_ordinal(i)}、{name}：{markup(sentence(text))}。", st)
        for i, (name, text) in enumerate(parts, 1)
    ]
    if decision.conditions:
        out.append(body(f"{_ordinal(len(parts) + 1)}、应当遵守的事项：", st))
        out += [
            body(f"（{_ordinal(i)}）{markup(sentence(c))}。", st)
            for i, c in enumerate(decision.conditions, 1)
        ]
    return out


def _ordinal(n: int) -> str:
    digits = "零一二三四五六七八九十"
    if n <= 10:
        return digits[n]
    return ("十" if n < 20 else digits[n // 10] + "十") + (digits[n % 10] if n % 10 else "")


def _approval(recalled: str, where: str, facts: CaseFacts, decision: Decision,
              st: Styles) -> tuple[str, list[Flowable]]:  # fmt: skip
    """An approval's first paragraph and particulars: a licence (art. 38(1), 44) or a
    registration recorded in the register."""
    if decision.kind == "registration":
        first = (
            f"{recalled}经审核，申请登记事项符合《不动产登记暂行条例》及其实施细则规定的"
            f"登记条件，本机构已于{chinese_date(decision.decided_at)}记载于不动产登记簿"
            f"（登记依据：{markup(sentence(decision.basis) or '《不动产登记暂行条例》')}）。"
        )
        collect = markup(decision.certificate or "登记结果")
        return first, _granted(facts, decision, st) + [
            body(f"请持本通知书和身份证明到{where}领取{collect}。", st)
        ]
    basis = "和".join(b for b in (sentence(decision.basis), PROCEDURE) if b)
    first = (
        f"{recalled}经审查，你（单位）的申请符合法定条件、标准。根据{markup(basis)}"
        "的规定，本机关决定准予行政许可，现将有关事项决定如下："
    )
    licence = markup(decision.certificate or "行政许可证件")
    return first, _granted(facts, decision, st) + [
        body(
            "根据《中华人民共和国行政许可法》第四十四条的规定，本机关将自本决定作出之日起"
            f"十个工作日内颁发、送达{licence}。请凭本决定书到{where}领取。",
            st,
        )
    ]


def _denial(recalled: str, where: str, decision: Decision,
            st: Styles) -> tuple[str, list[Flowable]]:  # fmt: skip
    """A denial's first paragraph (reasons and basis) and the applicant's rights."""
    registration = decision.kind == "registration"
    basis = sentence(decision.refusal_basis)
    if not registration:
        basis = "和".join(b for b in (basis, DENIAL_PROCEDURE) if b)
    first = (
        f"{recalled}经审查，{markup(sentence(decision.reason))}。根据{markup(basis)}的规定，"
        + ("本机构决定不予登记。" if registration else "本机关决定不予行政许可。")
    )
    more = [body(rights(decision), st)]
    if registration:
        more.insert(0, body(f"你（单位）提交的申请材料可到{where}领回。", st))
    return first, more


def _letter(centre: Centre, facts: CaseFacts, decision: Decision, st: Styles,
            font) -> list[Flowable]:  # fmt: skip
    """The story of one decision letter (without the page it is set on)."""
    who = "本机构" if decision.kind == "registration" else "本机关"
    recalled = _recalled(facts, centre, who)
    where = f"{markup(centre.name)}" + (f"（{markup(facts.window)}）" if facts.window else "")
    if decision.approved:
        first, more = _approval(recalled, where, facts, decision, st)
    else:
        first, more = _denial(recalled, where, decision, st)
    story = opening(decision.authority, facts, title_of(decision), decision.number, first, st)
    story += more
    story.append(
        KeepTogether(
            [
                Spacer(1, 6 * mm),
                signature(decision.authority, decision.decided_at, font, decision.seal_image),
                Spacer(1, 2 * mm),
                Paragraph(
                    f"（受理、送达单位：{markup(centre.name)}　地址：{markup(centre.address)}）",
                    st.note,
                ),
            ]
        )
    )
    return story


def _check(decision: Decision) -> None:
    if not decision.number.strip():
        raise ValueError("a decision letter carries its number")
    if not decision.approved and (
        not decision.reason.strip() or not decision.refusal_basis.strip()
    ):
        raise ValueError("a denial needs its reasons and its legal basis (Law art. 38(2))")


def decision_letter(
    centre: Centre,
    facts: CaseFacts,
    decision: Decision,
    *,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """One authority's decision letter: 准予 / 不予行政许可决定书, or for a registration item
    不动产登记结果通知书 / 不予登记告知书. `centre` is where the case was accepted and is
    delivered; `decision.authority` heads, numbers and seals the letter."""
    _check(decision)
    font, st = font_and_styles(font_path)
    story = _letter(centre, facts, decision, st, font)
    return build(centre, facts, title_of(decision), story, font=font, with_qr=False)


def joint_delivery(
    centre: Centre,
    facts: CaseFacts,
    decisions: Sequence[Decision],
    delivered_at: datetime,
    *,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """并联审批决定送达通知书: the centre's notice listing each department's decision, followed
    by each department's own letter (one document to hand over, 行政许可法 art. 26(2))."""
    if not decisions:
        raise ValueError("a delivery notice delivers at least one decision")
    for decision in decisions:
        _check(decision)
    font, st = font_and_styles(font_path)
    title = "并联审批决定送达通知书"
    first = (
        f"{applied(facts, '提出的')}申请（办件编号：{markup(facts.case_no)}），本中心已于"
        f"{chinese_date(acceptance_day(facts))}受理，并依照《中华人民共和国行政许可法》"
        "第二十六条第二款的规定，组织有关部门联合办理。有关部门已依法分别作出决定，现将决定书"
        f"一并送达（共 {len(decisions)} 份）："
    )
    story = opening(centre, facts, title, f"办件编号：{facts.case_no}", first, st)
    rows: list[list] = [[label(t, st) for t in ("序号", "决定机关", "决定事项", "决定", "文号")]]
    for i, d in enumerate(decisions, 1):
        rows.append([
            Paragraph(str(i), st.cell_c), Paragraph(markup(d.authority.name), st.cell),
            Paragraph(markup(d.matter or facts.item_name), st.cell),
            Paragraph("准予" if d.approved else "不予", st.cell_c),
            Paragraph(markup(d.number), st.cell),
        ])  # fmt: skip
    widths = [12 * mm, 52 * mm, FRAME_W - 128 * mm, 14 * mm, 50 * mm]
    story += [Spacer(1, 1.5 * mm), list_table(rows, widths, st), Spacer(1, 3 * mm)]
    if all(d.approved for d in decisions):
        closing = "各部门均准予许可。请凭本通知书领取有关许可证件。"
    else:
        closing = (
            "有部门决定不予许可，本项目不能据此实施。对各部门的决定不服的，可以按照该决定书"
            "所载明的途径和期限，申请行政复议或者提起行政诉讼。"
        )
    story.append(
        KeepTogether(
            [body(closing, st), Spacer(1, 6 * mm),
             signature(centre, delivered_at, font, seal_image)]
        )
    )  # fmt: skip
    for decision in decisions:
        story.append(PageBreak())
        story += _letter(centre, facts, decision, st, font)
    return build(centre, facts, title, story, font=font, with_qr=False)
