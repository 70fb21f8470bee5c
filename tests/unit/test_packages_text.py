"""PDF text: fonts for every script, wrapping, and rows that run over pages."""

from __future__ import annotations

import pytest

from synapse.packages.pdf_pages import LEAD, PAD, Paginator, row_height
from synapse.packages.pdf_text import CJK, MARK, REGULAR, Style, clean, fit, runs, width, wrap

STYLE = Style(REGULAR, 9)


def test_runs_keep_latin_in_helvetica_cjk_in_the_cid_font_and_mark_the_rest():
    assert runs("P-101", REGULAR) == ([(REGULAR, "P-101")], 0)
    assert runs("Ölpumpe 5 µm – 10 €", REGULAR) == ([(REGULAR, "Ölpumpe 5 µm – 10 €")], 0)
    pieces, replaced = runs("Öl 泵 Насос", REGULAR)
    assert pieces == [(REGULAR, "Öl "), (CJK, "泵"), (REGULAR, " " + MARK * 5)]
    assert replaced == 5


def test_clean_keeps_line_breaks_and_drops_control_characters():
    assert clean("a\r\nb\rc\td\x00e\x1b") == "a\nb\nc de"
    assert clean("plain") == "plain"


def test_short_text_is_one_line():
    assert wrap("Cooling water", STYLE, 200) == ["Cooling water"]
    assert wrap("", STYLE, 200) == [""]


def test_long_text_wraps_at_spaces_within_the_width():
    text = " ".join(f"word{i}" for i in range(200))
    lines = wrap(text, STYLE, 150)
    assert len(lines) > 10
    assert all(width(line, STYLE) <= 150 for line in lines)
    assert " ".join(lines) == text


def test_a_word_longer_than_the_column_is_cut():
    lines = wrap("x" * 500, STYLE, 100)
    assert "".join(lines) == "x" * 500
    assert all(0 < width(line, STYLE) <= 100 for line in lines)


def test_line_breaks_in_values_are_kept_and_non_latin_text_wraps():
    assert wrap("one\ntwo", STYLE, 200) == ["one", "two"]
    lines = wrap("泵" * 80 + " Ölpumpe Насос", STYLE, 120)
    assert "".join(lines).startswith("泵" * 80)
    assert all(width(line, STYLE) <= 120 for line in lines)


def test_fit_cuts_with_dots():
    assert fit("short", STYLE, 100) == "short"
    cut = fit("a very long title " * 20, STYLE, 100)
    assert cut.endswith("...") and width(cut, STYLE) <= 100


def cells(lines: int) -> list[list[str]]:
    return [["key"], [f"line {i}" for i in range(lines)]]


def test_rows_fill_pages_in_order():
    capacity = 10 * (LEAD + PAD)
    paginator = Paginator(capacity)
    done = [page for _ in range(25) for page in paginator.add(cells(1))]
    done += paginator.finish()
    assert [len(page) for page in done] == [10, 10, 5]


def test_a_row_that_does_not_fit_moves_to_the_next_page():
    paginator = Paginator(10 * LEAD + PAD)
    assert paginator.add(cells(6)) == []
    pages = paginator.add(cells(6))
    assert len(pages) == 1 and pages[0] == [cells(6)]


def test_a_row_taller_than_a_page_is_split_by_lines_and_nothing_is_lost():
    paginator = Paginator(10 * LEAD + PAD)
    pages = paginator.add(cells(1)) + paginator.add(cells(35)) + paginator.finish()
    value_lines = [line for page in pages for row in page for line in row[1]]
    assert value_lines == ["line 0"] + [f"line {i}" for i in range(35)]
    assert all(sum(row_height(r) for r in page) <= 10 * LEAD + PAD for page in pages)
    assert len(pages) == 4


@pytest.mark.parametrize("size", [7.5, 9, 16])
def test_width_is_additive_for_words(size):
    style = Style(REGULAR, size)
    assert width("ab cd", style) == pytest.approx(
        width("ab", style) + width(" ", style) + width("cd", style)
    )
