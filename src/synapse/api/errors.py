"""Translates the product's errors into HTTP answers with a `detail` that names the problem."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import exc as db

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


async def _constraint(_request: Request, exc: Exception) -> JSONResponse:
    """A database constraint that a check before the write could not see: a race with another
    request (the same name saved twice at once, a row deleted meanwhile). Routes that know the
    constraint say which; this is the net under the others."""
    log.warning("answering 409: a database constraint refused the change: %s", exc)
    return JSONResponse(
        {
            "detail": "the change conflicts with another one made at the same time (a database "
            "constraint refused it); nothing was changed: reload and try again"
        },
        status_code=409,
    )


async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold or compare (a number out of range, a NUL character):
    input the edge's validation did not catch; the net under it."""
    log.warning("answering 422: the database refused a value: %s", exc)
    return JSONResponse(
        {
            "detail": "a value is out of the range the database can store or compare "
            "(integers are 64-bit; text may not contain NUL characters)"
        },
        status_code=422,
    )


# The answers every /api/v1 operation may give besides its own, all `{"detail": ...}`: a
# string that names the problem (a list of field errors for request validation).
ERRORS: dict[int, str] = {
    400: "the body could not be read (malformed JSON or form)",
    401: "missing or invalid API token",
    403: "the caller may not do this",
    404: "not found, or not visible to the caller",
    409: "conflicts with the current state (or another request; an Idempotency-Key reused)",
    413: "the body is larger than the upload limit",
    415: "the file is of a type that is not accepted",
    422: "invalid input: `detail` names the problem",
    503: "the database or Redis is unavailable; nothing was changed, try again",
}
PROBLEM: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {
            "anyOf": [{"type": "string"}, {"type": "array"}, {"type": "object"}],
            "description": "what is wrong",
        }
    },
}


def _document(app: FastAPI) -> None:
    """Declare `ERRORS` on every /api/v1 operation of the OpenAPI schema, so that clients (and
    schemathesis, tests/integration/test_no_5xx.py) know the whole contract."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/api/v1/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for code, text in ERRORS.items():
                    content = {"application/json": {"schema": PROBLEM}}
                    responses[str(code)] = {"description": text, "content": content}
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    app.add_exception_handler(SynapseError, _handle)
    for cls in TRANSIENT:
        if issubclass(cls, Exception) and not issubclass(cls, SynapseError):
            app.add_exception_handler(cls, _unavailable)
    app.add_exception_handler(db.IntegrityError, _constraint)
    app.add_exception_handler(db.DataError, _out_of_range)
    app.add_exception_handler(OverflowError, _out_of_range)  # SQLite: beyond 64-bit integers
    _document(app)
