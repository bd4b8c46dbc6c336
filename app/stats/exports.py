"""The statistics tables as downloads: CSV for any tool, XLSX for Excel and WPS.

The pages fill a neutral :class:`Table` (a title, typed :class:`Column` s, rows as dicts keyed
by the columns' keys, an optional totals row and a note) and hand it to `to_csv` or
`to_xlsx`; the monthly PDF report (``app.stats.report``) draws the same tables.

Column kinds: ``int`` and ``float`` are numbers, ``percent`` a fraction 0..1 (0.975 is
97.5%), ``date`` a date or datetime (or a string written as it is), ``text`` anything else.
A missing value (None, or no key in the row) is shown as "—"; in the totals row it is left
blank (a column without a total).

CSV is UTF-8 with a byte order mark, so that Excel opens the Chinese text correctly; numbers
are plain (no thousands separator), percentages written as "97.5%", the totals row last.
Text that a spreadsheet would take for a formula is made inert by the one app-wide rule of
`app.exports` (an apostrophe in the CSV; in the XLSX a string cell, never a formula, with
Excel's quote prefix).

XLSX has one sheet per table: the title in the first row, the bold header frozen under it,
numbers as numbers with number formats (0, 0.0, 0.0%), dates as dates, the totals row in
bold and the note under it; columns are as wide as their content.
"""

from __future__ import annotations

import csv
import io
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from ..exports import csv_cell, xlsx_text

__all__ = [
    "CSV_MIMETYPE",
    "KINDS",
    "XLSX_MIMETYPE",
    "Column",
    "Table",
    "cell_text",
    "safe_filename",
    "sheet_name",
    "to_csv",
    "to_xlsx",
]

KINDS = ("int", "float", "percent", "text", "date")
NUMERIC = ("int", "float", "percent")
MISSING = "—"
TOTAL_LABEL = "合计"

CSV_MIMETYPE = "text/csv; charset=utf-8"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

NUMBER_FORMATS = {"int": "0", "float": "0.0", "percent": "0.0%", "date": "yyyy-mm-dd"}


@dataclass(frozen=True)
class Column:
    """A column of a statistics table: the row key, the header label and the kind."""

    key: str
    label: str
    kind: str = "int"  # int | float | percent | text | date

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.key!r}: unknown kind {self.kind!r} (not in {KINDS})")

    @property
    def numeric(self) -> bool:
        """Whether the column holds numbers (right-aligned, summable)."""
        return self.kind in NUMERIC


@dataclass(frozen=True)
class Table:
    """A statistics table: rows are dicts keyed by the columns' keys.

    `totals` is the totals row (the caller computes it: a rate's total is no sum); a
    missing value in its first column is written as 合计. Lists given for `columns` or
    `rows` are kept as tuples.
    """

    title: str
    columns: tuple[Column, ...]
    rows: tuple[dict[str, Any], ...]
    totals: dict[str, Any] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "rows", tuple(self.rows))
        keys = [c.key for c in self.columns]
        if len(set(keys)) != len(keys):
            raise ValueError(f"table {self.title!r}: duplicate column keys")

    def all_rows(self) -> list[tuple[Mapping[str, Any], bool]]:
        """Every row, flagged whether it is the totals row (last, when there is one)."""
        rows: list[tuple[Mapping[str, Any], bool]] = [(row, False) for row in self.rows]
        totals = self.totals_row()
        if totals is not None:
            rows.append((totals, True))
        return rows

    def totals_row(self) -> dict[str, Any] | None:
        """The totals row with 合计 in the first column when the caller left it empty."""
        if self.totals is None:
            return None
        row = dict(self.totals)
        if self.columns and row.get(self.columns[0].key) is None:
            row[self.columns[0].key] = TOTAL_LABEL
        return row


# --- values -----------------------------------------------------------------------------------


def _number(value: Any) -> float | int | None:
    """A number for a numeric cell, None for a missing or non-finite one."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    if isinstance(value, int):
        return value
    number = float(value)
    return number if math.isfinite(number) else None


def _value(column: Column, value: Any) -> Any:
    """What a cell holds: "—" for a missing value (or a number that is not finite), a number
    for a non-text value of a numeric column, else the value as given."""
    if value is None:
        return MISSING
    if column.numeric and not isinstance(value, str):
        number = _number(value)
        return MISSING if number is None else number
    return value


def cell_text(column: Column, value: Any, *, grouping: bool = False) -> str:
    """A value as text: "1234" (or "1,234" with `grouping`), "3.5", "97.5%", "2026-11-03".

    None is "—"; a non-numeric value in a numeric column (a label such as 合计) is written
    as it is.
    """
    value = _value(column, value)
    if column.numeric and not isinstance(value, str):
        sep = "," if grouping else ""
        if column.kind == "int":
            return f"{round(value):{sep}d}"
        if column.kind == "float":
            return f"{value:{sep}.1f}"
        return f"{value * 100:{sep}.1f}%"
    if column.kind == "date" and isinstance(value, date | datetime):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _row_values(table: Table, row: Mapping[str, Any]) -> list[Any]:
    return [row.get(c.key) for c in table.columns]


# --- CSV --------------------------------------------------------------------------------------


def to_csv(table: Table) -> bytes:
    """The table as CSV: UTF-8 with BOM, the header, the rows, the totals row last."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([csv_cell(c.label) for c in table.columns])
    for row, is_total in table.all_rows():
        cells = []
        for column, value in zip(table.columns, _row_values(table, row), strict=True):
            text = "" if is_total and value is None else cell_text(column, value)
            numeric = column.numeric and not isinstance(value, str)
            cells.append(text if numeric else csv_cell(text))
        writer.writerow(cells)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


# --- XLSX -------------------------------------------------------------------------------------

SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")
THIN = Side(style="thin", color="FF7F7F7F")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
HEADER_FILL = PatternFill("solid", fgColor="FFEDEDED")
TOTALS_FILL = PatternFill("solid", fgColor="FFF5F5F5")


def sheet_name(title: str, used: Iterable[str] = ()) -> str:
    """A valid, unused worksheet name for `title`.

    At most 31 characters, none of []:*?/\\, not starting or ending with an apostrophe, not
    "History" (reserved by Excel), unique among `used` ignoring case: "(2)", "(3)" … are
    appended to a repeated name.
    """
    taken = {u.casefold() for u in used}
    name = ILLEGAL_CHARACTERS_RE.sub("", SHEET_FORBIDDEN.sub("_", title or "")).strip()
    name = name.strip("'_ ") or "Sheet"
    if name.casefold() == "history":
        name = "History_"
    base = name[:31].rstrip("'")
    candidate, n = base, 1
    while candidate.casefold() in taken:
        n += 1
        suffix = f"({n})"
        candidate = base[: 31 - len(suffix)].rstrip("'") + suffix
    return candidate


def _display_width(text: str) -> float:
    """Width in Excel's character units: wide (CJK) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _xlsx_value(column: Column, value: Any) -> Any:
    """What goes into a cell: a number, a date, or text ("—" for a missing value)."""
    value = _value(column, value)
    if column.numeric and not isinstance(value, str):
        if column.kind == "int" and float(value).is_integer():
            return int(value)
        return value
    if column.kind == "date" and isinstance(value, date | datetime):
        return value
    return _clean_text(value)


def _clean_text(value: Any) -> str:
    """Text without the control characters that XLSX cannot hold."""
    return ILLEGAL_CHARACTERS_RE.sub("", str(value))


def _put(sheet: Any, row: int, column: int, value: Any) -> Any:
    """Write a cell; text is always a string cell (openpyxl would make "=…" a formula)."""
    return xlsx_text(sheet.cell(row=row, column=column, value=value))


def to_xlsx(tables: list[Table]) -> bytes:
    """The tables as an XLSX workbook, one sheet each (see the module docstring)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    workbook.properties.creator = "OneWindow"
    used: list[str] = []
    for table in tables:
        name = sheet_name(table.title, used)
        used.append(name)
        _sheet(workbook, name, table)
    if not tables:
        workbook.create_sheet("Sheet")
    buf = io.BytesIO()
    workbook.save(buf)
    return buf.getvalue()


def _sheet(workbook: Workbook, name: str, table: Table) -> None:
    sheet = workbook.create_sheet(name)
    columns = table.columns
    ncols = max(len(columns), 1)
    widths = [8.0] * ncols

    title = _put(sheet, 1, 1, _clean_text(table.title))
    title.font = Font(bold=True, size=14)
    title.alignment = Alignment(vertical="center")
    sheet.row_dimensions[1].height = 24

    for c, column in enumerate(columns, 1):
        cell = _put(sheet, 2, c, _clean_text(column.label))
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        widths[c - 1] = max(widths[c - 1], _display_width(column.label) + 2)
    sheet.freeze_panes = "A3"

    r = 2
    for row, is_total in table.all_rows():
        r += 1
        for c, column in enumerate(columns, 1):
            raw = row.get(column.key)
            if is_total and raw is None:  # a column without a total: left blank
                cell = sheet.cell(row=r, column=c)
                cell.border = BORDER
                cell.fill = TOTALS_FILL
                cell.font = Font(bold=True)
                continue
            value = _xlsx_value(column, raw)
            cell = _put(sheet, r, c, value)
            cell.border = BORDER
            if column.kind in NUMBER_FORMATS and not isinstance(value, str):
                cell.number_format = NUMBER_FORMATS[column.kind]
            if column.numeric:
                cell.alignment = Alignment(horizontal="right")
            if is_total:
                cell.font = Font(bold=True)
                cell.fill = TOTALS_FILL
            shown = cell_text(column, raw, grouping=False)
            widths[c - 1] = max(widths[c - 1], _display_width(shown) + 2)
    if table.note:
        r += 1
        note = _put(sheet, r, 1, _clean_text(table.note))
        note.font = Font(italic=True, color="FF595959")
        note.alignment = Alignment(wrap_text=False)
    for c, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(c)].width = min(width, 60)


# --- file names -------------------------------------------------------------------------------

FILENAME_UNSAFE = re.compile(r"[^\w\-.()（）]+")


def safe_filename(name: str, ext: str = "", *, max_length: int = 80) -> str:
    """A download file name from a title: Chinese and word characters kept, the rest "_".

    "各部门受理情况 2026/11" with ext "csv" gives "各部门受理情况_2026_11.csv". No path
    separators, no leading dot, at most `max_length` characters before the extension;
    an empty result becomes "export".
    """
    text = unicodedata.normalize("NFC", name or "")
    text = FILENAME_UNSAFE.sub("_", text)
    text = re.sub(r"_+", "_", text).strip("._ ")
    text = text[:max_length].rstrip("._ ") or "export"
    ext = ext.lstrip(".")
    safe_ext = re.sub(r"[^A-Za-z0-9]", "", ext)
    return f"{text}.{safe_ext}" if safe_ext else text
