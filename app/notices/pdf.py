"""Printable notices of a licensing case as PDF (reportlab).

Every notice is an A4 page (or several) in the sober style of a government notice: the
centre's name and the title centred, the case or decision number, the addressee, the body,
bordered tables for field lists, the date line with the centre's approval seal (行政审批专用章)
stamped over it, and a footer with the supervision phone. The notices that the applicant uses
to follow the case (receipt, supplement notice, commitment notice) carry the case number, the
query code and a QR code in the top right corner.

The functions are pure: they take plain dataclasses, need no database and no Flask request,
and return the PDF as bytes. Chinese text is set in an embedded TrueType CJK font, found by
:func:`cjk_font`; nothing is downloaded at run time.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode
from xml.sax.saxutils import escape

from reportlab.graphics.barcode import qr, qrencoder
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_JUSTIFY, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepInFrame,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

log = logging.getLogger("onewindow.notices")

__all__ = [
    "FONT_ENV",
    "CaseFacts",
    "Centre",
    "FontChoice",
    "acceptance_receipt",
    "cjk_font",
    "commitment_notice",
    "decision_letter",
    "qr_payload",
    "refusal_notice",
    "supplement_notice",
]

# --- fonts ------------------------------------------------------------------------------------

FONT_ENV = "OW_PDF_FONT"
"""Environment variable naming a TrueType (.ttf/.ttc) CJK font to embed."""

DEFAULT_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",  # Debian fonts-wqy-zenhei
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei
)
"""TrueType CJK fonts tried, in order, after the configured path and the environment."""

FALLBACK_CID_FONT = "STSong-Light"
"""reportlab's built-in Simplified Chinese CID font: always there, but not embedded."""


@dataclass(frozen=True)
class FontChoice:
    """The font the notices are set in."""

    name: str  # registered reportlab font name
    path: str | None  # the TrueType file, None for the CID fallback
    embedded: bool


_font_lock = threading.Lock()
_registered: dict[str, FontChoice | None] = {}  # TrueType path -> choice (None: unusable)
_fallback_warned = False


def _register_truetype(path: str) -> FontChoice | None:
    """Register the TrueType font at `path` once; None when it is missing or unusable."""
    if path in _registered:
        return _registered[path]
    choice: FontChoice | None = None
    if os.path.isfile(path):
        name = f"OneWindowCJK-{len(_registered) + 1}"
        try:
            # .ttc collections: the first face (WenQuanYi Zen Hei, Micro Hei, ...).
            font = TTFont(name, path, subfontIndex=0)
        except (TTFError, OSError, ValueError) as exc:
            # e.g. a CFF-based OpenType font (Noto CJK): reportlab cannot embed those.
            log.warning("PDF font %s cannot be used: %s", path, exc)
        else:
            pdfmetrics.registerFont(font)
            pdfmetrics.registerFontFamily(
                name, normal=name, bold=name, italic=name, boldItalic=name
            )
            choice = FontChoice(name=name, path=path, embedded=True)
    _registered[path] = choice
    return choice


def cjk_font(path: str | os.PathLike[str] | None = None) -> FontChoice:
    """Find, register and return the CJK font for the notices.

    Tried in order: `path` (the caller passes ``app.config["PDF_FONT"]``), the environment
    variable ``OW_PDF_FONT``, then :data:`DEFAULT_FONTS` (WenQuanYi Zen Hei, then Micro Hei).
    The first TrueType font that exists and loads is embedded (subset) in every PDF. When
    none does, reportlab's built-in CID font ``STSong-Light`` is used — not embedded, so the
    reader's viewer must supply a Chinese font — and a warning is logged once.
    """
    global _fallback_warned
    candidates = [os.fspath(path) if path else "", os.environ.get(FONT_ENV, ""), *DEFAULT_FONTS]
    with _font_lock:
        for candidate in candidates:
            if candidate:
                choice = _register_truetype(candidate)
                if choice is not None:
                    return choice
        if FALLBACK_CID_FONT not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_CID_FONT))
        if not _fallback_warned:
            _fallback_warned = True
            log.warning(
                "no TrueType CJK font found (tried %s); notices use the built-in %s, which is "
                "not embedded: install fonts-wqy-zenhei or set %s",
                ", ".join(c for c in candidates if c),
                FALLBACK_CID_FONT,
                FONT_ENV,
            )
        return FontChoice(name=FALLBACK_CID_FONT, path=None, embedded=False)


# --- the data the caller maps its case rows to -----------------------------------------------


@dataclass(frozen=True)
class Centre:
    """The service centre that issues the notices."""

    name: str
    address: str
    supervision_phone: str  # 驻厅监察室
    seal_text: str = "行政审批专用章"


@dataclass(frozen=True)
class CaseFacts:
    """What every notice needs to know about the case. Times are local times already."""

    case_no: str
    query_code: str
    item_name: str
    department: str  # the accepting unit (受理单位)
    applicant_name: str
    applicant_phone: str  # masked or not: the caller decides
    received_at: datetime
    accepted_at: datetime | None = None
    promised_due: date | None = None
    promised_days: int | None = None  # working days
    statutory_days: int | None = None  # working days
    acceptor_name: str = ""
    acceptor_phone: str = ""
    window: str = ""
    query_url: str = ""  # where the public progress query lives


def qr_payload(facts: CaseFacts) -> str:
    """What the QR code on a notice encodes: the progress query for this case."""
    if facts.query_url:
        sep = "&" if "?" in facts.query_url else "?"
        query = urlencode({"case_no": facts.case_no, "code": facts.query_code})
        return f"{facts.query_url}{sep}{query}"
    return f"办件编号:{facts.case_no};查询码:{facts.query_code}"


# --- layout constants -------------------------------------------------------------------------

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
SEAL_RED = colors.Color(0.86, 0.08, 0.09)
SEAL_ALPHA = 0.82
RULE = colors.Color(0.25, 0.25, 0.25)
HEADER_FILL = colors.Color(0.93, 0.93, 0.93)

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


def _date(d: date | datetime) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def _datetime(t: datetime) -> str:
    return f"{t.year}年{t.month}月{t.day}日 {t.hour:02d}时{t.minute:02d}分"


def _esc(text: str) -> str:
    """Escape user text for a Paragraph (reportlab's mini-markup is XML)."""
    return escape(text or "").replace("\n", "<br/>")


def _sentence(text: str) -> str:
    """Text without its closing full stop, so that the template can add one."""
    return (text or "").strip().rstrip("。．.；;，,")


# --- styles -----------------------------------------------------------------------------------


class _Styles:
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
        self.label = ParagraphStyle("label", parent=self.cell, alignment=TA_CENTER)
        self.note = ParagraphStyle(
            "note", parent=base, fontSize=10, leading=15, leftIndent=20, firstLineIndent=-20
        )
        self.copy = ParagraphStyle(
            "copy", parent=base, fontSize=12.5, leading=18, alignment=TA_CENTER
        )


# --- flowables --------------------------------------------------------------------------------


class _Title(Flowable):
    """The notice title: large, centred, letter-spaced, slightly emboldened."""

    def __init__(self, text: str, font: str, size: float = 21) -> None:
        super().__init__()
        self.text = text
        self.font = font
        self.size = size
        self.spacing = 0.0

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        while width > availWidth and self.size > 12:
            self.size -= 1
            width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        room = availWidth - width
        gaps = max(len(self.text) - 1, 1)
        self.spacing = min(self.size * 0.25, room / gaps) if len(self.text) <= 10 else 0.0
        self.width = availWidth
        self.height = self.size * 1.7
        return self.width, self.height

    def draw(self) -> None:
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        width += self.spacing * (len(self.text) - 1)
        text = self.canv.beginText()
        text.setTextOrigin((self.width - width) / 2, self.size * 0.45)
        text.setFont(self.font, self.size)
        text.setCharSpace(self.spacing)
        text.setTextRenderMode(2)  # fill and stroke: a touch of weight for a font without bold
        self.canv.setLineWidth(self.size * 0.025)
        text.textOut(self.text)
        self.canv.drawText(text)


class _SignLine(Flowable):
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


def draw_seal(
    canv: Canvas, cx: float, cy: float, radius: float, name: str, purpose: str, font: str
) -> None:
    """Draw the approval seal in vector: double ring, star, name on the arc, purpose below.

    Semi-opaque red multiplied over what is under it, as a stamp in red ink looks on paper.
    The seal is marked as having no text (an empty ActualText span), so that copying or
    extracting the notice's text is not garbled by the characters set on the arc.
    """
    canv.addLiteral("/Span <</ActualText ()>> BDC")
    canv.saveState()
    canv.setBlendMode("Multiply")
    canv.setFillColor(SEAL_RED)
    canv.setStrokeColor(SEAL_RED)
    canv.setFillAlpha(SEAL_ALPHA)
    canv.setStrokeAlpha(SEAL_ALPHA)

    outer_w = radius * 0.075
    canv.setLineWidth(outer_w)
    canv.circle(cx, cy, radius - outer_w / 2, stroke=1, fill=0)
    inner_r = radius - outer_w - radius * 0.05
    canv.setLineWidth(radius * 0.018)
    canv.circle(cx, cy, inner_r, stroke=1, fill=0)

    # The five-pointed star, pointing up.
    star_r = radius * 0.3
    star_cy = cy + radius * 0.04
    points = []
    for k in range(10):
        r = star_r if k % 2 == 0 else star_r * 0.382
        a = math.radians(90 + 36 * k)
        points.append((cx + r * math.cos(a), star_cy + r * math.sin(a)))
    path = canv.beginPath()
    path.moveTo(*points[0])
    for p in points[1:]:
        path.lineTo(*p)
    path.close()
    canv.drawPath(path, stroke=0, fill=1)

    # The centre's name on the arc along the top, each character upright towards the rim.
    chars = [c for c in name if not c.isspace()]
    n = len(chars)
    if n:
        span = min(235.0, max(n * 25.0, 120.0)) if n > 1 else 0.0
        step = span / (n - 1) if n > 1 else 0.0
        scale = 0.86  # seal lettering is condensed
        arc_per_char = math.radians(step or 30) * radius * 0.72
        size = min(radius * 0.26, arc_per_char * 0.98 / scale)
        glyph_r = inner_r - radius * 0.04 - size * 0.5
        for i, ch in enumerate(chars):
            angle = 90 + span / 2 - i * step
            a = math.radians(angle)
            canv.saveState()
            canv.translate(cx + glyph_r * math.cos(a), cy + glyph_r * math.sin(a))
            canv.rotate(angle - 90)
            canv.setLineWidth(size * 0.05)
            text = canv.beginText()
            text.setFont(font, size)
            text.setHorizScale(scale * 100)
            text.setTextRenderMode(2)  # fill and stroke: seal lettering is heavy
            width = pdfmetrics.stringWidth(ch, font, size) * scale
            text.setTextOrigin(-width / 2, -size * 0.36)
            text.textOut(ch)
            canv.drawText(text)
            canv.restoreState()

    # The purpose ("行政审批专用章") straight under the star.
    if purpose:
        size = radius * 0.18
        scale = 0.88
        room = 2 * math.sqrt(max(inner_r**2 - (radius * 0.58) ** 2, 0)) * 0.9
        width = pdfmetrics.stringWidth(purpose, font, size) * scale
        if width > room:
            size *= room / width
            width = room
        canv.setLineWidth(size * 0.04)
        text = canv.beginText()
        text.setFont(font, size)
        text.setHorizScale(scale * 100)
        text.setTextRenderMode(2)
        text.setTextOrigin(cx - width / 2, cy - radius * 0.58)
        text.textOut(purpose)
        canv.drawText(text)
    canv.restoreState()
    canv.addLiteral("EMC")


# --- page furniture ---------------------------------------------------------------------------


class _Page:
    """Draws what every page carries: the QR header band (when wanted) and the footer."""

    def __init__(self, centre: Centre, facts: CaseFacts, font: str, with_qr: bool) -> None:
        self.centre = centre
        self.facts = facts
        self.font = font
        self.with_qr = with_qr
        self.payload = qr_payload(facts)

    def __call__(self, canv: Canvas, doc: Any) -> None:
        canv.saveState()
        if self.with_qr:
            self._header(canv)
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


def _numbered_canvas(font: str, numbered: bool) -> type[Canvas]:
    """A canvas class that writes "第 x 页 / 共 y 页" on every page once the count is known."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                if numbered and total > 1:
                    self.setFont(font, 9)
                    self.drawRightString(
                        PAGE_W - MARGIN_X,
                        MARGIN_BOTTOM - 12.5 * mm,
                        f"第 {self._pageNumber} 页 / 共 {total} 页",
                    )
                super().showPage()
            super().save()

    return NumberedCanvas


# --- building blocks --------------------------------------------------------------------------


def _field_table(rows: list[list[Any]], widths: Sequence[float], styles: _Styles) -> Table:
    """A bordered table of label/value cells; the label cells (see _label) shaded."""
    cells = [
        [c if isinstance(c, Flowable | list) else Paragraph(_esc(str(c)), styles.cell) for c in r]
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


def _list_table(
    rows: list[list[Any]], widths: list[float], styles: _Styles, valign: str = "MIDDLE"
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


def _label(text: str, styles: _Styles) -> Paragraph:
    return Paragraph(_esc(text), styles.label)


def _heading(centre: Centre, title: str, number: str, styles: _Styles) -> list[Flowable]:
    """Centre name, title and the document number line under it."""
    parts: list[Flowable] = [
        Paragraph(_esc(centre.name), styles.centre),
        Spacer(1, 1.5 * mm),
        _Title(title, styles.font),
    ]
    if number:
        parts += [Spacer(1, 1 * mm), Paragraph(_esc(number), styles.number)]
    parts.append(Spacer(1, 4 * mm))
    return parts


def _addressee(facts: CaseFacts, styles: _Styles) -> Paragraph:
    return Paragraph(f"{_esc(facts.applicant_name)}：", styles.addressee)


def _body(text: str, styles: _Styles) -> Paragraph:
    """A body paragraph; `text` is markup already (escape user parts with _esc)."""
    return Paragraph(text, styles.body)


def _limits(facts: CaseFacts) -> str:
    """The promised completion: "2025年3月31日前（承诺 20 个工作日，法定 45 个工作日）"."""
    parts: list[str] = []
    if facts.promised_due:
        parts.append(f"{_date(facts.promised_due)}前")
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


def _acceptor(facts: CaseFacts) -> list[str]:
    """The acceptor's lines on the left of the signature block."""
    return [f"受理人：{facts.acceptor_name or '—'}", f"联系电话：{facts.acceptor_phone or '—'}"]


def _accepting_unit(facts: CaseFacts) -> str:
    return f"{facts.department}（{facts.window}）" if facts.window else facts.department


def _build(
    centre: Centre,
    facts: CaseFacts,
    title: str,
    story: list[Flowable],
    *,
    font: FontChoice,
    with_qr: bool,
    numbered: bool = True,
) -> bytes:
    buf = io.BytesIO()
    doc = SimpleDocTemplate(
        buf,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP_QR if with_qr else MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=f"{title}（{facts.case_no}）",
        author=centre.name,
        subject=f"{facts.item_name} {facts.case_no}",
        creator="OneWindow",
        keywords=[facts.case_no, facts.item_name],
        lang="zh-CN",
        initialFontName=font.name,  # else every page names an unembedded Helvetica
        initialFontSize=12,
    )
    page = _Page(centre, facts, font.name, with_qr)
    doc.build(
        story,
        onFirstPage=page,
        onLaterPages=page,
        canvasmaker=_numbered_canvas(font.name, numbered),
    )
    return buf.getvalue()


def _signature(
    centre: Centre,
    day: date | datetime,
    font: FontChoice,
    seal_image: str | os.PathLike[str] | None,
    left: Sequence[str] = (),
) -> Flowable:
    return _SignatureBlock([centre.name, _date(day)], centre, font.name, seal_image, left)


# --- the notices ------------------------------------------------------------------------------


def acceptance_receipt(
    centre: Centre,
    facts: CaseFacts,
    materials: list[tuple[str, str, int]],
    *,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """受理通知书 (acceptance receipt, Law art. 32(5)): the case is accepted.

    `materials` are those received: (name, form, count), form being 原件 / 复印件 / 原件及复印件
    (or the catalogue's original / copy / original_and_copy). Dated on the acceptance day.
    """
    font = cjk_font(font_path)
    st = _Styles(font.name)
    accepted = facts.accepted_at or facts.received_at
    story = _heading(centre, "受理通知书", "", st)
    story += [
        _addressee(facts, st),
        _body(
            f"你（单位）于{_date(facts.received_at)}提交的{_esc(facts.item_name)}申请，经审查，"
            "申请事项属于本机关职权范围，申请材料齐全、符合法定形式。根据《中华人民共和国"
            "行政许可法》第三十二条第一款第（五）项的规定，决定予以受理。",
            st,
        ),
        _body("本中心已收到你（单位）提交的下列申请材料：", st),
        Spacer(1, 1.5 * mm),
    ]
    head = [_label(t, st) for t in ("序号", "材料名称", "原件/复印件", "份数")]
    rows: list[list[Any]] = [head]
    for i, (name, form, count) in enumerate(materials, 1):
        rows.append(
            [
                Paragraph(str(i), st.cell_c),
                Paragraph(_esc(name), st.cell),
                Paragraph(_esc(FORMS.get(form, form)), st.cell_c),
                Paragraph(str(count), st.cell_c),
            ]
        )
    if not materials:
        rows.append([Paragraph("—", st.cell_c), Paragraph("（无）", st.cell), "", ""])
    table = _list_table(rows, [14 * mm, FRAME_W - 60 * mm, 30 * mm, 16 * mm], st)
    story += [table, Spacer(1, 3 * mm)]
    info = _field_table(
        [
            [
                _label("受理单位", st),
                _accepting_unit(facts),
                _label("受理时间", st),
                _datetime(accepted),
            ],
            [_label("承诺办结", st), Paragraph(_esc(_limits(facts)), st.cell), "", ""],
        ],
        [22 * mm, 66 * mm, 22 * mm, FRAME_W - 110 * mm],
        st,
    )
    info.setStyle(TableStyle([("SPAN", (1, 1), (3, 1))]))
    story += [info, Spacer(1, 3 * mm)]
    notes = [
        "请凭办件编号和查询码（或扫描右上角二维码）查询办理进度，凭本通知书领取办理结果。",
        EXCLUDED_PERIODS,
    ]
    # The notes go with the signature: a page with only the seal on it is no notice.
    story.append(
        KeepTogether(
            [Paragraph(f"{i}．{t}", st.note) for i, t in enumerate(notes, 1)]
            + [Spacer(1, 2 * mm), _signature(centre, accepted, font, seal_image, _acceptor(facts))]
        )
    )
    return _build(centre, facts, "受理通知书", story, font=font, with_qr=True)


def supplement_notice(
    centre: Centre,
    facts: CaseFacts,
    missing: list[str],
    deadline_note: str,
    *,
    issued_on: date | None = None,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """补正材料一次性告知书 (Law art. 32(4)): every missing material, numbered, at once.

    `deadline_note` says by when and where to hand the materials in. Dated `issued_on`
    (default: today).
    """
    if not missing:
        raise ValueError("a supplement notice must list at least one missing material")
    font = cjk_font(font_path)
    st = _Styles(font.name)
    story = _heading(centre, "补正材料一次性告知书", "", st)
    story += [
        _addressee(facts, st),
        _body(
            f"你（单位）于{_date(facts.received_at)}提交的{_esc(facts.item_name)}申请材料，"
            "经审查，申请材料不齐全或者不符合法定形式。根据《中华人民共和国行政许可法》"
            "第三十二条第一款第（四）项的规定，现一次性告知你（单位）需要补正的全部内容如下"
            f"（共 {len(missing)} 项）：",
            st,
        ),
        Spacer(1, 1.5 * mm),
    ]
    rows: list[list[Any]] = [[_label("序号", st), _label("需要补正的材料及要求", st)]]
    rows += [
        [Paragraph(str(i), st.cell_c), Paragraph(_esc(m), st.cell)]
        for i, m in enumerate(missing, 1)
    ]
    table = _list_table(rows, [14 * mm, FRAME_W - 14 * mm], st, valign="TOP")
    where = f"到{_esc(facts.window)}" if facts.window else "到本中心受理窗口"
    story += [
        table,
        Spacer(1, 3 * mm),
        _body(f"补正要求：{_esc(_sentence(deadline_note))}。", st),
        _body(
            f"请你（单位）按照上述要求补正全部材料后，{where}提交。补正的材料齐全、符合法定"
            "形式的，本中心将依法予以受理。本告知书所列为需要补正的全部内容，"
            "本中心不再要求补正本告知书未列明的材料。",
            st,
        ),
        KeepTogether(
            [
                Spacer(1, 3 * mm),
                _signature(centre, issued_on or date.today(), font, seal_image, _acceptor(facts)),
            ]
        ),
    ]
    return _build(centre, facts, "补正材料一次性告知书", story, font=font, with_qr=True)


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
    """不予受理决定书 (Law art. 32(2)(3)): the reason, its legal basis and the applicant's rights.

    Dated `issued_on` (default: today).
    """
    if not reason.strip() or not legal_basis.strip():
        raise ValueError("a refusal needs its reason and its legal basis")
    font = cjk_font(font_path)
    st = _Styles(font.name)
    story = _heading(centre, "不予受理决定书", f"办件编号：{facts.case_no}", st)
    story += [
        _addressee(facts, st),
        _body(
            f"你（单位）于{_date(facts.received_at)}提交的{_esc(facts.item_name)}申请，"
            f"经审查，{_esc(_sentence(reason))}。",
            st,
        ),
        _body(f"根据{_esc(_sentence(legal_basis))}的规定，本中心决定不予受理。", st),
        _body("你（单位）提交的申请材料已全部退回，请核对查收。", st),
        _body(RIGHTS, st),
        KeepTogether(
            [Spacer(1, 6 * mm), _signature(centre, issued_on or date.today(), font, seal_image)]
        ),
    ]
    return _build(centre, facts, "不予受理决定书", story, font=font, with_qr=False)


COPIES = ("第一联　受理单位存根", "第二联　申请人收执", "第三联　驻厅监察室存查")
"""The three copies of the commitment notice, one page each."""


def commitment_notice(
    centre: Centre,
    facts: CaseFacts,
    supervision_opinion: str = "",
    *,
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """行政许可承诺通知单 (DESIGN rule 3), in three copies on three pages.

    Each copy has the nine fields, its copy mark, the case number, query code and QR code,
    the supervision phone and the seal. An empty `supervision_opinion` leaves room to sign.
    """
    font = cjk_font(font_path)
    st = _Styles(font.name)
    accepted = facts.accepted_at or facts.received_at
    story: list[Flowable] = []
    for n, copy in enumerate(COPIES):
        if n:
            story.append(PageBreak())
        page: list[Flowable] = _heading(centre, "行政许可承诺通知单", "", st)[:-1]
        page += [Spacer(1, 1 * mm), Paragraph(f"（{copy}）", st.copy), Spacer(1, 3 * mm)]
        opinion: list[Flowable] = [
            Paragraph(_esc(supervision_opinion) if supervision_opinion else "", st.cell),
            Spacer(1, 8 * mm if supervision_opinion else 18 * mm),
            _SignLine(font.name),
        ]
        table = _field_table(
            [
                [_label("办件编号", st), facts.case_no, _label("查 询 码", st), facts.query_code],
                [_label("受理单位", st), _accepting_unit(facts), "", ""],
                [_label("申请事项", st), facts.item_name, "", ""],
                [_label("受理时间", st), _datetime(accepted), "", ""],
                [_label("承诺办结时间", st), Paragraph(_esc(_limits(facts)), st.cell), "", ""],
                [
                    _label("受 理 人", st),
                    facts.acceptor_name or "—",
                    _label("受理人电话", st),
                    facts.acceptor_phone or "—",
                ],
                [
                    _label("申 请 人", st),
                    facts.applicant_name,
                    _label("申请人电话", st),
                    facts.applicant_phone or "—",
                ],
                [_label("监察室意见", st), opinion, "", ""],
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
        page.append(table)
        notes = [
            "本通知单一式三联：第一联由受理单位存根，第二联交申请人收执，第三联送驻厅监察室存查。",
            "申请人可凭办件编号和查询码（或扫描右上角二维码）查询办理进度，"
            "并在承诺办结时间凭本通知单领取办理结果。",
            EXCLUDED_PERIODS,
            "受理单位未在承诺时间内办结，或者在办理过程中有刁难、推诿等行为的，"
            f"请拨打驻厅监察室监督电话 {_esc(centre.supervision_phone)} 投诉。",
        ]
        page.append(Spacer(1, 2.5 * mm))
        page += [Paragraph(f"{i}．{t}", st.note) for i, t in enumerate(notes, 1)]
        page.append(_signature(centre, accepted, font, seal_image, left=["受理人（签名）："]))
        # One copy, one page, whatever the length of the texts: shrink to fit if need be.
        story.append(KeepInFrame(FRAME_W, FRAME_H_QR, page, mode="shrink"))
    return _build(
        centre, facts, "行政许可承诺通知单", story, font=font, with_qr=True, numbered=False
    )


def decision_letter(
    centre: Centre,
    facts: CaseFacts,
    approved: bool,
    decision_no: str,
    reason: str = "",
    legal_basis: str = "",
    decided_at: datetime | None = None,
    *,
    certificate: str = "",
    seal_image: str | os.PathLike[str] | None = None,
    font_path: str | os.PathLike[str] | None = None,
) -> bytes:
    """准予行政许可决定书 / 不予行政许可决定书 (Law art. 38, 44).

    Approval: `reason` is what is granted (default: the item as applied for), `legal_basis`
    defaults to art. 38(1), `certificate` names the licence issued within 10 working days.
    Denial: `reason` and `legal_basis` are required; the letter states the rights to
    reconsideration (60 days) and litigation (6 months). Dated `decided_at` (default: today).
    """
    if not approved and (not reason.strip() or not legal_basis.strip()):
        raise ValueError("a denial needs its reasons and its legal basis (Law art. 38(2))")
    font = cjk_font(font_path)
    st = _Styles(font.name)
    title = "准予行政许可决定书" if approved else "不予行政许可决定书"
    decided = decided_at or datetime.now()
    accepted = facts.accepted_at or facts.received_at
    story = _heading(centre, title, decision_no, st)
    story.append(_addressee(facts, st))
    applied = (
        f"你（单位）于{_date(facts.received_at)}提出的{_esc(facts.item_name)}申请"
        f"（办件编号：{_esc(facts.case_no)}），本机关已于{_date(accepted)}依法受理。"
    )
    if approved:
        basis = _sentence(legal_basis) or "《中华人民共和国行政许可法》第三十八条第一款"
        granted = _sentence(reason) or f"准予{facts.item_name}"
        licence = f"行政许可证件（{_esc(certificate)}）" if certificate else "行政许可证件"
        story += [
            _body(
                f"{applied}经审查，你（单位）的申请符合法定条件、标准。根据{_esc(basis)}"
                "的规定，本机关决定准予行政许可。",
                st,
            ),
            _body(f"准予许可的事项：{_esc(facts.item_name)}。", st),
            _body(f"准予许可的内容：{_esc(granted)}。", st),
            _body(
                "根据《中华人民共和国行政许可法》第四十四条的规定，本机关将自本决定作出之日起"
                f"十个工作日内向你（单位）颁发、送达{licence}。请凭本决定书"
                + (f"到{_esc(facts.window)}" if facts.window else "到本中心")
                + "领取。",
                st,
            ),
        ]
    else:
        story += [
            _body(
                f"{applied}经审查，{_esc(_sentence(reason))}。根据{_esc(_sentence(legal_basis))}"
                "的规定，本机关决定不予行政许可。",
                st,
            ),
            _body(RIGHTS, st),
        ]
    story.append(KeepTogether([Spacer(1, 6 * mm), _signature(centre, decided, font, seal_image)]))
    return _build(centre, facts, title, story, font=font, with_qr=False)
