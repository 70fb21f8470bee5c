"""/api/v1/workers (the operator's console, docs/operations.md)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["operators"])
