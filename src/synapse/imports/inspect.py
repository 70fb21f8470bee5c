"""The guided import's look at a file before anything runs: sheets, header row, columns, a
sample, and the mapping that would be used (the one remembered for this layout, else the
automatic one). Reads at most the first rows of one sheet."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Project
from synapse.errors import InvalidInput
from synapse.imports import mappings
from synapse.imports.headers import auto_target
from synapse.imports.mapping import find_header_row, plan_columns
from synapse.imports.table import (
    HEADER_WITHIN,
    SAMPLE_ROWS,
    open_table,
    parse_sheet,
    read_head,
)
from synapse.imports.upload import (
    display_name,
    parse_header_row,
    parse_mapping,
    store_upload,
    upload_path,
)
from synapse.projects import check_key


def inspect_upload(
    *,
    settings: Settings,
    project_key: str,
    src: BinaryIO | None,
    filename: str | None,
    upload_id: str | None,
    sheet: str | None = None,
    header_row: int | str | None = None,
    mapping: str | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    project_key = check_key(project_key)
    given = parse_mapping(mapping)
    row = parse_header_row(header_row)
    if src is not None:
        upload_id, path, size = store_upload(settings, src)
    elif upload_id:
        path = upload_path(settings, upload_id)
        size = path.stat().st_size
    else:
        raise InvalidInput("send the file (field 'file') or an earlier upload_id")
    try:
        answer = _look(settings, path, project_key, sheet, row, given)
    except InvalidInput:
        if src is not None:
            path.unlink(missing_ok=True)
        raise
    return {"upload_id": upload_id, "filename": display_name(filename), "size": size} | answer


def _look(
    settings: Settings,
    path: Path,
    project_key: str,
    sheet: str | None,
    header_row: int | None,
    given: dict[str, str | None] | None,
) -> dict[str, Any]:
    table = open_table(path, sheet=parse_sheet(sheet))
    try:
        rows = table.rows()
        head = read_head(table, rows, header_row)
        more = list(itertools.islice(rows, SAMPLE_ROWS))
    finally:
        table.close()
    answer: dict[str, Any] = {
        "kind": table.kind,
        "sheets": list(table.sheets),
        "sheet": table.sheet,
        "header_row": None,
        "header": [],
        "sample": [],
        "rows": [[n, cells] for n, cells in head[:HEADER_WITHIN]],
        "mapping": {},
        "auto": {},
        "remembered": False,
        "remembered_at": None,
        "problem": None,
    }
    with session_scope(settings) as session:
        project = session.scalar(select(Project).where(Project.key == project_key))
        answer["project_exists"] = project is not None
        try:
            at = find_header_row(head, given, header_row=header_row, within=HEADER_WITHIN)
        except InvalidInput as exc:
            answer["problem"] = str(exc)
            return answer
        number, header = head[at]
        answer["header_row"] = number
        answer["header"] = header
        answer["sample"] = [cells for _n, cells in (head[at + 1 :] + more)[:SAMPLE_ROWS]]
        mapping = given
        if given is None and project is not None:
            found = mappings.for_header(session, project.id, header)
            if found is not None:
                mapping = dict(found.mapping)
                answer["remembered"] = True
                answer["remembered_at"] = found.used_at
    try:
        plan = plan_columns(header, mapping)
    except InvalidInput as exc:
        auto = plan_auto(header)
        answer["mapping"] = mapping or auto
        answer["auto"] = auto
        answer["problem"] = str(exc)
        return answer
    answer["mapping"] = plan.mapping
    answer["auto"] = plan.auto
    return answer


def plan_auto(header: list[str]) -> dict[str, str | None]:
    return {h.strip(): auto_target(h) for h in header if h.strip()}
