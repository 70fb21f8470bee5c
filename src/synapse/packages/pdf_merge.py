"""Joining the PDF parts of a package (front matter and datasheet chunks) into one file.

The parts are reportlab's own output: classic cross-reference tables, no object streams, one flat
page tree, no outline and no links. So the merge is a copy of bytes: each part's objects are
renumbered (references rewritten in the object dictionaries, streams copied untouched), its page
tree, catalog and info are replaced by ours, and the outline and the contents' links are added
here, pointing at the final pages. One part is read at a time and only offsets are kept, so
memory stays flat whatever the page count (pypdf's writer needed 290 MB and 8 s for 20,000 pages;
this takes well under a second and a few MB). pypdf reads the result in the tests.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

REF = re.compile(rb"(\d+) 0 R")
XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
TRAILER = re.compile(rb"trailer\s*<<(.*?)>>\s*startxref\s*(\d+)", re.DOTALL)
CATALOG, PAGES, INFO, FIRST_PAGE = 1, 2, 3, 4


@dataclass
class OutlineItem:
    title: str
    page: int  # 1-based
    children: list[OutlineItem] = field(default_factory=list)
    closed: bool = False


@dataclass(frozen=True)
class Link:
    page: int  # the page the link sits on, 1-based
    rect: tuple[float, float, float, float]
    target: int  # the page it goes to, 1-based


def pdf_string(text: str) -> bytes:
    """A PDF text string: literal when plain ASCII, else UTF-16BE with its byte order mark."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def _page_ref(page: int) -> bytes:
    return b"%d 0 R" % (FIRST_PAGE + page - 1)


def _num(value: float) -> bytes:
    return f"{value:.2f}".encode()


class _Part:
    """One reportlab PDF: its objects by number, its pages in order, what to leave out."""

    def __init__(self, path: Path) -> None:
        self.data = data = path.read_bytes()
        tail = data[-8192:]
        found = list(TRAILER.finditer(tail))
        if not found:
            raise ValueError(f"{path.name}: no trailer")
        trailer, xref_at = found[-1].group(1), int(found[-1].group(2))
        root = self._ref(trailer, rb"/Root")
        info = self._ref(trailer, rb"/Info")
        end = data.index(b"trailer", xref_at)
        entries = XREF_ENTRY.findall(data[xref_at:end])
        self.offsets = {n: int(off) for n, (off, _, kind) in enumerate(entries) if kind == b"n"}
        ordered = [*sorted(self.offsets.values()), xref_at]
        self.ends = dict(itertools.pairwise(ordered))
        catalog = self.head(root)
        pages_root = self._ref(catalog, rb"/Pages")
        tree = self.head(pages_root)
        kids = re.search(rb"/Kids\s*\[(.*?)\]", tree, re.DOTALL)
        if kids is None:
            raise ValueError(f"{path.name}: no page tree")
        self.pages = [int(n) for n in REF.findall(kids.group(1))]
        count = re.search(rb"/Count\s+(\d+)", tree)
        if count is None or int(count.group(1)) != len(self.pages):
            raise ValueError(f"{path.name}: the page tree is not flat")
        self.tree = pages_root
        skip = {root, info, pages_root}
        outlines = re.search(rb"/Outlines\s+(\d+) 0 R", catalog)
        if outlines:
            skip.add(int(outlines.group(1)))
        self.skip = skip

    @staticmethod
    def _ref(text: bytes, key: bytes) -> int:
        found = re.search(re.escape(key) + rb"\s+(\d+) 0 R", text)
        if found is None:
            raise ValueError(f"no {key.decode()} reference")
        return int(found.group(1))

    def body(self, number: int) -> bytes:
        """The object's bytes between `N 0 obj` and `endobj`."""
        start = self.offsets[number]
        chunk = self.data[start : self.ends[start]]
        begin = chunk.index(b"obj") + 3
        return chunk[begin : chunk.rindex(b"endobj")]

    def head(self, number: int) -> bytes:
        body = self.body(number)
        at = body.find(b"stream")
        return body if at < 0 else body[:at]


class _Writer:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.offsets: dict[int, int] = {}
        self.pos = 0
        self.put(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def put(self, data: bytes) -> None:
        self.out.write(data)
        self.pos += len(data)

    def obj(self, number: int, body: bytes) -> None:
        self.offsets[number] = self.pos
        self.put(b"%d 0 obj\n" % number + body + b"\nendobj\n")

    def finish(self, info: int) -> None:
        size = max(self.offsets) + 1
        missing = [n for n in range(1, size) if n not in self.offsets]
        if missing:
            raise RuntimeError(f"merge: objects {missing[:5]} were never written")
        xref = self.pos
        lines = [b"xref\n0 %d\n0000000000 65535 f \n" % size]
        lines += [b"%010d 00000 n \n" % self.offsets[n] for n in range(1, size)]
        self.put(b"".join(lines))
        self.put(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (size, CATALOG, info, xref)
        )


def _outline_objects(items: Sequence[OutlineItem], first: int) -> tuple[list[bytes], int]:
    """The outline dictionary (number `first`) and its items, numbered from `first`."""
    bodies: dict[int, bytes] = {}
    counter = first + 1

    def place(level: Sequence[OutlineItem], parent: int) -> tuple[list[int], int]:
        nonlocal counter
        numbers = list(range(counter, counter + len(level)))
        counter += len(level)
        visible = len(level)
        for i, (item, number) in enumerate(zip(level, numbers, strict=True)):
            parts = [b"/Title " + pdf_string(item.title), b"/Parent %d 0 R" % parent]
            parts.append(b"/Dest [" + _page_ref(item.page) + b" /Fit]")
            if i:
                parts.append(b"/Prev %d 0 R" % numbers[i - 1])
            if i + 1 < len(numbers):
                parts.append(b"/Next %d 0 R" % numbers[i + 1])
            if item.children:
                kids, shown = place(item.children, number)
                parts.append(b"/First %d 0 R /Last %d 0 R" % (kids[0], kids[-1]))
                parts.append(b"/Count %d" % (-shown if item.closed else shown))
                if not item.closed:
                    visible += shown
            bodies[number] = b"<< " + b" ".join(parts) + b" >>"
        return numbers, visible

    top, visible = place(items, first) if items else ([], 0)
    root = b"<< /Type /Outlines /Count %d" % visible
    if top:
        root += b" /First %d 0 R /Last %d 0 R" % (top[0], top[-1])
    bodies[first] = root + b" >>"
    return [bodies[n] for n in range(first, counter)], counter


def _copy_part(
    writer: _Writer, part: _Part, before: int, counter: int, annots: dict[int, list[int]]
) -> int:
    """Write the objects of `part`, whose pages follow `before` pages; returns the next free
    object number."""
    numbers = {old: FIRST_PAGE + before + i for i, old in enumerate(part.pages)}
    first_page, last_page = FIRST_PAGE + before, FIRST_PAGE + before + len(part.pages)
    for n in sorted(part.offsets):
        if n not in numbers and n not in part.skip:
            numbers[n] = counter
            counter += 1
    numbers[part.tree] = PAGES

    def renumber(m: re.Match[bytes]) -> bytes:
        return b"%d 0 R" % numbers[int(m.group(1))]

    for n in sorted(part.offsets):
        if n in part.skip:
            continue
        body = part.body(n)
        at = body.find(b"stream")
        head, rest = (body, b"") if at < 0 else (body[:at], body[at:])
        head = REF.sub(renumber, head)
        number = numbers[n]
        page_no = number - FIRST_PAGE + 1
        if first_page <= number < last_page and page_no in annots:
            refs = b" ".join(b"%d 0 R" % a for a in annots[page_no])
            head = head.replace(b"<<", b"<< /Annots [" + refs + b"]", 1)
        writer.obj(number, head.strip(b"\r\n") + (b"\n" + rest if rest else b""))
    return counter


def merge_pdfs(
    out_path: Path,
    parts: Iterable[Path],
    *,
    pages: int,
    outline: Sequence[OutlineItem] = (),
    links: Sequence[Link] = (),
    info: dict[str, str] | None = None,
) -> int:
    """Write `parts` one after the other to `out_path`; returns the page count (== `pages`)."""
    outline_bodies, after_outline = _outline_objects(outline, FIRST_PAGE + pages)
    outline_root = FIRST_PAGE + pages
    first_link = after_outline
    annots: dict[int, list[int]] = {}
    for i, link in enumerate(links):
        annots.setdefault(link.page, []).append(first_link + i)
    counter = first_link + len(links)
    page = 0
    with out_path.open("wb") as out:
        writer = _Writer(out)
        for path in parts:
            part = _Part(path)
            counter = _copy_part(writer, part, page, counter, annots)
            page += len(part.pages)
            del part
        if page != pages:
            raise RuntimeError(f"merge: planned {pages} pages, the parts hold {page}")
        kids = b" ".join(_page_ref(p) for p in range(1, pages + 1))
        writer.obj(PAGES, b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids))
        catalog = b"<< /Type /Catalog /Pages %d 0 R" % PAGES
        if outline:
            catalog += b" /Outlines %d 0 R /PageMode /UseOutlines" % outline_root
        writer.obj(CATALOG, catalog + b" >>")
        fields = b" ".join(b"/%s %s" % (k.encode(), pdf_string(v)) for k, v in (info or {}).items())
        writer.obj(INFO, b"<< " + fields + b" >>")
        for i, body in enumerate(outline_bodies):
            writer.obj(outline_root + i, body)
        for i, link in enumerate(links):
            rect = b" ".join(_num(v) for v in link.rect)
            writer.obj(
                first_link + i,
                b"<< /Type /Annot /Subtype /Link /Rect ["
                + rect
                + b"] /Border [0 0 0] /Dest ["
                + _page_ref(link.target)
                + b" /Fit] >>",
            )
        writer.finish(INFO)
    return page
