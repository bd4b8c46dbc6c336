"""Statistics (issue 10): the register of figures counted from the cases and events, and a
rollup cache of its figures per day that the scheduler keeps and anyone can rebuild; the
register reads the days the cache has settled from it and counts the others.

    figures       what a row's figures are (the definitions) and how facts sum into them
    periods       the periods and their steps (day, week, month, quarter, year)
    grouping      the rows of a grouping: item, kind, department, region, window, official
    queries       the reads: the facts, the register and its series, the slowest stages
    rollup        the cache of the figures per day (rolling a day, its job)
    tables        the cache's tables and which of its days are settled
    cached        the register's figures of settled days, summed from the cache
    exports       the tables as CSV and XLSX
    svg, charts   the SVG charts of the pages
    report, report_layout   the monthly report as PDF (app.printing: font, seal, page count)
    pages         the statistics pages, exports and public figures (templates/stats/)
"""
