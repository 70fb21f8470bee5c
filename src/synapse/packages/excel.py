"""The package workbook, written with xlsxwriter in constant-memory mode (one row held at a time).

Sheets: Summary; "Changes since A" when the package has a previous revision (tag, field, old,
new: every change, all text); for the index part an Index sheet (every asset, every property a
column) and one sheet per asset type; for the datasheets part a Datasheets sheet (tag, type,
property, value).
Every text cell is written with `write_string`: a value starting with `= + - @` is text, never a
formula or a link (it also gets Excel's quote prefix, so editing the cell keeps it text).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from synapse.errors import InvalidInput
from synapse.packages.data import AssetRow, Heading, Survey, text_of
from synapse.packages.revisions import Changes

MAX_ROWS = 1_048_576
MAX_COLUMNS = 16_384
MAX_SHEET_NAME = 31
RESERVED = {"summary", "index", "datasheets", "history"}
RISKY_START = ("=", "+", "-", "@", "\t", "\r")
LARGEST_EXACT = 2**53

Tick = Callable[[int], None]


def check_limits(survey: Survey, parts: tuple[str, ...]) -> None:
    """Refuse, before writing anything, what one Excel sheet cannot hold."""
    if "index" in parts:
        if survey.total + 1 > MAX_ROWS:
            raise InvalidInput(f"{survey.total:,} assets do not fit one Excel sheet")
        if len(survey.widths) + 2 > MAX_COLUMNS:
            raise InvalidInput(f"{len(survey.widths):,} property names do not fit one Excel sheet")
    if "datasheets" in parts and survey.property_rows + 1 > MAX_ROWS:
        raise InvalidInput(f"{survey.property_rows:,} property rows do not fit one Excel sheet")


def rows_to_write(survey: Survey, parts: tuple[str, ...]) -> int:
    """Data rows over all sheets (for progress)."""
    return (2 * survey.total if "index" in parts else 0) + (
        survey.property_rows if "datasheets" in parts else 0
    )


def legal_sheet_name(text: str) -> str:
    """`text` as an Excel sheet name: 31 characters, no []:*?/\\, no leading quote."""
    return (re.sub(r"[\[\]:*?/\\]", "_", text).strip("' ") or "Type")[:MAX_SHEET_NAME]


def changes_sheet_name(revision: str) -> str:
    return legal_sheet_name(f"Changes since {revision}").rstrip("' ")


def sheet_names(types: Iterable[str], reserved: Iterable[str] = ()) -> dict[str, str]:
    """A valid, unique sheet name for each asset type (Excel: 31 characters, no []:*?/\\),
    none of them one of `reserved`."""
    taken = set(RESERVED) | {name.casefold() for name in reserved}
    names: dict[str, str] = {}
    for typ in types:
        base = legal_sheet_name(typ)
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            suffix = f" ({n})"
            name = base[: MAX_SHEET_NAME - len(suffix)] + suffix
        taken.add(name.casefold())
        names[typ] = name
    return names


def _width(chars: int) -> float:
    return float(min(max(chars + 2, 8), 62))


class _Cells:
    """Writes values by kind: text stays text; JSON numbers and booleans keep their type."""

    def __init__(self, book: Any) -> None:
        self.quoted: Format = book.add_format({"quote_prefix": True})

    def put(self, sheet: Worksheet, row: int, col: int, value: Any) -> None:
        if isinstance(value, bool):
            sheet.write_boolean(row, col, value)
        elif isinstance(value, int | float) and math.isfinite(value) and abs(value) < LARGEST_EXACT:
            sheet.write_number(row, col, value)
        else:
            self.text(sheet, row, col, text_of(value))

    def text(self, sheet: Worksheet, row: int, col: int, text: str) -> None:
        if text.startswith(RISKY_START):
            sheet.write_string(row, col, text, self.quoted)
        else:
            sheet.write_string(row, col, text)


def _table_sheet(
    book: Any, name: str, header: list[str], widths: list[int], rows: int, bold: Format
) -> Worksheet:
    """A sheet with a frozen, bold header, an autofilter over `rows` rows and fitted widths."""
    sheet: Worksheet = book.add_worksheet(name)
    for col, (title, chars) in enumerate(zip(header, widths, strict=True)):
        sheet.set_column(col, col, _width(max(chars, len(title))))
        sheet.write_string(0, col, title, bold)
    sheet.freeze_panes(1, 1)
    sheet.autofilter(0, 0, max(rows, 1), len(header) - 1)
    sheet.ignore_errors({"number_stored_as_text": "A1:XFD1048576"})
    return sheet


def _summary(
    book: Any,
    heading: Heading,
    survey: Survey,
    names: dict[str, str],
    bold: Format,
    changes: Changes | None,
) -> None:
    sheet: Worksheet = book.add_worksheet("Summary")
    sheet.set_column(0, 0, 22)
    sheet.set_column(1, 1, _width(max(survey.type_width, 30)))
    sheet.set_column(2, 2, 34)
    facts = [
        ("Title", heading.title),
        ("Project", heading.project_name),
        ("Project key", heading.project_key),
        ("Revision", heading.revision),
        ("Date", heading.date),
        ("Package type", heading.package_type),
        ("Asset types", ", ".join(heading.asset_types) or "all"),
    ]
    if changes is not None:
        facts.append((f"Changes since revision {changes.since}", changes.describe()))
    for row, (label, value) in enumerate(facts):
        sheet.write_string(row, 0, label, bold)
        sheet.write_string(row, 1, value)
    row = len(facts) + 1
    sheet.write_string(row, 0, "Assets", bold)
    sheet.write_number(row, 1, survey.total)
    row += 2
    for col, title in enumerate(("Asset type", "Assets", "Sheet")):
        sheet.write_string(row, col, title, bold)
    for typ, count in survey.by_type.items():
        row += 1
        sheet.write_string(row, 0, typ)
        sheet.write_number(row, 1, count)
        if typ in names:
            sheet.write_string(row, 2, names[typ])


def _changes(book: Any, changes: Changes, cells: _Cells, bold: Format) -> None:
    """Every change since the previous revision, one row each; every cell text."""
    widths = [3, 5, 3, 3]
    for change in changes.rows:
        widths = [max(w, min(len(v), 60)) for w, v in zip(widths, change.row(), strict=True)]
    header = ["Tag", "Field", "Old", "New"]
    name = changes_sheet_name(changes.since)
    sheet = _table_sheet(book, name, header, widths, changes.count, bold)
    for row, change in enumerate(changes.rows, start=1):
        for col, value in enumerate(change.row()):
            cells.text(sheet, row, col, value)


def write_workbook(
    path: Path,
    *,
    heading: Heading,
    survey: Survey,
    parts: tuple[str, ...],
    assets: Iterable[AssetRow],
    tick: Tick,
    tmpdir: Path,
    changes: Changes | None = None,
) -> int:
    """Write the workbook to `path`; returns the data rows written.

    Constant-memory mode keeps each sheet's rows in a temporary file: they go to a folder of
    their own under `tmpdir`, removed whatever happens (a cancel stops us before `close`).
    """
    with tempfile.TemporaryDirectory(prefix=".xlsx-", dir=tmpdir) as scratch:
        book = xlsxwriter.Workbook(
            str(path),
            {
                "constant_memory": True,
                "tmpdir": scratch,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        try:
            return _write(
                book,
                heading=heading,
                survey=survey,
                parts=parts,
                assets=assets,
                tick=tick,
                changes=changes,
            )
        finally:
            if not book.fileclosed:
                for sheet in book.worksheets():
                    handle = getattr(sheet, "row_data_fh", None)
                    if handle is not None:
                        handle.close()


def _write(
    book: Any,
    *,
    heading: Heading,
    survey: Survey,
    parts: tuple[str, ...],
    assets: Iterable[AssetRow],
    tick: Tick,
    changes: Changes | None = None,
) -> int:
    book.set_properties({"title": heading.title, "subject": heading.project_name})
    bold = book.add_format({"bold": True, "bg_color": "#DCE6F1", "bottom": 1})
    cells = _Cells(book)
    index = "index" in parts
    reserved = [changes_sheet_name(changes.since)] if changes is not None else []
    names = sheet_names(survey.by_type, reserved) if index else {}
    _summary(book, heading, survey, names, bold, changes)
    if changes is not None:
        _changes(book, changes, cells, bold)

    index_sheet: Worksheet | None = None
    columns = survey.columns()
    if index:
        header = ["Tag", "Type", *columns]
        widths = [survey.tag_width, survey.type_width, *(survey.widths[c] for c in columns)]
        index_sheet = _table_sheet(book, "Index", header, widths, survey.total, bold)
    by_type: dict[str, tuple[Worksheet, dict[str, int]]] = {}
    for typ, name in names.items():
        cols = survey.columns(typ)
        widths = [survey.tag_width, *(survey.widths[c] for c in cols)]
        sheet = _table_sheet(book, name, ["Tag", *cols], widths, survey.by_type[typ], bold)
        by_type[typ] = (sheet, {c: i + 1 for i, c in enumerate(cols)})
    long_sheet: Worksheet | None = None
    if "datasheets" in parts:
        widths = [survey.tag_width, survey.type_width, 24, 50]
        header = ["Tag", "Type", "Property", "Value"]
        long_sheet = _table_sheet(book, "Datasheets", header, widths, survey.property_rows, bold)

    position = {c: i + 2 for i, c in enumerate(columns)}
    type_rows: dict[str, int] = {}
    written = index_row = long_row = 0
    for asset in assets:
        if index_sheet is not None:
            index_row += 1
            cells.text(index_sheet, index_row, 0, asset.tag)
            cells.text(index_sheet, index_row, 1, asset.type)
            sheet, cols_of = by_type[asset.type]
            type_row = type_rows[asset.type] = type_rows.get(asset.type, 0) + 1
            cells.text(sheet, type_row, 0, asset.tag)
            for key, value in asset.properties.items():
                cells.put(index_sheet, index_row, position[key], value)
                cells.put(sheet, type_row, cols_of[key], value)
            written += 2
        if long_sheet is not None:
            items = asset.items() or [("", "")]
            for key, value in items:
                long_row += 1
                cells.text(long_sheet, long_row, 0, asset.tag)
                cells.text(long_sheet, long_row, 1, asset.type)
                cells.text(long_sheet, long_row, 2, key)
                cells.put(long_sheet, long_row, 3, value)
            written += len(items)
        tick(written)
    book.close()
    return written
