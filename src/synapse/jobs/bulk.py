"""Bulk retry and cancel: over a selection of job ids or everything a filter matches.

What the caller may not touch is skipped and counted with its reason, never a refusal of the
whole batch: a member acts on the jobs they submitted (admins on all); a job of a project they
cannot see is "not found". A dry run answers the counts and changes nothing. One call acts on at
most `LIMIT` jobs; the action is one audit row with the count.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from synapse import audit
from synapse.auth import Principal
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Job, JobLog, utcnow
from synapse.errors import InvalidInput, TransientError
from synapse.jobs import attempts, events, states, store
from synapse.jobs.redis_client import cancel_key, get_redis
from synapse.jobs.service import CANCEL_FLAG_TTL, send_queued

LIMIT = 10_000
SAMPLE = 100  # skipped jobs listed by id (all are counted)
CHUNK = 500  # ids per IN (...)

NOT_FOUND = "not found"
NOT_YOURS = "submitted by someone else (admins only)"
NOT_RETRYABLE = "not failed or cancelled"
FINISHED = "already finished"
NOT_QUEUED = "could not be queued"

ACTIONS = {
    "retry": frozenset({states.FAILURE, states.CANCELLED}),
    "cancel": states.ACTIVE,
}


@dataclass
class Outcome:
    action: str
    dry_run: bool
    matched: int = 0
    eligible: int = 0
    done: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    skipped_items: list[tuple[str, str]] = field(default_factory=list)
    new_job_ids: list[str] = field(default_factory=list)
    cancelled_ids: list[str] = field(default_factory=list)

    def skip(self, job_id: str, reason: str) -> None:
        self.reasons[reason] += 1
        if len(self.skipped_items) < SAMPLE:
            self.skipped_items.append((job_id, reason))

    @property
    def skipped(self) -> int:
        return sum(self.reasons.values())


def _chunks(ids: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _sort(principal: Principal, action: str, rows: Iterable[Any], out: Outcome) -> list[str]:
    """The ids the action applies to; the others are skipped with their reason."""
    wanted = ACTIONS[action]
    eligible = []
    for job_id, state, submitted_by in rows:
        out.matched += 1
        if not principal.is_admin and submitted_by != principal.id:
            out.skip(job_id, NOT_YOURS)
        elif state not in wanted:
            out.skip(job_id, NOT_RETRYABLE if action == "retry" else FINISHED)
        else:
            eligible.append(job_id)
    out.eligible += len(eligible)
    return eligible


def _columns() -> Any:
    return select(Job.id, Job.state, Job.submitted_by)


def select_ids(
    session: Session, principal: Principal, action: str, ids: Sequence[str], out: Outcome
) -> list[str]:
    unique = list(dict.fromkeys(ids))
    if len(unique) > LIMIT:
        raise InvalidInput(f"a bulk action takes at most {LIMIT:,} jobs, not {len(unique):,}")
    found: dict[str, Any] = {}
    for chunk in _chunks(unique):
        query = _columns().where(Job.id.in_(chunk))
        if principal.project_scope is not None:
            query = query.where(Job.project_key.in_(sorted(principal.project_scope)))
        found.update({row[0]: row for row in session.execute(query)})
    for job_id in unique:
        if job_id not in found:
            out.skip(job_id, NOT_FOUND)
            out.matched += 1
    return _sort(principal, action, (found[i] for i in unique if i in found), out)


def select_filter(
    session: Session, principal: Principal, action: str, flt: store.JobFilter, out: Outcome
) -> list[str]:
    total = store.count_jobs(session, flt)
    if total > LIMIT and not out.dry_run:
        raise InvalidInput(
            f"the filters match {total:,} jobs; a bulk action takes at most {LIMIT:,}: "
            "narrow the filters (state, type, project, time window, search)"
        )
    rows = session.execute(store.filtered(session, _columns(), flt).order_by(Job.created_at))
    return _sort(principal, action, rows, out)


def run(
    *,
    settings: Settings,
    celery: Celery,
    principal: Principal,
    action: str,
    ids: Sequence[str] | None = None,
    flt: store.JobFilter | None = None,
    dry_run: bool = False,
    client: str | None = None,
    described: dict[str, Any] | None = None,
) -> Outcome:
    """Retry or cancel the selection (`ids`) or what `flt` matches (already scoped to what the
    principal sees). `described` is how the audit row names the selection."""
    if action not in ACTIONS:
        raise InvalidInput(f"action must be retry or cancel, not {action!r}")
    out = Outcome(action=action, dry_run=dry_run)
    with session_scope(settings) as session:
        if ids is not None:
            eligible = select_ids(session, principal, action, ids, out)
        else:
            assert flt is not None
            eligible = select_filter(session, principal, action, flt, out)
    if dry_run or not eligible:
        return out
    entry = {
        "actor": principal.id,
        "action": f"jobs.bulk_{action}",
        "target": f"{len(eligible)} jobs",
        "client": client,
        "detail": {"matched": out.matched, "selection": described or {}},
    }
    if action == "retry":
        _retry(settings, celery, principal, eligible, out, entry)
    else:
        _cancel(settings, principal, eligible, out, entry)
    return out


def _load(session: Session, ids: Sequence[str]) -> list[Job]:
    jobs: list[Job] = []
    for chunk in _chunks(ids):
        jobs.extend(session.scalars(select(Job).where(Job.id.in_(chunk))))
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(jobs, key=lambda j: order[j.id])


def _retry(
    settings: Settings,
    celery: Celery,
    principal: Principal,
    eligible: Sequence[str],
    out: Outcome,
    entry: dict[str, Any],
) -> None:
    """New rows for all in one transaction (with the audit row), then one message each."""
    made: list[Job] = []
    with session_scope(settings) as session:
        for old in _load(session, eligible):
            if old.state not in ACTIONS["retry"]:  # changed since it was selected
                out.skip(old.id, NOT_RETRYABLE)
                continue
            made.append(
                store.add_job(
                    session,
                    job_id=str(uuid.uuid4()),
                    task_name=old.type,
                    params=dict(old.params or {}),
                    queue=old.queue,
                    project_key=old.project_key,
                    submitted_by=principal.id,
                    retry_of=old.id,
                )
            )
        entry["detail"]["count"] = len(made)
        audit.record(session, **entry)
    for i, job in enumerate(made):
        try:
            send_queued(settings, celery, job)
        except TransientError as exc:  # the broker went away: the rest cannot be sent either
            for rest in made[i + 1 :]:
                attempts.finish(
                    settings,
                    job_id=rest.id,
                    state=states.FAILURE,
                    message="Could not be queued",
                    error=f"could not queue the job: {exc}",
                )
            for unsent in made[i:]:
                out.skip(unsent.retry_of or unsent.id, NOT_QUEUED)
            break
        out.new_job_ids.append(job.id)
        out.done += 1


def _cancel(
    settings: Settings,
    principal: Principal,
    eligible: Sequence[str],
    out: Outcome,
    entry: dict[str, Any],
) -> None:
    """Queued (or waiting to retry) ones are cancelled at once; running ones get the cancel flag
    and stop at their next checkpoint. One transaction with the audit row."""
    who = f" by {principal.id}"
    logs: list[dict[str, Any]] = []
    with session_scope(settings) as session:
        for job_id in eligible:
            if store.cancel_queued(session, job_id):
                message = f"Cancelled{who}"
            else:
                job = session.get(Job, job_id)
                if job is None or job.state in states.FINISHED:
                    out.skip(job_id, FINISHED)
                    continue
                message = f"Cancel requested{who}"
            logs.append({"job_id": job_id, "at": utcnow(), "level": "WARNING", "message": message})
            out.cancelled_ids.append(job_id)
        if logs:
            session.execute(insert(JobLog), logs)
        entry["detail"]["count"] = len(out.cancelled_ids)
        audit.record(session, **entry)
    out.done = len(out.cancelled_ids)
    redis = get_redis(settings)
    pipe = redis.pipeline(transaction=False)
    for job_id in out.cancelled_ids:
        pipe.set(cancel_key(settings, job_id), "1", ex=CANCEL_FLAG_TTL)
    pipe.execute()
    with session_scope(settings) as session:
        for job in _load(session, out.cancelled_ids):
            said = "Cancelled" if job.state == states.CANCELLED else "Cancel requested"
            event = events.for_job(
                job, action_type=events.STATE, message=said, extra={"queue": job.queue}
            )
            events.publish(settings, event)
