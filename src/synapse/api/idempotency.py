"""The `Idempotency-Key` header of the submitting POSTs (DESIGN.md §9, docs/idempotency.md).

A router built with `route_class=IdempotentRoute` wraps each of its POST routes that declare
`dependencies=[IDEMPOTENT]`: with a key, the request's fingerprint (caller, method, path with
query, and a hash of the body, or of the form's fields and files' bytes) claims the key in the
database before the route runs (`synapse.idempotency`). The same key with the same request
answers the stored answer, byte for byte, with `Idempotent-Replayed: true`; a request that finds
the first one still running waits for its answer up to `WAIT_SECONDS`, then answers 409 "in
progress"; the same key with another request answers 409 naming the key. Only 2xx answers are
kept: a request that failed gives its key back. Without the header nothing changes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Coroutine
from typing import IO, Annotated, Any

from fastapi import Depends, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from synapse import idempotency
from synapse.access import principal_of
from synapse.config import Settings

HEADER = "Idempotency-Key"
# How long a request waits for the answer of the first request that holds its key.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=idempotency.MAX_KEY_LENGTH,
            pattern=r"^[ -~]+$",
            description=(
                "one per user action (e.g. a UUID): the same key with the same request within "
                "24 h answers the first answer again, without a new job; with another request, "
                "409. Scoped to the caller; at most 200 printable characters."
            ),
        ),
    ] = None,
) -> str | None:
    """Documents the header in the OpenAPI schema; `IdempotentRoute` does the work."""
    return key


IDEMPOTENT = Depends(idempotency_key)


class IdempotentRoute(APIRoute):
    """A route that honours `Idempotency-Key` when it declares `IDEMPOTENT`."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        marked = any(dep.dependency is idempotency_key for dep in self.dependencies)
        if not marked or "POST" not in (self.methods or ()):
            return handler

        async def run(request: Request) -> Response:
            return await _idempotent(request, handler)

        return run


def _problem(status: int, detail: str, **headers: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers or None)


async def _idempotent(request: Request, handler: Handler) -> Response:
    key = request.headers.get(HEADER)
    principal = principal_of(request)
    if key is None or principal is None:  # no key; or no valid token: the route answers 401
        return await handler(request)
    problem = idempotency.key_problem(key)
    if problem is not None:
        return _problem(422, problem)
    settings: Settings = request.app.state.settings
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fingerprint = await _fingerprint(request, path)
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        got = await run_in_threadpool(
            idempotency.claim,
            settings,
            principal=principal.id,
            key=key,
            fingerprint=fingerprint,
            method=request.method,
            path=path,
        )
        if isinstance(got, idempotency.Owned):
            return await _run_owned(request, handler, settings, got)
        if isinstance(got, idempotency.Answer):
            return Response(
                got.body,
                status_code=got.status_code,
                media_type=got.media_type,
                headers={"Idempotent-Replayed": "true"},
            )
        if isinstance(got, idempotency.Mismatch):
            return _problem(
                409,
                f"Idempotency-Key {key!r} was already used with a different request "
                f"({got.method} {got.path} or another body) in the last 24 hours; "
                "use a new key for a new request",
            )
        if time.monotonic() >= deadline:
            return _problem(
                409,
                f"a request with Idempotency-Key {key!r} is still in progress; "
                "send it again in a few seconds to get its answer",
                **{"Retry-After": "2"},
            )
        await asyncio.sleep(POLL_SECONDS)


async def _run_owned(
    request: Request, handler: Handler, settings: Settings, owned: idempotency.Owned
) -> Response:
    try:
        with idempotency.holding(owned):
            response = await handler(request)
    except BaseException:
        await run_in_threadpool(idempotency.release, settings, owned)
        raise
    body = getattr(response, "body", None)
    if 200 <= response.status_code < 300 and isinstance(body, bytes):
        text = body.decode("utf-8", errors="replace")
        await run_in_threadpool(
            idempotency.finish,
            settings,
            owned,
            status_code=response.status_code,
            body=text,
            media_type=response.media_type,
            job_id=_job_id(text),
        )
    else:
        await run_in_threadpool(idempotency.release, settings, owned)
    return response


def _job_id(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    job_id = data.get("job_id") or data.get("id") if isinstance(data, dict) else None
    return job_id[:64] if isinstance(job_id, str) else None


def _file_digest(src: IO[bytes]) -> str:
    digest = hashlib.sha256()
    src.seek(0)
    while chunk := src.read(1024 * 1024):
        digest.update(chunk)
    src.seek(0)
    return digest.hexdigest()


async def _fingerprint(request: Request, path: str) -> str:
    """A hash of the method, the path and the body: for a form its fields and its files' bytes
    (a multipart boundary differs between two sends of the same form)."""
    digest = hashlib.sha256(f"{request.method} {path}\n".encode())
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith(FORM_TYPES):
        form = await request.form()  # cached: the route reads the same parsed form
        parts: list[list[str]] = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                sha = await run_in_threadpool(_file_digest, value.file)
                parts.append([name, "file", value.filename or "", sha])
            else:
                parts.append([name, "field", value])
        digest.update(json.dumps(sorted(parts)).encode())
    else:
        digest.update(await request.body())
    return digest.hexdigest()
