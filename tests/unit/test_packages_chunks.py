"""The chunk plan on disk (spool files, heading) and the outline and links made from a plan."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from synapse.config import Settings
from synapse.packages.chunks import Spooler, WorkDir, holder_gone, identity
from synapse.packages.data import AssetRow, Heading
from synapse.packages.parallel import links_of, outline_of
from synapse.packages.pdf import TOC_ROWS, PdfPlan
from tests.support.local import sqlite_settings

HEADING = Heading("p1", "Plant", "IFC", "B", "2026-12-01", "datasheets", ("Pump",))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return sqlite_settings(tmp_path, monkeypatch, migrate=False)


def assets(count: int) -> list[AssetRow]:
    long = "wraps over many lines " * 400  # some datasheets take two pages
    return [
        AssetRow(f"P-{i:03d}", ("Motor", "Pump")[i // 4], {"note": long if i % 3 == 0 else "x"})
        for i in range(count)
    ]


def test_spool_chunks_number_their_pages_after_the_front(settings: Settings):
    work = WorkDir(settings, "job1", 2)
    work.path.mkdir(parents=True)
    plan, spooler = PdfPlan(("datasheets",)), Spooler(work, 3)
    for asset in assets(8):
        plan.add(asset)
        spooler.add(asset, plan.sheets[-1][2])
    plan.finish()
    chunks = spooler.finish(plan.front_pages + 1)
    assert [c.assets for c in chunks] == [3, 3, 2]
    assert chunks[0].first_page == plan.front_pages + 1
    for a, b in itertools.pairwise(chunks):
        assert b.first_page == a.first_page + a.pages
    assert chunks[-1].first_page + chunks[-1].pages - 1 == plan.total_pages
    work.write_heading(HEADING, plan.total_pages, [c.first_page for c in chunks])

    assert work.heading(1) == (HEADING, plan.total_pages, chunks[1].first_page)
    assert work.sheets(1) == plan.sheets[3:6]
    assert list(work.assets(2)) == assets(8)[6:]
    work.remove()
    assert not work.path.exists()


def test_outline_and_links_follow_the_contents():
    plan = PdfPlan(("index", "datasheets"))
    for asset in assets(8):
        plan.add(asset)
    plan.finish()
    rows = plan.contents()
    outline = outline_of(plan)
    assert [(i.title, i.page) for i in outline[:3]] == [
        ("Cover", 1),
        ("Contents", 2),
        ("Instrument index", rows[0].page),
    ]
    motors = outline[3]
    assert motors.title == "Motor" and motors.closed
    assert [(c.title, c.page) for c in motors.children] == [(r.text, r.page) for r in rows[2:6]]
    links = links_of(plan)
    assert [link.target for link in links] == [r.page for r in rows]
    assert {link.page for link in links} == {2 + n // TOC_ROWS for n in range(len(rows))}


def test_a_holder_on_this_host_is_gone_when_its_process_is():
    assert not holder_gone(identity())  # this process
    host = identity().split("|")[0]
    assert holder_gone(f"{host}|999999999|abc")
    assert not holder_gone("another-host|999999999|abc")  # its lease decides
