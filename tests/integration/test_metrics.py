"""`GET /metrics`: Prometheus text that prometheus-client parses, and that moves when jobs run."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from prometheus_client.parser import text_string_to_metric_families

from synapse.api.app import create_app
from tests.support.csvdata import assets_csv
from tests.support.system import EventCollector, System
from tests.support.waiting import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

FAMILIES = {
    "synapse_jobs": "gauge",
    "synapse_job_duration_seconds": "histogram",
    "synapse_queue_length": "gauge",
    "synapse_messages_unacked": "gauge",
    "synapse_workers": "gauge",
    "synapse_worker_up": "gauge",
    "synapse_websocket_clients": "gauge",
    "synapse_events_relayed": "counter",
    "synapse_events_dropped": "counter",
    "synapse_event_relay_connected": "gauge",
    "synapse_dependency_up": "gauge",
}


def scrape(system: System) -> tuple[dict[str, str], Samples]:
    with system.client() as client:
        response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    types: dict[str, str] = {}
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_move_when_a_job_runs(system: System, events: EventCollector) -> None:
    types, before = scrape(system)
    for name, kind in FAMILIES.items():
        assert types.get(name) == kind, f"{name}: {types.get(name)}"
    assert value(before, "synapse_dependency_up", dep="database") == 1
    assert value(before, "synapse_dependency_up", dep="redis") == 1
    assert value(before, "synapse_workers") >= 1
    assert any(name == "synapse_worker_up" for name, _ in before)
    assert value(before, "synapse_websocket_clients") >= 1  # the `events` fixture's socket
    assert value(before, "synapse_event_relay_connected") == 1
    for queue in ("urgent", "default", "bulk"):
        assert ("synapse_queue_length", (("queue", queue),)) in before

    job = system.import_csv(assets_csv(500), project=f"metrics-{uuid.uuid4().hex[:6]}")
    assert job["state"] == "SUCCESS"
    events.wait_final(job["id"])

    _, after = scrape(system)
    kind = "import_csv_assets"
    assert value(after, "synapse_jobs", type=kind, state="SUCCESS") == (
        value(before, "synapse_jobs", type=kind, state="SUCCESS") + 1
    )
    count = "synapse_job_duration_seconds_count"
    assert value(after, count, type=kind) == value(before, count, type=kind) + 1
    assert value(after, "synapse_job_duration_seconds_sum", type=kind) > value(
        before, "synapse_job_duration_seconds_sum", type=kind
    )
    inf = value(after, "synapse_job_duration_seconds_bucket", type=kind, le="+Inf")
    assert inf == value(after, count, type=kind)
    assert value(after, "synapse_job_duration_seconds_bucket", type=kind, le="3600.0") <= inf
    # queued, started, progress…, succeeded: every one went through this API process's relay
    assert value(after, "synapse_events_relayed_total") >= (
        value(before, "synapse_events_relayed_total") + 3
    )


def test_queue_lengths_and_unacked_messages_are_read_from_redis(system: System) -> None:
    # Both worker slots busy with urgent sleepers: the bulk jobs wait in Redis.
    busy = [system.submit("test.sleeper", queue="urgent", seconds=2.0) for _ in range(2)]
    waiting = [system.submit("test.sleeper", queue="bulk", seconds=0.05) for _ in range(3)]

    def seen_waiting() -> bool:
        _, samples = scrape(system)
        return (
            value(samples, "synapse_queue_length", queue="bulk") >= 1
            and value(samples, "synapse_messages_unacked") >= 2
        )

    wait_for(seen_waiting, timeout=20, what="bulk jobs waiting and 2 messages held")
    for job_id in busy + waiting:
        assert system.wait_job(job_id)["state"] == "SUCCESS"
    wait_for(
        lambda: value(scrape(system)[1], "synapse_queue_length", queue="bulk") == 0,
        timeout=20,
        what="the bulk queue to drain",
    )


def test_metrics_need_a_token_when_tokens_are_configured(system: System) -> None:
    secret = f"metrics-{uuid.uuid4().hex}"
    settings = system.settings.model_copy(update={"api_tokens": f"{secret}:member:nothing-else"})
    app = create_app(settings)

    async def get(token: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/metrics", headers=headers)

    assert asyncio.run(get(None)).status_code == 401
    assert asyncio.run(get("wrong")).status_code == 401
    response = asyncio.run(get(secret))  # any valid token, a member's too
    assert response.status_code == 200
    assert "synapse_jobs" in response.text
    app.state.celery.close()
