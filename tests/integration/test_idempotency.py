"""`Idempotency-Key` on the submitting POSTs (DESIGN.md §9, docs/idempotency.md), on a real
worker, Redis and both databases: one key, one job, however often and however concurrently the
request is sent."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from synapse import idempotency
from synapse.db.engine import session_scope
from synapse.db.models import IdempotencyKey, utcnow
from synapse.jobs.service import submit_job
from tests.support.csvdata import assets_csv
from tests.support.system import System, running_system
from tests.support.waiting import wait_for

KEY = "Idempotency-Key"


def _key() -> str:
    return f"test-{uuid.uuid4()}"


def _project_jobs(system: System, project: str) -> int:
    with system.client() as client:
        response = client.get("/api/v1/jobs", params={"project_id": project, "limit": 100})
        response.raise_for_status()
        return int(response.json()["total"])


def test_twenty_concurrent_uploads_with_one_key_make_one_job(system: System) -> None:
    project, key, content = f"idem-{uuid.uuid4().hex[:8]}", _key(), assets_csv(50)
    barrier = threading.Barrier(20)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with httpx.Client(base_url=system.base_url, timeout=60) as client:
            barrier.wait(timeout=30)
            response = client.post(
                "/api/v1/ingestion/upload-csv",
                files={"file": ("plant.csv", content, "text/csv")},
                data={"project_id": project},
                headers={KEY: key},
            )
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert len(answers) == 20
    assert {r.status_code for r in answers} == {202}, [r.text for r in answers]
    assert len({r.content for r in answers}) == 1  # byte for byte the same answer
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in answers) == 19
    assert _project_jobs(system, project) == 1
    job_id = answers[0].json()["job_id"]
    assert system.wait_job(job_id)["state"] == "SUCCESS"

    # The same key with another file: 409 naming the key; still one job.
    with system.client() as client:
        other = client.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("plant.csv", assets_csv(51), "text/csv")},
            data={"project_id": project},
            headers={KEY: key},
        )
    assert other.status_code == 409, other.text
    assert key in other.json()["detail"]
    assert _project_jobs(system, project) == 1


def _claim(system: System, key: str, mark: str) -> idempotency.Claim:
    """A claim of `key` as the edge makes it, for a request whose fingerprint is `mark` * 64."""
    return idempotency.claim(
        system.settings,
        principal="anonymous",
        key=key,
        fingerprint=mark * 64,
        method="POST",
        path="/api/v1/ingestion/upload-csv",
    )


def test_a_request_that_died_after_making_its_job_is_answered_with_that_job(
    system: System,
) -> None:
    """The API stopped between writing the job and storing its answer: the key's row already
    names the job (written in the job's own transaction), so a retry after the takeover time
    answers with that job, replayed byte for byte afterwards, and never makes a second one."""
    project, key = f"idem-{uuid.uuid4().hex[:8]}", _key()
    owned = _claim(system, key, "f")
    assert isinstance(owned, idempotency.Owned)
    with idempotency.holding(owned):  # as the edge does around the route
        job = submit_job(
            settings=system.settings,
            celery=system.celery(),
            task_name="test.stamp",
            params={"key": f"{system.settings.redis_prefix}:stamps:{key}", "project_id": project},
            project_key=project,
        )
    # No answer stored: the process "died" here. The row names the job all the same.
    with session_scope(system.settings) as session:
        row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)).one()
        assert (row.job_id, row.status_code) == (job.id, None)
        assert _claim(system, key, "f") == idempotency.Pending()
        row.created_at = utcnow() - idempotency.ABANDONED - timedelta(seconds=5)

    retries = [_claim(system, key, "f") for _ in range(2)]
    assert all(isinstance(got, idempotency.Answer) for got in retries), retries
    assert retries[0] == retries[1]  # stored: the same bytes every time
    answer = retries[0]
    assert isinstance(answer, idempotency.Answer) and answer.status_code == 202
    body = json.loads(answer.body)
    assert body["job_id"] == job.id and "lost" in body["message"], body
    other = _claim(system, key, "0")
    assert isinstance(other, idempotency.Mismatch)
    assert _project_jobs(system, project) == 1


def test_an_upload_whose_answer_was_lost_is_answered_over_http_with_its_job(
    system: System,
) -> None:
    """The same, through the API: an upload's stored answer is taken away (as a crash before it
    was stored would leave the row) and the claim aged past the takeover time; the retry gets
    202 with the first job, `Idempotent-Replayed: true`, and the project still has one job."""
    project, key = f"idem-{uuid.uuid4().hex[:8]}", _key()
    content = assets_csv(5)

    def upload(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("plant.csv", content, "text/csv")},
            data={"project_id": project},
            headers={KEY: key},
        )

    with system.client() as client:
        first = upload(client)
        assert first.status_code == 202, first.text
        with session_scope(system.settings) as session:
            session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == key)
                .values(
                    status_code=None,
                    body=None,
                    media_type=None,
                    completed_at=None,
                    created_at=utcnow() - idempotency.ABANDONED - timedelta(seconds=5),
                )
            )
        again = upload(client)
        assert again.status_code == 202, again.text
        assert again.json()["job_id"] == first.json()["job_id"]
        assert again.headers.get("Idempotent-Replayed") == "true"
        assert upload(client).content == again.content
    assert _project_jobs(system, project) == 1


def _post(client: httpx.Client, path: str, key: str, body: Any = None) -> httpx.Response:
    return client.post(path, headers={KEY: key}, json=body)


def test_every_submit_honours_its_key(system: System) -> None:
    """retry, commit, undo, packages, rules/run, bulk: sent twice with one key, the second
    answers the first answer (same status and body) and makes no new job."""
    project = f"idem-{uuid.uuid4().hex[:8]}"
    imported = system.import_csv(assets_csv(5), project=project)
    preview = system.import_csv(assets_csv(6), project=project, mode="preview")
    bad = assets_csv(4).decode().replace("P-000002,", ",", 1).encode()  # a row without a tag
    failed = system.import_csv(bad, project=project)
    states = (imported["state"], preview["state"], failed["state"])
    assert states == ("SUCCESS", "SUCCESS", "FAILURE"), (imported, preview, failed)
    submits: list[tuple[str, Any]] = [
        (f"/api/v1/jobs/{failed['id']}/retry", None),
        (f"/api/v1/jobs/{preview['id']}/commit", None),
        (f"/api/v1/jobs/{imported['id']}/undo", None),
        (f"/api/v1/projects/{project}/packages", {"package_type": "instrument_index"}),
        (f"/api/v1/projects/{project}/rules/run", {}),
        ("/api/v1/jobs/bulk", {"action": "retry", "ids": [failed["id"]], "dry_run": True}),
    ]
    with system.client() as client:
        for path, body in submits:
            key = _key()
            first = _post(client, path, key, body)
            assert first.status_code in (200, 202), (path, first.text)
            before = _project_jobs(system, project)
            again = _post(client, path, key, body)
            assert (again.status_code, again.content) == (first.status_code, first.content), path
            assert again.headers.get("Idempotent-Replayed") == "true", path
            assert _project_jobs(system, project) == before, path
            other = _post(client, path + "?other=1", key, body)
            assert other.status_code == 409 and key in other.json()["detail"], (path, other.text)


def test_a_failed_request_does_not_burn_its_key_and_bad_keys_are_422(system: System) -> None:
    project, key = f"idem-{uuid.uuid4().hex[:8]}", _key()
    with system.client() as client:
        empty = client.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("empty.csv", b"", "text/csv")},
            data={"project_id": project},
            headers={KEY: key},
        )
        assert empty.status_code == 422, empty.text
        good = client.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("plant.csv", assets_csv(3), "text/csv")},
            data={"project_id": project},
            headers={KEY: key},
        )
        assert good.status_code == 202, good.text
        for bad in ("x" * 201, "", "tab\there"):
            refused = _post(client, f"/api/v1/projects/{project}/rules/run", bad, {})
            assert refused.status_code == 422, (bad, refused.text)
            assert "Idempotency-Key" in refused.text
    assert _project_jobs(system, project) == 1


ADMIN = "idem-adm-3b9f0c2e71"
MEMBER = "idem-mem-8a4d1f6c05"


@pytest.fixture(scope="module")
def secured(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("idem-secured")
    url = f"sqlite:///{base / 'secured' / 'synapse.db'}"
    tokens = f"{ADMIN}:admin,{MEMBER}:member:proj-idem"
    with running_system(
        "secured",
        database_url=url,
        redis_url=redis_url,
        base=base,
        start=False,
        SYNAPSE_API_TOKENS=tokens,
    ) as system:
        system.spawn("api", "api")  # the API alone: keys are the API's business, jobs wait
        wait_for(lambda: _healthy(system), timeout=60, what="the secured API")
        yield system


def _healthy(system: System) -> bool:
    return httpx.get(f"{system.base_url}/healthz", timeout=5).status_code == 200


def test_the_keys_of_two_callers_do_not_collide(secured: System) -> None:
    key = "the-same-key-1"
    answers = []
    for token, rows in ((ADMIN, 3), (MEMBER, 4)):
        with httpx.Client(
            base_url=secured.base_url, timeout=30, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            response = client.post(
                "/api/v1/ingestion/upload-csv",
                files={"file": ("plant.csv", assets_csv(rows), "text/csv")},
                data={"project_id": "proj-idem"},
                headers={KEY: key},
            )
            assert response.status_code == 202, response.text
            answers.append(response.json()["job_id"])
    assert answers[0] != answers[1]
    # Without a valid token the key is not looked at: 401 as always.
    with httpx.Client(base_url=secured.base_url, timeout=30) as anonymous:
        response = anonymous.post(
            "/api/v1/projects/proj-idem/rules/run", headers={KEY: key}, json={}
        )
        assert response.status_code == 401
