"""The registry of live workers (docs/queues-and-workers.md).

Each worker's main process writes a small record to Redis every few seconds
(`<prefix>:worker:<name>`, with a time to live) and its name in the index `<prefix>:workers`.
A worker that stops cleanly removes its record; one that vanished (SIGKILL, a lost machine)
stops renewing it and drops off the list once the record expires: within `record_ttl` seconds
(20 s with the default heartbeat). Workers on any machine share the Redis, so the list covers
them all, and reading it asks no worker anything (unlike a broadcast ping, which waits for
answers).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psutil  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.orm import Session

from synapse.auth import Principal
from synapse.config import QUEUES, Settings
from synapse.db.models import Job
from synapse.jobs.redis_client import get_redis


@dataclass(frozen=True)
class WorkerInfo:
    name: str  # the Celery node name (`worker1@host`)
    hostname: str
    pid: int
    concurrency: int
    queues: list[str]  # consumed now (a paused queue is not)
    configured_queues: list[str]  # what it was started with (`--queues`)
    active: list[str]  # ids of the jobs it runs now
    rss_bytes: int  # main process and its pool processes
    last_seen: datetime
    started_at: datetime


def publish_interval(settings: Settings) -> float:
    return max(0.5, min(5.0, settings.heartbeat_interval))


def record_ttl(settings: Settings) -> float:
    return publish_interval(settings) * 3 + 5


def index_key(settings: Settings) -> str:
    return f"{settings.redis_prefix}:workers"


def record_key(settings: Settings, name: str) -> str:
    return f"{settings.redis_prefix}:worker:{name}"


def ordered(queues: Iterable[str]) -> list[str]:
    """Queue names in the order workers take them (urgent, default, bulk), others after."""
    names = set(queues)
    return [q for q in QUEUES if q in names] + sorted(names - set(QUEUES))


def resident_bytes(pid: int | None = None) -> int:
    """Resident memory of a process and all its children (a prefork worker's pool)."""
    try:
        main = psutil.Process(pid or os.getpid())
        procs = [main, *main.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        try:
            total += int(proc.memory_info().rss)
        except psutil.Error:  # a pool process that just exited
            continue
    return total


def host_of(node_name: str) -> str:
    return node_name.partition("@")[2] or socket.gethostname()


def publish(settings: Settings, info: WorkerInfo) -> None:
    record = asdict(info)
    record["last_seen"] = info.last_seen.isoformat()
    record["started_at"] = info.started_at.isoformat()
    ttl_ms = int(record_ttl(settings) * 1000)
    pipe = get_redis(settings).pipeline(transaction=False)
    pipe.set(record_key(settings, info.name), json.dumps(record), px=ttl_ms)
    pipe.zadd(index_key(settings), {info.name: info.last_seen.timestamp()})
    pipe.execute()


def remove(settings: Settings, name: str) -> None:
    pipe = get_redis(settings).pipeline(transaction=False)
    pipe.delete(record_key(settings, name))
    pipe.zrem(index_key(settings), name)
    pipe.execute()


def _parse(raw: bytes | str) -> WorkerInfo | None:
    try:
        data: dict[str, Any] = json.loads(raw)
        data["last_seen"] = datetime.fromisoformat(data["last_seen"])
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        return WorkerInfo(**data)
    except (ValueError, TypeError, KeyError):
        return None


def list_workers(settings: Settings) -> Sequence[WorkerInfo]:
    """Every live worker, by name; expired records are dropped from the index on the way."""
    client = get_redis(settings)
    names: list[str] = [
        n.decode() if isinstance(n, bytes) else str(n)
        for n in client.zrange(index_key(settings), 0, -1)
    ]
    if not names:
        return []
    raws = client.mget([record_key(settings, n) for n in names])
    found: list[WorkerInfo] = []
    gone: list[str] = []
    for name, raw in zip(names, raws, strict=True):
        info = _parse(raw) if raw is not None else None
        if info is None:
            gone.append(name)
        else:
            found.append(info)
    if gone:
        client.zrem(index_key(settings), *gone)
    return sorted(found, key=lambda w: w.name)


def visible_jobs(session: Session, ids: Iterable[str], principal: Principal) -> set[str]:
    """Those of `ids` whose job the principal may see (a member: their projects' jobs)."""
    wanted = list(ids)
    if not wanted:
        return set()
    rows = session.execute(select(Job.id, Job.project_key).where(Job.id.in_(wanted))).all()
    return {job_id for job_id, project in rows if principal.sees(project)}


def as_dict(info: WorkerInfo, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "name": info.name,
        "hostname": info.hostname,
        "pid": info.pid,
        "concurrency": info.concurrency,
        "queues": info.queues,
        "configured_queues": info.configured_queues,
        "paused_queues": [q for q in info.configured_queues if q not in info.queues],
        "active": info.active,
        "rss_bytes": info.rss_bytes,
        "last_seen": info.last_seen,
        "seen_seconds_ago": round(max(0.0, (now - info.last_seen).total_seconds()), 1),
        "started_at": info.started_at,
    }
