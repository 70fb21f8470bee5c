"""The parent's side of a PDF drawn in chunks (docs/packages.md, "Packages across workers").

1. While it plans the pages, the parent spools each chunk's assets with their planned page
   counts (chunks.Spooler), so every page number, the contents and "Page X of Y" are known
   before anything is drawn.
2. It sends one `render_package_chunk` message per chunk to its own queue; free worker
   processes take them.
3. It writes the workbook and the front matter (cover, contents, index) itself, then draws
   every chunk nobody holds yet (the same claim as the workers'), then waits for the rest,
   reporting one progress for the whole (pages drawn by everyone) — each report is the job's
   cancel checkpoint.
4. It joins the parts in order (pdf_merge), adding the outline and the contents' links.

Whatever way it ends, the chunks are stopped and the work folder removed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Protocol

from synapse.config import Settings
from synapse.packages.chunk_render import ChunkRef, render_chunk
from synapse.packages.chunks import Board, ChunkHeader, Spooler, WorkDir, holder_gone, identity
from synapse.packages.data import AssetRow, Heading, Survey
from synapse.packages.pdf import PdfPlan, contents_place, document_info, write_front_matter
from synapse.packages.pdf_merge import Link, OutlineItem, merge_pdfs

log = logging.getLogger("synapse.packages")
TICK_SECONDS = 0.2
WAIT_SECONDS = 0.5  # between looks at the board while other processes draw
STOP_GRACE = 15.0  # how long a cancel waits for the chunks being drawn to notice it

Dispatch = Callable[[int], None]


class Progress(Protocol):
    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None: ...

    def log(self, level: str, message: str) -> None: ...


def outline_of(plan: PdfPlan) -> list[OutlineItem]:
    items = [OutlineItem("Cover", 1), OutlineItem("Contents", 2)]
    for row in plan.contents():
        if row.level == 0:
            closed = row.key != "index"
            items.append(OutlineItem(row.text, row.page, closed=closed))
        else:
            items[-1].children.append(OutlineItem(row.text, row.page))
    return items


def links_of(plan: PdfPlan) -> list[Link]:
    links = []
    for r, row in enumerate(plan.contents()):
        page, rect = contents_place(r)
        links.append(Link(page=2 + page, rect=rect, target=row.page))
    return links


class _Tracker:
    """One progress for the whole PDF: front pages drawn here plus every chunk's pages."""

    def __init__(
        self, progress: Progress, board: Board, chunks: list[ChunkHeader], plan: PdfPlan
    ) -> None:
        self.progress, self.board, self.chunks = progress, board, chunks
        self.total = plan.total_pages
        self.span = (0, 99)
        self.front = 0
        self.percent = 0
        self.last = 0.0
        self.told: set[int] = set()

    def front_page(self, page_no: int) -> None:
        self.front = page_no
        self.report()

    def tick(self) -> None:
        self.report()

    def report(self, *, force: bool = False) -> dict[int, dict[str, Any]]:
        now = time.monotonic()
        if not force and now - self.last < TICK_SECONDS:
            return {}
        self.last = now
        done, pages, failed = self.board.state()
        if failed:
            raise RuntimeError(failed[min(failed)])
        for i in sorted(set(done) - self.told):
            self.told.add(i)
            h = self.chunks[i]
            self.progress.log(
                "INFO",
                f"Chunk {i + 1} of {len(self.chunks)} (pages {h.first_page:,}–"
                f"{h.first_page + h.pages - 1:,}, {h.assets:,} assets) drawn by "
                f"{done[i]['by']} in {done[i]['seconds']:.1f} s",
            )
        drawn = min(self.total, self.front + sum(pages.values()))
        start, end = self.span
        self.percent = max(self.percent, start + (end - start) * drawn // max(self.total, 1))
        self.progress.update_progress(
            drawn,
            self.total,
            f"Generating PDF... {drawn:,}/{self.total:,} pages · "
            f"{len(done)} of {len(self.chunks)} chunks done",
            percent=self.percent,
        )
        return done


class ChunkedPdf:
    """`with ChunkedPdf(...) as pdf:` add assets while planning, `start`, then `finish`."""

    def __init__(
        self,
        settings: Settings,
        *,
        job_id: str,
        attempt: int,
        size: int,
        dispatch: Dispatch | None,
    ) -> None:
        self.settings, self.job_id, self.attempt = settings, job_id, attempt
        self.work = WorkDir(settings, job_id, attempt)
        self.board = Board(settings, job_id, attempt)
        self.spooler = Spooler(self.work, size)
        self.dispatch = dispatch
        self.me = identity()
        self.chunks: list[ChunkHeader] = []
        # Seconds the parent spent: front matter, drawing chunks and waiting, merging.
        self.phases: dict[str, float] = {}

    def __enter__(self) -> ChunkedPdf:
        for earlier in range(1, self.attempt):  # a lost attempt's chunks stop, its files go
            Board(self.settings, self.job_id, earlier).stop()
            WorkDir(self.settings, self.job_id, earlier).remove()
        self.work.remove()
        self.work.path.mkdir(parents=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.board.stop()
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            held = [h for h in self.board.holders(len(self.chunks)) if h and not holder_gone(h)]
            if not held:
                break
            self.board.wait(0.2)
        self.work.remove()
        self.board.clear(len(self.chunks))

    def add(self, asset: AssetRow, pages: int) -> None:
        self.spooler.add(asset, pages)

    def start(self, heading: Heading, plan: PdfPlan) -> None:
        """Number the chunks' pages and send one message per chunk."""
        self.chunks = self.spooler.finish(plan.front_pages + 1)
        firsts = [h.first_page for h in self.chunks]
        self.work.write_heading(heading, plan.total_pages, firsts)
        if self.dispatch is None:
            return
        for h in self.chunks:
            try:
                self.dispatch(h.index)
            except Exception as exc:  # the parent draws what nobody else does
                log.warning("package %s: could not send chunk %d: %s", self.job_id, h.index, exc)
                break

    def finish(
        self,
        path: Any,
        *,
        heading: Heading,
        survey: Survey,
        plan: PdfPlan,
        assets: Callable[[], Iterable[AssetRow]],
        progress: Progress,
        span: tuple[int, int],
    ) -> list[dict[str, Any]]:
        """Front matter, the chunks nobody drew, the merge; returns what each chunk did."""
        tracker = _Tracker(progress, self.board, self.chunks, plan)
        tracker.span = span
        mark = time.perf_counter()
        write_front_matter(
            self.work.front,
            heading=heading,
            survey=survey,
            plan=plan,
            assets=assets,
            tick=tracker.front_page,
        )
        self.phases["pdf_front"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        while True:
            done = tracker.report(force=True)
            if len(done) == len(self.chunks):
                break
            drew = False
            for h in self.chunks:
                if h.index in done:
                    continue
                ref = ChunkRef(self.job_id, self.attempt, h.index)
                drew |= render_chunk(self.settings, ref, me=self.me, on_tick=tracker.tick)
            if not drew:
                self.board.wait(WAIT_SECONDS)
        self.phases["pdf_chunks"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        renders = self.board.renders()
        progress.update_progress(
            plan.total_pages, plan.total_pages, "Merging PDF...", percent=span[1]
        )
        parts = [self.work.front] + [self.work.part(h.index) for h in self.chunks]
        merge_pdfs(
            path,
            parts,
            pages=plan.total_pages,
            outline=outline_of(plan),
            links=links_of(plan),
            info=document_info(heading),
        )
        self.phases["pdf_merge"] = round(time.perf_counter() - mark, 3)
        return [
            {
                "index": h.index,
                "first_page": h.first_page,
                "last_page": h.first_page + h.pages - 1,
                "assets": h.assets,
                "renders": renders.get(h.index, 0),
                "drawn_by": done[h.index]["by"],
                "seconds": done[h.index]["seconds"],
            }
            for h in self.chunks
        ]
