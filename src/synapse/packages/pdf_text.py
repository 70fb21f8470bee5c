"""Text for the PDF: fonts that need no file, runs of one font, measuring and wrapping.

Latin text is drawn in Helvetica (a standard PDF font: nothing to embed, any viewer has it), which
covers Windows-1252 (`Ölpumpe`, `µ`, `€`). Chinese and Japanese characters (`泵`) are drawn in
reportlab's built-in CID font STSong-Light, which needs no font file either. Any other character
(Cyrillic, Arabic, emoji...) is replaced by a visible `?`, and the page says so: text never makes
the package fail.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont

REGULAR = "Helvetica"
BOLD = "Helvetica-Bold"
CJK = "STSong-Light"
MARK = "?"
# Ranges drawn with the CJK font: CJK punctuation, kana, ideographs, full-width forms.
CJK_RANGES = (
    (0x3000, 0x30FF),
    (0x3400, 0x4DBF),
    (0x4E00, 0x9FFF),
    (0xF900, 0xFAFF),
    (0xFF00, 0xFFEF),
)


@functools.cache
def register_fonts() -> None:
    pdfmetrics.registerFont(UnicodeCIDFont(CJK))


@dataclass(frozen=True, slots=True)
class Style:
    font: str
    size: float


def clean(text: str) -> str:
    """Line breaks as `\\n`, tabs as spaces, other control characters dropped."""
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    return "".join(c for c in text if c == "\n" or unicodedata.category(c)[0] != "C")


def _encodable() -> frozenset[str]:
    chars = (bytes([i]).decode("cp1252", errors="ignore") for i in range(256))
    return frozenset(c for c in chars if c)


LATIN = _encodable()  # what Helvetica can draw (WinAnsiEncoding)
_widths: dict[tuple[str, str, float], float] = {}
MAX_CACHED = 200_000


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return any(lo <= code <= hi for lo, hi in CJK_RANGES)


def runs(text: str, font: str) -> tuple[list[tuple[str, str]], int]:
    """(font, text) pieces that can be drawn, and how many characters became `?`."""
    if text.isascii():
        return [(font, text)], 0
    pieces: list[tuple[str, str]] = []
    replaced = 0
    for char in text:
        if char in LATIN:
            use = font
        elif _is_cjk(char):
            register_fonts()
            use = CJK
        else:
            use, char = font, MARK
            replaced += 1
        if pieces and pieces[-1][0] == use:
            pieces[-1] = (use, pieces[-1][1] + char)
        else:
            pieces.append((use, char))
    return pieces, replaced


def width(text: str, style: Style) -> float:
    """Width in points; words and short strings are remembered (they repeat a lot)."""
    key = (text, style.font, style.size)
    known = _widths.get(key)
    if known is not None:
        return known
    if text.isascii():
        value = float(pdfmetrics.stringWidth(text, style.font, style.size))
    else:
        pieces, _ = runs(text, style.font)
        value = float(sum(pdfmetrics.stringWidth(t, f, style.size) for f, t in pieces))
    if len(text) <= 40:
        if len(_widths) >= MAX_CACHED:
            _widths.clear()
        _widths[key] = value
    return value


def _split_word(word: str, style: Style, limit: float) -> list[str]:
    """A word wider than the column, cut into pieces that fit (at least one character each)."""
    pieces: list[str] = []
    current, used = "", 0.0
    for char in word:
        w = width(char, style)
        if current and used + w > limit:
            pieces.append(current)
            current, used = "", 0.0
        current += char
        used += w
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, style: Style, limit: float) -> list[str]:
    """The lines of `text` in a column `limit` points wide: breaks at spaces, long words cut.

    Widths add up word by word (the standard fonts have no kerning), so a long value costs one
    measurement per word, not one per word and line."""
    lines: list[str] = []
    space = width(" ", style)
    for paragraph in clean(text).split("\n"):
        if width(paragraph, style) <= limit:
            lines.append(paragraph)
            continue
        current, used = "", 0.0
        for word in paragraph.split(" "):
            w = width(word, style)
            if current and used + space + w <= limit:
                current, used = f"{current} {word}", used + space + w
                continue
            if current:
                lines.append(current)
            if w <= limit:
                current, used = word, w
            else:
                *full, current = _split_word(word, style, limit)
                lines.extend(full)
                used = width(current, style)
        lines.append(current)
    return lines or [""]


def fit(text: str, style: Style, limit: float) -> str:
    """One line of at most `limit` points, cut short with "..." (headers, contents)."""
    text = " ".join(clean(text).split())
    if width(text, style) <= limit:
        return text
    while text and width(text + "...", style) > limit:
        text = text[:-1]
    return text + "..."
