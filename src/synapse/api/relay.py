"""Relays job events from Redis pub/sub to this API process's WebSocket clients.

Every API process subscribes on its own, so any number of API and worker processes work together.
The subscription reconnects by itself when Redis goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from synapse.config import Settings

log = logging.getLogger(__name__)

CLIENT_BUFFER = 10_000
MAX_BACKOFF = 5.0


@dataclass(eq=False)
class Client:
    job_id: str | None
    projects: frozenset[str] | None = None  # a member's projects; None: every event
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(CLIENT_BUFFER))
    overflowed: bool = False

    def wants(self, job_id: str | None, project_id: str | None) -> bool:
        if self.projects is not None and project_id not in self.projects:
            return False
        return self.job_id is None or self.job_id == job_id


class EventRelay:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clients: set[Client] = set()
        self.connected = asyncio.Event()
        self.relayed = 0  # events relayed by this process (GET /metrics)
        self.dropped = 0  # events a client's full buffer did not take
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-relay")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def register(self, job_id: str | None, projects: frozenset[str] | None = None) -> Client:
        client = Client(job_id, projects)
        self.clients.add(client)
        return client

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)

    def dispatch(self, raw: str) -> None:
        try:
            context = json.loads(raw).get("context", {})
        except ValueError:
            return
        job_id, project_id = context.get("task_id"), context.get("project_id")
        for client in list(self.clients):
            if client.wants(job_id, project_id):
                try:
                    client.queue.put_nowait(raw)
                except asyncio.QueueFull:
                    client.overflowed = True
                    self.dropped += 1
        self.relayed += 1

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            client = aioredis.Redis.from_url(
                self.settings.effective_redis_url, socket_connect_timeout=5
            )
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.settings.events_channel)
                    self.connected.set()
                    backoff = 0.2
                    log.info("event relay subscribed to %s", self.settings.events_channel)
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=30
                        )
                        if message and message["type"] == "message":
                            data = message["data"]
                            self.dispatch(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("event relay lost Redis (%s); reconnecting in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
