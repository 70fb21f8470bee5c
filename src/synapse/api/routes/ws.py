"""WebSocket `/ws/logs`: every job event, live, in the spec's WebSocketLogger shape."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from synapse.api.relay import Client, EventRelay
from synapse.api.security import presented_token, principal_of
from synapse.auth import Principal
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.jobs import events, store

router = APIRouter(tags=["events"])

AUTH_TIMEOUT = 5.0
UNAUTHORIZED = 4401  # 4000-4999: application codes; mirrors HTTP 401


def _snapshot(settings: Settings, job_id: str, principal: Principal) -> str | None:
    """The job as it is now, so a client that connects late still sees where it stands."""
    with session_scope(settings) as session:
        job = store.get_job(session, job_id)
        if job is None or not principal.sees(job.project_key):
            return None
        event = events.for_job(
            job, action_type="SNAPSHOT", message=f"{job.message} ({job.percent}%)"
        )
    return json.dumps(event, default=str)


async def _pump(ws: WebSocket, client: Client) -> None:
    while True:
        raw = await client.queue.get()
        await ws.send_text(raw)
        if client.overflowed:
            await ws.close(code=1013, reason="client too slow; reconnect and catch up")
            return


async def _first_message_token(ws: WebSocket) -> str | None:
    """A browser cannot set headers on a WebSocket: it may send `{"token": "…"}` first."""
    try:
        raw = await asyncio.wait_for(ws.receive_text(), AUTH_TIMEOUT)
    except (TimeoutError, WebSocketDisconnect):
        return None
    try:
        message = json.loads(raw)
    except ValueError:
        return raw.strip() or None
    token = message.get("token") if isinstance(message, dict) else None
    return str(token) if token else None


async def _authenticate(ws: WebSocket) -> Principal | None:
    principal = principal_of(ws)
    if principal is not None:
        await ws.accept()
        return principal
    if presented_token(ws.headers, ws.cookies, ws.query_params):
        await ws.close(code=1008, reason="invalid API token")  # refused at the handshake
        return None
    await ws.accept()
    principal = principal_of(ws, await _first_message_token(ws))
    if principal is None:
        await ws.close(code=UNAUTHORIZED, reason="missing or invalid API token")
    return principal


@router.websocket("/ws/logs")
async def ws_logs(ws: WebSocket, job_id: str | None = None) -> None:
    relay: EventRelay = ws.app.state.relay
    settings: Settings = ws.app.state.settings
    principal = await _authenticate(ws)
    if principal is None:
        return
    # Register before the snapshot, so that nothing falls in between.
    client = relay.register(job_id, principal.project_scope)
    pump: asyncio.Task[None] | None = None
    try:
        if job_id:
            snap = await run_in_threadpool(_snapshot, settings, job_id, principal)
            if snap is not None:
                await ws.send_text(snap)
        pump = asyncio.create_task(_pump(ws, client))
        while True:
            message = await ws.receive_text()
            if message.strip().lower() == "ping":
                await ws.send_text(json.dumps({"action_type": "PONG"}))
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        relay.unregister(client)
        if pump:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump
