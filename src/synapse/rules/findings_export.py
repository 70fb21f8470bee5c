"""Findings for the Findings page and its .xlsx export: the list's filters plus the asset's type,
findings counted per rule (for the Rules page), and the workbook.

The workbook is written with xlsxwriter in constant-memory mode; every text cell is written with
`write_string` (never a formula or a link), and text that starts with `= + - @` also gets Excel's
quote prefix, as the package workbook does (packages/excel.py), so editing it keeps it text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import xlsxwriter
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from synapse.db.models import Asset, Finding, Rule
from synapse.packages.excel import RISKY_START
from synapse.projects import get_project
from synapse.rules.crud import severities_of
from synapse.rules.schemas import SEVERITIES
from synapse.rules.store import SEVERITY_ORDER

MAX_ROWS = 1_048_575  # a sheet's rows, less the header
STREAM_BATCH = 2_000
MAX_RULE_ID = 2**31 - 1  # rules.id is a 32-bit INTEGER
COLUMNS = ("Severity", "Rule", "Tag", "Type", "Message", "Job", "Found (UTC)")
WIDTHS = (10, 32, 20, 16, 70, 12, 20)


@dataclass(frozen=True)
class FindingFilter:
    """The filters of the findings list (GET .../findings) and the asset's `type`."""

    severity: str | None = None
    rule_id: int | None = None
    rule: str | None = None
    tag: str | None = None
    type: str | None = None

    def query(self) -> dict[str, str]:
        """As query parameters (for links and the export), the empty ones left out."""
        values = {k: getattr(self, k) for k in ("severity", "rule_id", "rule", "tag", "type")}
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


@dataclass(frozen=True)
class FindingRow:
    id: int
    rule_id: int
    rule_name: str
    asset_tag: str
    asset_type: str | None
    severity: str
    message: str
    job_id: str | None
    created_at: datetime


@dataclass
class FindingPage:
    items: list[FindingRow]
    total: int
    totals: dict[str, int]  # by severity, under the filters other than severity
    limit: int
    offset: int
    types: list[str] = field(default_factory=list)  # asset types that have findings


def _clean(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def _where(project_id: int, flt: FindingFilter) -> list[Any]:
    where: list[Any] = [Finding.project_id == project_id]
    if flt.rule_id is not None:  # beyond rules.id's 32 bits: no rule has it, no findings
        where.append(Finding.rule_id == (flt.rule_id if 0 < flt.rule_id <= MAX_RULE_ID else 0))
    if rule := _clean(flt.rule):
        where.append(Rule.name == rule)
    if tag := _clean(flt.tag):
        where.append(Finding.asset_tag == tag)
    if kind := _clean(flt.type):
        where.append(func.lower(Asset.type) == kind.lower())
    return where


def _base(query: Any, project_id: int) -> Any:
    asset_on = and_(Asset.project_id == project_id, Asset.tag == Finding.asset_tag)
    joined = query.select_from(Finding).join(Rule, Rule.id == Finding.rule_id)
    return joined.outerjoin(Asset, asset_on)


def _rows_query(project_id: int, flt: FindingFilter) -> Any:
    where = _where(project_id, flt)
    if severities := severities_of(flt.severity):
        where.append(Finding.severity.in_(list(severities)))
    query = select(Finding, Rule.name, Asset.type)
    return (
        _base(query, project_id)
        .where(*where)
        .order_by(SEVERITY_ORDER, Finding.asset_tag, Finding.rule_id, Finding.id)
    )


def _row(finding: Finding, name: Any, kind: Any) -> FindingRow:
    return FindingRow(
        id=finding.id,
        rule_id=finding.rule_id,
        rule_name=str(name),
        asset_tag=finding.asset_tag,
        asset_type=None if kind is None else str(kind),
        severity=finding.severity,
        message=finding.message,
        job_id=finding.job_id,
        created_at=finding.created_at,
    )


def find(
    session: Session, project_key: str, flt: FindingFilter, *, limit: int, offset: int
) -> FindingPage:
    """A page of findings under the filters, most severe first, then by tag."""
    project = get_project(session, project_key)
    severities = severities_of(flt.severity)  # a bad severity is a 422 before anything runs
    counted = session.execute(
        _base(select(Finding.severity, func.count()), project.id)
        .where(*_where(project.id, flt))
        .group_by(Finding.severity)
    ).all()
    totals = {s: 0 for s in SEVERITIES} | {str(s): int(n) for s, n in counted}
    total = sum(n for s, n in totals.items() if not severities or s in severities)
    query = _rows_query(project.id, flt).limit(limit).offset(offset)
    items = [_row(f, name, kind) for f, name, kind in session.execute(query).all()]
    types_query = (
        _base(select(Asset.type).distinct(), project.id)
        .where(Finding.project_id == project.id, Asset.type.is_not(None))
        .order_by(Asset.type)
    )
    types = [str(t) for t in session.scalars(types_query)]
    return FindingPage(items, total, totals, limit, offset, types)


def stream(session: Session, project_key: str, flt: FindingFilter) -> Iterator[FindingRow]:
    """Every finding under the filters, in the list's order, read in batches."""
    project = get_project(session, project_key)
    query = _rows_query(project.id, flt).limit(MAX_ROWS)
    result = session.execute(query.execution_options(yield_per=STREAM_BATCH))
    for finding, name, kind in result:
        yield _row(finding, name, kind)


def counts_by_rule(session: Session, project_id: int) -> dict[int, dict[str, int]]:
    """Findings per rule of a project, by severity."""
    query = (
        select(Finding.rule_id, Finding.severity, func.count())
        .where(Finding.project_id == project_id)
        .group_by(Finding.rule_id, Finding.severity)
    )
    counts: dict[int, dict[str, int]] = {}
    for rule_id, severity, n in session.execute(query).all():
        counts.setdefault(int(rule_id), {})[str(severity)] = int(n)
    return counts


def _text(sheet: Any, row: int, col: int, text: str, quoted: Any) -> None:
    if text.startswith(RISKY_START):
        sheet.write_string(row, col, text, quoted)
    else:
        sheet.write_string(row, col, text)


def write_xlsx(rows: Iterator[FindingRow], path: Path, *, title: Sequence[str] = ()) -> int:
    """The findings as a workbook at `path`: a header row, then one finding a row, every cell
    text. Returns the number of findings written."""
    book = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    try:
        sheet = book.add_worksheet("Findings")
        bold = book.add_format({"bold": True})
        quoted = book.add_format({"quote_prefix": True})
        for col, (name, width) in enumerate(zip(COLUMNS, WIDTHS, strict=True)):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, name, bold)
        sheet.freeze_panes(1, 0)
        n = 0
        for n, f in enumerate(rows, start=1):
            found = f.created_at.strftime("%Y-%m-%d %H:%M:%S")
            values = (f.severity, f.rule_name, f.asset_tag, f.asset_type or "", f.message,
                      (f.job_id or "")[:8], found)  # fmt: skip
            for col, value in enumerate(values):
                _text(sheet, n, col, value, quoted)
        sheet.autofilter(0, 0, max(n, 1), len(COLUMNS) - 1)
        if title:
            book.set_properties({"title": " · ".join(title)})
        return n
    finally:
        book.close()
