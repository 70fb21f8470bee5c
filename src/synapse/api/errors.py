"""Translates the product's errors into HTTP answers with a `detail` that names the problem."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from synapse.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SynapseError,
    TransientError,
    UnsupportedMedia,
)

STATUS: list[tuple[type[SynapseError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMedia, 415),
    (InvalidInput, 422),
    (NotFound, 404),
    (Conflict, 409),
    (TransientError, 503),
]


def status_for(exc: SynapseError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 500


async def _handle(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SynapseError)
    return JSONResponse({"detail": str(exc)}, status_code=status_for(exc))


def install(app: FastAPI) -> None:
    app.add_exception_handler(SynapseError, _handle)
