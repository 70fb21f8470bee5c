"""Packages across workers: a PDF drawn in chunks by two worker processes, then merged.

On the session's system (two worker processes, each database) with the default chunk of 500
assets, so 1,000–3,000 assets make several chunks. The 20,000-asset figures are in
`make bench-packages`.
"""

from __future__ import annotations

import io
import os
import re
import signal
import uuid
from typing import Any

import pypdf
import pytest
import redis

from tests.integration.test_packages import download, engineering_csv, files_of, request_package
from tests.support.system import System
from tests.support.waiting import wait_for

CHUNK = 500  # SYNAPSE_PACKAGE_CHUNK_SIZE's default
CONTENTS_LINE = re.compile(r"^(E-\d{4})\s+(\d+)$", re.MULTILINE)


@pytest.fixture
def chunked(system: System) -> System:
    """The session's system: its workers use the default chunk size."""
    assert system.settings.package_chunk_size == CHUNK
    return system


def start_package(system: System, assets: int, body: dict[str, Any]) -> str:
    key = f"chunks-{uuid.uuid4().hex[:8]}"
    assert system.import_csv(engineering_csv(assets), project=key)["state"] == "SUCCESS"
    response = request_package(system, key, body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["job_id"]
    return job_id


def pdf_of(system: System, job: dict[str, Any]) -> pypdf.PdfReader:
    pdf = next(f for f in job["result"]["files"] if f["name"].endswith(".pdf"))
    return pypdf.PdfReader(io.BytesIO(download(system, pdf)))


def board(system: System) -> redis.Redis:
    return redis.Redis.from_url(system.settings.effective_redis_url)


def holders(system: System, job_id: str) -> dict[int, str]:
    """Chunk index → `host|pid|nonce` of the process drawing it now."""
    r = board(system)
    keys = list(r.scan_iter(f"{system.settings.redis_prefix}:pkg:{job_id}:*:owner:*"))
    values = r.mget(keys) if keys else []
    return {
        int(k.decode().rsplit(":", 1)[1]): v.decode()
        for k, v in zip(keys, values, strict=True)
        if v is not None
    }


def test_pages_numbers_and_contents_of_a_package_in_chunks(chunked: System):
    body = {
        "package_type": "full",
        "options": {"formats": ["pdf"], "title": "In chunks", "revision": "C"},
    }
    job = chunked.wait_job(start_package(chunked, 3 * CHUNK - 37, body), timeout=90)
    assert job["state"] == "SUCCESS", job
    result = job["result"]
    chunks = result["chunks"]
    assert [c["index"] for c in chunks] == [0, 1, 2]
    assert [c["assets"] for c in chunks] == [CHUNK, CHUNK, CHUNK - 37]
    assert all(c["renders"] == 1 for c in chunks), chunks

    reader = pdf_of(chunked, job)
    total = len(reader.pages)
    assert total == result["pages"] == chunks[-1]["last_page"]
    cache: dict[int, str] = {}

    def text(n: int) -> str:  # of page n (1-based); pypdf reads a page in ~10 ms: only those used
        if n not in cache:
            cache[n] = reader.pages[n - 1].extract_text()
        return cache[n]

    for n in (1, total // 2, total, chunks[1]["first_page"], chunks[2]["first_page"] - 1):
        assert f"Page {n} of {total}" in text(n), (n, text(n)[-80:])
    assert "In chunks" in text(1) and "Revision C" in text(total)
    assert "DATASHEET" in text(chunks[0]["first_page"]) and "DATASHEET" not in text(
        chunks[0]["first_page"] - 1
    )

    # The contents: every asset's row names the page its datasheet starts on, and links there.
    front = range(1, chunks[0]["first_page"])
    contents = [n for n in front if "Contents" in text(n) and "INDEX" not in text(n)]
    rows = {tag: int(page) for n in contents for tag, page in CONTENTS_LINE.findall(text(n))}
    assert len(rows) == 3 * CHUNK - 37
    pages = sorted(rows.items(), key=lambda item: item[1])
    for tag, page in pages[:3] + pages[::97] + pages[-3:]:  # each chunk's, first and last
        assert "DATASHEET" in text(page) and tag in text(page), (tag, page)
        assert "sheet 2 of" not in text(page)  # the first sheet of a long one
    targets = {
        reader.get_page_number(annot.get_object()["/Dest"][0].get_object()) + 1
        for n in contents
        for annot in reader.pages[n - 1].get("/Annots", [])
    }
    assert set(rows.values()) <= targets
    outline = reader.outline
    assert [item.title for item in outline[:3]] == ["Cover", "Contents", "Instrument index"]
    pump = outline.index(next(i for i in outline if getattr(i, "title", "") == "Pump"))
    first_pump = outline[pump + 1][0]
    assert rows[first_pump.title] == reader.get_destination_page_number(first_pump) + 1


def test_cancel_stops_every_chunk_and_leaves_no_file(chunked: System):
    body = {"package_type": "datasheets", "options": {"formats": ["pdf"]}}
    job_id = start_package(chunked, 6 * CHUNK, body)
    # Cancel while chunks are being drawn by both processes.
    wait_for(lambda: len(holders(chunked, job_id)) >= 2, timeout=60, what="two chunks drawn")
    with chunked.client() as client:
        assert client.post(f"/api/v1/jobs/{job_id}/cancel").status_code == 200
    job = chunked.wait_job(job_id, timeout=30)
    assert job["state"] == "CANCELLED", job
    assert files_of(chunked, job_id) == []
    data = chunked.settings.data_dir
    assert not list((data / "packages" / "work").glob(f"{job_id}-*"))
    assert not list(data.rglob("*.drawing"))
    folder = data / "files" / "package"
    assert not folder.exists() or [p.name for p in folder.iterdir() if job_id in p.name] == []
    # No chunk is drawn any more, and the chunk messages left in the queue are dropped.
    r = board(chunked)
    wait_for(
        lambda: (
            not holders(chunked, job_id) and r.llen(f"{chunked.settings.redis_prefix}:bulk") == 0
        ),
        timeout=30,
        what="the chunks to stop and their messages to drain",
    )
    assert r.exists(f"{chunked.settings.redis_prefix}:pkg:{job_id}:1:stop")
    assert not list(data.rglob("*.drawing"))


def test_a_chunk_whose_worker_dies_is_drawn_again_alone(chunked: System):
    body = {"package_type": "datasheets", "options": {"formats": ["pdf"]}}
    job_id = start_package(chunked, 4 * CHUNK, body)
    parent = wait_for(
        lambda: re.search(r"pid (\d+)", chunked.job(job_id).get("worker") or ""),
        timeout=60,
        what="the parent job to start",
    )
    parent_pid = int(parent.group(1))

    drawn = f"{chunked.settings.redis_prefix}:pkg:{job_id}:1:pages"

    def victim() -> tuple[int, int] | None:
        for index, holder in holders(chunked, job_id).items():
            pid = int(holder.split("|")[1])
            pages = int(board(chunked).hget(drawn, str(index)) or 0)
            if pid != parent_pid and pages < CHUNK // 2:  # well before its end
                return index, pid
        return None

    index, pid = wait_for(victim, timeout=60, interval=0.01, what="a chunk on the other process")
    os.kill(pid, signal.SIGKILL)
    done = board(chunked).hkeys(f"{chunked.settings.redis_prefix}:pkg:{job_id}:1:done")
    assert str(index).encode() not in done, "the chunk ended before the kill; rerun"

    job = chunked.wait_job(job_id, timeout=90)
    assert job["state"] == "SUCCESS", job
    renders = {c["index"]: c["renders"] for c in job["result"]["chunks"]}
    assert renders == {i: 2 if i == index else 1 for i in range(4)}, (index, renders)
    reader = pdf_of(chunked, job)
    assert len(reader.pages) == job["result"]["pages"]
    first = job["result"]["chunks"][index]["first_page"]
    assert f"Page {first} of {len(reader.pages)}" in reader.pages[first - 1].extract_text()
    # The job page lists the chunks under the package, the redrawn one marked.
    with chunked.client() as client:
        page = client.get(f"/jobs/{job_id}").text
    assert 'Chunks <span class="count">(4)</span>' in page
    assert page.count("drawn 2×") == 1
    # The worker replaced its lost process and goes on.
    assert chunked.processes["worker"].poll() is None
