"""Reading a sheet of an Excel workbook (.xlsx/.xlsm) as rows of the texts a person sees.

The sheet's XML is streamed from the zip through expat (see xlsx_safety for the limits and
why expat: docs/imports.md, Reading workbooks), one chunk at a time, so memory stays bounded
whatever the row count; only the shared strings and the styles' number formats are held.
Cells read as Excel's General format shows them (15 significant digits), except percent
formats ("50%"), date/time formats (ISO text), and all-zero formats like "000" ("007"); those
display rules are in xlsx_cells. Formulas give their cached value and are never evaluated;
macros are ignored.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from synapse.errors import InvalidInput, UnsupportedMedia
from synapse.imports.xlsx_cells import BUILTIN_FORMATS, Formatter, formatter, general, unescape
from synapse.imports.xlsx_safety import (
    check_zip_safety,
    detect_kind,
    feed_entry,
    new_parser,
    open_safe_zip,
    parse_entry,
)

__all__ = ["XlsxTable", "check_zip_safety", "detect_kind", "open_workbook"]

MAX_COLUMNS = 16_384  # Excel's own limits: a reference past them is a damaged or hostile file
MAX_ROWS = 1_048_576
MAX_SHARED_STRINGS = 2_000_000
MAX_SHARED_CHARS = 128_000_000
MAIN = ("http://schemas.openxmlformats.org/spreadsheetml/2006/main",
        "http://purl.oclc.org/ooxml/spreadsheetml/main")  # fmt: skip
TAGS = {f"{ns} {local}": local for ns in MAIN for local in ("c", "v", "t", "row", "rPh")}
_DIMENSION = re.compile(rb"<(?:\w+:)?dimension\s+ref=\"[A-Z]*\d*(?::[A-Z]*(\d+))?")


# -- the workbook's parts -------------------------------------------------------------------


def _local(name: str) -> str:
    return name.rpartition(" ")[2]


def _int(text: str | None, what: str) -> int:
    try:
        return int(text or "0")
    except ValueError:
        raise UnsupportedMedia(f"the workbook is damaged: {what} {text!r}") from None


@dataclass(frozen=True)
class Sheet:
    name: str
    part: str | None  # None for a chart or dialog sheet: no cells
    hidden: bool


@dataclass(frozen=True)
class Book:
    sheets: tuple[Sheet, ...]
    strings: list[str]
    formats: dict[str, Formatter]  # by the cell's style attribute `s`


def _relations(zf: zipfile.ZipFile, names: set[str]) -> dict[str, tuple[str, str]]:
    """Relationship id -> (type, part name) of the workbook's internal relationships."""
    rels: dict[str, tuple[str, str]] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        if _local(name) == "Relationship" and attrs.get("TargetMode") != "External":
            target = attrs.get("Target", "")
            part = target[1:] if target.startswith("/") else posixpath.join("xl", target)
            rels[attrs.get("Id", "")] = (attrs.get("Type", "").rpartition("/")[2],
                                         posixpath.normpath(part))  # fmt: skip

    if "xl/_rels/workbook.xml.rels" in names:
        parse_entry(zf, "xl/_rels/workbook.xml.rels", start)
    return rels


def _sheets(
    zf: zipfile.ZipFile, names: set[str], rels: dict[str, tuple[str, str]]
) -> tuple[list[Sheet], bool]:
    found: list[Sheet] = []
    date1904 = [False]

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local == "sheet":
            rid = next((v for k, v in attrs.items() if k.endswith(" id")), "")
            kind, part = rels.get(rid, ("", ""))
            if part not in names:
                raise UnsupportedMedia(f"the workbook is damaged: sheet {attrs.get('name')!r}")
            found.append(Sheet(attrs.get("name", ""), part if kind == "worksheet" else None,
                               attrs.get("state", "visible") != "visible"))  # fmt: skip
        elif local == "workbookPr":
            date1904[0] = attrs.get("date1904", "false").lower() in ("1", "true")

    parse_entry(zf, "xl/workbook.xml", start)
    return found, date1904[0]


def _formats(zf: zipfile.ZipFile, part: str | None, date1904: bool) -> dict[str, Formatter]:
    codes = dict(BUILTIN_FORMATS)
    styles: list[int] = []
    inside = {"numFmts": False, "cellXfs": False}  # not dxfs' numFmt nor cellStyleXfs' xf

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local in inside:
            inside[local] = True
        elif local == "numFmt" and inside["numFmts"]:
            codes[_int(attrs.get("numFmtId"), "number format")] = attrs.get("formatCode", "")
        elif local == "xf" and inside["cellXfs"]:
            styles.append(_int(attrs.get("numFmtId"), "number format"))

    def end(name: str) -> None:
        if _local(name) in inside:
            inside[_local(name)] = False

    if part:
        parse_entry(zf, part, start, end)
    made = {i: formatter(codes.get(i, ""), date1904) for i in set(styles)}
    return {str(s): made[f] for s, f in enumerate(styles) if made[f] is not general}


def _strings(zf: zipfile.ZipFile, part: str | None) -> list[str]:
    strings: list[str] = []
    parts: list[str] = []
    state = {"t": False, "rPh": False, "chars": 0}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = _local(name)
        if local in ("t", "rPh"):  # text of a phonetic run (rPh) is not the cell's
            state[local] = local == "rPh" or not state["rPh"]

    def end(name: str) -> None:
        local = _local(name)
        if local in ("t", "rPh"):
            state[local] = False
        elif local == "si":
            text = unescape("".join(parts))
            parts.clear()
            strings.append(text)
            state["chars"] += len(text)
            if len(strings) > MAX_SHARED_STRINGS or state["chars"] > MAX_SHARED_CHARS:
                raise UnsupportedMedia(
                    f"the workbook has more text than is read (over {MAX_SHARED_STRINGS:,} "
                    f"distinct texts or {MAX_SHARED_CHARS:,} characters); save it as CSV"
                )

    def text(data: str) -> None:
        if state["t"]:
            parts.append(data)

    if part:
        parse_entry(zf, part, start, end, text)
    return strings


def read_book(zf: zipfile.ZipFile) -> Book:
    names = set(zf.namelist())
    if "xl/workbook.xml" not in names:
        raise UnsupportedMedia("the file is a zip archive but not an Excel workbook (.xlsx/.xlsm)")
    rels = _relations(zf, names)
    sheets, date1904 = _sheets(zf, names, rels)
    by_type = {kind: part for kind, part in rels.values() if part in names}
    return Book(
        sheets=tuple(sheets),
        strings=_strings(zf, by_type.get("sharedStrings")),
        formats=_formats(zf, by_type.get("styles"), date1904),
    )


# -- streaming a sheet ----------------------------------------------------------------------


Rows = Generator[tuple[int, list[str]], None, None]


class _SheetParser:
    """expat handlers that turn a sheet's XML into rows; complete rows collect in `out`."""

    def __init__(self, book: Book) -> None:
        self.strings, self.formats = book.strings, book.formats
        self.out: list[tuple[int, list[str]]] = []
        self.values: list[str] = []
        self.columns: dict[str, int] = {}
        self.row = self.col = 0
        self.kind, self.style, self.raw = "n", "", ""
        self.collecting = self.phonetic = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = TAGS.get(name)
        if tag == "c":
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                self.col = self.columns.get(letters) or self._column(letters)
            else:
                self.col += 1
            self.kind, self.style, self.raw = attrs.get("t", "n"), attrs.get("s", ""), ""
        elif tag == "v" or (tag == "t" and not self.phonetic):
            self.collecting = True
        elif tag == "row":
            ref = attrs.get("r")
            row = _int(ref, "row number") if ref else self.row + 1
            if not self.row < row <= MAX_ROWS:  # ascending, as Excel requires: at most 2^20
                raise UnsupportedMedia(
                    f"the workbook is damaged: a row numbered {row} (after row {self.row})"
                )
            self.row, self.col = row, 0
        elif tag == "rPh":  # a phonetic run: its text is not the cell's
            self.phonetic = True

    def end(self, name: str) -> None:
        tag = TAGS.get(name)
        if tag == "v" or tag == "t":
            self.collecting = False
        elif tag == "c":
            if self.raw:
                self._put(self._text(self.raw))
        elif tag == "row":
            if any(map(str.strip, self.values)):
                self.out.append((self.row, self.values))
            self.values = []
        elif tag == "rPh":
            self.phonetic = False

    def chars(self, data: str) -> None:
        if self.collecting:
            self.raw += data

    def _column(self, letters: str) -> int:
        number = 0
        for char in letters.upper()[:4]:
            number = number * 26 + ord(char) - 64 if "A" <= char <= "Z" else -1
        if not 0 < number <= MAX_COLUMNS:
            raise UnsupportedMedia(f"the workbook is damaged: a cell in column {letters[:9]!r}")
        self.columns[letters] = number
        return number

    def _text(self, raw: str) -> str:
        kind = self.kind
        if kind == "n":
            return self.formats.get(self.style, general)(raw)
        if kind == "s":
            try:
                if (index := int(raw)) >= 0:
                    return self.strings[index]
            except (ValueError, IndexError):
                pass
            raise UnsupportedMedia(f"the workbook is damaged: no shared string {raw[:20]!r}")
        if kind == "b":
            return "TRUE" if raw in ("1", "true") else "FALSE"
        return unescape(raw)  # str (a formula's text), inlineStr, e (#N/A...), d (ISO date)

    def _put(self, text: str) -> None:
        values, col = self.values, self.col
        if col > len(values):
            values.extend([""] * (col - len(values) - 1))
            values.append(text)
        else:
            values[col - 1] = text


def _no_rows() -> Rows:
    yield from ()


def sheet_rows(zf: zipfile.ZipFile, book: Book, part: str) -> Rows:
    """(row number, cell texts) of every non-blank row, streamed from the sheet's XML."""
    handler = _SheetParser(book)
    parser = new_parser()
    parser.StartElementHandler = handler.start
    parser.EndElementHandler = handler.end
    parser.CharacterDataHandler = handler.chars
    for _ in feed_entry(zf, part, parser):
        yield from handler.out
        handler.out.clear()


# -- the table ------------------------------------------------------------------------------


class XlsxTable:
    """One sheet of an open workbook; close it (or use it as a context manager) when done."""

    kind = "xlsx"

    def __init__(self, zf: zipfile.ZipFile, book: Book, index: int) -> None:
        self._zf, self._book, self._index = zf, book, index
        self._open: list[Rows] = []
        self.sheets: tuple[str, ...] = tuple(s.name for s in book.sheets)
        self.sheet: str = self.sheets[index]

    def describe(self) -> str:
        return f"sheet {self.sheet!r} ({self._index + 1} of {len(self.sheets)})"

    def estimate_rows(self) -> int:
        """The last row of the sheet's declared dimension (an upper bound), else 0."""
        part = self._book.sheets[self._index].part
        if part is None:
            return 0
        try:
            with self._zf.open(part) as fh:
                head = fh.read(64 * 1024)  # <dimension> comes first, after <sheetPr>
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            return 0
        found = _DIMENSION.search(head)
        return min(int(found.group(1) or 1), MAX_ROWS) if found else 0

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        part = self._book.sheets[self._index].part
        rows = sheet_rows(self._zf, self._book, part) if part else _no_rows()
        self._open.append(rows)
        return rows

    def close(self) -> None:
        for rows in self._open:
            rows.close()
        self._open.clear()
        self._zf.close()

    def __enter__(self) -> XlsxTable:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _has_data(zf: zipfile.ZipFile, book: Book, sheet: Sheet) -> bool:
    if sheet.part is None:
        return False
    rows = sheet_rows(zf, book, sheet.part)
    try:
        return next(rows, None) is not None
    finally:
        rows.close()


def _choose(zf: zipfile.ZipFile, book: Book, sheet: str | int | None) -> int:
    names = [s.name for s in book.sheets]
    listed = ", ".join(repr(n) for n in names) or "none"
    if sheet is None:
        order = sorted(range(len(names)), key=lambda i: book.sheets[i].hidden)
        for index in order:
            if _has_data(zf, book, book.sheets[index]):
                return index
        raise InvalidInput("the workbook has no sheet with data")
    if isinstance(sheet, int):
        if 1 <= sheet <= len(names):
            return sheet - 1
        raise InvalidInput(f"the workbook has no sheet {sheet}; it has {len(names)}: {listed}")
    folded = [n.strip().casefold() for n in names]
    if sheet in names or sheet.strip().casefold() in folded:
        return names.index(sheet) if sheet in names else folded.index(sheet.strip().casefold())
    raise InvalidInput(f"the workbook has no sheet named {sheet!r}; its sheets are: {listed}")


def open_workbook(path: Path, *, sheet: str | int | None = None) -> XlsxTable:
    """A sheet of the workbook: by name, by 1-based number, or the first one with data."""
    zf = open_safe_zip(path)
    try:
        book = read_book(zf)
        return XlsxTable(zf, book, _choose(zf, book, sheet))
    except BaseException:
        zf.close()
        raise
