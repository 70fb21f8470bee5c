"""A file to import as a table of rows, whatever it is: a CSV file or an Excel workbook.

`open_table` recognises the file by its content, `read_layout` finds the header row (given, or
the first of the first 20 rows that names a tag column after the mapping) and plans what each
column means; the rows after the header then stream on from the same reader.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

from synapse.errors import InvalidInput
from synapse.imports import reader, xlsx
from synapse.imports.mapping import ColumnPlan, find_header_row, plan_columns

HEADER_WITHIN = 20  # rows searched for the header
SAMPLE_ROWS = 5

Rows = Iterator[tuple[int, list[str]]]


class Table(Protocol):
    kind: str  # "csv" | "xlsx"
    sheets: tuple[str, ...]

    @property
    def sheet(self) -> str | None: ...

    def describe(self) -> str: ...

    def estimate_rows(self) -> int: ...

    def rows(self) -> Rows: ...

    def close(self) -> None: ...


class CsvTable:
    kind = "csv"
    sheets: tuple[str, ...] = ()

    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = reader.sniff(path)

    @property
    def sheet(self) -> str | None:
        return None

    def describe(self) -> str:
        encoding = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252"}.get(
            self.format.encoding, self.format.encoding
        )
        delimiter = {",": "comma", ";": "semicolon", "\t": "tab"}[self.format.delimiter]
        return f"CSV, {encoding}, {delimiter}-separated"

    def estimate_rows(self) -> int:
        return reader.estimate_rows(self.path)

    def rows(self) -> Rows:
        return reader.iter_rows(self.path, self.format)

    def close(self) -> None:
        pass


def open_table(path: Path, *, sheet: str | int | None = None) -> Table:
    """The file as a table: a workbook's sheet (`sheet`: name or 1-based number) or a CSV."""
    if not path.is_file():
        raise InvalidInput(f"the file to import is missing ({path.name})")
    if xlsx.detect_kind(path) == "xlsx":
        return xlsx.open_workbook(path, sheet=sheet)
    return CsvTable(path)


@dataclass
class Layout:
    """An open table with its header found and its columns planned; `records` follow it."""

    table: Table
    plan: ColumnPlan
    header_row: int
    records: Rows
    sample: list[list[str]]

    def __enter__(self) -> Layout:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.table.close()


def parse_sheet(value: str | int | None) -> str | int | None:
    """A form's `sheet`: a 1-based number when it is all digits, else a name; blank is none."""
    if value is None or isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        return None
    return int(text) if text.isdigit() else text


def read_head(table: Table, rows: Rows, header_row: int | None) -> list[tuple[int, list[str]]]:
    """The rows the header is looked for in: the first 20, or up to the given header row."""
    head: list[tuple[int, list[str]]] = []
    for number, cells in rows:
        head.append((number, cells))
        enough = number >= header_row if header_row is not None else len(head) >= HEADER_WITHIN
        if enough:
            break
    if not head:
        where = f"sheet {table.sheet!r}" if table.sheet else "the file"
        raise InvalidInput(f"{where} is empty")
    return head


def read_layout(
    path: Path,
    *,
    sheet: str | int | None = None,
    header_row: int | None = None,
    mapping: Mapping[str, str | None] | None = None,
) -> Layout:
    """Open the file, find its header row and plan its columns (InvalidInput naming why not)."""
    table = open_table(path, sheet=parse_sheet(sheet))
    try:
        rows = table.rows()
        head = read_head(table, rows, header_row)
        at = find_header_row(head, mapping, header_row=header_row, within=HEADER_WITHIN)
        number, header = head[at]
        plan = plan_columns(header, mapping)
        after = head[at + 1 :]
        after += itertools.islice(rows, max(0, SAMPLE_ROWS - len(after)))
        sample = [cells for _n, cells in after[:SAMPLE_ROWS]]
        return Layout(
            table=table,
            plan=plan,
            header_row=number,
            records=itertools.chain(after, rows),
            sample=sample,
        )
    except BaseException:
        table.close()
        raise
