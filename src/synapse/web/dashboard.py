"""The operators' Dashboard (throughput, failures, durations, queue latency) and Audit pages."""

from __future__ import annotations

from fastapi import APIRouter

router: APIRouter = APIRouter(include_in_schema=False)
