"""Pure parts of synapse.imports.upload: the display name and the size-limited copy."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from synapse.config import Settings
from synapse.errors import InvalidInput, PayloadTooLarge
from synapse.imports.upload import display_name, save_upload
from tests.support.local import sqlite_settings

MB = 1024 * 1024


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return sqlite_settings(tmp_path, monkeypatch, migrate=False, max_upload_mb=1)


class Trickle(io.RawIOBase):
    """A stream that hands out at most `step` bytes a read, like a slow upload."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        chunk = self._data[self._pos : self._pos + n]
        self._pos += len(chunk)
        return chunk


# -- display_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("assets.csv", "assets.csv"),
        ("../../x.csv", "x.csv"),
        ("..\\..\\evil.csv", "evil.csv"),
        ("C:\\Users\\jo\\Desktop\\plant 7.csv", "plant 7.csv"),
        ("/etc/passwd", "passwd"),
        ("dir/sub/", "sub"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("/", "upload.csv"),
        ("\\", "upload.csv"),
        ("a\x00b\r\n\t.csv", "ab.csv"),
        ("\x1b[31mred.csv", "[31mred.csv"),
        ("\x00\x01\x02", "upload.csv"),
        ("Ölpumpen µ €.csv", "Ölpumpen µ €.csv"),
        ("name with spaces.csv", "name with spaces.csv"),
    ],
)
def test_display_name(filename: str | None, expected: str) -> None:
    assert display_name(filename) == expected


def test_display_name_is_never_a_path() -> None:
    for name in ["../../x.csv", "..\\..\\evil.csv", "a/b\\c.csv", "/abs/p.csv"]:
        shown = display_name(name)
        assert "/" not in shown and "\\" not in shown


def test_display_name_is_at_most_200_characters() -> None:
    assert display_name("a" * 500 + ".csv") == "a" * 200


# -- save_upload ----------------------------------------------------------------------------


def test_save_upload_copies_the_file(settings: Settings, tmp_path: Path) -> None:
    data = b"tag,type\nP-1,Pump\n"
    dest = tmp_path / "uploads" / "deep" / "job.csv"  # parents are created
    assert save_upload(settings, io.BytesIO(data), dest) == len(data)
    assert dest.read_bytes() == data


def test_save_upload_empty(settings: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "empty.csv"
    assert save_upload(settings, io.BytesIO(b""), dest) == 0
    assert dest.read_bytes() == b""


def test_save_upload_exactly_the_limit(settings: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "uploads" / "limit.csv"
    assert settings.max_upload_bytes == MB
    assert save_upload(settings, io.BytesIO(b"x" * MB), dest) == MB
    assert dest.stat().st_size == MB


def test_save_upload_over_the_limit(settings: Settings, tmp_path: Path) -> None:
    dest = tmp_path / "uploads" / "big.csv"
    with pytest.raises(PayloadTooLarge, match="1 MB upload limit"):
        save_upload(settings, io.BytesIO(b"x" * (MB + 1)), dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_save_upload_over_the_limit_in_small_reads(settings: Settings, tmp_path: Path) -> None:
    # Part of the file is written before the limit is reached: it must be removed.
    dest = tmp_path / "uploads" / "trickle.csv"
    with pytest.raises(PayloadTooLarge):
        save_upload(settings, Trickle(b"y" * (MB + 10), step=64 * 1024), dest)
    assert not dest.exists()


def test_save_upload_in_small_reads_under_the_limit(settings: Settings, tmp_path: Path) -> None:
    data = bytes(range(256)) * 1000
    dest = tmp_path / "ok.csv"
    assert save_upload(settings, Trickle(data, step=1000), dest) == len(data)
    assert dest.read_bytes() == data


def test_payload_too_large_is_invalid_input() -> None:
    assert issubclass(PayloadTooLarge, InvalidInput)


def test_save_upload_removes_the_file_when_the_source_fails(
    settings: Settings, tmp_path: Path
) -> None:
    class Broken(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise OSError("connection reset")
            return b"tag,type\n"

    dest = tmp_path / "broken.csv"
    with pytest.raises(OSError, match="connection reset"):
        save_upload(settings, Broken(), dest)
    assert not dest.exists()


def test_save_upload_never_touches_an_existing_file(settings: Settings, tmp_path: Path) -> None:
    """The destination is opened exclusively ("xb"): someone else's file is left as it is."""
    dest = tmp_path / "taken.csv"
    dest.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        save_upload(settings, io.BytesIO(b"new"), dest)
    assert dest.read_bytes() == b"precious"
