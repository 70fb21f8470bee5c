"""Unit tests of synapse.imports.xlsx: recognising workbooks, display texts, sheets, and
refusing hostile files (zip bombs, billion laughs, XXE, encrypted, renamed) fast and small."""

from __future__ import annotations

import datetime as dt
import resource
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import xlsxwriter

from synapse.errors import InvalidInput, UnsupportedMedia
from synapse.imports import xlsx
from synapse.imports.xlsx_cells import formatter, general
from tests.support.workbooks import (
    BILLION_LAUGHS,
    MAIN,
    MB,
    bomb_entry,
    cfb,
    deflate,
    entries_of,
    write_zip,
)

HEADER = ["Tag No.", "Equipment Type", "Rated Power [kW]", "Range", "Installed", "Active"]
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"

Rows = list[tuple[int, list[str]]]


def make_workbook(path: Path) -> Path:
    """An empty first sheet, an asset sheet under a merged title block, a notes sheet."""
    book = xlsxwriter.Workbook(str(path))
    book.add_worksheet("Empty")
    sheet = book.add_worksheet("Assets")
    notes = book.add_worksheet("Notes")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    stamp = book.add_format({"num_format": "dd.mm.yyyy hh:mm"})
    percent = book.add_format({"num_format": "0%"})
    sheet.merge_range("A1:F2", "Pump station P1 — asset list", book.add_format({"bold": True}))
    sheet.write_row("A3", HEADER)
    sheet.write_row("A4", ["P-101", "Pump", 7.5, "4–20 mA"])
    sheet.write_datetime("E4", dt.date(2026, 11, 30), day)
    sheet.write_boolean("F4", True)
    sheet.write_row("A6", ["M-007", "Motor", 100.0])
    sheet.write_formula("D6", "=0.1+0.2", None, 0.30000000000000004)
    sheet.write_datetime("E6", dt.datetime(2026, 11, 30, 14, 5), stamp)
    sheet.write_boolean("F6", False)
    sheet.write_number("G6", 0.5, percent)
    sheet.write_string("A7", "007")
    sheet.write_number("C7", 1234.5678)
    sheet.write_formula("D7", "=1/0", None, "#DIV/0!")
    notes.write_string("B2", "see the P&ID")
    book.close()
    return path


ASSET_ROWS: Rows = [
    (1, ["Pump station P1 — asset list"]),
    (3, HEADER),
    (4, ["P-101", "Pump", "7.5", "4–20 mA", "2026-11-30", "TRUE"]),
    (6, ["M-007", "Motor", "100", "0.3", "2026-11-30T14:05:00", "FALSE", "50%"]),
    (7, ["007", "", "1234.5678", "#DIV/0!"]),
]


def read(path: Path, sheet: str | int | None = None) -> Rows:
    with xlsx.open_workbook(path, sheet=sheet) as table:
        return list(table.rows())


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return make_workbook(tmp_path / "assets.xlsx")


def handmade(path: Path, rows: str, *, strings: str = "", styles: str = "", pr: str = "") -> Path:
    """A workbook written part by part: one sheet `Data` whose <sheetData> is `rows`."""
    parts = {
        "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="xml" ContentType="application/xml"/></Types>',
        "xl/workbook.xml": f'<workbook xmlns="{MAIN}" xmlns:r="{RELS}"><workbookPr {pr}/>'
        '<sheets><sheet name="Data" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{RELS}/worksheet" Target="worksheets/sheet1.xml"/>'
            f'<Relationship Id="rId2" Type="{RELS}/sharedStrings" Target="sharedStrings.xml"/>'
            f'<Relationship Id="rId3" Type="{RELS}/styles" Target="/xl/styles.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData>'
        "</worksheet>",
        "xl/sharedStrings.xml": f'<sst xmlns="{MAIN}">{strings}</sst>',
        "xl/styles.xml": f'<styleSheet xmlns="{MAIN}">{styles}</styleSheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, '<?xml version="1.0" encoding="UTF-8"?>\n' + text)
    return path


def replace_part(src: Path, dest: Path, name: str, data: bytes) -> Path:
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            new.writestr(info.filename, data if info.filename == name else old.read(info))
    return dest


# -- display texts and row numbers ----------------------------------------------------------


def test_rows_give_spreadsheet_row_numbers_and_the_texts_a_person_sees(workbook: Path) -> None:
    assert read(workbook, "Assets") == ASSET_ROWS


def test_default_sheet_is_the_first_with_data(workbook: Path) -> None:
    with xlsx.open_workbook(workbook) as table:
        assert table.kind == "xlsx"
        assert table.sheets == ("Empty", "Assets", "Notes")
        assert table.sheet == "Assets"
        assert table.describe() == "sheet 'Assets' (2 of 3)"
        assert 7 <= table.estimate_rows() <= 10
        assert list(table.rows()) == ASSET_ROWS


@pytest.mark.parametrize("choice", ["Notes", 3, " notes "])
def test_sheet_by_name_or_number(workbook: Path, choice: str | int) -> None:
    with xlsx.open_workbook(workbook, sheet=choice) as table:
        assert table.sheet == "Notes"
        assert table.describe() == "sheet 'Notes' (3 of 3)"
        assert list(table.rows()) == [(2, ["", "see the P&ID"])]


@pytest.mark.parametrize("choice", ["Pumps", 4, 0])
def test_unknown_sheet_names_the_sheets(workbook: Path, choice: str | int) -> None:
    with pytest.raises(InvalidInput) as info:
        xlsx.open_workbook(workbook, sheet=choice)
    assert "'Empty', 'Assets', 'Notes'" in str(info.value)
    assert not isinstance(info.value, UnsupportedMedia)


def test_no_sheet_with_data(tmp_path: Path) -> None:
    book = xlsxwriter.Workbook(str(tmp_path / "blank.xlsx"))
    book.add_worksheet("One").write_string("A1", "   ")  # blank text is no data
    book.add_worksheet("Two")
    book.close()
    with pytest.raises(InvalidInput, match="the workbook has no sheet with data"):
        xlsx.open_workbook(tmp_path / "blank.xlsx")


def test_recognised_by_content_not_name(workbook: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "assets.csv"
    renamed.write_bytes(workbook.read_bytes())
    assert xlsx.detect_kind(renamed) == "xlsx"
    text = tmp_path / "assets.xlsx.csv"
    text.write_text("tag;type\nP-1;Pump\n")
    assert xlsx.detect_kind(text) == "csv"
    (tmp_path / "empty.xlsx").write_bytes(b"")
    assert xlsx.detect_kind(tmp_path / "empty.xlsx") == "csv"


def test_xlsm_reads_the_same_and_ignores_macros(workbook: Path, tmp_path: Path) -> None:
    xlsm = tmp_path / "assets.xlsm"
    with zipfile.ZipFile(workbook) as old, zipfile.ZipFile(xlsm, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename == "[Content_Types].xml":
                data = data.replace(
                    b"spreadsheetml.sheet.main+xml", b"ms-excel.sheet.macroEnabled.main+xml"
                )
            new.writestr(info.filename, data)
        new.writestr("xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    assert xlsx.detect_kind(xlsm) == "xlsx"
    assert read(xlsm, "Assets") == ASSET_ROWS


def test_cell_kinds_written_by_hand(tmp_path: Path) -> None:
    strings = (
        "<si><t>Pump</t></si>"
        "<si><r><t>Ölpumpe </t></r><r><rPr><b/></rPr><t>µ</t></r>"
        "<rPh sb='0' eb='1'><t>ポンプ</t></rPh></si>"
        "<si><t xml:space='preserve'>a_x000D_b _x005F_x000D_</t></si>"
    )
    styles = (
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="0.0%"/></numFmts>'
        '<cellStyleXfs count="1"><xf numFmtId="14"/></cellStyleXfs>'
        '<dxfs count="1"><dxf><numFmt numFmtId="164" formatCode="yyyy"/></dxf></dxfs>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="14"/></cellXfs>'
    )
    rows = (
        '<row r="2"><c r="A2" t="s"><v>0</v></c><c r="C2" t="s"><v>1</v></c>'
        '<c r="D2" t="s"><v>2</v></c></row>'
        '<row r="4"><c r="B4"><f>A1*2</f></c><c t="str"><f>A1</f><v>x &amp; y</v></c>'
        '<c t="e"><v>#N/A</v></c><c t="inlineStr"><is><t>in line</t></is></c></row>'
        '<row><c r="A5" s="1"><v>0.1234</v></c><c r="B5" s="2"><v>44894</v></c>'
        '<c r="C5"><v>-0</v></c><c r="D5"><v>0.1</v></c><c r="E5" t="b"><v>0</v></c></row>'
        '<row r="9"><c r="A9" s="2"/><c r="B9" t="s"><v>2</v></c></row>'
    )
    path = handmade(tmp_path / "kinds.xlsx", rows, strings=strings, styles=styles,
                    pr='date1904="1"')  # fmt: skip
    assert read(path) == [
        (2, ["Pump", "", "Ölpumpe µ", "a\rb _x000D_"]),
        (4, ["", "", "x & y", "#N/A", "in line"]),
        (5, ["12.3%", "2026-11-30", "0", "0.1", "FALSE"]),
        (9, ["", "a\rb _x000D_"]),
    ]


def test_prefixed_namespace(tmp_path: Path) -> None:
    path = handmade(tmp_path / "prefixed.xlsx", "")
    sheet = (
        f'<x:worksheet xmlns:x="{MAIN}"><x:dimension ref="A1:B3"/><x:sheetData>'
        '<x:row r="3"><x:c r="B3"><x:v>42</x:v></x:c></x:row></x:sheetData></x:worksheet>'
    ).encode()
    path = replace_part(path, tmp_path / "x.xlsx", "xl/worksheets/sheet1.xml", sheet)
    with xlsx.open_workbook(path) as table:
        assert table.estimate_rows() == 3
        assert list(table.rows()) == [(3, ["", "42"])]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [("7.5", "7.5"), ("100.0", "100"), ("100", "100"), ("0.30000000000000004", "0.3"),
     ("-2.5", "-2.5"), ("1E+20", "1E+20"), ("1.5E-07", "1.5E-07"), ("0.0001", "0.0001"),
     ("123456789012345678", "1.23456789012346E+17"), ("1/3", "1/3")],
)  # fmt: skip
def test_general_numbers(raw: str, shown: str) -> None:
    assert general(raw) == shown


@pytest.mark.parametrize(
    ("code", "raw", "shown"),
    [("0%", "0.5", "50%"), ("0%", "0.125", "13%"), ("0.0%", "0.125", "12.5%"),
     ("0.00%", "-0.00001", "0.00%"), ("yyyy-mm-dd", "46356", "2026-11-30"),
     ("d/m/yy h:mm", "46356.586805555555", "2026-11-30T14:05:00"),
     ("[$-409]mmmm d, yyyy", "46356.9", "2026-11-30"), ("h:mm AM/PM", "0.75", "18:00:00"),
     ("h:mm:ss", "0.5868055555555556", "14:05:00"), ("mm:ss", "0.003472222", "00:05:00"),
     ("[h]:mm:ss", "1.5", "36:00:00"), ("yyyy-mm-dd", "-1", "-1"), ("000", "7", "007"),
     ("0.00E+00", "12345", "12345"), ('#,##0 "kWh"', "1234.5", "1234.5"), ("@", "7.5", "7.5"),
     ("[Red]0.00;[Blue]-0.00", "7.5", "7.5"), ('"day "0', "3", "3")],
)  # fmt: skip
def test_number_formats(code: str, raw: str, shown: str) -> None:
    assert formatter(code)(raw) == shown


def test_rows_stream_with_bounded_memory(tmp_path: Path) -> None:
    path = handmade(tmp_path / "big.xlsx", "")
    count, filler = 2_000, "x" * 1000  # long texts: many bytes, few expat calls

    def sheet() -> Iterator[bytes]:
        yield f'<worksheet xmlns="{MAIN}"><sheetData>'.encode()
        for r in range(1, count + 1):
            yield (f'<row r="{r}">' + "".join(
                f'<c r="{col}{r}" t="inlineStr"><is><t>{col}{r} {filler}</t></is></c>'
                for col in "ABCDEFGH") + "</row>").encode()  # fmt: skip
        yield b"</sheetData></worksheet>"

    big = tmp_path / "streamed.xlsx"
    with zipfile.ZipFile(path) as old, zipfile.ZipFile(big, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                new.writestr(info.filename, old.read(info))
        with new.open("xl/worksheets/sheet1.xml", "w") as out:
            for part in sheet():
                out.write(part)
    tracemalloc.start()
    try:
        with xlsx.open_workbook(big) as table:
            seen = sum(len(cells) for _n, cells in table.rows())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seen == count * 8
    assert peak < 4 * MB  # all rows held at once would be over 16 MB


# -- hostile and wrong files ----------------------------------------------------------------


def max_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def read_upload(path: Path) -> Rows:
    """What the import does: recognise the file, open the workbook, read its rows."""
    assert xlsx.detect_kind(path) == "xlsx"
    return read(path)


def refused(call: Callable[[], object]) -> str:
    """The UnsupportedMedia message, asserting it came within 2 s and 100 MB."""
    rss = max_rss()
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(UnsupportedMedia) as info:
            call()
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert seconds < 2.0
    assert peak < 100 * MB
    assert max_rss() - rss < 100 * MB
    return str(info.value)


def test_zip_bomb(workbook: Path, tmp_path: Path) -> None:
    # 1.1 GB of spaces as deflate blocks that each start afresh, so one block serves for all:
    # the file is about 1 MB and the test never holds more than 1 MiB of the expanded data.
    name = "xl/worksheets/sheet2.xml"
    bomb = write_zip(tmp_path / "bomb.xlsx",
                     [*entries_of(workbook, name), bomb_entry(name, 1050)])  # fmt: skip
    assert bomb.stat().st_size < 2 * MB
    message = refused(lambda: read_upload(bomb))
    assert refused(lambda: xlsx.check_zip_safety(bomb)) == message
    xlsx.check_zip_safety(workbook)
    assert message.startswith("the workbook looks like a zip bomb: entry xl/worksheets/sheet2.xml")
    assert "1.1 GB" in message
    assert "ratio 1,0" in message  # about 1,030:1


def test_declared_size_is_not_trusted(workbook: Path, tmp_path: Path) -> None:
    name = "xl/worksheets/sheet2.xml"
    rows = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in range(1, 200_000))
    xml = f'<worksheet xmlns="{MAIN}"><sheetData>{rows}</sheetData></worksheet>'.encode()
    liar = write_zip(
        tmp_path / "liar.xlsx",
        [*entries_of(workbook, name), (name, deflate(xml), zlib.crc32(xml), 5000)],
    )
    message = refused(lambda: read_upload(liar))  # fmt: skip
    assert message.startswith("the workbook is damaged: ")


XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:secret.txt">]>\n'
    b'<sst xmlns="' + MAIN.encode() + b'"><si><t>&xxe;</t></si></sst>'
)
PARAMETER_XXE = (
    b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd">'
    b"%remote;]>\n<worksheet/>"
)
ENTITIES = "the workbook contains XML entity declarations"


@pytest.mark.parametrize(
    ("part", "document"),
    [("xl/worksheets/sheet2.xml", BILLION_LAUGHS), ("xl/sharedStrings.xml", BILLION_LAUGHS),
     ("xl/sharedStrings.xml", XXE), ("xl/workbook.xml", PARAMETER_XXE),
     ("xl/styles.xml", XXE.replace(b"sst", b"styleSheet"))],
)  # fmt: skip
def test_entity_declarations_are_refused(
    workbook: Path, tmp_path: Path, part: str, document: bytes
) -> None:
    hostile = replace_part(workbook, tmp_path / "hostile.xlsx", part, document)
    message = refused(lambda: read_upload(hostile))
    assert message.startswith(ENTITIES)
    assert "billion-laughs or external-entity attack" in message


def test_billion_laughs_in_a_sheet_chosen_by_name(workbook: Path, tmp_path: Path) -> None:
    hostile = replace_part(workbook, tmp_path / "lol.xlsx", "xl/worksheets/sheet3.xml",
                           BILLION_LAUGHS)  # fmt: skip
    assert refused(lambda: read(hostile, "Notes")).startswith(ENTITIES)


@pytest.mark.parametrize(
    ("streams", "expected"),
    [({"EncryptionInfo": 4096, "EncryptedPackage": 8192},
      "the workbook is encrypted (password-protected); save it without a password"),
     ({"Workbook": 4096},
      "the file is an old Excel 97-2003 .xls workbook; save it as .xlsx or CSV"),
     ({"WordDocument": 4096},
      "the file is an old Word 97-2003 .doc document, not a workbook or CSV"),
     ({}, "the file is an OLE compound file (an old Office format), not a workbook or CSV")],
)  # fmt: skip
def test_ole_files(tmp_path: Path, streams: dict[str, int], expected: str) -> None:
    path = tmp_path / "assets.xlsx"
    path.write_bytes(cfb(streams))
    assert refused(lambda: xlsx.detect_kind(path)) == expected


def test_damaged_ole_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.xls"
    path.write_bytes(cfb({"Workbook": 4096})[:600])
    assert "damaged OLE compound file" in refused(lambda: xlsx.detect_kind(path))


def test_hostile_ole_counts(tmp_path: Path) -> None:
    # Four billion FAT sectors claimed, every DIFAT slot and the DIFAT chain pointing at sector
    # 0 (a loop), and 20 MB of sectors after: the reader stops at what the file size allows.
    data = bytearray(cfb({"Workbook": 4096}))
    struct.pack_into("<III", data, 0x2C, 0xFFFFFFFF, 1, 0)
    struct.pack_into("<II", data, 0x44, 0, 0xFFFFFFFF)
    struct.pack_into("<109I", data, 0x4C, *[0] * 109)
    data += struct.pack("<I", 1) * (20 * MB // 4)
    path = tmp_path / "crafted.xls"
    path.write_bytes(bytes(data))
    assert refused(lambda: xlsx.detect_kind(path)).startswith("the file is")


@pytest.mark.parametrize(
    ("head", "what"),
    [(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "the file is a PDF, not a workbook or CSV"),
     (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "the file is a PNG image, not a workbook or CSV"),
     (b"\xff\xd8\xff\xe0\x00\x10JFIF", "the file is a JPEG image, not a workbook or CSV"),
     (b"\x1f\x8b\x08\x00", "the file is a gzip archive, not a workbook or CSV"),
     (b"Rar!\x1a\x07\x01\x00", "the file is a RAR archive, not a workbook or CSV")],
)  # fmt: skip
def test_renamed_binary_files(tmp_path: Path, head: bytes, what: str) -> None:
    path = tmp_path / "assets.xlsx"
    path.write_bytes(head + bytes(1000))
    assert refused(lambda: xlsx.detect_kind(path)) == what


@pytest.mark.parametrize(
    ("names", "what"),
    [(["readme.txt"], "the file is a zip archive but not an Excel workbook (.xlsx/.xlsm)"),
     (["xl/workbook.xml"], "the file is a zip archive but not an Excel workbook (.xlsx/.xlsm)"),
     (["[Content_Types].xml", "word/document.xml"], "the file is a Word document (.docx)"),
     (["[Content_Types].xml", "xl/workbook.bin"], "binary Excel workbook (.xlsb)"),
     (["mimetype", "content.xml"], "OpenDocument file (.ods/.odt)")],
)  # fmt: skip
def test_zips_that_are_not_workbooks(tmp_path: Path, names: list[str], what: str) -> None:
    path = tmp_path / "assets.xlsx"
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, "<x/>")
    assert what in refused(lambda: xlsx.detect_kind(path))


def test_too_many_entries(workbook: Path, tmp_path: Path) -> None:
    crowded = tmp_path / "crowded.xlsx"
    with zipfile.ZipFile(workbook) as old, zipfile.ZipFile(crowded, "w") as new:
        for info in old.infolist():
            new.writestr(info.filename, old.read(info))
        for n in range(10_001):
            new.writestr(f"xl/media/image{n}.png", b"")
    assert "too many entries (10,0" in refused(lambda: read_upload(crowded))


def test_unsafe_entry_name(workbook: Path, tmp_path: Path) -> None:
    path = replace_part(workbook, tmp_path / "slip.xlsx", "none", b"")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("xl/../../evil.sh", b"rm -rf ~")
    assert "unsafe name: 'xl/../../evil.sh'" in refused(lambda: read_upload(path))


@pytest.mark.parametrize(
    ("rows", "problem"),
    [('<row r="1"><c r="XFE1"><v>1</v></c></row>', "a cell in column 'XFE'"),
     ('<row r="1"><c r="ZZZZZZZZZZZZ1"><v>1</v></c></row>', "a cell in column 'ZZZZZZZZZ'"),
     ('<row r="1048577"><c><v>1</v></c></row>', "a row numbered 1048577"),
     ('<row r="2"><c><v>1</v></c></row><row r="2"/>', "a row numbered 2 (after row 2)"),
     ('<row r="1"><c r="A1" t="s"><v>5</v></c></row>', "no shared string '5'"),
     ('<row r="1"><c r="A1" t="s"><v>-1</v></c></row>', "no shared string '-1'"),
     ('<row r="1"><c r="A1"><v>1</v></row>', "is not valid XML")],
)  # fmt: skip
def test_damaged_sheets(tmp_path: Path, rows: str, problem: str) -> None:
    path = handmade(tmp_path / "damaged.xlsx", rows, strings="<si><t>only</t></si>")
    message = refused(lambda: read(path, 1))
    assert message.startswith("the workbook is damaged: ")
    assert problem in message
