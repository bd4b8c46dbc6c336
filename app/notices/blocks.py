"""What the notices are written with: their fixed wording, the bordered tables, the heading
and opening, and the lines that come from the case (limits, acceptor, accepting unit)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, Spacer, Table, TableStyle

from ..printing import chinese_date, markup
from .facts import CaseFacts, Centre
from .layout import HEADER_FILL, RULE, Styles, Title

RIGHTS = (
    "如不服本决定，可在收到本决定书之日起六十日内依法申请行政复议，"
    "或者在六个月内依法向人民法院提起行政诉讼。"
)
EXCLUDED_PERIODS = (
    "依法需要听证、招标、拍卖、检验、检测、检疫、鉴定和专家评审的，所需时间不计算在办理时限内。"
)
FORMS = {
    "original": "原件",
    "copy": "复印件",
    "original_and_copy": "原件及复印件",
}


def requirement(form: str, count: int, note: str = "") -> str:
    """What is required of a material, as the supplement notice states it: its form and
    count, then the catalogue's note ("原件 2 份；同时提交电子文件（DWG 格式）"). `form` is
    the catalogue's (original / copy / original_and_copy) or its Chinese name; none, the
    count alone."""
    named = FORMS.get(form, form)
    each = "各" if named == FORMS["original_and_copy"] else ""
    parts = [f"{named}{each} {count} 份" if named else f"{count} 份"]
    if sentence(note):
        parts.append(sentence(note))
    return "；".join(parts)


def datetime_text(t: datetime) -> str:
    return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}时{t.minute:02d}分"


def acceptance_day(facts: CaseFacts) -> date:
    """The acceptance day (受理日) the notices print and the time limits count from."""
    if facts.accepted_on is not None:
        return facts.accepted_on
    return (facts.accepted_at or facts.received_at).date()


def acceptance_text(facts: CaseFacts) -> str:
    """受理时间 as printed: the time of acceptance, or, for an application accepted outside
    office hours or on a day off, the next working day it counts as accepted on, and why."""
    accepted = facts.accepted_at or facts.received_at
    day = acceptance_day(facts)
    if day == accepted.date():
        return datetime_text(accepted)
    return f"{chinese_date(day)}（{datetime_text(accepted)}非工作时间收件，顺延至下一个工作日受理）"


ACCEPTANCE_RULE = (
    "受理当日不计入办理时限，自下一个工作日起计算；工作日办公时间结束后或者休息日、法定节假日"
    "收件的，视为下一个工作日受理。"
)
"""The acceptance rule, as the receipt and the commitment notice state it when it moved the
acceptance day (the public guide states it for every item)."""


def acceptance_notes(facts: CaseFacts) -> list[str]:
    """The note that explains a moved acceptance day, or none."""
    accepted = facts.accepted_at or facts.received_at
    return [ACCEPTANCE_RULE] if acceptance_day(facts) != accepted.date() else []


def sentence(text: str) -> str:
    """Text without its closing full stop, so that the template can add one."""
    return (text or "").strip().rstrip("。．.；;，,")


# --- building blocks --------------------------------------------------------------------------


def field_table(rows: list[list[Any]], widths: Sequence[float], styles: Styles) -> Table:
    """A bordered table of label/value cells; the label cells (see `label`) shaded."""
    cells = [
        [c if isinstance(c, Flowable | list) else Paragraph(markup(str(c)), styles.cell) for c in r]
        for r in rows
    ]
    table = Table(cells, colWidths=list(widths), hAlign="CENTER")
    commands: list[tuple[Any, ...]] = [
        ("FONTNAME", (0, 0), (-1, -1), styles.font),  # for empty (spanned) cells
        ("GRID", (0, 0), (-1, -1), 0.7, RULE),
        ("BOX", (0, 0), (-1, -1), 1.2, RULE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
        ("LEFTPADDING", (0, 0), (-1, -1), 6),
        ("RIGHTPADDING", (0, 0), (-1, -1), 6),
    ]
    for r, row in enumerate(cells):
        for c, cell in enumerate(row):
            if isinstance(cell, Paragraph) and cell.style.name == "label":
                commands.append(("BACKGROUND", (c, r), (c, r), HEADER_FILL))
    table.setStyle(TableStyle(commands))
    return table


def list_table(
    rows: list[list[Any]], widths: list[float], styles: Styles, valign: str = "MIDDLE"
) -> Table:
    """A bordered list with a shaded header row, repeated on a new page."""
    table = Table(rows, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), styles.font),
                ("GRID", (0, 0), (-1, -1), 0.7, RULE),
                ("BOX", (0, 0), (-1, -1), 1.2, RULE),
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
                ("VALIGN", (0, 0), (-1, -1), valign),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4.5),
            ]
        )
    )
    return table


def label(text: str, styles: Styles) -> Paragraph:
    return Paragraph(markup(text), styles.label)


def heading(centre: Centre, title: str, number: str, styles: Styles) -> list[Flowable]:
    """Centre name, title and the document number line under it."""
    parts: list[Flowable] = [
        Paragraph(markup(centre.name), styles.centre),
        Spacer(1, 1.5 * mm),
        Title(title, styles.font),
    ]
    if number:
        parts += [Spacer(1, 1 * mm), Paragraph(markup(number), styles.number)]
    parts.append(Spacer(1, 4 * mm))
    return parts


def opening(
    centre: Centre, facts: CaseFacts, title: str, number: str, text: str, styles: Styles
) -> list[Flowable]:
    """The heading, the addressee and the first body paragraph (`text`, markup already)."""
    return [
        *heading(centre, title, number, styles),
        Paragraph(f"{markup(facts.applicant_name)}：", styles.addressee),
        body(text, styles),
    ]


def applied(facts: CaseFacts, verb: str = "提交的") -> str:
    """ "你（单位）于2025年3月3日提交的<item>": how every notice recalls the application."""
    return f"你（单位）于{chinese_date(facts.received_at)}{verb}{markup(facts.item_name)}"


def body(text: str, styles: Styles) -> Paragraph:
    """A body paragraph; `text` is markup already (escape user parts with `markup`)."""
    return Paragraph(text, styles.body)


def limits(facts: CaseFacts) -> str:
    """The promised completion: "2025年3月31日前（承诺 20 个工作日，法定 45 个工作日）"."""
    parts: list[str] = []
    if facts.promised_due:
        parts.append(f"{chinese_date(facts.promised_due)}前")
    days = []
    if facts.promised_days == 0:
        days.append("即办件，当日办结")
    elif facts.promised_days is not None:
        days.append(f"承诺 {facts.promised_days} 个工作日")
    if facts.statutory_days is not None:
        days.append(f"法定 {facts.statutory_days} 个工作日")
    if days:
        parts.append(f"（{'，'.join(days)}）")
    return "".join(parts) or "—"


def acceptor(facts: CaseFacts) -> list[str]:
    """The acceptor's lines on the left of the signature block."""
    return [f"受理人：{facts.acceptor_name or '—'}", f"联系电话：{facts.acceptor_phone or '—'}"]


def accepting_unit(facts: CaseFacts) -> str:
    return f"{facts.department}（{facts.window}）" if facts.window else facts.department
