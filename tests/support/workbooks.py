"""Workbooks for tests, hostile ones included: a zip bomb, a billion-laughs sheet, an
encrypted (OLE) file. Each is built small and fast, never holding the expanded data."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import xlsxwriter

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MB = 1 << 20


def small_workbook(path: Path) -> Path:
    """Two sheets: assets under a title row, and notes."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("Assets")
    sheet.write_row("A1", ["Asset list"])
    sheet.write_row("A3", ["Tag No.", "Equipment Type", "Rated Power [kW]"])
    sheet.write_row("A4", ["P-101", "Pump", 7.5])
    book.add_worksheet("Notes").write_string("B2", "see the P&ID")
    book.close()
    return path


def deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def write_zip(path: Path, entries: list[tuple[str, bytes, int, int]]) -> Path:
    """A zip written byte by byte: (name, deflated data, CRC-32, size) per entry."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, data, crc, size in entries:
        raw = name.encode()
        head = struct.pack("<HHHHHIII", 20, 0, 8, 0, 0x21, crc, len(data), size)
        directory.write(b"PK\x01\x02" + struct.pack("<H", 20) + head)
        directory.write(struct.pack("<HHHHHII", len(raw), 0, 0, 0, 0, 0, body.tell()) + raw)
        body.write(b"PK\x03\x04" + head + struct.pack("<HH", len(raw), 0) + raw + data)
    end = struct.pack("<HHHHIIH", 0, 0, len(entries), len(entries), directory.tell(),
                      body.tell(), 0)  # fmt: skip
    path.write_bytes(body.getvalue() + directory.getvalue() + b"PK\x05\x06" + end)
    return path


def entries_of(path: Path, skip: str) -> list[tuple[str, bytes, int, int]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, deflate(zf.read(i)), i.CRC, i.file_size)
                for i in zf.infolist() if i.filename != skip]  # fmt: skip


def bomb_entry(name: str, expanded_mb: int) -> tuple[str, bytes, int, int]:
    """A zip entry for write_zip of `expanded_mb` MB of spaces: deflate blocks that each start
    afresh, so one compressed block serves for all and at most 1 MB is ever expanded here."""
    block = b" " * MB
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(expanded_mb):
        crc = zlib.crc32(block, crc)
    return name, piece * expanded_mb + packer.flush(), crc, expanded_mb * MB


def zip_bomb(tmp_path: Path, expanded_mb: int = 1_050) -> bytes:
    """A workbook of about 1 MB whose second sheet expands to `expanded_mb` MB of spaces."""
    book = small_workbook(tmp_path / "for-bomb.xlsx")
    name = "xl/worksheets/sheet2.xml"
    path = write_zip(
        tmp_path / "bomb.xlsx", [*entries_of(book, name), bomb_entry(name, expanded_mb)]
    )
    return path.read_bytes()


BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        f' <!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'.encode()
        for i in range(1, 10)
    )
    + b']>\n<worksheet xmlns="'
    + MAIN.encode()
    + b'"><sheetData><row r="1"><c r="A1" '
    b't="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
)


def billion_laughs(tmp_path: Path) -> bytes:
    """A real workbook whose first sheet is a billion-laughs document."""
    book = small_workbook(tmp_path / "for-lol.xlsx")
    name = "xl/worksheets/sheet1.xml"
    path = write_zip(tmp_path / "lol.xlsx",
                     [*entries_of(book, name),
                      (name, deflate(BILLION_LAUGHS), zlib.crc32(BILLION_LAUGHS),
                       len(BILLION_LAUGHS))])  # fmt: skip
    return path.read_bytes()


def cfb(streams: dict[str, int]) -> bytes:
    """A minimal OLE compound file (512-byte sectors) with these streams of these sizes."""
    fat = [0xFFFFFFFD, 0xFFFFFFFE]  # sector 0: the FAT, sector 1: the directory
    directory = [("Root Entry", 5, 0xFFFFFFFE, 0, 1 if streams else 0xFFFFFFFF)]
    for number, (name, size) in enumerate(streams.items(), start=1):
        count = -(-size // 512)
        start = len(fat)
        fat += [*range(start + 1, start + count), 0xFFFFFFFE]
        sibling = number + 1 if number < len(streams) else 0xFFFFFFFF
        directory.append((name, 2, start, size, sibling))
    header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
    header += struct.pack("<HHHHH6xIIIIIIIII", 0x3E, 3, 0xFFFE, 9, 6, 0, 1, 1, 0, 4096,
                          0xFFFFFFFE, 0, 0xFFFFFFFE, 0)  # fmt: skip
    header += struct.pack("<109I", 0, *[0xFFFFFFFF] * 108)
    entries = b""
    for name, kind, start, size, link in directory:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        right = link if kind == 2 else 0xFFFFFFFF
        child = link if kind == 5 else 0xFFFFFFFF
        entries += raw.ljust(64, b"\x00") + struct.pack(
            "<HBBIII16xI8x8xIQ", len(raw), kind, 1, 0xFFFFFFFF, right, child, 0, start, size
        )
    entries = entries.ljust(512, b"\x00")
    fat_sector = struct.pack(f"<{len(fat)}I", *fat).ljust(512, b"\xff")
    data = bytes(512 * (len(fat) - 2))
    return header + fat_sector + entries + data


def encrypted() -> bytes:
    """What Excel writes for a workbook with a password: an OLE file with the encrypted package."""
    return cfb({"EncryptionInfo": 4096, "EncryptedPackage": 8192})
