"""The display rules of a workbook's cells: how a stored value becomes the text a person sees.

A number reads as Excel's General format shows it (15 significant digits, "1E+20"), except
under a percent format ("50%"), a date/time format (ISO text: "2026-11-30",
"2026-11-30T14:05:00", "14:05:00"; elapsed "[h]:mm:ss" as "36:00:00") or an all-zero format
like "000" ("007"); every other format (currency, thousands, scientific, text) shows General.
Serial dates count in the workbook's 1900 or 1904 system. Text has only OOXML's `_xHHHH_`
escapes undone. xlsx reads the workbook's parts and applies these rules to each cell.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache, partial

__all__ = ["BUILTIN_FORMATS", "Formatter", "formatter", "general", "unescape"]

BUILTIN_FORMATS = {9: "0%", 10: "0.00%", 14: "yyyy-mm-dd", 15: "d-mmm-yy", 16: "d-mmm",
                   17: "mmm-yy", 18: "h:mm AM/PM", 19: "h:mm:ss AM/PM", 20: "h:mm", 21: "h:mm:ss",
                   22: "yyyy-mm-dd h:mm", 45: "mm:ss", 46: "[h]:mm:ss", 47: "mm:ss.0"}  # fmt: skip
BUILTIN_FORMATS |= {i: "yyyy-mm-dd" for i in (*range(27, 37), *range(50, 59))}  # East Asian
EPOCH_1900 = datetime(1899, 12, 30)  # serial 61 = 1900-03-01 (Excel counts a 1900-02-29)
EPOCH_1904 = datetime(1904, 1, 1)

Formatter = Callable[[str], str]
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")
_LITERALS = re.compile(r'"[^"]*"|\\.|[_*].')
_ELAPSED = re.compile(r"\[(?:h+|m+|s+)\]", re.IGNORECASE)
_BRACKETS = re.compile(r"\[[^\]]*\]")


def unescape(text: str) -> str:
    """OOXML's `_xHHHH_` escapes (`_x000D_` is a carriage return) as characters."""
    return _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def general(raw: str) -> str:
    """A number as Excel's General format shows it: up to 15 significant digits."""
    if raw.isdigit() and len(raw) < 16 and raw.isascii():
        return raw
    try:
        x = float(raw)
    except ValueError:
        return raw
    if x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    text = f"{x:.15g}"
    if "e" not in text:
        return text  # nan and inf too
    mantissa, exponent = text.split("e")
    return f"{mantissa}E{exponent[0]}{int(exponent[1:]):02d}"


@lru_cache(maxsize=4096)  # a column often repeats its values
def _percent(decimals: int, raw: str) -> str:
    try:
        scaled = Decimal(f"{float(raw) * 100:.15g}").quantize(Decimal(1).scaleb(-decimals),
                                                               ROUND_HALF_UP)  # fmt: skip
    except (ValueError, InvalidOperation):
        return general(raw)
    return f"{abs(scaled) if not scaled else scaled:f}%"


def _zeros(width: int, raw: str) -> str:
    text = general(raw)
    return text.zfill(width) if text.isdigit() else text


@lru_cache(maxsize=4096)
def _moment(kind: str, date1904: bool, raw: str) -> str:
    try:
        x = float(raw)
        seconds = round(x * 86400)
        if not 0 <= x < 2958466:  # 9999-12-31: Excel shows #### past it
            return general(raw)
        if kind in ("time", "elapsed"):
            hours, rest = divmod(seconds if kind == "elapsed" else seconds % 86400, 3600)
            return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
        base = EPOCH_1904 if date1904 else EPOCH_1900 + timedelta(days=x < 61)
        moment = base + timedelta(seconds=seconds)
    except (ValueError, OverflowError):
        return general(raw)
    return moment.date().isoformat() if kind == "date" else moment.isoformat(timespec="seconds")


def formatter(code: str, date1904: bool = False) -> Formatter:
    """What a number format code shows, reduced to the display rules of this module."""
    plain = _LITERALS.sub("", code).split(";")[0]
    elapsed = bool(_ELAPSED.search(plain))
    plain = _BRACKETS.sub("", plain).lower()
    for word in ("general", "am/pm", "a/p"):
        plain = plain.replace(word, "")
    if "e+" in plain or "e-" in plain:
        return general
    has_time = elapsed or "h" in plain or "s" in plain
    has_date = "y" in plain or "d" in plain or ("m" in plain and not has_time)
    if has_date or has_time:
        kind = "datetime" if has_date and has_time else "date" if has_date else "time"
        return partial(_moment, "elapsed" if elapsed and not has_date else kind, date1904)
    if "%" in plain:
        decimals = re.search(r"\.([0#?]*)", plain)
        return partial(_percent, len(decimals.group(1)) if decimals else 0)
    if re.fullmatch(r"0{2,}", plain.strip()):
        return partial(_zeros, len(plain.strip()))
    return general
