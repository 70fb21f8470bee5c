"""The webhooks API's shapes: WebhookCreate in; WebhookPublic, WebhookCreated, DeliveryList out."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from synapse.webhooks.guard import MAX_URL


class WebhookCreate(BaseModel):
    url: str = Field(
        min_length=1, max_length=MAX_URL, examples=["https://hooks.example.com/synapse"]
    )
    events: list[str] = Field(
        min_length=1, max_length=20, examples=[["job.succeeded", "job.failed"]]
    )
    project_id: str | None = Field(default=None, min_length=1, max_length=100)


class WebhookPublic(BaseModel):
    id: int
    url: str  # without credentials
    events: list[str]
    project_id: str | None
    created_at: datetime
    created_by: str | None
    pending: int = 0  # deliveries still waiting for a 2xx


class WebhookCreated(WebhookPublic):
    secret: str  # shown this once, never again


class WebhookList(BaseModel):
    items: list[WebhookPublic]
    total: int
    events: list[str]


class TestQueued(BaseModel):
    delivery_id: str
    event: str
    status: str = "QUEUED"


class DeliveryAttempt(BaseModel):
    id: int
    delivery_id: str
    event: str
    job_id: str | None
    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    latency_ms: int
    next_attempt_at: datetime | None
    ok: bool
    delivery_state: str


class DeliveryList(BaseModel):
    items: list[DeliveryAttempt]
    total: int
    pending: int
    limit: int
    offset: int
