"""Recognising an upload by its content, and keeping a hostile workbook harmless.

`detect_kind` reads the first bytes (and a zip's entry names, an OLE file's stream names): a
workbook is "xlsx", a PDF, image, other archive, encrypted or legacy Office file is refused
naming what it is, and everything else is left to the CSV reader. `open_safe_zip` checks the
zip's central directory before any XML is parsed: entry count, declared sizes, compression
ratios, names. `parse_entry` then reads an entry through a byte cap into an expat parser that
refuses any DOCTYPE, so entity expansion (billion laughs) and external entities (XXE) never run.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal
from xml.parsers import expat

from synapse.errors import UnsupportedMedia

MAX_ENTRIES = 10_000
MAX_CENTRAL_DIRECTORY_BYTES = 2 << 20  # ~200 bytes for each of MAX_ENTRIES
MAX_ENTRY_BYTES = 1 << 30  # a full 1,048,576-row sheet of ~10 columns is 0.5-1 GiB of XML
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 200  # real sheets compress 5-30:1; zeros and repeated tags 1,000:1
RATIO_FLOOR_BYTES = 1 << 20  # tiny entries (styles, rels) may compress better
CHUNK = 256 * 1024

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OTHER_MAGICS = (
    (b"%PDF", "a PDF"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
)
OTHER_ZIPS = (
    ("xl/workbook.bin", "a binary Excel workbook (.xlsb); save it as .xlsx or CSV"),
    ("word/document.xml", "a Word document (.docx), not a workbook or CSV"),
    ("ppt/presentation.xml", "a PowerPoint presentation (.pptx), not a workbook or CSV"),
)
ENTITIES = (
    "the workbook contains XML entity declarations "
    "(a billion-laughs or external-entity attack); refused"
)
_UNSAFE_NAME = re.compile(r"(^|[/\\])\.\.([/\\]|$)|^[/\\]|^[A-Za-z]:|\x00")


def detect_kind(path: Path) -> Literal["xlsx", "csv"]:
    """ "xlsx" for an Excel workbook, "csv" for anything the CSV reader should judge.

    UnsupportedMedia, naming what the file is, for other zips, OLE files (legacy .xls,
    encrypted workbooks), PDFs, images and other archives.
    """
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(ZIP_MAGICS):
        with open_safe_zip(path, verify_entries=False) as zf:
            names = set(zf.namelist())
            if "xl/workbook.xml" in names and "[Content_Types].xml" in names:
                return "xlsx"
            for entry, what in OTHER_ZIPS:
                if entry in names:
                    raise UnsupportedMedia(f"the file is {what}")
            if "mimetype" in names and "content.xml" in names:
                raise UnsupportedMedia(
                    "the file is an OpenDocument file (.ods/.odt); save it as .xlsx or CSV"
                )
        raise UnsupportedMedia("the file is a zip archive but not an Excel workbook (.xlsx/.xlsm)")
    if head.startswith(OLE_MAGIC):
        raise UnsupportedMedia(_ole_problem(ole_stream_names(path)))
    for magic, what in OTHER_MAGICS:
        if head.startswith(magic):
            raise UnsupportedMedia(f"the file is {what}, not a workbook or CSV")
    return "csv"


# -- OLE compound files (legacy Office, encrypted OOXML) ------------------------------------

_OLE_DAMAGED = "the file is a damaged OLE compound file (an old Office format), not a workbook"
_FREE = 0xFFFFFFFA  # sector ids from here on are markers (end of chain, free, FAT, DIFAT)
MAX_OLE_DIRECTORY = 1024  # directory sectors read: 4,096+ entries; Office files have tens


def _ole_problem(names: set[str]) -> str:
    if {"EncryptionInfo", "EncryptedPackage"} & names:
        return "the workbook is encrypted (password-protected); save it without a password"
    if {"Workbook", "Book"} & names:
        return "the file is an old Excel 97-2003 .xls workbook; save it as .xlsx or CSV"
    if "WordDocument" in names:
        return "the file is an old Word 97-2003 .doc document, not a workbook or CSV"
    return "the file is an OLE compound file (an old Office format), not a workbook or CSV"


def ole_stream_names(path: Path) -> set[str]:
    """The names in an OLE compound file's directory (its FAT chain read, nothing else)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(512)
        if len(header) < 512 or struct.unpack_from("<H", header, 0x1E)[0] not in (9, 12):
            raise UnsupportedMedia(_OLE_DAMAGED)
        sector_size = 1 << struct.unpack_from("<H", header, 0x1E)[0]
        per = sector_size // 4
        fat_count, first_dir = struct.unpack_from("<II", header, 0x2C)
        next_difat = struct.unpack_from("<I", header, 0x44)[0]
        sectors = size // sector_size
        fat_count = min(fat_count, sectors // per + 1)  # FAT sectors needed to map the file

        def sector(index: int) -> bytes:
            fh.seek((index + 1) * sector_size)
            data = fh.read(sector_size)
            if len(data) < sector_size:
                raise UnsupportedMedia(_OLE_DAMAGED)
            return data

        difat = list(struct.unpack_from("<109I", header, 0x4C))
        for _ in range(sectors):
            if next_difat >= _FREE or len(difat) >= fat_count:
                break
            *more, next_difat = struct.unpack(f"<{per}I", sector(next_difat))
            difat += more
        fat: list[int] = []
        for index in [s for s in difat if s < _FREE][:fat_count]:
            fat += struct.unpack(f"<{per}I", sector(index))
        names: set[str] = set()
        current, seen = first_dir, set[int]()
        while current < _FREE and current not in seen and len(seen) < MAX_OLE_DIRECTORY:
            seen.add(current)
            data = sector(current)
            for at in range(0, sector_size, 128):
                length, kind = struct.unpack_from("<HB", data, at + 0x40)
                if kind in (1, 2, 5) and 2 <= length <= 64:
                    names.add(data[at : at + length - 2].decode("utf-16-le", "replace"))
            current = fat[current] if current < len(fat) else _FREE
    return names


# -- zip structure --------------------------------------------------------------------------


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def _check_central_directory(path: Path) -> None:
    """Entry count and directory size from the end record, before zipfile reads the directory."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        start = max(0, size - 22 - 0xFFFF)
        fh.seek(start)
        tail = fh.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise UnsupportedMedia("the file is a damaged zip archive (no central directory)")
        entries, directory = struct.unpack_from("<HI", tail, at + 10)
        if entries == 0xFFFF or directory == 0xFFFFFFFF:  # zip64: the real numbers are elsewhere
            fh.seek(max(0, start + at - 20))
            locator = fh.read(20)
            if locator[:4] == b"PK\x06\x07":
                fh.seek(struct.unpack_from("<Q", locator, 8)[0])
                record = fh.read(56)
                if record[:4] == b"PK\x06\x06":
                    entries, directory = struct.unpack_from("<QQ", record, 32)
    if entries > MAX_ENTRIES or directory > MAX_CENTRAL_DIRECTORY_BYTES:
        raise UnsupportedMedia(
            f"the zip archive has too many entries ({entries:,}; at most {MAX_ENTRIES:,} are read)"
        )


def _check_entry(info: zipfile.ZipInfo) -> None:
    name = info.filename
    if _UNSAFE_NAME.search(name):
        raise UnsupportedMedia(f"the workbook has an entry with an unsafe name: {name!r}")
    if info.flag_bits & 0x1:
        raise UnsupportedMedia("the workbook's zip entries are encrypted; refused")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnsupportedMedia(f"the workbook's entry {name} uses an unusual compression; refused")
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > MAX_ENTRY_BYTES or (
        ratio > MAX_RATIO and info.file_size > RATIO_FLOOR_BYTES
    ):
        raise UnsupportedMedia(
            f"the workbook looks like a zip bomb: entry {name} would expand to "
            f"{_size(info.file_size)} (ratio {ratio:,.0f}:1)"
        )


def check_entries(zf: zipfile.ZipFile) -> None:
    """Names, encryption, compression, declared sizes and ratios of every entry."""
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise UnsupportedMedia(f"the zip archive has too many entries ({len(infos):,})")
    if len({i.filename for i in infos}) != len(infos):
        raise UnsupportedMedia("the workbook has two zip entries with the same name; refused")
    for info in infos:
        _check_entry(info)
    total = sum(i.file_size for i in infos)
    if total > MAX_TOTAL_BYTES:
        raise UnsupportedMedia(
            f"the workbook looks like a zip bomb: its entries would expand to {_size(total)} "
            f"in total (at most {_size(MAX_TOTAL_BYTES)})"
        )


def open_safe_zip(path: Path, *, verify_entries: bool = True) -> zipfile.ZipFile:
    """The zip, opened only after its directory passed the limits (UnsupportedMedia if not)."""
    _check_central_directory(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsupportedMedia(f"the file is a damaged zip archive ({exc})") from None
    if verify_entries:
        try:
            check_entries(zf)
        except BaseException:
            zf.close()
            raise
    return zf


def check_zip_safety(path: Path) -> None:
    """UnsupportedMedia, naming the problem, unless the zip is within every limit."""
    open_safe_zip(path).close()


# -- reading entries ------------------------------------------------------------------------


def iter_entry(zf: zipfile.ZipFile, name: str, *, limit: int = MAX_ENTRY_BYTES) -> Iterator[bytes]:
    """The entry's bytes in chunks, never more than its declared size nor `limit`."""
    info = zf.getinfo(name)
    cap = min(info.file_size, limit)
    read = 0
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(CHUNK):
                read += len(chunk)
                if read > cap:
                    raise UnsupportedMedia(
                        f"the workbook looks like a zip bomb: entry {name} expands past "
                        f"{_size(cap)}"
                    )
                yield chunk
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise UnsupportedMedia(f"the workbook is damaged: entry {name} ({exc})") from None


def _refuse(*_args: object) -> int:
    raise UnsupportedMedia(ENTITIES)


def new_parser() -> expat.XMLParserType:
    """An expat parser with namespaces ("uri local" names) that refuses any DOCTYPE."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.UnparsedEntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True
    parser.buffer_size = 64 * 1024
    return parser


def feed_entry(
    zf: zipfile.ZipFile, name: str, parser: expat.XMLParserType, *, limit: int = MAX_ENTRY_BYTES
) -> Iterator[None]:
    """Parse the entry chunk by chunk, yielding after each so the caller can take its output."""
    try:
        for chunk in iter_entry(zf, name, limit=limit):
            parser.Parse(chunk, False)
            yield
        parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise UnsupportedMedia(
            f"the workbook is damaged: {name} is not valid XML ({exc})"
        ) from None
    yield


def parse_entry(
    zf: zipfile.ZipFile,
    name: str,
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None] | None = None,
    text: Callable[[str], None] | None = None,
) -> None:
    """Parse a whole (small) entry with these handlers."""
    parser = new_parser()
    parser.StartElementHandler = start
    if end is not None:
        parser.EndElementHandler = end
    if text is not None:
        parser.CharacterDataHandler = text
    for _ in feed_entry(zf, name, parser):
        pass
