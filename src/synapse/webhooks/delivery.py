"""One try of one delivery: claim it, check the address again, POST the signed body to the
checked address, record the attempt, and schedule the next try (or give up after 24 h).

The delivery row is the truth. A try first claims the row (a compare-and-set on its attempt
count, and only when it is due), so a duplicate or early message does nothing; the claim also
moves `next_attempt_at` past the POST's timeout, so a worker that dies mid-POST leaves a row
that the sweep finds overdue and sends again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import unquote

import httpx
from sqlalchemy import update

from synapse import __version__
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Webhook, WebhookAttempt, WebhookDelivery, utcnow
from synapse.errors import InvalidInput
from synapse.jobs.retry import backoff
from synapse.webhooks import guard, signing
from synapse.webhooks.service import DELIVERED, FAILED, PENDING, send

log = logging.getLogger("synapse.webhooks")

EARLY_TOLERANCE = timedelta(seconds=2)  # clocks of workers differ a little
MAX_ERROR = 500


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Claimed:
    delivery_id: str
    attempt: int
    url: str
    secret: str
    webhook_id: int
    event: str
    body: bytes
    created_at: datetime


def claim(
    settings: Settings, delivery_id: str, attempt: int | None = None
) -> Claimed | float | None:
    """This try's right to POST; or the seconds until it is due, when the message is for the
    next attempt but early; or None (gone, finished, taken by another, or a stale message)."""
    now = utcnow()
    with session_scope(settings) as session:
        row = session.get(WebhookDelivery, delivery_id)
        if row is None or row.state != PENDING:
            return None
        if attempt is not None and attempt != row.attempts + 1:
            return None  # a message for an attempt already made
        if row.next_attempt_at is not None and row.next_attempt_at > now + EARLY_TOLERANCE:
            if attempt is None:
                return None  # a duplicate without an attempt number never waits
            return (row.next_attempt_at - now).total_seconds()
        hook = session.get(Webhook, row.webhook_id)
        if hook is None:
            return None
        lease = now + timedelta(seconds=settings.webhook_timeout + 60)
        taken = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.state == PENDING,
                WebhookDelivery.attempts == row.attempts,
            )
            .values(attempts=row.attempts + 1, next_attempt_at=lease)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return Claimed(
            delivery_id=delivery_id,
            attempt=row.attempts + 1,
            url=hook.url,
            secret=hook.secret,
            webhook_id=hook.id,
            event=row.event,
            body=row.body.encode(),
            created_at=row.created_at,
        )


def post(settings: Settings, claimed: Claimed) -> Outcome:
    """The POST itself, to the address the guard just checked; redirects are not followed."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = guard.check(claimed.url, allow_private=settings.webhook_allow_private)
    except InvalidInput as exc:
        return Outcome(None, f"refused: {exc}"[:MAX_ERROR], took())
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": f"synapse-webhooks/{__version__}",
        "X-Synapse-Event": claimed.event,
        "X-Synapse-Delivery": claimed.delivery_id,
        "X-Synapse-Attempt": str(claimed.attempt),
        "X-Synapse-Timestamp": str(int(time.time())),
        "X-Synapse-Signature": signing.signature(claimed.secret, claimed.body),
    }
    auth: httpx.Auth | None = None
    if target.username is not None:
        auth = httpx.BasicAuth(unquote(target.username), unquote(target.password or ""))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    try:
        # trust_env=False: no proxy from the environment, which would connect for us, unchecked.
        with httpx.Client(
            timeout=settings.webhook_timeout, follow_redirects=False, trust_env=False
        ) as client:
            response = client.post(
                target.connect_url(),
                content=claimed.body,
                headers=headers,
                auth=auth or httpx.USE_CLIENT_DEFAULT,
                extensions=extensions,
            )
    except httpx.HTTPError as exc:
        text = str(exc) or type(exc).__name__
        return Outcome(None, f"{type(exc).__name__}: {text}"[:MAX_ERROR], took())
    return Outcome(response.status_code, None, took())


def hop(settings: Settings, seconds: float) -> float:
    """How long one countdown message may wait. Celery holds a message with an ETA unacked in
    a worker's memory, where its Redis lease is not renewed: past the visibility timeout Redis
    would hand out a copy. So a long wait is made of hops shorter than half of it."""
    return max(0.0, min(seconds, settings.visibility_timeout / 2))


def deliver(settings: Settings, delivery_id: str, attempt: int | None = None) -> str | None:
    """Try the delivery once if it is due (or hop closer to its time); its state, or None."""
    claimed = claim(settings, delivery_id, attempt)
    if claimed is None:
        return None
    if isinstance(claimed, float):
        send(delivery_id, countdown=hop(settings, claimed), attempt=attempt)
        return PENDING
    outcome = post(settings, claimed)
    return record(settings, claimed, outcome)


def record(settings: Settings, claimed: Claimed, outcome: Outcome) -> str:
    now = utcnow()
    delay: float | None = None
    if outcome.ok:
        state = DELIVERED
    else:
        delay = backoff(
            claimed.attempt, base=settings.webhook_backoff, cap=settings.webhook_backoff_max
        )
        age = (now - claimed.created_at).total_seconds()
        state = PENDING if age + delay <= settings.webhook_max_age else FAILED
        if state == FAILED:
            delay = None
    next_at = now + timedelta(seconds=delay) if delay is not None else None
    with session_scope(settings) as session:
        if session.get(WebhookDelivery, claimed.delivery_id) is None:
            return FAILED  # its hook was deleted meanwhile: nothing to record or send again
        session.add(
            WebhookAttempt(
                delivery_id=claimed.delivery_id,
                webhook_id=claimed.webhook_id,
                attempt=claimed.attempt,
                at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                latency_ms=outcome.latency_ms,
                next_attempt_at=next_at,
            )
        )
        session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == claimed.delivery_id)
            .values(
                state=state,
                next_attempt_at=next_at,
                finished_at=None if state == PENDING else now,
            )
            .execution_options(synchronize_session=False)
        )
    what = outcome.status_code if outcome.error is None else outcome.error
    log.info(
        "webhook delivery %s (%s) attempt %d: %s in %d ms%s",
        claimed.delivery_id,
        claimed.event,
        claimed.attempt,
        what,
        outcome.latency_ms,
        f"; again in {delay:.1f}s" if delay is not None else f"; {state}",
    )
    if delay is not None:
        send(claimed.delivery_id, countdown=hop(settings, delay), attempt=claimed.attempt + 1)
    return state
