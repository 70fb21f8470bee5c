"""WebSocket `/ws/logs`: every job event, live, in the spec's WebSocketLogger shape."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from synapse.api.relay import Client, EventRelay
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.jobs import events, store

router = APIRouter(tags=["events"])


def _snapshot(settings: Settings, job_id: str) -> str | None:
    """The job as it is now, so a client that connects late still sees where it stands."""
    with session_scope(settings) as session:
        job = store.get_job(session, job_id)
        if job is None:
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


@router.websocket("/ws/logs")
async def ws_logs(ws: WebSocket, job_id: str | None = None) -> None:
    relay: EventRelay = ws.app.state.relay
    settings: Settings = ws.app.state.settings
    await ws.accept()
    client = relay.register(job_id)  # before the snapshot, so nothing falls in between
    pump: asyncio.Task[None] | None = None
    try:
        if job_id:
            snap = await run_in_threadpool(_snapshot, settings, job_id)
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
