"""Translates the product's errors into HTTP answers with a `detail` that names the problem."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from synapse.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SynapseError,
    TransientError,
    UnsupportedMedia,
)
from synapse.jobs.retry import TRANSIENT, is_transient

log = logging.getLogger(__name__)

STATUS: list[tuple[type[SynapseError], int]] = [
    (PayloadTooLarge, 413),
    (UnsupportedMedia, 415),
    (InvalidInput, 422),
    (NotFound, 404),
    (Forbidden, 403),
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


async def _unavailable(_request: Request, exc: Exception) -> JSONResponse:
    if not is_transient(exc):
        raise exc
    what = "Redis" if "redis" in type(exc).__module__ else "the database"
    log.warning("answering 503: %s is unavailable: %s", what, exc)
    return JSONResponse(
        {"detail": f"{what} is unavailable at the moment; nothing was changed, try again"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(SynapseError, _handle)
    for cls in TRANSIENT:
        if issubclass(cls, Exception) and not issubclass(cls, SynapseError):
            app.add_exception_handler(cls, _unavailable)
