"""What every PDF the centre prints shares (reportlab): the CJK font, the approval seal, the
page count, and the small text helpers of a Chinese document.

The notices of a case (app.notices) and the monthly statistics report (app.stats.report)
are set in one embedded TrueType CJK font, found by :func:`cjk_font`; nothing is downloaded
at run time. Both stamp the centre's seal drawn in vector (:func:`draw_seal`) and write
"第 x 页 / 共 y 页" on their pages, which needs the page count before any page is written:
:func:`numbered_canvas` makes the canvas that waits for it. Everything here is pure: no
database, no Flask request.
"""

from __future__ import annotations

import io
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, SimpleDocTemplate

# the logger the font warnings have always had (log filters may name it)
log = logging.getLogger("onewindow.notices")

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
    """The font the documents are set in."""

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
    """Find, register and return the CJK font for the notices and the report.

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


# --- text -------------------------------------------------------------------------------------


def chinese_date(d: date) -> str:
    """A date as a Chinese document writes it: 2026年11月3日."""
    return f"{d.year}年{d.month}月{d.day}日"


def markup(text: str) -> str:
    """Escape user text for a Paragraph (reportlab's mini-markup is XML); keep line breaks."""
    return escape(text or "").replace("\n", "<br/>")


def fit(text: str, font: str, size: float, width: float) -> str:
    """`text` cut with "…" so that it is at most `width` wide."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text + "…"


class HeavyTitle(Flowable):
    """A document's title, centred and set a touch heavier (filled and stroked: the CJK font
    has no bold). Each document says in `wrap` how a title too wide for the line shrinks and
    whether it is letter-spaced (`spacing`, None: not at all)."""

    height_factor = 1.6  # the flowable's height, in font sizes
    baseline = 0.4  # the baseline above the flowable's bottom, in font sizes

    def __init__(self, text: str, font: str, size: float) -> None:
        super().__init__()
        self.text = text
        self.font = font
        self.size = size
        self.spacing: float | None = None

    def draw(self) -> None:
        canv = self.canv
        canv.setLineWidth(self.size * 0.025)
        text = canv.beginText()
        width = pdfmetrics.stringWidth(self.text, self.font, self.size)
        if self.spacing is not None:
            width += self.spacing * (len(self.text) - 1)
        text.setTextOrigin((self.width - width) / 2, self.size * self.baseline)
        text.setFont(self.font, self.size)
        if self.spacing is not None:
            text.setCharSpace(self.spacing)
        text.setTextRenderMode(2)  # fill and stroke
        text.textOut(self.text)
        canv.drawText(text)


# --- the page count ---------------------------------------------------------------------------


def page_of(number: int, total: int) -> str:
    """The page line of a footer: "第 2 页 / 共 5 页"."""
    return f"第 {number} 页 / 共 {total} 页"


PageFurniture = Callable[[Canvas, int, int], None]
"""Draws on one finished page what needs the page count: (canvas, page number, pages)."""


def numbered_canvas(furniture: PageFurniture) -> type[Canvas]:
    """A canvas class that keeps every laid-out page and, once the count is known, draws
    `furniture` on each before writing it (the "第 x 页 / 共 y 页" of the footers)."""

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
                furniture(self, self._pageNumber, total)
                super().showPage()
            super().save()

    return NumberedCanvas


PageDrawer = Callable[[Canvas, Any], None]
"""Draws what a page carries as it is laid out: (canvas, document)."""


def a4_pdf(
    story: list[Flowable],
    *,
    font: str,
    font_size: float,
    margins: tuple[float, float, float],
    furniture: PageFurniture,
    on_page: PageDrawer | None = None,
    **info: Any,
) -> bytes:
    """Lay out `story` on A4 pages and return the PDF.

    `margins` are (left and right, top, bottom); `font` is the document's initial font (else
    every page names an unembedded Helvetica); `on_page` draws on each page as it is laid
    out, `furniture` once the pages are counted; `info` is the document's title, author,
    subject (and keywords).
    """
    buf = io.BytesIO()
    side, top, bottom = margins
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=side, rightMargin=side, topMargin=top,
                            bottomMargin=bottom, creator="OneWindow", lang="zh-CN",
                            initialFontName=font, initialFontSize=font_size, **info)  # fmt: skip
    pages = {"onFirstPage": on_page, "onLaterPages": on_page} if on_page else {}
    doc.build(story, canvasmaker=numbered_canvas(furniture), **pages)
    return buf.getvalue()


# --- the seal ---------------------------------------------------------------------------------

SEAL_RED = colors.Color(0.86, 0.08, 0.09)
SEAL_ALPHA = 0.82


def draw_seal(
    canv: Canvas, cx: float, cy: float, radius: float, name: str, purpose: str, font: str
) -> None:
    """Draw the approval seal in vector: double ring, star, name on the arc, purpose below.

    Semi-opaque red multiplied over what is under it, as a stamp in red ink looks on paper.
    The seal is marked as having no text (an empty ActualText span), so that copying or
    extracting the document's text is not garbled by the characters set on the arc.
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
    _star(canv, cx, cy + radius * 0.04, radius * 0.3)
    _arc_text(canv, cx, cy, radius, inner_r, name, font)
    if purpose:
        _purpose(canv, cx, cy, radius, inner_r, purpose, font)
    canv.restoreState()
    canv.addLiteral("EMC")


def _star(canv: Canvas, cx: float, cy: float, star_r: float) -> None:
    """The five-pointed star, pointing up."""
    points = []
    for k in range(10):
        r = star_r if k % 2 == 0 else star_r * 0.382
        a = math.radians(90 + 36 * k)
        points.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    path = canv.beginPath()
    path.moveTo(*points[0])
    for p in points[1:]:
        path.lineTo(*p)
    path.close()
    canv.drawPath(path, stroke=0, fill=1)


def _arc_text(
    canv: Canvas, cx: float, cy: float, radius: float, inner_r: float, name: str, font: str
) -> None:
    """The centre's name on the arc along the top, each character upright towards the rim."""
    chars = [c for c in name if not c.isspace()]
    n = len(chars)
    if not n:
        return
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


def _purpose(
    canv: Canvas, cx: float, cy: float, radius: float, inner_r: float, purpose: str, font: str
) -> None:
    """The purpose ("行政审批专用章") straight under the star."""
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
