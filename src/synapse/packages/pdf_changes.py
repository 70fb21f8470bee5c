"""The PDF's "Changes since revision A" section: a table of tag, field, old and new value.

It comes right after the contents (before the index and the datasheets), so it is part of the
front matter a chunked PDF's parent draws, and its pages are laid out with the rest of the plan.
At most MAX_PRINTED changes are printed, then "... and N more"; the workbook's sheet lists all.
"""

from __future__ import annotations

from dataclasses import dataclass

from synapse.packages.pdf_pages import (
    BODY_TOP,
    CAPACITY,
    CONTENT_W,
    TITLE_BLOCK,
    Cells,
    Paginator,
    Painter,
    TableStyle,
    page_title,
)
from synapse.packages.revisions import Changes, printed

VALUE_W = (CONTENT_W - 200.0) / 2
CHANGES = TableStyle(("Tag", "Field", "Old", "New"), (105.0, 95.0, VALUE_W, VALUE_W))
MAX_PRINTED = 2_000
KEY = "changes"  # its bookmark


@dataclass(frozen=True)
class ChangePages:
    """The section laid out: its title, subtitle and the rows of each page."""

    title: str
    note: str
    count: int
    pages: tuple[list[Cells], ...]


def title_of(revision: str) -> str:
    return f"Changes since revision {revision}"


def plan_changes(changes: Changes, limit: int = MAX_PRINTED) -> ChangePages:
    shown, more = printed(changes.rows, limit)
    rows = [CHANGES.cells(change.row()) for change in shown]
    if not rows:
        rows.append(CHANGES.cells(["(no changes)", "", "", ""]))
    if more:
        rest = f"... and {more:,} more"
        rows.append(CHANGES.cells([rest, "", "the workbook lists every change", ""]))
    paginator = Paginator(CAPACITY)
    pages = [page for row in rows for page in paginator.add(row)] + paginator.finish()
    return ChangePages(title_of(changes.since), changes.describe(), changes.count, tuple(pages))


def draw_changes(painter: Painter, section: ChangePages, *, marks: bool = True) -> None:
    total = len(section.pages)
    for n, page in enumerate(section.pages):
        painter.begin()
        if n == 0 and marks:
            painter.c.bookmarkPage(KEY)
            painter.c.addOutlineEntry(section.title, KEY, 0)
        sub = section.note + (f" (page {n + 1} of {total})" if total > 1 else "")
        page_title(painter, section.title, sub, "CHANGES")
        painter.table(CHANGES, page, BODY_TOP - TITLE_BLOCK)
        painter.end()
