"""/api/v1/webhooks: signed POSTs to other systems when jobs end (admins; docs/webhooks.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from synapse import audit
from synapse.api.deps import LimitQ, OffsetQ, SessionDep, SettingsDep
from synapse.api.security import AdminDep
from synapse.db.engine import session_scope
from synapse.webhooks import guard, service, triggers
from synapse.webhooks.schemas import (
    DeliveryAttempt,
    DeliveryList,
    TestQueued,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookPublic,
)

router = APIRouter(prefix="/api/v1", tags=["webhooks"])

IdP = Annotated[int, Path(ge=1, le=2**31 - 1, description="a webhook's id")]


def _client(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.get("/webhooks", response_model=WebhookList)
def list_webhooks(session: SessionDep, _admin: AdminDep) -> WebhookList:
    """Every hook (never its secret; the URL without credentials) and the events there are."""
    items = [
        WebhookPublic(**service.as_dict(h), pending=service.pending_of(session, h.id))
        for h in service.list_hooks(session)
    ]
    return WebhookList(items=items, total=len(items), events=list(service.EVENTS))


@router.post("/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(
    body: WebhookCreate, settings: SettingsDep, admin: AdminDep, request: Request
) -> WebhookCreated:
    """A new hook. Its URL must resolve to public addresses only (422 otherwise, unless
    SYNAPSE_WEBHOOK_ALLOW_PRIVATE=true). The answer holds the signing `secret`, this once."""
    with session_scope(settings) as session:
        hook = service.create_hook(
            session,
            settings,
            url=body.url,
            events=body.events,
            project_key=body.project_id,
            by=admin.id,
        )
        public = service.as_dict(hook)
        audit.record(
            session,
            actor=admin.id,
            action="webhook.create",
            target=str(hook.id),
            detail={k: public[k] for k in ("url", "events", "project_id")},
            client=_client(request),
        )
        secret = hook.secret
    triggers.hooks_changed(settings)
    return WebhookCreated(**public, secret=secret)


@router.delete("/webhooks/{hook_id}", status_code=204, response_class=Response)
def delete_webhook(
    hook_id: IdP, settings: SettingsDep, admin: AdminDep, request: Request
) -> Response:
    """The hook goes, with its delivery log; deliveries not yet made are dropped."""
    with session_scope(settings) as session:
        hook = service.delete_hook(session, hook_id)
        audit.record(
            session,
            actor=admin.id,
            action="webhook.delete",
            target=str(hook_id),
            detail={"url": guard.redacted(hook.url)},
            client=_client(request),
        )
    triggers.hooks_changed(settings)
    return Response(status_code=204)


@router.post("/webhooks/{hook_id}/test", status_code=202, response_model=TestQueued)
def test_webhook(
    hook_id: IdP, settings: SettingsDep, admin: AdminDep, request: Request
) -> TestQueued:
    """Queue a `ping` delivery to the hook; its attempts appear in the delivery log."""
    delivery_id = triggers.test_delivery(settings, hook_id=hook_id, by=admin.id)
    with session_scope(settings) as session:
        audit.record(
            session,
            actor=admin.id,
            action="webhook.test",
            target=str(hook_id),
            detail={"delivery_id": delivery_id},
            client=_client(request),
        )
    return TestQueued(delivery_id=delivery_id, event=service.PING)


@router.get("/webhooks/{hook_id}/deliveries", response_model=DeliveryList)
def list_deliveries(
    hook_id: IdP, session: SessionDep, _admin: AdminDep, limit: LimitQ = 50, offset: OffsetQ = 0
) -> DeliveryList:
    """The delivery log, newest first: every attempt with its event, job, status code (or
    error), latency, time, attempt number and next attempt time."""
    items, total = service.attempts_of(session, hook_id, limit=limit, offset=offset)
    return DeliveryList(
        items=[DeliveryAttempt(**i) for i in items],
        total=total,
        pending=service.pending_of(session, hook_id),
        limit=limit,
        offset=offset,
    )
