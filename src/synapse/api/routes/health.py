"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from synapse.api.deps import CeleryDep, RelayDep, SettingsDep
from synapse.config import Settings
from synapse.db.engine import get_engine
from synapse.jobs.redis_client import get_redis

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _check_db(settings: Settings) -> dict[str, Any]:
    try:
        with get_engine(settings).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return {"ok": False, "error": str(exc).splitlines()[0]}
    return {"ok": True, "dialect": get_engine(settings).dialect.name}


def _check_redis(settings: Settings) -> dict[str, Any]:
    try:
        get_redis(settings).ping()
    except Exception as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True}


def _check_workers(celery: Any) -> dict[str, Any]:
    try:
        replies = celery.control.ping(timeout=1.0, limit=1) or []
    except Exception as exc:
        return {"ok": False, "error": str(exc), "workers": []}
    names = sorted(name for reply in replies for name in reply)
    return {"ok": bool(names), "workers": names}


@router.get("/readyz")
async def readyz(settings: SettingsDep, celery: CeleryDep, relay: RelayDep) -> JSONResponse:
    """Ready when the database, Redis and at least one worker answer."""
    checks = {
        "database": await run_in_threadpool(_check_db, settings),
        "redis": await run_in_threadpool(_check_redis, settings),
        "workers": await run_in_threadpool(_check_workers, celery),
        "event_relay": {"ok": relay.connected.is_set(), "clients": len(relay.clients)},
    }
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status_code=200 if ok else 503
    )
