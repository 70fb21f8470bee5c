"""The weekly report as a PDF (reportlab): key figures, a jobs-per-day chart, then the tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from synapse.maintenance.report import Report
from synapse.maintenance.report import Table as ReportTable

INK = colors.HexColor("#1d2330")
MUTED = colors.HexColor("#6b7280")
LINE = colors.HexColor("#e5e7eb")
HEAD = colors.HexColor("#f3f4f6")
GREEN = colors.HexColor("#15803d")
RED = colors.HexColor("#b91c1c")
MARGIN = 16 * mm
WIDTH = A4[0] - 2 * MARGIN

_base = getSampleStyleSheet()
STYLES = {
    "title": ParagraphStyle("title", parent=_base["Title"], alignment=0, fontSize=20, leading=24,
                            textColor=INK, spaceAfter=2),
    "period": ParagraphStyle("period", parent=_base["Normal"], fontSize=10, textColor=MUTED,
                             spaceAfter=10),
    "h2": ParagraphStyle("h2", parent=_base["Heading2"], fontSize=12, leading=15, textColor=INK,
                         spaceBefore=10, spaceAfter=4),
    "cell": ParagraphStyle("cell", parent=_base["Normal"], fontSize=8, leading=10, textColor=INK),
    "note": ParagraphStyle("note", parent=_base["Normal"], fontSize=8.5, textColor=MUTED,
                           spaceBefore=2),
    "figure": ParagraphStyle("figure", parent=_base["Normal"], fontSize=17, leading=20,
                             textColor=INK, alignment=1),
    "label": ParagraphStyle("label", parent=_base["Normal"], fontSize=8, textColor=MUTED,
                            alignment=1),
}  # fmt: skip


def _text(value: Any) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _figures(report: Report) -> Table:
    cells = [
        [Paragraph(escape(value), STYLES["figure"]), Paragraph(escape(label), STYLES["label"])]
        for label, value in report.figures
    ]
    table = Table([cells], colWidths=[WIDTH / len(cells)] * len(cells))
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.5, LINE),
                ("INNERGRID", (0, 0), (-1, -1), 0.5, LINE),
                ("BACKGROUND", (0, 0), (-1, -1), colors.white),
                ("TOPPADDING", (0, 0), (-1, -1), 6),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return table


def _chart(report: Report) -> Drawing:
    drawing = Drawing(WIDTH, 130)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 30, 22, WIDTH - 140, 95
    succeeded = [ok for _, ok, _ in report.daily] or [0]
    failed = [bad for _, _, bad in report.daily] or [0]
    chart.data = [succeeded, failed]
    chart.categoryAxis.categoryNames = [day for day, _, _ in report.daily] or [""]
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    top = max((a + b for a, b in zip(succeeded, failed, strict=True)), default=0)
    chart.valueAxis.valueMax = max(4, int(top * 1.15) + 1)
    chart.valueAxis.valueStep = max(1, chart.valueAxis.valueMax // 4)
    chart.bars[0].fillColor, chart.bars[1].fillColor = GREEN, RED
    chart.bars.strokeColor = None
    chart.barSpacing = 2
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = WIDTH - 95, 100
    legend.fontSize = 8
    legend.colorNamePairs = [(GREEN, "Succeeded"), (RED, "Failed")]
    drawing.add(legend)
    return drawing


def _table(spec: ReportTable) -> list[Any]:
    parts: list[Any] = [Paragraph(escape(spec.title), STYLES["h2"])]
    if spec.rows:
        head = [Paragraph(f"<b>{escape(c)}</b>", STYLES["cell"]) for c in spec.columns]
        body = [[Paragraph(escape(_text(v)), STYLES["cell"]) for v in row] for row in spec.rows]
        weights = spec.widths or [1.0] * len(spec.columns)
        widths = [WIDTH * w / sum(weights) for w in weights]
        table = Table([head, *body], colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), HEAD),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.4, LINE),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ]
            )
        )
        parts.append(table)
    if spec.note:
        parts.append(Paragraph(escape(spec.note), STYLES["note"]))
    return parts


def render_pdf(report: Report, path: Path) -> int:
    """Write the report; returns the number of pages."""
    pages = [0]

    def on_page(canvas: Any, doc: Any) -> None:
        pages[0] = doc.page
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        canvas.setFillColor(MUTED)
        canvas.drawString(MARGIN, 10 * mm, f"{report.title} · {report.period}")
        canvas.drawRightString(A4[0] - MARGIN, 10 * mm, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=18 * mm,
        title=f"{report.title} {report.end:%Y-%m-%d}",
        author="SYNAPSE",
    )
    story: list[Any] = [
        Paragraph(escape(report.title), STYLES["title"]),
        Paragraph(escape(report.period), STYLES["period"]),
        _figures(report),
        Spacer(1, 6),
        _chart(report),
    ]
    for spec in report.tables:
        story.extend(_table(spec))
    doc.build(story, onFirstPage=on_page, onLaterPages=on_page)
    return pages[0]
