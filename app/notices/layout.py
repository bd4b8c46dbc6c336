"""The page of a notice: geometry, paragraph styles, the drawn pieces (title, seal block,
sign line) and what every page carries (the QR header band, the footer, the page count).
The paragraphs and tables the notices are written with are app.notices.blocks'; the notices
themselves, app.notices.pdf.

A4 in the sober style of a government notice: the centre's name and the title centred, the
case or decision number, the addressee, the body, bordered tables for field lists, the date
line with the centre's approval seal (行政审批专用章) stamped over it, and a footer with the
supervision phone. The notices that the applicant uses to follow the case carry the case
number, the query code and a QR code in the top right corner.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from reportlab.graphics.barcode import qr, qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable

from ..printing import (
    FontChoice,
    HeavyTitle,
    PageFurniture,
    a4_pdf,
    chinese_date,
    cjk_font,
    draw_seal,
    page_of,
)
from .facts import CaseFacts, Centre, qr_payload

# --- geometry ---------------------------------------------------------------------------------

PAGE_W, PAGE_H = A4
MARGIN_X = 25 * mm
MARGIN_TOP = 28 * mm
MARGIN_TOP_QR = 37 * mm  # room for the header band with the QR code
MARGIN_BOTTOM = 24 * mm
FRAME_W = PAGE_W - 2 * MARGIN_X
FRAME_H_QR = PAGE_H - MARGIN_TOP_QR - MARGIN_BOTTOM - 12  # less the frame's padding

QR_SIZE = 26 * mm
"""Side of the QR code square (quiet zone included)."""
QR_BORDER = 4
"""Quiet zone of the QR code, in modules."""
QR_X = PAGE_W - MARGIN_X - QR_SIZE + 2 * mm  # the quiet zone may reach into the margin
"""Left edge of the QR code square, in points from the page's left edge."""
QR_Y = PAGE_H - 8 * mm - QR_SIZE
"""Bottom edge of the QR code square, in points from the page's bottom edge."""

SEAL_RADIUS = 20 * mm
RULE = colors.Color(0.25, 0.25, 0.25)
HEADER_FILL = colors.Color(0.93, 0.93, 0.93)

# --- styles -----------------------------------------------------------------------------------


class Styles:
    """Paragraph styles in the chosen font."""

    def __init__(self, font: str) -> None:
        base = ParagraphStyle(
            "body", fontName=font, fontSize=12, leading=20, wordWrap="CJK", alignment=TA_LEFT
        )
        self.font = font
        self.body = ParagraphStyle(
            "body-indent", parent=base, firstLineIndent=24, alignment=TA_JUSTIFY
        )
        self.addressee = ParagraphStyle("addressee", parent=base, spaceBefore=6)
        self.centre = ParagraphStyle(
            "centre", parent=base, fontSize=15, leading=22, alignment=TA_CENTER
        )
        self.number = ParagraphStyle(
            "number", parent=base, fontSize=11.5, leading=18, alignment=TA_CENTER
        )
        self.cell = ParagraphStyle("cell", parent=base, fontSize=11, leading=15)
        self.cell_c = ParagraphStyle("cell-c", parent=self.cell, alignment=TA_CENTER)
        self.cell_r = ParagraphStyle("cell-r", parent=self.cell, alignment=TA_RIGHT)
        self.label = ParagraphStyle("label", parent=self.cell, alignment=TA_CENTER)
        self.note = ParagraphStyle(
            "note", parent=base, fontSize=10, leading=15, leftIndent=20, firstLineIndent=-20
        )
        self.copy = ParagraphStyle(
            "copy", parent=base, fontSize=12.5, leading=18, alignment=TA_CENTER
        )


def font_and_styles(font_path: str | os.PathLike[str] | None) -> tuple[FontChoice, Styles]:
    """The CJK font (see app.printing.cjk_font) and the styles set in it."""
    font = cjk_font(font_path)
    return font, Styles(font.name)


# --- flowables --------------------------------------------------------------------------------


class Title(HeavyTitle):
    """The notice title: large, centred, letter-spaced when short, slightly emboldened."""

    height_factor = 1.7
    baseline = 0.45

    def __init__(self, text: str, font: str, size: float = 21) -> None:
        super().__init__(text, font, size)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        while width > availWidth and self.size > 12:
            self.size -= 1
            width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        room = availWidth - width
        gaps = max(len(self.text) - 1, 1)
        self.spacing = min(self.size * 0.25, room / gaps) if len(self.text) <= 10 else 0.0
        self.width = availWidth
        self.height = self.size * self.height_factor
        return self.width, self.height


class SignLine(Flowable):
    """A right-aligned line to sign and date by hand: "签名：      年    月    日".

    Drawn, not a Paragraph: a Paragraph collapses runs of spaces, and the CID fallback font
    has no glyph for a no-break space.
    """

    PARTS = (("签名：", 12), ("年", 3), ("月", 3), ("日", 1))  # text, blank after (chars)

    def __init__(self, font: str, size: float = 11) -> None:
        super().__init__()
        self.font = font
        self.size = size

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.width = availWidth
        self.height = self.size * 1.5
        return self.width, self.height

    def draw(self) -> None:
        widths = [pdfmetrics.stringWidth(t, self.font, self.size) for t, _ in self.PARTS]
        total = sum(widths) + sum(blank for _, blank in self.PARTS) * self.size
        x = self.width - total
        self.canv.setFont(self.font, self.size)
        for (text, blank), width in zip(self.PARTS, widths, strict=True):
            self.canv.drawString(x, self.size * 0.4, text)
            x += width + blank * self.size


# Where the signature blocks of a document being drawn fell (`drawn_with_seals`): the
# signing puts the visible signature beside the seal it belongs to.
_SEALS: ContextVar[list[SealPlace] | None] = ContextVar("notice_seals", default=None)


@dataclass(frozen=True)
class SealPlace:
    """A signature block as drawn: its page (0 first), lower-left corner and size in points,
    and the issuer named under the seal."""

    page: int
    x: float
    y: float
    width: float
    height: float
    issuer: str
    left_lines: int = 0  # lines set on the block's left (the acceptor, a label)


def drawn_with_seals(draw: Callable[[], bytes]) -> tuple[bytes, list[SealPlace]]:
    """Draw a document and say where its signature blocks are."""
    token = _SEALS.set([])
    try:
        data = draw()
        return data, list(_SEALS.get() or ())
    finally:
        _SEALS.reset(token)


class _SignatureBlock(Flowable):
    """The issuer and date on the right, with the seal stamped over them (骑年盖月)."""

    def __init__(
        self,
        lines: Sequence[str],
        centre: Centre,
        font: str,
        seal_image: str | os.PathLike[str] | None,
        left: Sequence[str] = (),
    ) -> None:
        super().__init__()
        self.lines = list(lines)
        self.left = list(left)
        self.centre = centre
        self.font = font
        self.seal_image = seal_image
        self.size = 12.5
        self.height = 2 * SEAL_RADIUS + 1 * mm

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        self.width = availWidth
        return self.width, self.height

    def draw(self) -> None:
        canv = self.canv
        places = _SEALS.get()
        if places is not None:
            x, y = canv.absolutePosition(0, 0)
            places.append(SealPlace(canv.getPageNumber() - 1, x, y, self.width, self.height,
                                    self.centre.name, len(self.left)))  # fmt: skip
        right = self.width - 4 * mm
        # A long name shrinks rather than run into the left-hand lines.
        left = max((pdfmetrics.stringWidth(s, self.font, 1) for s in self.left), default=0)
        line = max((pdfmetrics.stringWidth(s, self.font, 1) for s in self.lines), default=0)
        room = right - (left * self.size + 8 * mm if self.left else 0)
        size = min(self.size, room / line) if line else self.size
        block = line * size
        centre_x = right - block / 2
        cy = self.height / 2
        leading = self.size * 1.8
        top = cy + leading * (len(self.lines) - 1) / 2 - self.size * 0.35
        canv.setFillColor(colors.black)
        canv.setFont(self.font, size)
        for i, text in enumerate(self.lines):
            canv.drawCentredString(centre_x, top - i * leading, text)
        canv.setFont(self.font, self.size)
        for i, text in enumerate(self.left):
            canv.drawString(0, top - i * leading, text)
        seal_x = min(centre_x, self.width - SEAL_RADIUS)
        if self.seal_image:
            d = 2 * SEAL_RADIUS
            canv.drawImage(
                os.fspath(self.seal_image),
                seal_x - SEAL_RADIUS,
                cy - SEAL_RADIUS,
                d,
                d,
                mask="auto",
                preserveAspectRatio=True,
                anchor="c",
            )
        else:
            draw_seal(
                canv, seal_x, cy, SEAL_RADIUS, self.centre.name, self.centre.seal_text, self.font
            )


def signature(
    centre: Centre,
    day: date | datetime,
    font: FontChoice,
    seal_image: str | os.PathLike[str] | None,
    left: Sequence[str] = (),
) -> Flowable:
    """The centre's name and the day on the right under its seal; `left` lines on the left."""
    return _SignatureBlock([centre.name, chinese_date(day)], centre, font.name, seal_image, left)


# --- page furniture ---------------------------------------------------------------------------


class _Page:
    """Draws what every page carries: the QR header band (when wanted) and the footer."""

    def __init__(self, centre: Centre, facts: CaseFacts, font: str, with_qr: bool) -> None:
        self.centre = centre
        self.facts = facts
        self.font = font
        self.with_qr = with_qr
        self.payload = facts.verify_url or qr_payload(facts)

    def __call__(self, canv: Canvas, doc: Any) -> None:
        canv.saveState()
        if self.facts.verify_code:
            self._verify_header(canv)
        elif self.with_qr and self.facts.query_code:
            self._header(canv)
        elif self.with_qr:
            self._online_header(canv)
        self._footer(canv)
        canv.restoreState()

    def _header(self, canv: Canvas) -> None:
        code = qr.QrCode(
            [qrencoder.QR8bitByte(self.payload)],  # bytes mode: UTF-8, never Kanji
            width=QR_SIZE,
            height=QR_SIZE,
            qrLevel="M",
            qrBorder=QR_BORDER,
        )
        canv.setFillColor(colors.black)
        code.drawOn(canv, QR_X, QR_Y)
        canv.setFont(self.font, 8)
        canv.drawCentredString(QR_X + QR_SIZE / 2, QR_Y - 1 * mm, "扫码查询办理进度")
        f = self.facts
        y = PAGE_H - 14 * mm
        canv.setFont(self.font, 10.5)
        for line in (f"办件编号：{f.case_no}", f"查　询　码：{f.query_code}"):
            canv.drawString(MARGIN_X, y, line)
            y -= 6 * mm
        if f.query_url:
            canv.setFont(self.font, 8.5)
            url = f.query_url
            room = QR_X - MARGIN_X - 4 * mm
            while url and pdfmetrics.stringWidth("查询网址：" + url, self.font, 8.5) > room:
                url = url[:-2] + "…"
            canv.drawString(MARGIN_X, y, f"查询网址：{url}")

    def _qr(self, canv: Canvas, caption: str) -> None:
        code = qr.QrCode([qrencoder.QR8bitByte(self.payload)], width=QR_SIZE, height=QR_SIZE,
                         qrLevel="M", qrBorder=QR_BORDER)  # fmt: skip
        canv.setFillColor(colors.black)
        code.drawOn(canv, QR_X, QR_Y)
        canv.setFont(self.font, 8)
        canv.drawCentredString(QR_X + QR_SIZE / 2, QR_Y - 1 * mm, caption)

    def _verify_header(self, canv: Canvas) -> None:
        """A signed document's header: its verification code and where anyone checks it
        (authentic or not, and the licence's status now), the QR code opening that page."""
        self._qr(canv, "扫码验证真伪")
        f = self.facts
        y = PAGE_H - 14 * mm
        canv.setFont(self.font, 10.5)
        canv.drawString(MARGIN_X, y, f"办件编号：{f.case_no}")
        canv.drawString(MARGIN_X, y - 6 * mm, f"验　证　码：{f.verify_code}")
        canv.setFont(self.font, 8.5)
        url = f.verify_url
        room = QR_X - MARGIN_X - 4 * mm
        while url and pdfmetrics.stringWidth("验证网址：" + url, self.font, 8.5) > room:
            url = url[:-2] + "…"
        canv.drawString(MARGIN_X, y - 12 * mm, f"验证网址：{url}")

    def _online_header(self, canv: Canvas) -> None:
        """The header of a notice of an online application that has no case (and so no
        query code) yet: its application number, and where the applicant follows it."""
        canv.setFillColor(colors.black)
        canv.setFont(self.font, 10.5)
        y = PAGE_H - 14 * mm
        canv.drawString(MARGIN_X, y, f"申请编号：{self.facts.case_no}")
        canv.setFont(self.font, 8.5)
        where = "查询方式：登录网上办事大厅，在“我的申请”中按申请编号查看"
        canv.drawString(MARGIN_X, y - 6 * mm, where)

    def _footer(self, canv: Canvas) -> None:
        canv.setStrokeColor(RULE)
        canv.setLineWidth(0.6)
        y = MARGIN_BOTTOM - 8 * mm
        canv.line(MARGIN_X, y, PAGE_W - MARGIN_X, y)
        canv.setFillColor(colors.black)
        canv.setFont(self.font, 9)
        c = self.centre
        canv.drawString(MARGIN_X, y - 4.5 * mm, f"监督电话：{c.supervision_phone}（驻厅监察室）")
        address = f"{c.name}　地址：{c.address}"
        if pdfmetrics.stringWidth(address, self.font, 8.5) > FRAME_W:
            address = f"地址：{c.address}"  # the name is in the heading anyway
        size = min(8.5, FRAME_W / pdfmetrics.stringWidth(address, self.font, 1))
        canv.setFont(self.font, size)
        canv.drawString(MARGIN_X, y - 9 * mm, address)


def _page_numbers(font: str, numbered: bool) -> PageFurniture:
    """ "第 x 页 / 共 y 页" at the bottom right of every page of a notice of several pages."""

    def furniture(canv: Canvas, number: int, total: int) -> None:
        if numbered and total > 1:
            canv.setFont(font, 9)
            canv.drawRightString(
                PAGE_W - MARGIN_X, MARGIN_BOTTOM - 12.5 * mm, page_of(number, total)
            )

    return furniture


def build(
    centre: Centre,
    facts: CaseFacts,
    title: str,
    story: list[Flowable],
    *,
    font: FontChoice,
    with_qr: bool,
    numbered: bool = True,
) -> bytes:
    """Lay out a notice's `story` on A4 pages with its header, footer and page count."""
    return a4_pdf(
        story,
        font=font.name,
        font_size=12,
        margins=(MARGIN_X, MARGIN_TOP_QR if with_qr else MARGIN_TOP, MARGIN_BOTTOM),
        furniture=_page_numbers(font.name, numbered),
        on_page=_Page(centre, facts, font.name, with_qr),
        title=f"{title}（{facts.case_no}）",
        author=centre.name,
        subject=f"{facts.item_name} {facts.case_no}",
        keywords=[facts.case_no, facts.item_name],
    )
