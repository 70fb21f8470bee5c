"""Joining reportlab parts into one PDF: pages in order, outline, links; pypdf reads it back."""

from __future__ import annotations

from pathlib import Path

import pypdf
import pytest
from reportlab.pdfgen.canvas import Canvas

from synapse.packages.pdf_merge import Link, OutlineItem, merge_pdfs, pdf_string


def part(path: Path, first: int, count: int, total: int) -> Path:
    canvas = Canvas(str(path), pageCompression=1)
    for n in range(first, first + count):
        canvas.setFont("Helvetica", 10)
        canvas.drawString(40, 800, f"Sheet {n}: R (1) 0 R \\ stream endobj")  # refs in text
        canvas.drawString(40, 40, f"Page {n} of {total}")
        canvas.showPage()
    canvas.save()
    return path


def test_parts_in_order_with_outline_and_links(tmp_path: Path):
    parts = [part(tmp_path / f"p{i}.pdf", 1 + 3 * i, 3, 9) for i in range(3)]
    outline = [
        OutlineItem("Cover", 1),
        OutlineItem("Pumpen (Ölpumpe) 泵", 4, [OutlineItem("P-1", 4), OutlineItem("P-2", 7)], True),
        OutlineItem("Motors", 8, [OutlineItem("M-1", 9)]),
    ]
    links = [Link(2, (40, 700, 500, 712), 7), Link(2, (40, 680, 500, 692), 9)]
    out = tmp_path / "all.pdf"
    info = {"Title": "Datasheets · Rev B"}
    assert merge_pdfs(out, parts, pages=9, outline=outline, links=links, info=info) == 9

    reader = pypdf.PdfReader(out)
    texts = [page.extract_text() for page in reader.pages]
    assert [t.splitlines()[0] for t in texts] == [
        f"Sheet {n}: R (1) 0 R \\ stream endobj" for n in range(1, 10)
    ]
    assert all(f"Page {n} of 9" in texts[n - 1] for n in range(1, 10))
    assert reader.metadata is not None and reader.metadata.title == "Datasheets · Rev B"

    top = reader.outline
    assert [getattr(i, "title", None) for i in top] == [
        "Cover",
        "Pumpen (Ölpumpe) 泵",
        None,
        "Motors",
        None,
    ]
    assert [reader.get_destination_page_number(i) for i in top[2]] == [3, 6]
    assert reader.get_destination_page_number(top[4][0]) == 8
    annots = [a.get_object() for a in reader.pages[1]["/Annots"]]
    assert [reader.get_page_number(a["/Dest"][0].get_object()) for a in annots] == [6, 8]
    assert [float(v) for v in annots[0]["/Rect"]] == [40, 700, 500, 712]


def test_a_part_with_other_pages_than_planned_is_refused(tmp_path: Path):
    parts = [part(tmp_path / "a.pdf", 1, 2, 3)]
    with pytest.raises(RuntimeError, match="planned 3 pages, the parts hold 2"):
        merge_pdfs(tmp_path / "out.pdf", parts, pages=3)


def test_pdf_strings():
    assert pdf_string("A (b) \\ c") == b"(A \\(b\\) \\\\ c)"
    assert pdf_string("泵") == b"<FEFF6CF5>"
