"""The weekly report as a workbook (xlsxwriter): a summary sheet, then one sheet per table.

Text is always written as text: an error message that starts with `=`, `+`, `-` or `@` never
becomes a formula.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import xlsxwriter

from synapse.maintenance.report import Report

MAX_WIDTH = 80


def sheet_name(title: str, taken: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", " ", title)[:28].strip() or "Sheet"
    name, n = base, 2
    while name.lower() in taken:
        name, n = f"{base[:26]} {n}", n + 1
    taken.add(name.lower())
    return name


def _write(sheet: Any, row: int, col: int, value: Any, fmt: Any = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        text = "" if value is None else str(value)
        sheet.write_string(row, col, text, fmt)
        return len(text)
    sheet.write_number(row, col, value, fmt)
    return len(f"{value:,}")


def render_xlsx(report: Report, path: Path) -> None:
    book = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_urls": False})
    try:
        bold = book.add_format({"bold": True, "bg_color": "#F3F4F6", "bottom": 1})
        title = book.add_format({"bold": True, "font_size": 14})
        muted = book.add_format({"font_color": "#6B7280"})
        taken: set[str] = set()
        summary = book.add_worksheet(sheet_name("Summary", taken))
        summary.write_string(0, 0, report.title, title)
        summary.write_string(1, 0, report.period, muted)
        for i, (label, value) in enumerate(report.figures, start=3):
            summary.write_string(i, 0, label, bold)
            summary.write_string(i, 1, value)
        summary.set_column(0, 0, 22)
        summary.set_column(1, 1, 60)
        for spec in report.tables:
            sheet = book.add_worksheet(sheet_name(spec.title, taken))
            widths = [len(c) for c in spec.columns]
            for col, name in enumerate(spec.columns):
                sheet.write_string(0, col, name, bold)
            for r, row in enumerate(spec.rows, start=1):
                for col, value in enumerate(row):
                    widths[col] = max(widths[col], _write(sheet, r, col, value))
            if spec.note:
                sheet.write_string(len(spec.rows) + 2, 0, spec.note, muted)
            for col, width in enumerate(widths):
                sheet.set_column(col, col, min(MAX_WIDTH, width + 2))
            sheet.freeze_panes(1, 0)
    finally:
        book.close()
