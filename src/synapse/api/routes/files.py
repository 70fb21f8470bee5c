"""Downloads of generated files."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from synapse.api.deps import SessionDep, SettingsDep
from synapse.api.security import PrincipalDep
from synapse.errors import NotFound
from synapse.files import absolute_path, get_file

router = APIRouter(prefix="/api/v1/files", tags=["files"])


@router.get("/{file_id}", response_class=FileResponse)
def download(
    file_id: str, session: SessionDep, settings: SettingsDep, principal: PrincipalDep
) -> FileResponse:
    """A generated file (package, report, backup), with its media type and download name."""
    stored = get_file(session, file_id)
    if not principal.sees(stored.project_key):
        raise NotFound(f"file {file_id} not found")
    return FileResponse(
        absolute_path(settings, stored), media_type=stored.media_type, filename=stored.name
    )
