"""The operators' pages for queues and workers."""

from __future__ import annotations

from fastapi import APIRouter

router: APIRouter = APIRouter(include_in_schema=False)
