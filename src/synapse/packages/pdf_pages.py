"""Page geometry, the header and footer of every page, and tables that run over pages.

Pages are drawn straight on a reportlab canvas (one text object per page, one grid per table):
several times faster than platypus flowables, and the layout is computed the same way twice —
once to count pages (for the contents and "Page X of Y"), once to draw them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reportlab.lib.pagesizes import A4
from reportlab.pdfbase.pdfmetrics import stringWidth

from synapse.packages.data import Heading
from synapse.packages.pdf_text import BOLD, REGULAR, Style, fit, runs, wrap

PAGE_W, PAGE_H = A4
MARGIN = 40.0
CONTENT_W = PAGE_W - 2 * MARGIN
BODY_TOP = PAGE_H - 56.0
BODY_BOTTOM = 52.0
CELL = Style(REGULAR, 8.5)
HEAD = Style(BOLD, 8.5)
SMALL = Style(REGULAR, 7.5)
LEAD = 10.5
PAD = 5.0
NOTE = "? stands for characters the PDF fonts cannot show; the workbook has the exact text."
TITLE_BLOCK = 46.0
CAPACITY = BODY_TOP - TITLE_BLOCK - (LEAD + PAD) - BODY_BOTTOM - 14.0  # 14: room for the note
BIG = Style(BOLD, 16)
LABEL = Style(BOLD, 9)
GRID_GREY = 0.6
FILL_GREY = 0.88

Cells = list[list[str]]  # one row of a table: the lines of each cell


def row_height(row: Cells) -> float:
    return max(1, max(len(cell) for cell in row)) * LEAD + PAD


@dataclass
class Paginator:
    """Places rows on pages of `capacity` points; a row taller than a page is split by lines."""

    capacity: float
    page: list[Cells] = field(default_factory=list)
    used: float = 0.0

    def add(self, row: Cells) -> list[list[Cells]]:
        """The pages this row completed (usually none)."""
        done: list[list[Cells]] = []
        while True:
            height = row_height(row)
            if self.used + height <= self.capacity:
                self.page.append(row)
                self.used += height
                return done
            room = int((self.capacity - self.used - PAD) // LEAD)
            if self.page and (height <= self.capacity or room < 1):
                done.append(self._turn())
                continue
            room = max(room, 1)
            self.page.append([cell[:room] for cell in row])
            done.append(self._turn())
            row = [cell[room:] for cell in row]

    def finish(self) -> list[list[Cells]]:
        return [self._turn()] if self.page else []

    def _turn(self) -> list[Cells]:
        page, self.page, self.used = self.page, [], 0.0
        return page


@dataclass(frozen=True)
class TableStyle:
    header: tuple[str, ...]
    widths: tuple[float, ...]

    def cells(self, values: list[str], styles: tuple[Style, ...] | None = None) -> Cells:
        styles = styles or (CELL,) * len(values)
        return [
            wrap(value, style, w - 2 * PAD)
            for value, style, w in zip(values, styles, self.widths, strict=True)
        ]


class Painter:
    """Draws on one page at a time: all text of a page goes through one text object."""

    def __init__(
        self,
        canvas: Any,
        heading: Heading,
        total_pages: int,
        on_page: Callable[[int], None] | None = None,
    ) -> None:
        self.c = canvas
        self.on_page = on_page
        self.heading = heading
        self.total = total_pages
        self.page_no = 0
        self.text: Any = None
        self.font: tuple[str, float] = ("", 0.0)
        self.replaced = 0

    def begin(self) -> None:
        self.page_no += 1
        self.text = self.c.beginText()
        self.font = ("", 0.0)
        self.replaced = 0
        self._frame()

    def end(self) -> None:
        if self.replaced:
            self.put(MARGIN, BODY_BOTTOM + 2, NOTE, SMALL)
        self.c.drawText(self.text)
        self.c.showPage()
        if self.on_page is not None:
            self.on_page(self.page_no)

    def put(self, x: float, y: float, text: str, style: Style, *, right: bool = False) -> None:
        pieces, replaced = runs(text, style.font)
        self.replaced += replaced
        if right:
            x -= sum(stringWidth(t, f, style.size) for f, t in pieces)
        self.text.setTextOrigin(x, y)
        for font, part in pieces:
            if (font, style.size) != self.font:  # a font change costs an operator: only when needed
                self.font = (font, style.size)
                self.text.setFont(font, style.size)
            self.text.textOut(part)

    def _frame(self) -> None:
        h = self.heading
        top = PAGE_H - 30
        left = fit(f"{h.project_name} ({h.project_key})", HEAD, CONTENT_W * 0.55)
        self.put(MARGIN, top, left, HEAD)
        right = fit(f"{h.title} · Revision {h.revision}", CELL, CONTENT_W * 0.43)
        self.put(PAGE_W - MARGIN, top, right, CELL, right=True)
        self.put(MARGIN, 28, fit(f"{h.title} · {h.date}", SMALL, CONTENT_W * 0.6), SMALL)
        self.put(PAGE_W - MARGIN, 28, f"Page {self.page_no} of {self.total}", SMALL, right=True)
        self.c.setStrokeGray(GRID_GREY)
        self.c.setLineWidth(0.5)
        self.c.line(MARGIN, PAGE_H - 38, PAGE_W - MARGIN, PAGE_H - 38)
        self.c.line(MARGIN, 40, PAGE_W - MARGIN, 40)

    def table(self, table: TableStyle, rows: list[Cells], top: float) -> float:
        """Header row and `rows` from `top` down; returns the y under the table."""
        xs = [MARGIN]
        for w in table.widths:
            xs.append(xs[-1] + w)
        header_h = LEAD + PAD
        self.c.setFillGray(FILL_GREY)
        self.c.rect(MARGIN, top - header_h, CONTENT_W, header_h, stroke=0, fill=1)
        self.c.setFillGray(0)
        for x, title in zip(xs, table.header, strict=False):
            self.put(x + PAD, top - header_h + PAD / 2 + 2.5, title, HEAD)
        ys = [top, top - header_h]
        for row in rows:
            y = ys[-1]
            for x, cell in zip(xs, row, strict=False):
                for i, line in enumerate(cell):
                    if line:
                        self.put(x + PAD, y - PAD / 2 - CELL.size - i * LEAD + 1, line, CELL)
            ys.append(y - row_height(row))
        self.c.grid(xs, ys)
        return ys[-1]


def page_title(painter: Painter, main: str, sub: str, tag: str) -> None:
    """The title block of a body page: `main` in big letters, `tag` on the right, `sub` under."""
    top = BODY_TOP
    painter.put(MARGIN, top - 16, fit(main, BIG, CONTENT_W - 80), BIG)
    painter.put(PAGE_W - MARGIN, top - 16, tag, LABEL, right=True)
    painter.put(MARGIN, top - 32, fit(sub, CELL, CONTENT_W), CELL)
