"""The package PDF: cover, contents, changes since the previous revision (when there is one),
the instrument index, one datasheet page per asset.

Two passes over the assets: `PdfPlan` lays every page out to count them (so the contents and
"Page X of Y" are right on the first drawing), then `write_pdf` draws them, streaming the assets
again. A datasheet whose properties do not fit one page continues on the next ("continued").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas

from synapse.packages.data import AssetRow, Heading, Survey, text_of
from synapse.packages.pdf_changes import KEY as CHANGES_KEY
from synapse.packages.pdf_changes import ChangePages, draw_changes
from synapse.packages.pdf_pages import (
    BIG,
    BODY_BOTTOM,
    BODY_TOP,
    CAPACITY,
    CELL,
    CONTENT_W,
    HEAD,
    LABEL,
    LEAD,
    MARGIN,
    PAD,
    PAGE_H,
    PAGE_W,
    TITLE_BLOCK,
    Cells,
    Paginator,
    Painter,
    TableStyle,
    page_title,
)
from synapse.packages.pdf_text import BOLD, REGULAR, Style, fit, register_fonts

DATASHEET = TableStyle(("Property", "Value"), (165.0, CONTENT_W - 165.0))
INDEX = TableStyle(("Tag", "Type", "Properties"), (110.0, 95.0, CONTENT_W - 205.0))
TYPES = TableStyle(("Asset type", "Assets"), (CONTENT_W - 90.0, 90.0))
TOC_ROW = 13.0
TOC_TOP = BODY_TOP - 40.0
TOC_ROWS = int((TOC_TOP - BODY_BOTTOM) // TOC_ROW)
TITLE = Style(BOLD, 22)

Tick = Callable[[int], None]


def datasheet_pages(asset: AssetRow) -> list[list[Cells]]:
    items = asset.items()
    rows = [DATASHEET.cells([k, text_of(v)]) for k, v in items] or [
        DATASHEET.cells(["(no properties)", ""])
    ]
    paginator = Paginator(CAPACITY)
    pages = [page for row in rows for page in paginator.add(row)]
    return pages + paginator.finish()


def index_row(asset: AssetRow) -> Cells:
    props = "; ".join(f"{k}: {text_of(v).strip()}" for k, v in asset.items())
    return INDEX.cells([asset.tag, asset.type, props])


@dataclass(frozen=True)
class ContentsRow:
    level: int  # 0: a part (changes, index) or an asset type; 1: an asset
    text: str
    note: str
    page: int
    key: str  # the bookmark it links to


@dataclass
class PdfPlan:
    """The first pass: pages of each part, then page numbers for the contents."""

    parts: tuple[str, ...]
    index_pages: int = 0
    sheets: list[tuple[str, str, int]] = field(default_factory=list)  # tag, type, pages
    _index: Paginator = field(default_factory=lambda: Paginator(CAPACITY))
    # "Changes since revision A", laid out once the assets were compared (after the first pass).
    changes: ChangePages | None = None

    @property
    def changes_pages(self) -> int:
        return len(self.changes.pages) if self.changes is not None else 0

    def add(self, asset: AssetRow) -> None:
        if "index" in self.parts:
            self.index_pages += len(self._index.add(index_row(asset)))
        if "datasheets" in self.parts:
            self.sheets.append((asset.tag, asset.type, len(datasheet_pages(asset))))

    def finish(self) -> None:
        self.index_pages += len(self._index.finish())

    @property
    def contents_pages(self) -> int:
        types = len({typ for _, typ, _ in self.sheets})
        rows = (self.changes is not None) + ("index" in self.parts) + types + len(self.sheets)
        return max(1, math.ceil(rows / TOC_ROWS))

    @property
    def front_pages(self) -> int:
        """Cover, contents, changes and index: the pages before the first datasheet."""
        return 1 + self.contents_pages + self.changes_pages + self.index_pages

    @property
    def total_pages(self) -> int:
        return self.front_pages + sum(p for _, _, p in self.sheets)

    def contents(self) -> list[ContentsRow]:
        page = 2 + self.contents_pages
        rows: list[ContentsRow] = []
        if self.changes is not None:
            count = self.changes.count
            note = f"{count:,} change{'s' if count != 1 else ''}"
            rows.append(ContentsRow(0, self.changes.title, note, page, CHANGES_KEY))
            page += self.changes_pages
        if "index" in self.parts:
            rows.append(ContentsRow(0, "Instrument index", "", page, "index"))
            page += self.index_pages
        counts: dict[str, int] = {}
        for _, typ, _ in self.sheets:
            counts[typ] = counts.get(typ, 0) + 1
        previous = None
        for i, (tag, typ, pages) in enumerate(self.sheets):
            if typ != previous:
                note = f"{counts[typ]:,} asset{'s' if counts[typ] != 1 else ''}"
                rows.append(ContentsRow(0, typ, note, page, f"t{i}"))
                previous = typ
            rows.append(ContentsRow(1, tag, "", page, f"a{i}"))
            page += pages
        return rows


def contents_place(row: int) -> tuple[int, tuple[float, float, float, float]]:
    """Where contents row `row` (0-based) is drawn: its contents page (0-based) and its link."""
    y = TOC_TOP - (row % TOC_ROWS) * TOC_ROW
    return row // TOC_ROWS, (MARGIN, y - 3, PAGE_W - MARGIN, y + 9)


def _cover(painter: Painter, survey: Survey, *, marks: bool = True) -> None:
    h = painter.heading
    painter.begin()
    if marks:
        painter.c.bookmarkPage("cover")
        painter.c.addOutlineEntry("Cover", "cover", 0)
    y = BODY_TOP - 90
    painter.put(MARGIN, y, fit(h.title, TITLE, CONTENT_W), TITLE)
    facts = [
        ("Project", f"{h.project_name} ({h.project_key})"),
        ("Revision", h.revision),
        ("Date", h.date),
        ("Package", h.package_type),
        ("Asset types", ", ".join(h.asset_types) or "all"),
        ("Assets", f"{survey.total:,}"),
    ]
    y -= 40
    for label, value in facts:
        painter.put(MARGIN, y, label, LABEL)
        painter.put(MARGIN + 90, y, fit(value, CELL, CONTENT_W - 90), CELL)
        y -= 16
    fits = max(1, int((y - 20 - BODY_BOTTOM) // (LEAD + PAD)) - 2)
    types = list(survey.by_type.items())
    rows = [TYPES.cells([fit(t, CELL, 400), f"{n:,}"]) for t, n in types[:fits]]
    if len(types) > fits:
        rows.append(TYPES.cells([f"... and {len(types) - fits:,} more types", ""]))
    painter.table(TYPES, rows, y - 10)
    painter.end()


def _contents(painter: Painter, rows: list[ContentsRow], pages: int, *, marks: bool = True) -> None:
    c = painter.c
    for n in range(pages):
        painter.begin()
        if n == 0 and marks:
            c.bookmarkPage("contents")
            c.addOutlineEntry("Contents", "contents", 0)
        title = "Contents" + (f" (continued, {n + 1} of {pages})" if n else "")
        painter.put(MARGIN, BODY_TOP - 16, title, BIG)
        y = TOC_TOP
        for row in rows[n * TOC_ROWS : (n + 1) * TOC_ROWS]:
            style, x = (HEAD, MARGIN) if row.level == 0 else (CELL, MARGIN + 14)
            painter.put(x, y, fit(row.text, style, 300), style)
            painter.put(MARGIN + 330, y, row.note, CELL)
            painter.put(PAGE_W - MARGIN, y, str(row.page), style, right=True)
            if marks:
                rect = (MARGIN, y - 3, PAGE_W - MARGIN, y + 9)
                c.linkAbsolute("", row.key, Rect=rect, thickness=0)
            y -= TOC_ROW
        painter.end()


def _index_pages(
    painter: Painter, assets: Iterable[AssetRow], expected: int, *, marks: bool = True
) -> None:
    paginator = Paginator(CAPACITY)
    drawn = 0

    def draw(pages: list[list[Cells]]) -> None:
        nonlocal drawn
        for page in pages:
            painter.begin()
            if drawn == 0 and marks:
                painter.c.bookmarkPage("index")
                painter.c.addOutlineEntry("Instrument index", "index", 0)
            drawn += 1
            sub = f"Every asset, one row each (page {drawn} of {expected})"
            page_title(painter, "Instrument index", sub, "INDEX")
            painter.table(INDEX, page, BODY_TOP - TITLE_BLOCK)
            painter.end()

    for asset in assets:
        draw(paginator.add(index_row(asset)))
    draw(paginator.finish())
    if drawn != expected:
        raise RuntimeError(f"index: planned {expected} pages, drew {drawn}")


def draw_datasheets(
    painter: Painter,
    assets: Iterable[AssetRow],
    sheets: Sequence[tuple[str, str, int]],
    *,
    marks: bool = True,
) -> None:
    """One datasheet (one page or more) per asset, as `sheets` (tag, type, pages) planned."""
    c = painter.c
    previous = None
    for i, asset in enumerate(assets):
        pages = datasheet_pages(asset)
        if i >= len(sheets) or sheets[i][:2] != (asset.tag, asset.type):
            raise RuntimeError("the assets changed between the two passes over them")
        if len(pages) != sheets[i][2]:
            raise RuntimeError(f"{asset.tag}: planned {sheets[i][2]} pages, got {len(pages)}")
        for n, page in enumerate(pages):
            painter.begin()
            if n == 0 and marks:
                if asset.type != previous:
                    c.bookmarkPage(f"t{i}")
                    c.addOutlineEntry(asset.type, f"t{i}", 0, closed=True)
                    previous = asset.type
                c.bookmarkPage(f"a{i}")
                c.addOutlineEntry(asset.tag, f"a{i}", 1)
            sub = f"Type: {asset.type}"
            if len(pages) > 1:
                sub += f" · sheet {n + 1} of {len(pages)}" + (" (continued)" if n else "")
            page_title(painter, asset.tag, sub, "DATASHEET")
            painter.table(DATASHEET, page, BODY_TOP - TITLE_BLOCK)
            painter.end()


def document_info(heading: Heading) -> dict[str, str]:
    return {
        "Title": f"{heading.title} · {heading.project_name} · Revision {heading.revision}",
        "Subject": f"{heading.package_type} package of project {heading.project_key}",
        "Creator": "SYNAPSE",
    }


def new_canvas(path: Path, heading: Heading) -> Canvas:
    register_fonts()
    canvas = Canvas(str(path), pagesize=(PAGE_W, PAGE_H), pageCompression=1)
    info = document_info(heading)
    canvas.setTitle(info["Title"])
    canvas.setSubject(info["Subject"])
    canvas.setCreator(info["Creator"])
    canvas.setFont(REGULAR, 9)
    return canvas


def write_front_matter(
    path: Path,
    *,
    heading: Heading,
    survey: Survey,
    plan: PdfPlan,
    assets: Callable[[], Iterable[AssetRow]],
    tick: Tick,
) -> int:
    """The first part of a PDF drawn in chunks: cover, contents, changes and index, without
    bookmarks or links (the merge adds them, pointing at the final pages); numbered of the
    whole."""
    canvas = new_canvas(path, heading)
    painter = Painter(canvas, heading, plan.total_pages, on_page=tick)
    _cover(painter, survey, marks=False)
    _contents(painter, plan.contents(), plan.contents_pages, marks=False)
    if plan.changes is not None:
        draw_changes(painter, plan.changes, marks=False)
    if "index" in plan.parts:
        _index_pages(painter, assets(), plan.index_pages, marks=False)
    if painter.page_no != plan.front_pages:
        raise RuntimeError(f"planned {plan.front_pages} front pages, drew {painter.page_no}")
    canvas.save()
    return painter.page_no


def write_pdf(
    path: Path,
    *,
    heading: Heading,
    survey: Survey,
    plan: PdfPlan,
    assets: Callable[[], Iterable[AssetRow]],
    tick: Tick,
) -> int:
    """Draw the whole PDF to `path`; returns its page count."""
    canvas = new_canvas(path, heading)
    painter = Painter(canvas, heading, plan.total_pages, on_page=tick)
    _cover(painter, survey)
    _contents(painter, plan.contents(), plan.contents_pages)
    if plan.changes is not None:
        draw_changes(painter, plan.changes)
    if "index" in plan.parts:
        _index_pages(painter, assets(), plan.index_pages)
    if "datasheets" in plan.parts:
        draw_datasheets(painter, assets(), plan.sheets)
    if painter.page_no != plan.total_pages:
        raise RuntimeError(f"planned {plan.total_pages} pages, drew {painter.page_no}")
    canvas.showOutline()
    canvas.save()
    return painter.page_no
