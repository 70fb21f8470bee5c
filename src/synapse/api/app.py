"""`create_app(settings)`: the FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from synapse import __version__
from synapse.api import errors
from synapse.api.limits import BodyLimitMiddleware
from synapse.api.relay import EventRelay
from synapse.api.routes import (
    audit,
    backups,
    files,
    findings,
    health,
    imports,
    ingestion,
    jobs,
    metrics,
    packages,
    projects,
    queues,
    reports,
    rules,
    schedules,
    stats,
    webhooks,
    workers,
    ws,
)
from synapse.api.security import require_principal
from synapse.auth import check_exposure
from synapse.celery_app import create_celery
from synapse.config import Settings, get_settings
from synapse.web import views


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    tokens = settings.tokens
    check_exposure(settings.host, tokens)  # no tokens beyond loopback: refuse to start

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.relay.start()
        yield
        await app.state.relay.stop()

    app = FastAPI(
        title="SYNAPSE background processing",
        version=__version__,
        summary="CSV imports, packages, rules, backups and reports as jobs with live progress",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.tokens = tokens
    app.state.celery = create_celery(settings)
    app.state.relay = EventRelay(settings)
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_upload_bytes, max_mb=settings.max_upload_mb
    )
    errors.install(app)
    # Every /api/v1 router needs a valid token (when tokens are configured); the routes then
    # limit members to their projects. Health, the WebSocket and the pages check for themselves.
    # /metrics too needs a token when tokens are configured (any role; see routes/metrics.py).
    api_routers = (
        *(ingestion, imports, jobs, projects, packages, rules, files, metrics),
        findings,  # the Rules and Findings pages' condition check and .xlsx export
        *(schedules, backups, reports),  # maintenance: the schedule, backups, weekly reports
        *(queues, workers, stats, audit),  # the operator's console
        webhooks,  # signed POSTs when jobs end (docs/webhooks.md)
    )
    for module in api_routers:
        app.include_router(module.router, dependencies=[Depends(require_principal)])
    for module in (health, ws, views):
        app.include_router(module.router)
    app.add_exception_handler(views.LoginRequired, views.login_redirect)
    app.mount("/static", StaticFiles(directory=views.HERE / "static"), name="static")
    return app
