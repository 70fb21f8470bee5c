"""The start page (the admin Job Queue screen grows here)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)


@cache
def _page(name: str) -> str:
    return resources.files("synapse.web").joinpath(name).read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse)
def index() -> str:
    return _page("index.html")
