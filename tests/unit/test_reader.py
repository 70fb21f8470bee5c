"""Unit tests of synapse.imports.reader: encodings, delimiters, headers, row numbers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from synapse.errors import InvalidInput, UnsupportedMedia
from synapse.imports import reader
from synapse.imports.reader import CsvFormat

BOM = b"\xef\xbb\xbf"

WriteCsv = Callable[[bytes], Path]


@pytest.fixture
def write_csv(tmp_path: Path) -> WriteCsv:
    counter = iter(range(1_000_000))

    def write(data: bytes) -> Path:
        path = tmp_path / f"file{next(counter)}.csv"
        path.write_bytes(data)
        return path

    return write


def records(path: Path) -> list[tuple[int, list[str]]]:
    """The rows below the header."""
    return [r for r in reader.iter_rows(path, reader.sniff(path)) if r[0] > 1]


def header(path: Path) -> tuple[str, ...]:
    """The first row as the file has it (meaning is the mapping's business)."""
    return tuple(next(reader.iter_rows(path, reader.sniff(path)))[1])


# -- encoding -----------------------------------------------------------------------------


def test_utf8_without_bom(write_csv: WriteCsv) -> None:
    path = write_csv("tag,type,name\nP-1,Pump,Ölpumpe µ €\n".encode())
    fmt = reader.sniff(path)
    assert fmt == CsvFormat(encoding="utf-8-sig", delimiter=",")
    assert header(path) == ("tag", "type", "name")
    assert records(path) == [(2, ["P-1", "Pump", "Ölpumpe µ €"])]


def test_utf8_with_bom_is_stripped_from_first_header(write_csv: WriteCsv) -> None:
    path = write_csv(BOM + "tag,type,name\r\nP-1,Pump,Ölpumpe\r\n".encode())
    fmt = reader.sniff(path)
    assert fmt.encoding == "utf-8-sig"
    assert header(path) == ("tag", "type", "name")
    assert records(path) == [(2, ["P-1", "Pump", "Ölpumpe"])]


def test_windows_1252_file_is_decoded(write_csv: WriteCsv) -> None:
    data = "tag;type;name;unit\r\nP-1;Pump;Ölpumpe;µm\r\nP-2;Valve;Preis €;\r\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # the fixture really is not UTF-8
    path = write_csv(data)
    fmt = reader.sniff(path)
    assert fmt == CsvFormat(encoding="cp1252", delimiter=";")
    assert header(path) == ("tag", "type", "name", "unit")
    assert records(path) == [
        (2, ["P-1", "Pump", "Ölpumpe", "µm"]),
        (3, ["P-2", "Valve", "Preis €", ""]),
    ]


def test_detect_encoding_utf8(write_csv: WriteCsv) -> None:
    assert reader.detect_encoding(write_csv("tag,type\nÖ,€\n".encode())) == "utf-8-sig"
    assert reader.detect_encoding(write_csv(BOM + b"tag,type\n")) == "utf-8-sig"
    assert reader.detect_encoding(write_csv(b"tag,type\nplain,ascii\n")) == "utf-8-sig"


def test_detect_encoding_cp1252(write_csv: WriteCsv) -> None:
    assert reader.detect_encoding(write_csv("tag,type\nÖ,€\n".encode("cp1252"))) == "cp1252"


def test_detect_encoding_checks_the_whole_file(write_csv: WriteCsv) -> None:
    # The only non-UTF-8 byte sits beyond the first read chunk.
    data = b"tag,type\n" + b"P-1,Pump\n" * (reader.CHUNK // 9 + 10) + "X,Ö\n".encode("cp1252")
    assert len(data) > reader.CHUNK
    assert reader.detect_encoding(write_csv(data)) == "cp1252"


def test_detect_encoding_multibyte_char_across_chunk_boundary(write_csv: WriteCsv) -> None:
    head = b"tag,type\nP-1,"
    filler = b"a" * (reader.CHUNK - len(head) - 1)
    data = head + filler + "€".encode() + b"\n"  # the 3-byte € straddles the boundary
    assert data[: reader.CHUNK].endswith(b"\xe2")
    assert reader.detect_encoding(write_csv(data)) == "utf-8-sig"


@pytest.mark.parametrize("bad", [b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"])
def test_neither_utf8_nor_cp1252_is_unsupported(write_csv: WriteCsv, bad: bytes) -> None:
    path = write_csv(b"tag,type\nP-1," + bad + b"\n")
    with pytest.raises(UnsupportedMedia):
        reader.detect_encoding(path)
    with pytest.raises(UnsupportedMedia, match="UTF-8 or Windows-1252"):
        reader.sniff(path)


@pytest.mark.parametrize(
    "data",
    [
        b"tag,type\x00\nP-1,Pump\n",
        b"\x00\x01\x02\x03binary",
        "tag,type\nP-1,Pump\n".encode("utf-16-le"),
        b"\x00",
    ],
)
def test_binary_content_is_unsupported(write_csv: WriteCsv, data: bytes) -> None:
    with pytest.raises(UnsupportedMedia, match="binary"):
        reader.sniff(write_csv(data))


def test_check_binary() -> None:
    reader.check_binary(b"tag,type\n")
    with pytest.raises(UnsupportedMedia):
        reader.check_binary(b"ta\x00g")


def test_unsupported_media_is_invalid_input() -> None:
    # Callers that catch InvalidInput (to delete the upload) also catch these.
    assert issubclass(UnsupportedMedia, InvalidInput)


# -- empty and missing files ----------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b" ", b"\n", b"\r\n\r\n", b"  \t \r\n \n\t"])
def test_empty_or_whitespace_only_file(write_csv: WriteCsv, data: bytes) -> None:
    with pytest.raises(InvalidInput, match="empty") as info:
        reader.sniff(write_csv(data))
    assert not isinstance(info.value, UnsupportedMedia)


@pytest.mark.parametrize("data", [BOM, BOM + b" \r\n"])
def test_bom_only_file_is_empty(write_csv: WriteCsv, data: bytes) -> None:
    """A UTF-8-with-BOM "empty" text file (what Notepad saves) holds only the BOM."""
    with pytest.raises(InvalidInput, match="empty"):
        reader.sniff(write_csv(data))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"missing \(nope\.csv\)"):
        reader.sniff(tmp_path / "nope.csv")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="missing"):
        reader.sniff(tmp_path)


# -- delimiters -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tag,type,name\n", ","),
        ("tag;type;name\n", ";"),
        ("tag\ttype\tname\n", "\t"),
        ("tag;type;Power, kW\n", ";"),
        ("tag\ttype\tnote, remark\n", "\t"),
        ('"tag;a";"type;b",x\n', ","),  # delimiters inside quotes do not count
        ('"a,b,c,d";tag;type\n', ";"),
        ('"say ""hi"", you";tag;type\n', ";"),  # doubled quotes inside a quoted field
        ("tag\n", ","),  # nothing to split: the default
        ("", ","),
        ("tag,type;x\n", ","),  # a tie goes to the first of , ; tab
    ],
)
def test_detect_delimiter(line: str, expected: str) -> None:
    assert reader.detect_delimiter(line) == expected


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_sniff_and_read_each_delimiter(write_csv: WriteCsv, delimiter: str) -> None:
    lines = [["tag", "type", "area"], ["P-1", "Pump", "A1"], ["P-2", "Valve", "A2"]]
    data = "".join(delimiter.join(fields) + "\r\n" for fields in lines).encode()
    path = write_csv(data)
    fmt = reader.sniff(path)
    assert fmt.delimiter == delimiter
    assert header(path) == ("tag", "type", "area")
    assert records(path) == [(2, lines[1]), (3, lines[2])]


# -- header row (what the columns mean: tests/unit/test_mapping.py) -----------------------


def test_header_is_returned_as_written(write_csv: WriteCsv) -> None:
    path = write_csv(b" Tag ;TYPE; Power  KW ;Area\nP-1;Pump;5;A1\n")
    assert header(path) == (" Tag ", "TYPE", " Power  KW ", "Area")
    assert reader.sniff(path).delimiter == ";"


def test_quoted_header_names(write_csv: WriteCsv) -> None:
    path = write_csv(b'"Tag","Type","Note, long"\n"P-1","Pump","x, y"\n')
    assert header(path) == ("Tag", "Type", "Note, long")
    assert records(path) == [(2, ["P-1", "Pump", "x, y"])]


def test_header_with_quoted_newline_is_one_record(write_csv: WriteCsv) -> None:
    path = write_csv(b'tag,type,"Power\r\nkW"\r\nP-1,Pump,5\r\nP-2,Valve,6\r\n')
    assert header(path) == ("tag", "type", "Power\r\nkW")
    assert records(path) == [(2, ["P-1", "Pump", "5"]), (3, ["P-2", "Valve", "6"])]


def test_empty_header_names_are_kept_in_place(write_csv: WriteCsv) -> None:
    path = write_csv(b"tag,type,,note,\nP-1,Pump,,n,\n")
    assert header(path) == ("tag", "type", "", "note", "")


def test_title_rows_above_the_header_are_rows_too(write_csv: WriteCsv) -> None:
    path = write_csv(b"Plant 7 instrument list,,\n\nTag No.,Type,Area\nP-1,Pump,A1\n")
    rows = list(reader.iter_rows(path, reader.sniff(path)))
    assert rows == [
        (1, ["Plant 7 instrument list", "", ""]),
        (3, ["Tag No.", "Type", "Area"]),
        (4, ["P-1", "Pump", "A1"]),
    ]


# -- records and row numbers ----------------------------------------------------------------


def test_crlf_line_endings(write_csv: WriteCsv) -> None:
    path = write_csv(b"tag,type,area\r\nP-1,Pump,A1\r\nP-2,Valve,A2\r\n")
    assert records(path) == [(2, ["P-1", "Pump", "A1"]), (3, ["P-2", "Valve", "A2"])]


def test_no_trailing_newline(write_csv: WriteCsv) -> None:
    path = write_csv(b"tag,type\nP-1,Pump\nP-2,Valve")
    assert records(path) == [(2, ["P-1", "Pump"]), (3, ["P-2", "Valve"])]


def test_quoted_fields_with_delimiter_quotes_and_newlines(write_csv: WriteCsv) -> None:
    data = (
        b"tag;type;note\r\n"
        b'P-1;Pump;"a; b"\r\n'
        b'P-2;Valve;"say ""hi"""\r\n'
        b'P-3;Motor;"line 1\r\nline 2\r\nline 3"\r\n'
        b'P-4;Pump;"x\ny"\r\n'
        b"P-5;Valve;last\r\n"
    )
    assert records(write_csv(data)) == [
        (2, ["P-1", "Pump", "a; b"]),
        (3, ["P-2", "Valve", 'say "hi"']),
        (4, ["P-3", "Motor", "line 1\r\nline 2\r\nline 3"]),  # one record: one row
        (5, ["P-4", "Pump", "x\ny"]),
        (6, ["P-5", "Valve", "last"]),
    ]


def test_blank_rows_are_skipped_but_counted(write_csv: WriteCsv) -> None:
    data = (
        b"tag;type;area\r\n"
        b"\r\n"  # row 2: blank line
        b"P-1;Pump;A\r\n"  # row 3
        b";;\r\n"  # row 4: only delimiters
        b" ; ;\t\r\n"  # row 5: only whitespace
        b'"";"";""\r\n'  # row 6: empty quoted fields
        b"P-2;Valve;B\r\n"  # row 7
        b"\r\n"
    )
    assert records(write_csv(data)) == [(3, ["P-1", "Pump", "A"]), (7, ["P-2", "Valve", "B"])]


def test_header_only_has_no_records(write_csv: WriteCsv) -> None:
    assert records(write_csv(b"tag,type\n")) == []
    assert records(write_csv(b"tag,type")) == []
    assert records(write_csv(b"tag,type\n\n,\n")) == []


def test_fields_are_not_trimmed_by_the_reader(write_csv: WriteCsv) -> None:
    assert records(write_csv(b"tag,type\n P-1 , Pump \n")) == [(2, [" P-1 ", " Pump "])]


def test_ragged_rows_are_returned_as_they_are(write_csv: WriteCsv) -> None:
    path = write_csv(b"tag,type,area\nP-1\nP-2,Valve,A,extra\n")
    assert records(path) == [(2, ["P-1"]), (3, ["P-2", "Valve", "A", "extra"])]


def test_iter_rows_decodes_with_the_given_encoding(write_csv: WriteCsv) -> None:
    path = write_csv("tag,type\nÖl,µ\n".encode("cp1252"))
    fmt = CsvFormat(encoding="cp1252", delimiter=",")
    assert list(reader.iter_rows(path, fmt)) == [(1, ["tag", "type"]), (2, ["Öl", "µ"])]


def test_iter_rows_is_lazy(write_csv: WriteCsv) -> None:
    path = write_csv(b"tag,type\nP-1,Pump\nP-2,Valve\n")
    it = reader.iter_rows(path, reader.sniff(path))
    assert next(it) == (1, ["tag", "type"])
    assert next(it) == (2, ["P-1", "Pump"])
    assert next(it) == (3, ["P-2", "Valve"])
    assert next(it, None) is None


# -- estimate_rows --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        (b"tag,type", 0),
        (b"tag,type\n", 0),
        (b"tag,type\nP-1,Pump", 1),
        (b"tag,type\nP-1,Pump\n", 1),
        (b"tag,type\nP-1,Pump\nP-2,Valve", 2),
        (b"tag,type\nP-1,Pump\nP-2,Valve\n", 2),
        (b"tag,type\r\nP-1,Pump\r\nP-2,Valve\r\n", 2),
        (b"tag,type\r\nP-1,Pump\r\nP-2,Valve", 2),
    ],
)
def test_estimate_rows(write_csv: WriteCsv, data: bytes, expected: int) -> None:
    assert reader.estimate_rows(write_csv(data)) == expected


def test_estimate_rows_is_an_upper_bound_with_quoted_newlines(write_csv: WriteCsv) -> None:
    path = write_csv(b'tag,type,note\nP-1,Pump,"a\nb\nc"\nP-2,Valve,x\n')
    assert len(records(path)) == 2
    assert reader.estimate_rows(path) == 4


def test_estimate_rows_across_chunks(write_csv: WriteCsv) -> None:
    line = b"P-000001,Pump,some description\n"
    count = reader.CHUNK // len(line) + 100
    path = write_csv(b"tag,type,description\n" + line * count)
    assert path.stat().st_size > reader.CHUNK
    assert reader.estimate_rows(path) == count
