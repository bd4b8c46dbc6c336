"""The days off of a year whose holiday arrangements the State Council has not published.

The rule is the law itself: 《全国年节及纪念日放假办法》 as revised by State Council decree
(国务院令第795号, November 2024; in force from 1 January 2025). Article 2 gives every
citizen these days off (全体公民放假的节日):

- 元旦, 1 day: 1 January;
- 春节, 4 days: 农历除夕 (the last day of the 12th lunar month, the 29th or the 30th) and
  正月初一 to 初三 (the 1st to the 3rd of the 1st lunar month);
- 清明节, 1 day: the day of the Qingming solar term (农历清明当日);
- 劳动节, 2 days: 1 and 2 May;
- 端午节, 1 day: the 5th of the 5th lunar month;
- 中秋节, 1 day: the 15th of the 8th lunar month;
- 国庆节, 3 days: 1 to 3 October.

Article 6: a day of these that falls on a Saturday or a Sunday is made up on a working
day (应当在工作日补假). Where the State Council puts that day is its annual notice's choice;
every notice so far (chinese-calendar's published years: 2026's 清明 on Sunday 5 April is
made up on Monday 6 April, 劳动节's Saturday 2 May on Monday 4 May, 国庆节's Saturday
3 October on Monday 5 October; 2025's 端午 on Saturday 31 May on Monday 2 June) puts it on
the first weekday after the festival, and so does this fallback (补假). A festival day that
falls on another festival's day (中秋 on 1 October) is made up the same way. What cannot
be guessed are the make-up working days on weekends (调休上班) and the bridging days the
notices add to make longer breaks: those come only with the notice, so until then every
Saturday and Sunday stays a day off, and the other days of a long break count as working
days. Every due date that rests on this fallback is provisional and is recomputed when the
year is added (app/calendar/admin.py).

Lunar dates come from `lunar-python` (MIT; its computed calendar covers every year a
case can reach); the Qingming day from chinese-calendar's `get_solar_terms` (the 寿星
formula with its corrections, years 1900-2100). Outside that range 清明 is taken as
4 April (the date it falls on in 70 of the years 2001-2100, the rest being 5 April), and a
lunar festival the library cannot place is left out, that year counting by the other rules
alone.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

NEW_YEAR = "元旦"
SPRING = "春节"
QINGMING = "清明节"
LABOUR = "劳动节"
DRAGON_BOAT = "端午节"
MID_AUTUMN = "中秋节"
NATIONAL = "国庆节"
IN_LIEU = "（补假）"  # appended to the festival's name for a day made up under article 6


def _lunar(year: int, month: int, day: int) -> dt.date | None:
    """The solar date of a lunar date (not of a leap month), or None where the library
    cannot place it."""
    from lunar_python import Lunar

    try:
        solar = Lunar.fromYmd(year, month, day).getSolar()
        return dt.date(solar.getYear(), solar.getMonth(), solar.getDay())
    except Exception:  # the library raises a bare Exception for a date it cannot place
        return None


def qingming(year: int) -> dt.date:
    """The day of the Qingming solar term in `year` (4 April outside 1900-2100)."""
    from chinese_calendar import get_solar_terms

    try:
        terms = get_solar_terms(dt.date(year, 4, 1), dt.date(year, 4, 30))
    except NotImplementedError:
        return dt.date(year, 4, 4)
    return next((day for day, name in terms if name == "清明"), dt.date(year, 4, 4))


def festivals(year: int) -> list[tuple[str, list[dt.date]]]:
    """The statutory days off of `year` under article 2, festival by festival."""
    days: list[tuple[str, list[dt.date]]] = [(NEW_YEAR, [dt.date(year, 1, 1)])]
    first = _lunar(year, 1, 1)
    if first is not None:
        eve = first - dt.timedelta(days=1)  # 除夕: the 29th or the 30th, whichever is last
        days.append((SPRING, [eve + dt.timedelta(days=n) for n in range(4)]))
    days.append((QINGMING, [qingming(year)]))
    days.append((LABOUR, [dt.date(year, 5, 1), dt.date(year, 5, 2)]))
    for name, month, day in ((DRAGON_BOAT, 5, 5), (MID_AUTUMN, 8, 15)):
        solar = _lunar(year, month, day)
        if solar is not None:
            days.append((name, [solar]))
    days.append((NATIONAL, [dt.date(year, 10, n) for n in (1, 2, 3)]))
    return sorted(days, key=lambda f: f[1][0])


@lru_cache(maxsize=64)
def days_off(year: int) -> dict[dt.date, str]:
    """Every statutory day off of `year` (article 2) and every day made up for one that
    fell on a weekend or on another festival's day (article 6), with its Chinese name."""
    off: dict[dt.date, str] = {}
    owed: list[tuple[str, dt.date, int]] = []
    for name, days in festivals(year):
        lost = 0
        for day in days:
            if day.weekday() >= 5 or day in off:
                lost += 1
            off.setdefault(day, name)
        if lost:
            owed.append((name, days[-1], lost))
    for name, last, lost in owed:
        day = last
        while lost:
            day += dt.timedelta(days=1)
            if day.weekday() < 5 and day not in off:
                off[day] = name + IN_LIEU
                lost -= 1
    return dict(sorted(off.items()))
