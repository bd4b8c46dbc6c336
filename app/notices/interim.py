"""The written notices of a change to a case's time limit, in the licensing authority's name.

延长行政许可期限告知书 (Licensing Law art. 42): the limit is extended with the approval of the
authority's head (for joint handling, the head of the government of that level), and the
applicant is told why. 中止计算行政许可期限告知书 (art. 45): a hearing, tendering, auction,
inspection, testing, quarantine, appraisal or expert review is needed, its time is not
counted in the limit, and the authority tells the applicant in writing the time it needs; a
supplement of materials asked after acceptance stops the clock too, on the centre's rules
(no article is cited for it), and so does a pause of a registration (不动产登记), which is no
licence (its notice is 中止计算办理期限告知书, citing no article of the Licensing Law).

One notice per extension or pause, numbered by its place among the case's extensions (or
pauses) and dated the day it was approved (or began). Pure, like app.notices.pdf: plain
dataclasses in, PDF bytes out; dates are the centre's local dates already.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer

from ..printing import chinese_date, markup
from .blocks import acceptance_day, applied, body, field_table, label, opening, sentence
from .facts import CaseFacts, Centre
from .layout import FRAME_W, Styles, build, font_and_styles, signature

LAW = "《中华人民共和国行政许可法》"
PAUSE_NAMES = {
    "hearing": "听证",
    "tendering": "招标",
    "auction": "拍卖",
    "inspection": "检验",
    "testing": "检测",
    "quarantine": "检疫",
    "appraisal": "鉴定",
    "expert_review": "专家评审",
    "supplement": "补正材料",
}
"""What stops the clock, as the notice names it (the keys are app.cases.models.PAUSE_KINDS)."""
LATER_PAUSES = (
    "依法需要听证、招标、拍卖、检验、检测、检疫、鉴定和专家评审的，所需时间不计算在上述期限内，"
    "{we}将另行书面告知所需时间。"
)
PROVISIONAL = "（暂定）"
PROVISIONAL_NOTE = (
    "标注“暂定”的日期所在年度的节假日安排国务院尚未公布，暂按法定节假日和周末计算；"
    "安排公布后如有变化，以重新计算的日期为准，可凭办件编号和查询码查询。"
)


@dataclass(frozen=True)
class DueDay:
    """A statutory due day as printed, and whether it rests on an unpublished calendar."""

    day: date
    provisional: bool = False

    def text(self) -> str:
        return chinese_date(self.day) + (PROVISIONAL if self.provisional else "")


@dataclass(frozen=True)
class Extension:
    """One extension of a case's limit (art. 42), as its notice states it."""

    n: int  # its place among the case's extensions: 1, 2, …
    approved_on: date  # the day it was approved, the notice's date
    days: int  # working days granted by this extension
    reason: str
    authority: str  # whose head approved: the licensing authority, or the government
    approver_title: str  # the head's title (局长, 市长 …), never a name
    old_due: DueDay  # the statutory end before this extension
    new_due: DueDay  # the statutory end after it
    granted: int  # working days granted so far, this extension included
    limit: int  # the most the law allows for the item
    joint: bool = False  # joint handling: art. 42(2), the government's head
    we: str = "本机关"  # how the issuer calls itself: the authority, or 本中心 (joint handling)


@dataclass(frozen=True)
class Pause:
    """One period not counted in a case's limit (art. 45, or a supplement of materials)."""

    n: int  # its place among the case's pauses: 1, 2, …
    started_on: date  # the day the clock stopped, the notice's date
    kind: str  # a key of PAUSE_NAMES
    reason: str
    expected_days: int  # working days it is expected to need
    due: DueDay | None  # the statutory end as it stood when the clock stopped
    we: str = "本机关"  # how the issuer calls itself: the authority, or 本中心 (joint handling)
    licensing: bool = True  # handled under the Licensing Law (a registration is not: no art.)


def notice_number(case_no: str, day: date, mark: str, n: int) -> str:
    """ "〔2026〕00000012-延期1号": the year, the case's serial, the kind's mark and the number."""
    return f"〔{day.year}〕{case_no[-8:]}-{mark}{n}号"


def _recalled(facts: CaseFacts, we: str) -> str:
    """How both notices recall the application and its acceptance (markup, no full stop)."""
    accepted = chinese_date(acceptance_day(facts))
    return f"{applied(facts, '提出的')}申请，{markup(we)}已于{accepted}依法受理"


def _fields(rows: list[tuple[str, str]], st: Styles) -> Flowable:
    """A two-column table of labelled facts (values are plain text, escaped here)."""
    cells = [[label(name, st), Paragraph(markup(value), st.cell)] for name, value in rows]
    return field_table(cells, [34 * mm, FRAME_W - 34 * mm], st)


def _notice(
    issuer: Centre,
    facts: CaseFacts,
    title: str,
    number: str,
    day: date,
    texts: list[str],
    rows: list[tuple[str, str]],
    notes: list[str],
    *,
    centre: Centre | None,
    seal_image: str | os.PathLike[str] | None,
    font_path: str | os.PathLike[str] | None,
) -> bytes:
    """Both notices' page: the heading and number, the addressee, `texts` (markup) with the
    table of `rows` after all but the last, then the last paragraph, the numbered `notes`
    and the issuer's signature and seal dated `day`, kept together. The footer is the
    centre's, where the applicant is served (the issuer's when no centre is given)."""
    font, st = font_and_styles(font_path)
    *before, last = texts
    story = opening(issuer, facts, title, number, before[0], st)
    story += [body(text, st) for text in before[1:]]
    story += [Spacer(1, 1.5 * mm), _fields(rows, st), Spacer(1, 3 * mm)]
    kept: list[Flowable] = [body(last, st)]
    if notes:
        kept.append(Spacer(1, 1.5 * mm))
        kept += [Paragraph(f"{i}．{t}", st.note) for i, t in enumerate(notes, 1)]
    kept += [Spacer(1, 3 * mm), signature(issuer, day, font, seal_image)]
    story.append(KeepTogether(kept))
    return build(centre or issuer, facts, title, story, font=font, with_qr=True)


def _served(facts: CaseFacts, place: str) -> str:
    return markup(place or facts.window or "受理窗口")


def extension_notice(
    issuer: Centre,
    facts: CaseFacts,
    extension: Extension,
    *,
    place: str = "",
    centre: Centre | None = None,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """延长行政许可期限告知书 (Law art. 42): who approved, by how many working days, why, and
    the statutory end before and after; issued by `issuer` (the licensing authority), dated
    the day of the approval. `place` is where the applicant is served (the centre's window).
    """
    e = extension
    if e.days < 1 or not e.reason.strip() or not e.authority or not e.approver_title:
        raise ValueError("an extension notice needs its days, reason, authority and approver")
    basis = f"{LAW}第四十二条{'第二款' if e.joint else '第一款'}"
    we = markup(e.we)
    late = "办结" if e.joint else "作出行政许可决定"  # art. 42(2) speaks of 办结
    texts = [
        f"{_recalled(facts, e.we)}，法定办理期限为 {facts.statutory_days} 个工作日。",
        f"因{markup(sentence(e.reason))}，{we}不能在上述期限内{late}。根据{basis}"
        f"的规定，经{markup(e.authority + e.approver_title)}批准，办理期限延长 {e.days} 个"
        "工作日。现将延长后的期限告知如下：",
        f"行政许可决定作出后，请凭受理通知书到{_served(facts, place)}领取办理结果。"
        "办理进度可凭办件编号和查询码（或扫描右上角二维码）查询。",
    ]
    rows = [
        ("延长期限", f"{e.days} 个工作日（第 {e.n} 次延长）"),
        ("累计延长", f"{e.granted} 个工作日（依法最多 {e.limit} 个工作日）"),
        ("原届满日期", e.old_due.text()),
        ("延长后届满日期", e.new_due.text()),
    ]
    provisional = e.old_due.provisional or e.new_due.provisional
    notes = [LATER_PAUSES.format(we=we), *([PROVISIONAL_NOTE] if provisional else [])]
    number = notice_number(facts.case_no, e.approved_on, "延期", e.n)
    return _notice(issuer, facts, "延长行政许可期限告知书", number, e.approved_on, texts, rows,
                   notes, centre=centre, seal_image=seal_image, font_path=font_path)  # fmt: skip


def pause_notice(
    issuer: Centre,
    facts: CaseFacts,
    pause: Pause,
    *,
    place: str = "",
    centre: Centre | None = None,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """中止计算行政许可期限告知书 (Law art. 45): what is done, why, the working days it is
    expected to need, and that this time is not counted in the limit; dated the day the
    clock stopped. A supplement of materials cites no article (it rests on the centre's
    rules, not on art. 45)."""
    p = pause
    if p.kind not in PAUSE_NAMES:
        raise ValueError(f"no pause of kind {p.kind!r}: one of {', '.join(PAUSE_NAMES)}")
    if p.expected_days < 1 or not p.reason.strip():
        raise ValueError("a pause notice needs its reason and the working days it needs")
    what, since, we = PAUSE_NAMES[p.kind], chinese_date(p.started_on), markup(p.we)
    basis = f"{LAW}第四十五条" if p.licensing and p.kind != "supplement" else ""
    if basis:
        told = (
            f"经审查，该申请依法需要{what}。根据{basis}的规定，{what}所需时间不计算在行政许可"
            f"办理期限内，自{since}起中止计算办理期限。现将所需时间书面告知如下："
        )
        after = f"{what}结束后，"
    elif p.kind != "supplement":
        told = (
            f"经审查，该申请需要{what}，所需时间不计算在办理期限内，自{since}起中止计算"
            "办理期限。现将所需时间书面告知如下："
        )
        after = f"{what}结束后，"
    else:
        told = (
            "经审查，需要你（单位）补正有关材料。补正材料所需时间不计算在办理期限内，"
            f"自{since}起中止计算办理期限。现将有关事项告知如下："
        )
        after = f"请你（单位）按要求补正材料后到{_served(facts, place)}提交，"
    texts = [
        f"{_recalled(facts, p.we)}。{told}",
        f"{after}{we}将恢复计算办理期限。顺延后的期限可凭办件编号和查询码"
        "（或扫描右上角二维码）查询。",
    ]
    rows = [
        ("需要办理的事项", what),
        ("原　　因", sentence(p.reason)),
        ("预计所需时间", f"{p.expected_days} 个工作日（自{since}起）"),
        ("期限的计算", "不计入办理期限，法定办理期限按实际所需的工作日相应顺延"),
        *([("中止前届满日期", p.due.text())] if p.due is not None else []),
        *([("法律依据", basis)] if basis else []),
    ]
    notes = [PROVISIONAL_NOTE] if p.due is not None and p.due.provisional else []
    number = notice_number(facts.case_no, p.started_on, "中止", p.n)
    title = "中止计算行政许可期限告知书" if p.licensing else "中止计算办理期限告知书"
    return _notice(issuer, facts, title, number, p.started_on, texts, rows, notes,
                   centre=centre, seal_image=seal_image, font_path=font_path)  # fmt: skip
