"""One beat at a time: a leader lock in Redis, and a fence per scheduled slot.

Any number of `synapse beat` processes may run (two started by mistake, or a standby on purpose).
Each tick, a beat renews its lock (`<prefix>:beat:leader`, `SET NX PX`, renewed only by its
holder with a compare-and-expire script) or tries to take it; a beat without the lock sends
nothing and looks again every third of the lock's lifetime. The leader checks the lock again
right before it sends, then claims the slot (`SET NX` on `<prefix>:beat:fired:<entry>:<slot>`);
a job's row also has an id derived from its slot, so even two leaders at once (a paused process
that comes back after its lock expired) send each slot once. The leader keeps each entry's last
slot in Redis (`<prefix>:beat:last_run`), so a beat that takes over neither repeats nor skips a
run; on a clean stop it releases the lock, so a standby takes over at its next look.

The leader also sends the scheduled jobs (submitted with `run_at` / `delay_seconds`) when they
are due: each tick releases the due ones and sleeps no longer than until the next
(jobs/scheduled.py).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis
import sqlalchemy.exc
from celery.beat import Scheduler

from synapse.config import Settings, get_settings
from synapse.db.models import utcnow
from synapse.jobs import scheduled
from synapse.jobs.redis_client import get_redis
from synapse.jobs.service import submit_job
from synapse.maintenance.schedule import BEAT, BeatRule, Planned, planned, slot_job_id

log = logging.getLogger("synapse.beat")

RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
FENCE_SECONDS = 24 * 3600


def keys(settings: Settings) -> dict[str, str]:
    base = f"{settings.redis_prefix}:beat"
    return {
        "leader": f"{base}:leader",
        "last_run": f"{base}:last_run",
        "since": f"{base}:since",
        "fired": f"{base}:fired",
    }


class BeatLock:
    """A lock that only its holder renews or releases."""

    def __init__(self, client: redis.Redis, key: str, *, ttl: float, identity: str) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl * 1000)
        self.identity = identity
        # Renew and release only while holding it: Lua scripts, registered (EVALSHA).
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    def hold(self) -> bool:
        """Renew the lock if this process holds it, else try to take it."""
        if self._renew(keys=[self.key], args=[self.identity, self.ttl_ms]):
            return True
        return bool(self.client.set(self.key, self.identity, nx=True, px=self.ttl_ms))

    def release(self) -> None:
        self._release(keys=[self.key], args=[self.identity])

    def holder(self) -> str | None:
        value = self.client.get(self.key)
        return value.decode() if isinstance(value, bytes) else value


class LockedScheduler(Scheduler):  # type: ignore[misc]
    """Celery Beat's scheduler, sending only while it holds the beat lock."""

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.settings = get_settings()
        self.keys = keys(self.settings)
        self.identity = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:6]}"
        self.lock = BeatLock(
            get_redis(self.settings),
            self.keys["leader"],
            ttl=self.settings.beat_lock_ttl,
            identity=self.identity,
        )
        self.plan: dict[str, Planned] = {p.name: p for p in planned(self.settings)}
        self.leading = False
        self._standing_by = False
        self._slots: dict[str, datetime] = {}
        super().__init__(app, *args, **kwargs)

    @property
    def look_every(self) -> float:
        return max(0.5, self.settings.beat_lock_ttl / 3)

    @property
    def redis(self) -> redis.Redis:
        return self.lock.client

    # -- leadership ------------------------------------------------------------------------

    def _holds_lock(self) -> bool:
        try:
            return self.lock.hold()
        except redis.RedisError as exc:
            log.warning("beat: cannot reach Redis for the beat lock (%s); sending nothing", exc)
            return False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._holds_lock():
            if self.leading:
                log.warning("beat %s lost the beat lock; standing by", self.identity)
                self.leading = False
            if not self._standing_by:
                self._standing_by = True
                log.info("beat %s: another beat holds the lock; standing by", self.identity)
            return self.look_every
        if not self.leading:
            try:
                self._take_over()
            except redis.RedisError as exc:
                log.warning("beat: cannot read the last runs from Redis (%s); waiting", exc)
                self.leading = False
                return self.look_every
        delay: float = super().tick(*args, **kwargs)
        return min(delay, self.look_every, self._release_scheduled())

    def _release_scheduled(self) -> float:
        """Send the scheduled jobs that are due; how long until the next look."""
        try:
            released = scheduled.release_due(self.settings, self.app)
            if released.sent:
                log.info(
                    "beat: %d scheduled job(s) due, queued (%d missed their time)",
                    released.sent,
                    released.missed,
                )
            return scheduled.wait_until_next(self.settings)
        except Exception as exc:  # the database or the broker is away: look again soon
            log.warning("beat: cannot release the scheduled jobs now (%s)", exc)
            return self.look_every

    def _take_over(self) -> None:
        """Continue from the last slots the previous leader sent, then lead."""
        self.leading, self._standing_by = True, False
        now = utcnow()
        sent = self.redis.hgetall(self.keys["last_run"])
        for name, entry in self.schedule.items():
            raw = sent.get(name.encode())
            entry.last_run_at = datetime.fromisoformat(json.loads(raw)["at"]) if raw else now
        self.redis.set(self.keys["since"], now.isoformat(), nx=True)
        self._heap = None  # rebuilt from the entries above at the next tick
        log.info("beat %s is the leader", self.identity)

    # -- sending -------------------------------------------------------------------------------

    def reserve(self, entry: Any) -> Any:
        """The entry's next instance remembers the slot it is sent for, not the clock."""
        now = utcnow()
        slot = (
            entry.schedule.rule.latest_at_or_before(now)
            if isinstance(entry.schedule, BeatRule)
            else now
        )
        self._slots[entry.name] = slot
        new = self.schedule[entry.name] = entry._next_instance(last_run_at=slot)
        return new

    def _claim_slot(self, name: str, slot: datetime) -> bool:
        key = f"{self.keys['fired']}:{name}:{int(slot.timestamp())}"
        return bool(self.redis.set(key, self.identity, nx=True, ex=FENCE_SECONDS))

    def apply_async(
        self, entry: Any, producer: Any = None, advance: bool = True, **kwargs: Any
    ) -> Any:
        if advance:
            entry = self.reserve(entry)
        slot = self._slots.pop(entry.name, None) or utcnow()
        if not self._holds_lock():
            self.leading = False
            log.warning(
                "beat %s lost the lock before sending %s; not sent", self.identity, entry.name
            )
            return None
        if not self._claim_slot(entry.name, slot):
            log.info("beat: %s for %s was already sent by another beat", entry.name, slot)
            return None
        plan = self.plan.get(entry.name)
        if plan is not None and plan.job:
            task_id = self._submit_job(plan, slot)
            result: Any = task_id
        else:
            result = super().apply_async(entry, producer=producer, advance=False, **kwargs)
            task_id = getattr(result, "id", None)
        if task_id is not None:
            record = {"at": slot.isoformat(), "task_id": task_id, "by": self.identity}
            self.redis.hset(self.keys["last_run"], entry.name, json.dumps(record))
        return result

    def _submit_job(self, plan: Planned, slot: datetime) -> str | None:
        """A job row (QUEUED, no project) and its task, with the slot's own id."""
        try:
            job = submit_job(
                settings=self.settings,
                celery=self.app,
                task_name=plan.task,
                params={"scheduled_for": slot.isoformat()},
                queue=plan.queue,
                submitted_by=BEAT,
                job_id=slot_job_id(plan.name, slot),
            )
        except sqlalchemy.exc.IntegrityError:
            log.info("beat: the %s job for %s already exists; not sent again", plan.name, slot)
            return None
        log.info("beat: queued %s (job %s) for %s", plan.task, job.id, slot.isoformat())
        return job.id

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.leading:
                try:
                    self.lock.release()
                except redis.RedisError:
                    pass
                self.leading = False

    @property
    def info(self) -> str:
        return f"    . lock -> {self.keys['leader']} ({self.settings.beat_lock_ttl:g}s)"


# -- what the API shows --------------------------------------------------------------------------


@dataclass
class BeatStatus:
    known: bool  # False: Redis did not answer
    leader: str | None = None
    since: datetime | None = None
    sent: dict[str, dict[str, Any]] = field(default_factory=dict)


def beat_status(settings: Settings) -> BeatStatus:
    k = keys(settings)
    try:
        client = get_redis(settings)
        leader = client.get(k["leader"])
        since = client.get(k["since"])
        sent = client.hgetall(k["last_run"])
    except redis.RedisError as exc:
        log.warning("cannot read beat's records in Redis: %s", exc)
        return BeatStatus(known=False)
    return BeatStatus(
        known=True,
        leader=_text(leader) if leader else None,
        since=datetime.fromisoformat(_text(since)) if since else None,
        sent={_text(name): json.loads(raw) for name, raw in sent.items()},
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
