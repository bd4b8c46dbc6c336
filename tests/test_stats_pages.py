"""The statistics pages, exports, monthly report and public figures show exactly the
register's figures (app.stats.figures, checked against hand counts in tests/test_stats.py),
for every column and grouping."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from lxml import html as lxml_html
from openpyxl import load_workbook

from app.db import session
from app.stats import exports, pages, queries
from app.stats.figures import SUMMABLE
from app.stats.grouping import Filters
from app.stats.periods import Period
from tests.casegen import generate
from tests.test_browser import IN_CI
from tests.webclient import Web

START = dt.datetime(2026, 9, 1, 1, 0)  # 09:00 in the centre


class _Clock:
    def __init__(self, at: dt.datetime) -> None:
        self.now = at

    def __call__(self) -> dt.datetime:
        return self.now


def timed_cases(app, count: int = 40, seed: int = 21) -> _Clock:
    """Cases of every demo item over about two months, on a clock that moves."""
    from app.supervision.services import scan

    clock = _Clock(START)
    app.config["CLOCK"] = clock

    def advance(rnd: random.Random) -> None:
        clock.now += dt.timedelta(minutes=rnd.randint(20, 1500))
        scan(clock.now)

    generate(app, count, seed=seed, finish=0.8, before_step=advance)
    return clock


def _table(page) -> dict[str, dict[str, str]]:
    doc = lxml_html.fromstring(page.text)
    return {tr.get("data-key"): {td.get("data-k"): td.text_content().strip()
                                 for td in tr.xpath("td[@data-k]")}
            for tr in doc.xpath("//table[@id='register']/tbody/tr")}  # fmt: skip


@pytest.mark.parametrize("grouping", ["department", "item", "kind", "window", "official"])
def test_every_column_on_the_page_is_the_registers_figure(demo_app, grouping):
    timed_cases(demo_app)
    web = Web(demo_app, "supervisor_wu")
    for period in ("2026-09", "2026-10", "2026-09-01..2026-10-31"):
        page = web.get(f"/stats?period={period}&grouping={grouping}")
        shown = _table(page)
        with demo_app.test_request_context():
            rows = queries.register(Period.parse(period), grouping)
            columns = pages.columns(grouping)
            expected = {str(r.key): {c.key: exports.cell_text(c, pages.row_values(r).get(c.key))
                                     for c in columns} for r in rows}  # fmt: skip
        assert shown == expected, (period, grouping)
        assert any(v != "0" and v != "—" for row in shown.values() for v in row.values())
    # four charts and the trend, drawn on the server
    assert page.text.count('class="stats-chart"') == 5


def test_exports_and_the_monthly_report_carry_the_same_figures(demo_app, tmp_path):
    timed_cases(demo_app)
    web = Web(demo_app, "leader_chen")
    query = "period=2026-09&grouping=item"
    with demo_app.app_context():
        rows = queries.register(Period.parse("2026-09"), "item")
        total = queries.register(Period.parse("2026-09"), "total")[0].figures
    received = {r.label: r.figures.received for r in rows}
    assert sum(received.values()) == total.received > 0
    # CSV: one line per row under the header, the received column as on the register
    text = web.get(f"/stats/export.csv?{query}").data.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0]
    with demo_app.test_request_context():
        at = [c.key for c in pages.columns("item")].index("received")
    assert header[at] == "Cases received"  # the English session's column title
    assert {line[0]: int(line[at]) for line in lines[1:]} == received
    # XLSX: the register sheet's numbers are numbers and add up to the total
    book = load_workbook(io.BytesIO(web.get(f"/stats/export.xlsx?{query}").data))
    sheet = book.worksheets[0]
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    head = next(i for i, r in enumerate(cells) if r and r[0] == header[0])
    body = [r for r in cells[head + 1 :] if r[0] in received]
    assert {r[0]: r[at] for r in body} == received
    assert all(isinstance(r[at], int) for r in body)
    assert sum(r[at] for r in body) == total.received
    assert len(book.worksheets) == 2  # the register and the slowest stages
    # the monthly report
    pdf = web.get("/stats/report.pdf?month=2026-09")
    assert pdf.data.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf.data)
    if shutil.which("pdftotext") is None:
        assert not IN_CI, "poppler-utils is missing"
        return
    words = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                           text=True, check=True).stdout  # fmt: skip
    assert f"{total.received} applications received" in words or str(total.received) in words
    assert "2026年09月" in words or "2026年9月" in words
    out = pages_dir()
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(path), str(out / "report")], check=True)


def pages_dir():
    from tests.test_browser import SHOTS

    out = SHOTS.parent / "stats"
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_the_public_monthly_figures_are_the_registers_and_nothing_personal(demo_app):
    timed_cases(demo_app)
    page = Web(demo_app).get("/figures?month=2026-09")
    doc = lxml_html.fromstring(page.text)
    shown = {tr.get("data-key"): {td.get("data-k"): td.text_content().strip()
                                  for td in tr.xpath("td[@data-k]")}
             for tr in doc.xpath("//table[@id='public-figures']//tr[@data-key]")}  # fmt: skip
    with demo_app.app_context():
        period = Period.parse("2026-09")
        rows = [
            r
            for r in queries.register(period, "department")
            if r.depth == 0 and r.figures and (r.figures.received or r.figures.completed)
        ]
        rows.append(queries.register(period, "total")[0])
        from app.cases.models import Case

        people = session().execute(sa.select(Case.applicant_name, Case.applicant_id_number,
                                             Case.applicant_phone)).all()  # fmt: skip
    percent = exports.Column("x", "", "percent")
    for r in rows:
        v = pages.row_values(r)
        assert shown[str(r.key)] == {
            "received": str(v["received"]),
            "accepted": str(v["accepted"]),
            "completed": str(v["completed"]),
            "completion_rate": exports.cell_text(percent, v["completion_rate"]),
            "on_time_promised": exports.cell_text(percent, v["on_time_promised"]),
        }, r.label
    for name, number, phone in people:
        assert number not in page.text and (phone or "#") not in page.text
        assert not re.search(re.escape(name), page.text)


def test_who_may_see_the_statistics(demo_app):
    for user in ("official_xiao", "clerk_liu", "analyst_zhou", "applicant_he"):
        Web(demo_app, user).get("/stats", expect=403)
        Web(demo_app, user).get("/stats/export.csv", expect=403)
    Web(demo_app).get("/stats", expect=302)
    bad = Web(demo_app, "supervisor_wu").get("/stats?period=2026-13", expect=400)
    assert "a period looks like" in bad.text


def test_a_new_calendar_year_makes_the_statistics_cache_roll_again(demo_app):
    from app.calendar import admin as calendar_admin
    from app.org.models import User
    from app.stats import rollup

    clock = timed_cases(demo_app, count=6)
    with demo_app.app_context():
        db = session()
        rolled = rollup.catch_up(db)
        assert rolled and rollup.unsettled_days(db) == [rolled[-1]]  # yesterday, once more
        admin = db.scalars(sa.select(User).where(User.username == "admin")).one()
        calendar_admin.add_year(admin, 2027, "国办发明电〔2026〕1号",
                                [(dt.date(2027, 1, 1), "元旦")], [])  # fmt: skip
        again = rollup.unsettled_days(db)
    # every day since 2026-01-01 that was rolled must be rolled again
    assert set(rolled) <= set(again) and clock.now.year == 2026


def test_figures_roll_up_from_a_county_to_the_city(demo_app):
    """Two levels: the housing bureau serves a county under the demo city."""
    from app.org.models import Department, Region

    timed_cases(demo_app, count=30)
    with demo_app.app_context():
        db = session()
        city = db.scalars(sa.select(Region)).one()
        assert city.level == "city"
        county = Region(code="demo-county", name="示范县", level="county", parent_id=city.id)
        db.add(county)
        db.flush()
        housing = db.scalars(sa.select(Department).where(Department.code == "housing")).one()
        below = [housing.id, *db.scalars(sa.select(Department.id)
                                         .where(Department.parent_id == housing.id))]  # fmt: skip
        db.execute(sa.update(Department).where(Department.id.in_(below))
                   .values(region_id=county.id))  # fmt: skip
        db.commit()
        period = Period.parse("2026-09-01..2026-10-31")
        rows = {r.key: r for r in queries.register(period, "region")}
        flat = {r.key: r for r in queries.register(period, "region", roll_up=False)}
        total = queries.register(period, "total")[0].figures
        bureau = {r.key: r for r in queries.register(period, "department")}[housing.id].figures
        only_county = queries.register(period, "total", Filters(region_id=county.id))[0]
    assert rows[county.id].depth == 1 and rows[county.id].parent == city.id
    assert rows[county.id].figures.summable() == bureau.summable() != total.summable()
    assert rows[city.id].figures.summable() == total.summable()  # the city holds the county
    city_alone = flat[city.id].figures
    for name in SUMMABLE:  # without roll-up the city row is the city's own figures
        assert getattr(city_alone, name) == getattr(total, name) - getattr(bureau, name)
    assert only_county.figures.summable() == bureau.summable()
    page = Web(demo_app, "leader_chen").get(
        f"/stats?period=2026-09-01..2026-10-31&grouping=region&region={county.id}"
    )
    shown = _table(page)
    assert set(shown) == {str(county.id)} and shown[str(county.id)]["label"] == "示范县"
