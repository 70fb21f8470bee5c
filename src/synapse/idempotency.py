"""Idempotency keys: the database decides which of the requests sent with one key runs.

A request with a key first inserts its row, alone in its own transaction; the unique
(principal, key) pair lets exactly one request win. The winner runs and stores its answer when
it is a success, or deletes the row when it is not (a failed request does not burn the key).
Everyone else reads the row: a different fingerprint is a conflict, a stored answer is replayed,
and a row without an answer yet means "still in progress" (the edge waits a bounded time).

Rows live 24 hours: an older row counts as absent (it is replaced on access) and the nightly
prune deletes them. A claim whose answer never came (its API process died mid-request) is
taken over after `ABANDONED`; but a request that made its job before it died has named that job
in its row, in the job's own transaction (`link_job`), so the takeover answers with that job
instead of making a second one. Nothing here knows HTTP: the edge is `synapse.api.idempotency`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exc, select, update
from sqlalchemy.orm import Session

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import IdempotencyKey, Job, utcnow

TTL = timedelta(hours=24)
# A claim without an answer for this long belongs to a request that died with its process.
ABANDONED = timedelta(minutes=5)
MAX_KEY_LENGTH = 200
LOST_ANSWER_STATUS = 202

# The key row held by the request running in this context (set by the edge around the route).
_holding: ContextVar[int | None] = ContextVar("synapse_idempotency_row", default=None)


def key_problem(key: str) -> str | None:
    """Why `key` is no valid key (None: it is): 1 to 200 printable ASCII characters."""
    if not key:
        return "the Idempotency-Key header is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the Idempotency-Key header is {len(key)} characters long; at most 200 are allowed"
    if not all(" " <= ch <= "~" for ch in key):
        return "the Idempotency-Key header may hold only printable ASCII characters"
    return None


@dataclass(frozen=True)
class Owned:
    """This request won the key: run it, then `finish` or `release`."""

    row_id: int


@dataclass(frozen=True)
class Answer:
    """The stored answer of the request that ran with this key."""

    status_code: int
    body: str
    media_type: str | None


@dataclass(frozen=True)
class Mismatch:
    """The key was used with another request (other method, path or body)."""

    method: str
    path: str


@dataclass(frozen=True)
class Pending:
    """The request that holds the key has not answered yet."""


Claim = Owned | Answer | Mismatch | Pending


def claim(
    settings: Settings,
    *,
    principal: str,
    key: str,
    fingerprint: str,
    method: str,
    path: str,
    now: datetime | None = None,
) -> Claim:
    """One attempt to take `key` for this request, or what stands in its way."""
    for _ in range(3):  # a row that expires or is released between the insert and the read
        now_ = now or utcnow()
        try:
            with session_scope(settings) as session:
                row = IdempotencyKey(
                    principal=principal,
                    key=key,
                    fingerprint=fingerprint,
                    method=method,
                    path=path[:500],
                    created_at=now_,
                )
                session.add(row)
                session.flush()
                return Owned(row.id)
        except exc.IntegrityError:
            pass
        with session_scope(settings) as session:
            held = session.scalars(
                select(IdempotencyKey).where(
                    IdempotencyKey.principal == principal, IdempotencyKey.key == key
                )
            ).one_or_none()
            if held is None:
                continue  # released meanwhile: try to insert again
            if _expired(held, now_):
                if held.job_id is not None and _abandoned(held, now_):
                    lost = _answer_with_its_job(session, held, now_)
                    if lost is not None:
                        return (
                            lost
                            if held.fingerprint == fingerprint
                            else Mismatch(held.method, held.path)
                        )
                _drop(session, held.id)
                continue
            if held.fingerprint != fingerprint:
                return Mismatch(held.method, held.path)
            if held.status_code is not None:
                return Answer(held.status_code, held.body or "", held.media_type)
            return Pending()
    return Pending()


def _expired(row: IdempotencyKey, now: datetime) -> bool:
    if row.created_at < now - TTL:
        return True
    return row.status_code is None and row.created_at < now - ABANDONED


def _abandoned(row: IdempotencyKey, now: datetime) -> bool:
    """Taken over because its answer never came, not because it is older than 24 hours."""
    return row.status_code is None and now - TTL <= row.created_at < now - ABANDONED


def _answer_with_its_job(session: Session, row: IdempotencyKey, now: datetime) -> Answer | None:
    """The answer of a request that made its job and died before answering: that job, in the
    submitting POSTs' shape (`job_id`, `status`, `message`, `run_at`), stored as the key's
    answer so that every later request replays the same bytes. None if the job is gone."""
    job = session.get(Job, row.job_id)
    if job is None:
        return None
    body = json.dumps(
        {
            "job_id": job.id,
            "status": job.state,
            "message": (
                f"{job.type} on {job.queue}: the answer to the first request with this key was "
                f"lost (the API stopped before sending it); this is the job that request made. "
                f"Follow it on /ws/logs?job_id={job.id}"
            ),
            "run_at": job.run_at.isoformat() if job.run_at is not None else None,
        }
    )
    stored = session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row.id, IdempotencyKey.status_code.is_(None))
        .values(
            status_code=LOST_ANSWER_STATUS,
            body=body,
            media_type="application/json",
            completed_at=now,
        )
    )
    if not getattr(stored, "rowcount", 0):  # a concurrent retry stored it first: the same one
        session.refresh(row)
        if row.status_code is None:
            return None
        return Answer(row.status_code, row.body or "", row.media_type)
    return Answer(LOST_ANSWER_STATUS, body, "application/json")


@contextmanager
def holding(owned: Owned) -> Iterator[None]:
    """While the request that won a key runs: the jobs it makes name that key (`link_job`)."""
    token = _holding.set(owned.row_id)
    try:
        yield
    finally:
        _holding.reset(token)


def link_job(session: Session, job_id: str) -> None:
    """In the transaction that writes a job: name it in the key row of the request that makes
    it (its first job, if it makes several). If that request dies before its answer is stored,
    a retry after `ABANDONED` answers with this job instead of making a second one."""
    row_id = _holding.get()
    if row_id is None:
        return
    session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row_id, IdempotencyKey.job_id.is_(None))
        .values(job_id=job_id)
    )


def _drop(session: Session, row_id: int) -> None:
    session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))


def finish(
    settings: Settings,
    owned: Owned,
    *,
    status_code: int,
    body: str,
    media_type: str | None,
    job_id: str | None,
) -> None:
    """Store the answer of the request that holds the key: every later request replays it."""
    with session_scope(settings) as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == owned.row_id)
            .values(
                status_code=status_code,
                body=body,
                media_type=media_type,
                job_id=job_id,
                completed_at=utcnow(),
            )
        )


def release(settings: Settings, owned: Owned) -> None:
    """The request failed: give the key back, so that a retry runs again."""
    with session_scope(settings) as session:
        _drop(session, owned.row_id)


def prune(session: Session, *, now: datetime | None = None) -> int:
    """Delete the keys older than 24 hours; answers how many went."""
    cutoff = (now or utcnow()) - TTL
    result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
