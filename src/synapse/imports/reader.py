"""Reading CSV files the way spreadsheets write them.

UTF-8 with or without BOM, else Windows-1252; `,` `;` or tab delimiters; quoted fields with
newlines. Rows are streamed, never loaded whole. Which row is the header and what its columns
mean is decided by the caller (`imports.table`, `imports.mapping`), as for a workbook.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from synapse.errors import InvalidInput, UnsupportedMedia

DELIMITERS = (",", ";", "\t")
CHUNK = 1 << 20
SNIFF_BYTES = 64 * 1024

csv.field_size_limit(10 * 1024 * 1024)


@dataclass(frozen=True)
class CsvFormat:
    encoding: str
    delimiter: str


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(path: Path) -> str:
    """`utf-8-sig` when the whole file is valid UTF-8 (BOM or not), else `cp1252`."""
    if _decodes(path, "utf-8"):
        return "utf-8-sig"
    if _decodes(path, "cp1252"):
        return "cp1252"
    raise UnsupportedMedia("the file is not text in UTF-8 or Windows-1252")


def check_binary(head: bytes) -> None:
    if b"\x00" in head:
        raise UnsupportedMedia("the file is binary, not a CSV text file")


def detect_delimiter(first_line: str) -> str:
    """The delimiter that splits the header line most often (outside quotes)."""
    counts = {d: 0 for d in DELIMITERS}
    quoted = False
    for char in first_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _first_record_text(text: io.TextIOBase) -> str:
    line = text.readline()
    # A header with a quoted newline: read on until the quotes balance.
    while line.count('"') % 2 and (more := text.readline()):
        line += more
    return line


def sniff(path: Path) -> CsvFormat:
    """Encoding and delimiter of a CSV file; InvalidInput when it cannot be one."""
    if not path.is_file():
        raise InvalidInput(f"the file to import is missing ({path.name})")
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head.removeprefix(codecs.BOM_UTF8).strip():
        raise InvalidInput("the file is empty")
    check_binary(head)
    encoding = detect_encoding(path)
    with path.open("r", encoding=encoding, newline="") as text:
        first = _first_record_text(text)
    return CsvFormat(encoding=encoding, delimiter=detect_delimiter(first))


def estimate_rows(path: Path) -> int:
    """Line count as a cheap upper bound of the record count (for progress before the end)."""
    lf = cr = 0
    last = b"\n"
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            lf += chunk.count(b"\n")
            cr += chunk.count(b"\r")
            last = chunk[-1:]
    lines = max(lf, cr)  # old Mac files end lines with CR alone
    if last not in (b"\n", b"\r"):
        lines += 1
    return max(lines - 1, 0)


def iter_rows(path: Path, fmt: CsvFormat) -> Iterator[tuple[int, list[str]]]:
    """(spreadsheet row number, fields) for every non-blank record, the header's included.

    Row numbers count records the way a spreadsheet shows them: the first record is row 1.
    A BOM is not part of the first field.
    """
    with path.open("r", encoding=fmt.encoding, newline="") as text:
        records = csv.reader(text, delimiter=fmt.delimiter)
        for row_no, fields in enumerate(records, start=1):
            if not "".join(fields).strip():  # blank (one C call, not a loop over the cells)
                continue
            if row_no == 1:
                fields[0] = fields[0].replace("\ufeff", "")
            yield row_no, fields
