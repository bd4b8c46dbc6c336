"""The printable notices as PDF: Chinese text embedded and extractable, QR code, seal, pages.

Each notice is built from the demo centre and the joint-investment item, rendered to PNG with
``pdftoppm -r 80`` into build/notices/ (to look at) and read back with ``pdftotext -layout``.
Without poppler the rendering tests skip, or fail under CI.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from PIL import Image
from reportlab.graphics.barcode import qrencoder

from app import printing
from app.notices import (
    CaseFacts,
    Centre,
    Opinion,
    acceptance_receipt,
    commitment_notice,
    decision_letter,
    layout,
    qr_payload,
    refusal_notice,
    supplement_notice,
)
from app.notices.decisions import Decision
from app.printing import cjk_font
from tests.pdftools import render, require_poppler, run, text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "notices"

RIGHTS = (
    "如不服本决定，可在收到本决定书之日起六十日内依法申请行政复议，"
    "或者在六个月内依法向人民法院提起行政诉讼"
)
COMMITMENT_LABELS = (
    "受理单位",
    "申请事项",
    "受理时间",
    "承诺办结时间",
    "受理人",
    "受理人电话",
    "申请人",
    "申请人电话",
    "监察室意见",
)
COPY_MARKS = ("第一联受理单位存根", "第二联申请人收执", "第三联驻厅监察室存查")


def _toml(name: str) -> dict:
    with open(ROOT / "bpmn" / name, "rb") as f:
        return tomllib.load(f)


CENTRE_TOML = _toml("centre.toml")["centre"]
ITEM = _toml("joint-investment.toml")
CENTRE = Centre(
    name=CENTRE_TOML["name"],
    address=CENTRE_TOML["address"],
    supervision_phone=CENTRE_TOML["supervision_phone"],
)
FACTS = CaseFacts(
    case_no="2025030312345678",
    query_code="K7P3XQ",
    item_name=ITEM["name"],
    department="示范市发展和改革委员会",
    applicant_name="示范市宏远新能源科技有限公司",
    applicant_phone="139****5678",
    received_at=datetime(2025, 3, 3, 9, 42),
    accepted_at=datetime(2025, 3, 3, 10, 15),
    promised_due=date(2025, 3, 31),
    promised_days=ITEM["promised_days"],
    statutory_days=ITEM["statutory_days"],
    acceptor_name="刘芳",
    acceptor_phone="13912340101",
    window=ITEM["window"],
    query_url="https://zwfw.example.gov.cn/query",
)
FORM_NAMES = {"original": "原件", "copy": "复印件", "original_and_copy": "原件及复印件"}
MATERIALS = [(m["name"], FORM_NAMES[m["form"]], m["count"]) for m in ITEM["materials"]]
MISSING = [
    (
        "环境影响报告书（表）",
        "原件 2 份；须由具备能力的技术单位编制，并加盖编制单位公章；"
        "报告书结论页须有项目单位法定代表人签字",
    ),
    ("建设项目用地预审申请表及勘测定界图", "原件 1 份；勘测定界图须标注四至坐标和用地面积"),
    ("企业投资项目信用承诺书", "原件 1 份；须加盖企业公章并由法定代表人签字"),
    ("授权委托书及受托人身份证明", "原件及复印件各 1 份；委托代理人办理的提交"),
]


def _compact(text: str) -> str:
    """pdftotext output without whitespace: layout spacing and wrapped lines disappear."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def poppler() -> None:
    """Poppler's command-line tools, or skip (fail under CI)."""
    require_poppler(OUT)


def _run(*args: str | Path) -> str:
    return run(*args)


def _render(name: str, data: bytes) -> tuple[Path, list[Path]]:
    """Write build/notices/<name>.pdf and its pages as PNGs; return both."""
    return render(OUT, name, data, dpi=80)


def _text(pdf: Path, page: int | None = None) -> str:
    return text(pdf, page)


def _info(pdf: Path) -> dict[str, str]:
    lines = _run("pdfinfo", pdf).splitlines()
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in lines)}


def _check_fonts(pdf: Path) -> None:
    """Every font in the PDF is embedded, when a TrueType CJK font is available."""
    rows = _run("pdffonts", pdf).splitlines()[2:]
    assert rows, "pdffonts lists no font"
    if not cjk_font().embedded:
        return
    for row in rows:
        cols = row.split()
        # name type [type] encoding emb sub uni object ID: "emb" is the 5th column from the end.
        assert cols[-5] == "yes", f"font not embedded: {row}"
        assert cols[-3] == "yes", f"font without a ToUnicode map: {row}"


def _red_pixels(png: Path) -> int:
    """Pixels of seal red: the seal is on the page and visible."""
    with Image.open(png) as img:
        raw = img.convert("RGB").tobytes()
    return sum(
        1 for i in range(0, len(raw), 3) if raw[i] > 180 and raw[i + 1] < 120 and raw[i + 2] < 120
    )


@pytest.fixture(autouse=True)
def _quiet_font_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING, logger="onewindow.notices")
    yield


# --- pure functions --------------------------------------------------------------------------


def test_qr_payload_has_case_number_and_query_code() -> None:
    assert qr_payload(FACTS) == (
        "https://zwfw.example.gov.cn/query?case_no=2025030312345678&code=K7P3XQ"
    )
    plain = CaseFacts(**{**FACTS.__dict__, "query_url": ""})
    assert qr_payload(plain) == "办件编号:2025030312345678;查询码:K7P3XQ"
    with_query = CaseFacts(**{**FACTS.__dict__, "query_url": "https://x.example/q?lang=zh"})
    assert qr_payload(with_query).endswith("/q?lang=zh&case_no=2025030312345678&code=K7P3XQ")


def test_a_supplement_notice_lists_something_and_a_denial_gives_reasons() -> None:
    with pytest.raises(ValueError):
        supplement_notice(CENTRE, FACTS, [], "")
    with pytest.raises(ValueError):
        no_reason = Decision(authority=CENTRE, number="示发改许〔2025〕7号", approved=False,
                             decided_at=datetime(2025, 3, 24, 16, 0))  # fmt: skip
        decision_letter(CENTRE, FACTS, no_reason)
    with pytest.raises(ValueError):
        refusal_notice(CENTRE, FACTS, "事项不属于本机关职权范围", " ")


def test_font_lookup_order_and_fallback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    bogus = tmp_path / "missing.ttc"
    zenhei = printing.DEFAULT_FONTS[0]
    monkeypatch.setattr(printing, "DEFAULT_FONTS", (str(tmp_path / "absent.ttc"),))
    monkeypatch.setattr(printing, "_fallback_warned", False)
    if os.path.isfile(zenhei):
        # The environment is read when the configured path does not exist.
        monkeypatch.setenv(printing.FONT_ENV, zenhei)
        choice = cjk_font(bogus)
        assert (choice.path, choice.embedded) == (zenhei, True)
        # An explicit path wins over the environment.
        monkeypatch.setenv(printing.FONT_ENV, str(bogus))
        assert cjk_font(zenhei).path == zenhei
    monkeypatch.delenv(printing.FONT_ENV, raising=False)
    caplog.clear()
    first = cjk_font(bogus)
    second = cjk_font()
    assert first == second
    assert (first.name, first.path, first.embedded) == ("STSong-Light", None, False)
    warnings = [r for r in caplog.records if "STSong-Light" in r.getMessage()]
    assert len(warnings) == 1, "the fallback is logged once"
    data = refusal_notice(CENTRE, FACTS, "申请事项不属于本机关职权范围", "《行政许可法》第三十二条")
    assert b"/STSong-Light" in data
    assert b"FontFile2" not in data, "the CID fallback is not embedded"


def test_a_cff_font_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    cff = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
    if not os.path.isfile(cff):
        pytest.skip("no Noto CJK (CFF) font on this machine")
    first_try = cff not in printing._registered
    choice = cjk_font(cff)
    assert choice.path != cff
    if first_try:
        assert any(cff in r.getMessage() for r in caplog.records), "the skip is logged"
    assert not choice.embedded or choice.path in printing.DEFAULT_FONTS


# --- rendered notices ------------------------------------------------------------------------


def test_acceptance_receipt(poppler: None) -> None:
    pdf, pages = _render("acceptance-receipt", acceptance_receipt(CENTRE, FACTS, MATERIALS))
    _check_fonts(pdf)
    assert len(pages) == 1, "nine materials, the notes and the seal fit on one page"
    text = _compact(_text(pdf))
    for expected in (
        "受理通知书",
        CENTRE.name,
        FACTS.applicant_name,
        FACTS.item_name,
        "第三十二条第一款第（五）项",
        "决定予以受理",
        FACTS.case_no,
        FACTS.query_code,
        "刘芳",
        "2025年3月31日前",
        "监督电话：0123-88012110",
        "2025年3月3日",
    ):
        assert expected in text, expected
    for name, _form, _count in MATERIALS:
        assert _compact(name) in text, name
    info = _info(pdf)
    assert info["Author"] == CENTRE.name
    assert info["Title"].startswith("受理通知书")
    assert info["Page size"].endswith("(A4)")
    assert _red_pixels(pages[-1]) > 500


def test_supplement_notice_lists_every_missing_material_numbered(poppler: None) -> None:
    data = supplement_notice(
        CENTRE,
        FACTS,
        MISSING,
        "请于 2025年3月10日前补正；逾期未补正的，视为放弃本次申请",
        issued_on=date(2025, 3, 4),
    )
    pdf, pages = _render("supplement-notice", data)
    _check_fonts(pdf)
    assert len(pages) == 1
    text = _compact(_text(pdf))
    assert "补正材料一次性告知书" in text
    assert "第三十二条第一款第（四）项" in text
    assert f"共{len(MISSING)}项" in text
    # in reading order (pdftotext -raw), each row: number, material, what is required of it
    rows = _compact(_run("pdftotext", "-raw", pdf, "-"))
    assert "序号需要补正的材料要求" in rows
    for i, (name, required) in enumerate(MISSING, 1):
        assert f"{i}{_compact(name)}{_compact(required)}" in rows, name
    assert "请于2025年3月10日前补正" in text
    assert "2025年3月4日" in text
    assert _red_pixels(pages[-1]) > 500


def test_refusal_notice_states_reason_basis_and_rights(poppler: None) -> None:
    data = refusal_notice(
        CENTRE,
        FACTS,
        "该项目总投资 3000 万元，属于《政府核准的投资项目目录》规定由省级人民政府核准的项目，"
        "不属于本机关职权范围，请向省发展和改革委员会提出申请。",
        "《中华人民共和国行政许可法》第三十二条第一款第（二）项",
        issued_on=date(2025, 3, 4),
    )
    pdf, pages = _render("refusal-notice", data)
    _check_fonts(pdf)
    assert len(pages) == 1
    text = _compact(_text(pdf))
    for expected in (
        "不予受理决定书",
        FACTS.applicant_name,
        "不属于本机关职权范围",
        "第三十二条第一款第（二）项的规定，本中心决定不予受理",
        RIGHTS,
    ):
        assert expected in text, expected
    assert _red_pixels(pages[-1]) > 500


def test_commitment_notice_three_copies_with_fields_qr_and_seal(poppler: None) -> None:
    pdf, pages = _render("commitment-notice", commitment_notice(CENTRE, FACTS))
    _check_fonts(pdf)
    assert _info(pdf)["Pages"] == "3"
    assert len(pages) == 3
    for page, mark in enumerate(COPY_MARKS, 1):
        text = _compact(_text(pdf, page))
        assert "行政许可承诺通知单" in text
        assert mark in text
        for other in COPY_MARKS:
            assert other == mark or other not in text
        for label in COMMITMENT_LABELS:
            assert label in text, (page, label)
        for value in (
            FACTS.case_no,
            FACTS.query_code,
            FACTS.item_name,
            FACTS.applicant_name,
            FACTS.applicant_phone,
            FACTS.acceptor_phone,
            "2025年3月3日10时15分",
            "2025年3月31日前（承诺20个工作日，法定45个工作日）",
            "0123-88012110",
        ):
            assert _compact(value) in text, (page, value)
        assert _red_pixels(pages[page - 1]) > 500, f"no seal on page {page}"
    _check_qr(pdf, qr_payload(FACTS), pages=3)


def test_commitment_notice_copies_stay_one_page_each(poppler: None) -> None:
    long_item = CaseFacts(
        **{**FACTS.__dict__, "item_name": "建设项目用地预审与选址意见书核发（含划拨用地项目）" * 3}
    )
    opinion = Opinion("经核查，该件受理程序规范，承诺时限符合规定，请受理单位按时办结。" * 10,
                      "吴建国", date(2025, 3, 4))  # fmt: skip
    pdf, pages = _render("commitment-notice-long", commitment_notice(CENTRE, long_item, opinion))
    assert len(pages) == 3
    for page, mark in enumerate(COPY_MARKS, 1):
        assert mark in _compact(_text(pdf, page))


def _check_qr(pdf: Path, payload: str, pages: int) -> None:
    """Each page's QR code, sampled module by module at 300 dpi, encodes `payload`."""
    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(qrencoder.QR8bitByte(payload))
    code.make()
    count = code.getModuleCount()
    dpi = 300
    scale = dpi / 72
    module = layout.QR_SIZE / (count + 2 * layout.QR_BORDER)
    top = layout.A4[1] - layout.QR_Y - layout.QR_SIZE
    for page in range(1, pages + 1):
        png = OUT / f"qr-{page}"
        _run("pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png", "-gray",
             "-singlefile", pdf, png)  # fmt: skip
        with Image.open(f"{png}.png") as img:
            gray = img.convert("L")
            wrong = 0
            for r in range(-1, count + 1):  # and one ring of quiet zone around
                for c in range(-1, count + 1):
                    x = layout.QR_X + (c + layout.QR_BORDER + 0.5) * module
                    y = top + (r + layout.QR_BORDER + 0.5) * module
                    dark = gray.getpixel((round(x * scale), round(y * scale))) < 128
                    expected = 0 <= r < count and 0 <= c < count and code.isDark(r, c)
                    wrong += dark != expected
        assert wrong == 0, f"page {page}: {wrong} QR modules differ from {payload!r}"


@pytest.mark.parametrize("approved", [True, False], ids=["approval", "denial"])
def test_decision_letter(poppler: None, approved: bool) -> None:
    ndrc = Centre(name="示范市发展和改革委员会", address=CENTRE.address,
                  supervision_phone=CENTRE.supervision_phone)  # fmt: skip
    common = {"authority": ndrc, "decided_at": datetime(2025, 3, 24, 16, 0),
              "reconsideration": "示范市人民政府", "matter": "企业投资项目核准"}  # fmt: skip
    if approved:
        decision = Decision(
            number="示发改许〔2025〕12号", approved=True,
            content="同意示范市宏远新能源科技有限公司年产 5 万套储能电池项目核准，"
            "建设地点为示范市高新区创新大道 18 号，总投资 3.2 亿元",
            basis="《企业投资项目核准和备案管理条例》第十一条", certificate="项目核准文件",
            **common,
        )  # fmt: skip
    else:
        decision = Decision(
            number="示发改许〔2025〕3号", approved=False,
            reason="经生态环境部门审查，项目环境影响报告书未按要求设置大气污染物排放总量"
            "控制指标，选址与生态保护红线存在重叠，不符合生态环境准入要求",
            refusal_basis="《中华人民共和国环境影响评价法》第二十二条", **common,
        )  # fmt: skip
    data = decision_letter(CENTRE, FACTS, decision)
    name = "decision-approval" if approved else "decision-denial"
    pdf, pages = _render(name, data)
    _check_fonts(pdf)
    assert len(pages) == 1
    text = _compact(_text(pdf))
    title = "准予行政许可决定书" if approved else "不予行政许可决定书"
    # headed and sealed by the authority; the centre is where it was accepted and delivered
    assert text.startswith(f"示范市发展和改革委员会{title}")
    assert f"在{CENTRE.name}依法受理" in text and f"受理、送达单位：{CENTRE.name}" in text
    assert FACTS.item_name in text
    assert FACTS.applicant_name in text
    assert "2025年3月24日" in text
    if approved:
        assert "示发改许〔2025〕12号" in text
        assert "决定准予行政许可" in text
        assert "许可事项：企业投资项目核准" in text
        assert "年产5万套储能电池项目核准" in text
        assert "条例》第十一条和《中华人民共和国行政许可法》第三十八条第一款" in text
        assert "第四十四条" in text and "十个工作日内" in text
        assert "申请行政复议" not in text
    else:
        assert "示发改许〔2025〕3号" in text
        assert "不符合生态环境准入要求" in text
        assert "第三十八条第二款的规定，本机关决定不予行政许可" in text
        assert "六十日内向示范市人民政府申请行政复议" in text
        assert "六个月内依法向人民法院提起行政诉讼" in text
    assert _red_pixels(pages[-1]) > 500


def test_a_seal_image_replaces_the_drawn_seal(poppler: None, tmp_path: Path) -> None:
    from PIL import ImageDraw

    seal = tmp_path / "seal.png"
    img = Image.new("RGBA", (400, 400), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((10, 10, 390, 390), outline=(220, 20, 20, 220), width=24)
    img.save(seal)
    data = acceptance_receipt(CENTRE, FACTS, MATERIALS[:3], seal_image=seal)
    assert b"/SMask" in data, "the PNG's transparency is kept"
    pdf, pages = _render("acceptance-receipt-seal-image", data)
    assert _red_pixels(pages[-1]) > 300
