"""`GET /metrics`: Prometheus text format (see `synapse.metrics` for what is in it).

An ops endpoint, but not an open one: with API tokens configured it needs a valid token, as
every `/api/v1` route does (any role: it shows counts, never a project's data). Prometheus sends
it with `authorization: {credentials_file: …}` in its scrape config.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from synapse.metrics import build_registry

router = APIRouter(tags=["health"])


def _registry(request: Request) -> CollectorRegistry:
    state = request.app.state
    registry: CollectorRegistry | None = getattr(state, "metrics", None)
    if registry is None:
        registry = state.metrics = build_registry(
            state.settings, celery=state.celery, relay=state.relay
        )
    return registry


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Jobs by type and state, durations, queue lengths, workers, WebSocket clients, events."""
    body = await run_in_threadpool(generate_latest, _registry(request))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
