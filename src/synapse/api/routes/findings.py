"""What the Rules and Findings pages need beyond the rules API: a condition checked without
saving anything (the editor checks as one types), and the findings as an .xlsx download."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from synapse.api.deps import SessionDep
from synapse.api.security import PrincipalDep, check_project
from synapse.rules import findings_export
from synapse.rules.findings_export import FindingFilter
from synapse.rules.language import compile_condition
from synapse.rules.syntax import RuleSyntaxError

router = APIRouter(prefix="/api/v1/projects", tags=["rules"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_CONDITION = 2000
MAX_INT64 = 2**63 - 1


@router.post("/{project_id}/rules/check")
def check_condition(
    project_id: str,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any], Body(examples=[{"condition": "power_kw > 50"}])],
) -> Response:
    """Compile a condition without saving anything: 200 `{"ok": true, "fields"}` (the
    properties it reads), or 422 `{"detail", "line", "column", "problem"}` — the same check a
    rule gets when it is saved."""
    check_project(principal, project_id)
    condition = body.get("condition")
    if not isinstance(condition, str) or not condition.strip():
        return _refused("condition: write a condition, e.g. power_kw > 50", 1, 1, "empty")
    if len(condition) > MAX_CONDITION:
        return _refused(f"condition: longer than {MAX_CONDITION:,} characters", 1, 1, "too long")
    try:
        compiled = compile_condition(condition)
    except RuleSyntaxError as exc:
        d = exc.details if isinstance(exc.details, dict) else {}
        return _refused(str(exc), d.get("line", 1), d.get("column", 1), d.get("problem", ""))
    return JSONResponse({"ok": True, "fields": sorted(compiled.fields)})


def _refused(detail: str, line: int, column: int, problem: str) -> Response:
    body = {"detail": detail, "line": line, "column": column, "problem": problem}
    return JSONResponse(body, status_code=422)


@router.get(
    "/{project_id}/findings/export.xlsx",
    response_class=FileResponse,
    responses={200: {"content": {XLSX: {}}}},
)
def export_findings(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    severity: str | None = None,
    rule_id: Annotated[int | None, Query(ge=1, le=MAX_INT64)] = None,
    rule: str | None = None,
    tag: str | None = None,
    type: str | None = None,
) -> Response:
    """The findings under the list's filters (`severity`, `rule_id`, `rule`, `tag`, and the
    asset's `type`) as a workbook, in the list's order; every cell is text, never a formula."""
    check_project(principal, project_id)
    flt = FindingFilter(severity=severity, rule_id=rule_id, rule=rule, tag=tag, type=type)
    handle, name = tempfile.mkstemp(prefix="synapse-findings-", suffix=".xlsx")
    path = Path(name)
    try:
        with open(handle, "wb"):  # xlsxwriter writes by name; close the descriptor
            pass
        rows = findings_export.stream(session, project_id, flt)
        findings_export.write_xlsx(rows, path, title=(project_id, "findings"))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    filename = f"findings-{_safe(project_id)}.xlsx"
    return FileResponse(
        path, media_type=XLSX, filename=filename, background=BackgroundTask(path.unlink)
    )


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80] or "project"
