"""Following one job live: its `/ws/logs?job_id=` stream, with the HTTP API as the fallback.

The stream starts with a SNAPSHOT of the job (so a job that already ended is seen to have
ended), then every progress update, state change and log line. When the socket cannot be
opened or drops, or stays quiet for a while, the job is read over HTTP and the socket reopened;
the next SNAPSHOT catches up on whatever passed meanwhile.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from synapse.client.api import ApiClient

FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELLED"})
_PREFIX = re.compile(r"^\[[^\]]+\] ")
_PERCENT = re.compile(r" \(\d+%\)$")


@dataclass(frozen=True)
class Update:
    """One thing that happened to the job (or its state read over HTTP: `action_type` POLL)."""

    action_type: str
    state: str
    percent: int
    current: int
    total: int
    message: str
    level: str = "INFO"

    @property
    def finished(self) -> bool:
        return self.state in FINISHED and self.action_type != "LOG"


def from_event(event: dict[str, Any]) -> Update | None:
    context = event.get("context") or {}
    if "state" not in context:
        return None  # PONG and anything else that is not about the job
    message = _PERCENT.sub("", _PREFIX.sub("", str(event.get("message", ""))))
    return Update(
        action_type=str(event.get("action_type", "")),
        state=str(context["state"]),
        percent=int(context.get("percent") or 0),
        current=int(context.get("current") or 0),
        total=int(context.get("total") or 0),
        message=message,
        level=str(event.get("level", "INFO")),
    )


def from_job(job: dict[str, Any]) -> Update:
    return Update(
        action_type="POLL",
        state=str(job["state"]),
        percent=int(job.get("percent") or 0),
        current=int(job.get("current") or 0),
        total=int(job.get("total") or 0),
        message=str(job.get("message") or ""),
    )


def watch(
    client: ApiClient, job_id: str, *, idle: float = 15.0, max_backoff: float = 5.0
) -> Iterator[Update]:
    """Every update of one job, in order, until (and including) the one that ends it."""
    headers = {"Authorization": f"Bearer {client.token}"} if client.token else {}
    backoff = 0.5
    while True:
        try:
            with connect(client.ws_url(job_id), additional_headers=headers, open_timeout=10) as ws:
                backoff = 0.5
                while True:
                    try:
                        update = from_event(json.loads(ws.recv(timeout=idle)))
                    except TimeoutError:  # quiet for a while: make sure nothing was missed
                        update = from_job(client.job(job_id))
                    if update is None:
                        continue
                    yield update
                    if update.finished:
                        return
        except (OSError, WebSocketException):
            update = from_job(client.job(job_id))  # raises ApiError when the API says no
            yield update
            if update.finished:
                return
            time.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)
