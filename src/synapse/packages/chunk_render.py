"""Drawing one chunk of a package's datasheets: by a worker's chunk task, or by the parent.

Pages are numbered as in the whole PDF ("Page 1,201 of 20,600"): the chunk's first page and the
total come from the plan. The part is written under a temporary name and renamed when complete;
a chunk that is stopped (cancel, parent gone) or loses its claim deletes what it drew.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from synapse.config import Settings
from synapse.packages.chunks import Board, WorkDir, identity
from synapse.packages.pdf import draw_datasheets, new_canvas
from synapse.packages.pdf_pages import Painter

log = logging.getLogger("synapse.packages")
TICK_SECONDS = 0.2  # progress, lease renewal and the stop check at most this often


class ChunkStopped(Exception):
    """The package was stopped, or this process no longer holds the chunk."""


@dataclass(frozen=True)
class ChunkRef:
    job_id: str
    attempt: int
    index: int


def render_chunk(
    settings: Settings,
    ref: ChunkRef,
    *,
    me: str | None = None,
    on_tick: Callable[[], None] | None = None,
) -> bool:
    """Draw chunk `ref` if this process can claim it; True when it drew it.

    False: it was done, held by a live renderer, or stopped. Errors are recorded on the board
    (the parent fails the package with them) and raised; so is whatever `on_tick` (the parent's
    progress, a cancel checkpoint) raises."""
    board = Board(settings, ref.job_id, ref.attempt)
    me = me or identity()
    work = WorkDir(settings, ref.job_id, ref.attempt)
    if board.stopped() or not work.path.is_dir() or not board.claim(ref.index, me):
        return False
    started = time.perf_counter()
    part = work.part(ref.index)
    temporary = part.with_suffix(".drawing")
    try:
        heading, total, first = work.heading(ref.index)
        sheets = work.sheets(ref.index)
        pages = sum(p for _, _, p in sheets)
        last = time.monotonic()

        def tick(page_no: int) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < TICK_SECONDS:
                return
            last = now
            board.drawn(ref.index, page_no - first + 1)
            if on_tick is not None:
                on_tick()
            if board.stopped() or not board.renew(ref.index, me):
                raise ChunkStopped()

        canvas = new_canvas(temporary, heading)
        painter = Painter(canvas, heading, total, on_page=tick)
        painter.page_no = first - 1
        draw_datasheets(painter, work.assets(ref.index), sheets, marks=False)
        if painter.page_no != first - 1 + pages:
            raise RuntimeError(f"chunk {ref.index}: planned {pages} pages, drew more or fewer")
        canvas.save()
        if board.stopped() or not board.renew(ref.index, me):
            raise ChunkStopped()
        temporary.replace(part)
    except ChunkStopped:
        temporary.unlink(missing_ok=True)
        board.release(ref.index, me)
        return False
    except BaseException as exc:  # also a time limit or an interrupt: never leave a claim
        temporary.unlink(missing_ok=True)
        with contextlib.suppress(Exception):
            if board.stopped() or not work.path.is_dir():  # cancelled, or the parent is gone
                board.release(ref.index, me)
            else:
                board.failed(ref.index, me, f"chunk {ref.index + 1}: {exc}")
        raise
    seconds = round(time.perf_counter() - started, 3)
    board.drawn(ref.index, pages)
    board.finished(ref.index, me, {"by": me.rsplit("|", 1)[0], "seconds": seconds})
    log.info("package %s: chunk %d drawn (%d pages, %.2fs)", ref.job_id, ref.index, pages, seconds)
    return True
