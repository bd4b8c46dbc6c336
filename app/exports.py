"""The one rule for every spreadsheet a user downloads (CSV and XLSX): no cell is a formula.

A spreadsheet runs text that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and a
leading tab or carriage return lets such text slip past a naive check), so a task name or
a comment such as ``=HYPERLINK("http://x","y")`` written raw would become a live link or
worse in the reader's Excel or WPS. Every writer therefore passes each text cell through
this module:

- CSV (`csv_cell`, `csv_row`): text starting with one of `FORMULA_START` gets a leading
  apostrophe (``'=HYPERLINK(...)``), which every spreadsheet shows as text.
- XLSX (`xlsx_text`): text is always a string cell, never a formula; text starting with
  one of `FORMULA_START` also carries Excel's own quote prefix (the apostrophe Excel adds
  when you type one), so that editing the cell keeps it text. The value is unchanged.

Numbers stay numbers; only text is touched. Used by the audit export (app.audit.export)
and the statistics downloads (app.stats.exports).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet could take `text` for a formula."""
    return text.startswith(FORMULA_START)


def csv_cell(value: Any) -> Any:
    """A CSV cell: text that looks like a formula prefixed with an apostrophe; numbers and
    None as they are."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def csv_row(values: Iterable[Any]) -> list[Any]:
    """A CSV row with every text cell made inert (see `csv_cell`)."""
    return [csv_cell(v) for v in values]


def xlsx_text(cell: Any) -> Any:
    """Make an openpyxl cell holding text inert: a string cell, quote-prefixed when the
    text looks like a formula. Other cells are left as they are."""
    if isinstance(cell.value, str):
        cell.data_type = "s"
        if is_formula_like(cell.value):
            cell.quotePrefix = True
    return cell
