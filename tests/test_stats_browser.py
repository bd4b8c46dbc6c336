"""The statistics page in headless Chromium: the charts are drawn (server-side SVG) and the
register table is there; screenshots for people to look at."""

from __future__ import annotations

from tests.test_browser import SHOTS, Person
from tests.test_stats_pages import timed_cases


def test_a_supervisor_reads_the_statistics_with_their_charts(
    browser, live_server, demo_app, request
):
    shots = SHOTS / request.node.callspec.params["database_url"] / "stats"
    timed_cases(demo_app)
    sup = Person(browser, live_server, shots)
    sup.login("supervisor_wu")
    page = sup.page
    page.goto(f"{live_server}/stats?period=2026-09-01..2026-10-31&grouping=department&unit=week")
    assert page.locator("svg.stats-chart").count() == 5
    points = page.locator("svg.stats-chart >> nth=0").locator("[data-value]").count()
    assert points >= 3 * 9  # three series over nine weeks
    bars = page.locator("svg.stats-chart >> nth=1").locator("[data-value]").count()
    assert bars >= 2
    assert page.locator("#register tbody tr").count() >= 4
    sup.shot("1-statistics")
    page.goto(f"{live_server}/stats?period=2026-09&grouping=official")
    assert page.locator("#register tbody tr").count() >= 5
    sup.shot("2-by-official")
    sup.close()
    public = Person(browser, live_server, shots)
    public.page.goto(f"{live_server}/figures?month=2026-09")
    assert public.page.locator("#public-figures tbody tr").count() >= 2
    public.shot("3-public-figures")
    public.close()
