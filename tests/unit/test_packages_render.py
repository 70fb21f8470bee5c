"""The workbook and the PDF, rendered from assets in memory and read back."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pypdf
import pytest

from synapse.errors import InvalidInput
from synapse.packages import excel
from synapse.packages.data import AssetRow, Heading, Survey
from synapse.packages.pdf import TOC_ROWS, PdfPlan, write_pdf

HEADING = Heading(
    project_key="proj-1",
    project_name="Refinery unit 7",
    title="Issued for review",
    revision="B",
    date="2026-11-28",
    package_type="full",
)


def make_assets(n: int) -> list[AssetRow]:
    types = ("Motor", "Pump", "Valve/Actuator")
    rows = [
        AssetRow(
            f"{types[i % 3][0]}-{i:04d}",
            types[i % 3],
            {"power_kw": str(i % 90 + 1), "area": f"A{i % 4}", "service": "Cooling water"},
        )
        for i in range(n)
    ]
    rows[1] = AssetRow(
        rows[1].tag,
        rows[1].type,
        {
            "note": '=HYPERLINK("http://x.invalid","click")',
            "plus": "+1-2",
            "at": "@SUM(A1)",
            "url": "http://example.invalid",
            "name": "Ölpumpe 泵 Насос",
            "flag": True,
            "count": 7,
        },
    )
    return sorted(rows, key=lambda a: (a.type, a.tag))


def survey_of(assets: list[AssetRow]) -> Survey:
    survey = Survey()
    for asset in assets:
        survey.add(asset)
    return survey


def test_workbook_keeps_text_as_text_and_has_every_sheet(tmp_path: Path):
    assets = make_assets(60)
    survey = survey_of(assets)
    ticks: list[int] = []
    path = tmp_path / "out.xlsx"
    written = excel.write_workbook(
        path,
        heading=HEADING,
        survey=survey,
        parts=("index", "datasheets"),
        assets=assets,
        tick=ticks.append,
        tmpdir=tmp_path,
    )
    assert written == excel.rows_to_write(survey, ("index", "datasheets")) == ticks[-1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.xlsx"]  # no temporary files left

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["Summary", "Index", "Motor", "Pump", "Valve_Actuator", "Datasheets"]
    index = book["Index"]
    assert index.max_row == 61
    assert index.freeze_panes == "B2"
    assert index.auto_filter.ref == f"A1:{index.cell(1, index.max_column).column_letter}61"
    header = [c.value for c in index[1]]
    assert header[:2] == ["Tag", "Type"] and "power_kw" in header
    row = next(r for r in index.iter_rows(min_row=2) if r[0].value == assets_tag(assets))
    values = {header[c.column - 1]: c for c in row}
    for key in ("note", "plus", "at", "url"):
        assert values[key].data_type == "s", key
        assert values[key].hyperlink is None
    assert values["note"].value == '=HYPERLINK("http://x.invalid","click")'
    assert values["name"].value == "Ölpumpe 泵 Насос"
    assert values["flag"].value is True and values["count"].value == 7
    assert book["Pump"].max_row == 1 + survey.by_type["Pump"]
    assert book["Datasheets"].max_row == 1 + survey.property_rows


def assets_tag(assets: list[AssetRow]) -> str:
    return next(a.tag for a in assets if "note" in a.properties)


def test_sheet_names_are_valid_and_unique():
    names = excel.sheet_names(["Index", "a/b", "a:b", "x" * 40, "x" * 40 + "y", "'q'"])
    assert names["Index"] == "Index (2)"
    assert names["a/b"] == "a_b" and names["a:b"] == "a_b (2)"
    assert all(len(n) <= 31 for n in names.values())
    assert len({n.casefold() for n in names.values()}) == len(names)
    assert names["'q'"] == "q"


def test_limits_are_refused_before_writing():
    survey = Survey(total=excel.MAX_ROWS)
    with pytest.raises(InvalidInput, match="do not fit one Excel sheet"):
        excel.check_limits(survey, ("index",))
    excel.check_limits(survey, ("datasheets",))


def render_pdf(
    tmp_path: Path, assets: list[AssetRow], parts: tuple[str, ...]
) -> tuple[pypdf.PdfReader, PdfPlan]:
    plan = PdfPlan(parts)
    for asset in assets:
        plan.add(asset)
    plan.finish()
    path = tmp_path / "out.pdf"
    pages: list[int] = []
    write_pdf(
        path,
        heading=HEADING,
        survey=survey_of(assets),
        plan=plan,
        assets=lambda: assets,
        tick=pages.append,
    )
    assert pages == list(range(1, plan.total_pages + 1))
    return pypdf.PdfReader(path), plan


def test_pdf_has_cover_contents_and_one_datasheet_page_per_asset(tmp_path: Path):
    assets = make_assets(130)
    reader, plan = render_pdf(tmp_path, assets, ("datasheets",))
    contents = plan.contents_pages
    assert contents == 3 and TOC_ROWS * 2 < 130 + 3 <= TOC_ROWS * 3
    assert len(reader.pages) == 1 + contents + 130 == plan.total_pages
    cover = reader.pages[0].extract_text()
    assert "Issued for review" in cover and "Refinery unit 7" in cover and "130" in cover
    assert "Contents" in reader.pages[1].extract_text()
    first = reader.pages[1 + contents].extract_text()
    assert assets[0].tag in first and "DATASHEET" in first
    assert f"Page {2 + contents} of {plan.total_pages}" in first
    assert "Revision B" in first and "Refinery unit 7" in first
    tagged = [p for p in reader.pages if assets_tag(assets) in p.extract_text()]
    assert any("Ölpumpe" in p.extract_text() for p in tagged)
    assert len(reader.outline) > 3  # bookmarks: cover, contents, one per type with its assets


def test_long_values_continue_on_more_pages_and_the_index_part_is_a_table(tmp_path: Path):
    long = AssetRow("L-1", "Motor", {"spec": "seal flush plan " * 900, "lines": "a\nb\nc"})
    assets = [*make_assets(10), long]
    reader, plan = render_pdf(tmp_path, assets, ("index", "datasheets"))
    sheets = dict((tag, pages) for tag, _, pages in plan.sheets)
    assert sheets["L-1"] > 1
    assert plan.index_pages >= 1
    texts = [p.extract_text() for p in reader.pages]
    assert (
        sum("DATASHEET" in t for t in texts)
        == plan.total_pages - 1 - plan.contents_pages - plan.index_pages
    )
    assert sum("L-1" in t and "continued" in t for t in texts) == sheets["L-1"] - 1
    assert "Instrument index" in texts[1 + plan.contents_pages]


def test_an_asset_without_properties_still_gets_its_page(tmp_path: Path):
    reader, _ = render_pdf(tmp_path, [AssetRow("E-1", "Empty", {})], ("datasheets",))
    assert len(reader.pages) == 3
    assert "(no properties)" in reader.pages[2].extract_text()
