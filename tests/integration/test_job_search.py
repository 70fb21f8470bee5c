"""The Job Queue at scale over HTTP: search (`q`), `submitted_by`, cursor paging and bulk
retry / cancel, on SQLite and PostgreSQL with a real worker.

Each database gets a fresh system of its own (with an admin and a member token), so the
acceptance's exact filter (`state=failed&type=import_csv_assets&since=1h`) counts only this
module's jobs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from synapse import audit
from synapse.auth import fingerprint
from synapse.db.engine import session_scope
from synapse.db.models import Job, utcnow
from synapse.jobs import store
from tests.support.csvdata import assets_csv
from tests.support.services import postgres_database
from tests.support.system import FINISHED, System, running_system
from tests.support.waiting import wait_for

ADMIN = "adm-search-5e1f0c7a"
MEMBER = "mem-search-2b9d4e61"
TOKENS = f"{ADMIN}:admin,{MEMBER}:member:proj-m"
ADMIN_ID = fingerprint(ADMIN, "admin")
MEMBER_ID = fingerprint(MEMBER, "member")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fresh(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    base = tmp_path_factory.mktemp(f"search-{request.param}")
    name = f"search-{request.param}"
    if request.param == "sqlite":
        url = f"sqlite:///{base / name / 'synapse.db'}"
        with running_system(
            name, database_url=url, redis_url=redis_url, base=base, SYNAPSE_API_TOKENS=TOKENS
        ) as system:
            yield system
    else:
        with (
            postgres_database() as url,
            running_system(
                name, database_url=url, redis_url=redis_url, base=base, SYNAPSE_API_TOKENS=TOKENS
            ) as system,
        ):
            yield system


def as_(system: System, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=system.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


def imported(system: System, project: str, filename: str) -> dict[str, Any]:
    """A real import (5 rows) through the worker: its job, whose file the seeded jobs reuse."""
    job = system.import_csv(assets_csv(5), project=project, filename=filename)
    assert job["state"] == "SUCCESS", job
    return job


def seed_failed(
    system: System,
    template: dict[str, Any],
    n: int,
    *,
    error: str,
    by: str = ADMIN_ID,
    ago: timedelta = timedelta(minutes=5),
) -> list[str]:
    """`n` failed imports of the template's file (as if the database had been down): rows
    written directly, cheaply; their retries run for real."""
    ids = []
    with session_scope(system.settings) as session:
        for _ in range(n):
            job = store.add_job(
                session,
                job_id=str(uuid.uuid4()),
                task_name="import_csv_assets",
                params=template["params"],
                queue="default",
                project_key=template["project_id"],
                submitted_by=by,
            )
            job.state, job.error, job.message = "FAILURE", error, "Failed"
            job.created_at = utcnow() - ago
            job.finished_at = job.created_at + timedelta(seconds=2)
            ids.append(job.id)
    return ids


def bulk(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/jobs/bulk", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_bulk_retry_with_a_filter_retries_exactly_what_the_dry_run_counted(fresh: System) -> None:
    template = imported(fresh, "proj-bulk", "station-7.csv")
    failed = seed_failed(fresh, template, 37, error="could not connect: the database was down")
    seed_failed(fresh, template, 3, error="an old failure", ago=timedelta(hours=3))  # not in 1h
    flt = {"state": "failed", "type": "import_csv_assets", "since": "1h"}
    with as_(fresh, ADMIN) as admin:
        listed = admin.get("/api/v1/jobs", params=flt | {"limit": 1}).json()
        assert listed["total"] == 37
        dry = bulk(admin, action="retry", filter=flt, dry_run=True)
        assert (dry["matched"], dry["eligible"], dry["done"]) == (37, 37, 0)
        assert admin.get("/api/v1/jobs", params={"state": "queued"}).json()["total"] == 0
        done = bulk(admin, action="retry", filter=flt)
        assert (done["matched"], done["done"], done["skipped"]) == (37, 37, 0)
        new = done["new_job_ids"]
        assert len(set(new)) == 37
    jobs = [fresh.wait_job(job_id, timeout=120) for job_id in new]
    assert {j["state"] for j in jobs} == {"SUCCESS"}
    assert {j["retry_of"] for j in jobs} == set(failed)
    assert {j["submitted_by"] for j in jobs} == {ADMIN_ID}
    with session_scope(fresh.settings) as session:
        events, _ = audit.list_events(session, limit=10, action="jobs.bulk_retry")
        assert [e.detail["count"] for e in events] == [37]
        assert events[0].actor == ADMIN_ID and events[0].client == "127.0.0.1"
        assert events[0].detail["selection"] == flt


def test_bulk_cancel_of_a_selection_of_queued_jobs(fresh: System) -> None:
    with as_(fresh, ADMIN) as admin:
        # Two long jobs take both worker slots; the four behind them wait.
        blockers = [fresh.submit("test.sleeper", seconds=30, step=0.1) for _ in range(2)]
        wait_for(
            lambda: all(fresh.job(b)["state"] == "RUNNING" for b in blockers),
            timeout=30,
            what="both slots busy",
        )
        queued = [fresh.submit("test.sleeper", seconds=0.1) for _ in range(4)]
        assert {fresh.job(q)["state"] for q in queued} == {"QUEUED"}
        # The page lists QUEUED oldest first (the next to run at the top), and on "All" the
        # sections run: running, queued, failed, then the finished.
        page = admin.get("/", params={"since": "all"}).text
        assert [page.index(f'id="job-{q}"') for q in queued] == sorted(
            page.index(f'id="job-{q}"') for q in queued
        )
        sections = [page.index(f'data-group="{g}"') for g in ("running", "queued", "failed")]
        assert sections == sorted(sections)
        assert max(sections) < page.index('data-group="completed"')
        chosen = queued[:3]
        dry = bulk(admin, action="cancel", ids=chosen, dry_run=True)
        assert (dry["matched"], dry["eligible"], dry["done"]) == (3, 3, 0)
        done = bulk(admin, action="cancel", ids=[*chosen, "no-such-job"])
        assert (done["matched"], done["done"]) == (4, 3)
        assert done["skipped_reasons"] == {"not found": 1}
        assert sorted(done["cancelled_ids"]) == sorted(chosen)
        assert {fresh.job(q)["state"] for q in chosen} == {"CANCELLED"}
        # The running ones by filter: they stop at their next checkpoint.
        stop = bulk(admin, action="cancel", filter={"state": "running"})
        assert stop["done"] == 2 and set(stop["cancelled_ids"]) == set(blockers)
    assert {fresh.wait_job(b)["state"] for b in blockers} == {"CANCELLED"}
    assert fresh.wait_job(queued[3])["state"] == "SUCCESS"
    assert {fresh.job(q)["attempts"] for q in chosen} == {0}  # never started
    with as_(fresh, ADMIN) as admin:  # one job's retry is audited too, with its new job
        again = admin.post(f"/api/v1/jobs/{chosen[0]}/retry").json()
    assert fresh.wait_job(again["id"])["state"] == "SUCCESS"
    with session_scope(fresh.settings) as session:
        bulk_rows, _ = audit.list_events(session, limit=10, action="jobs.bulk_cancel")
        assert sorted(e.detail["count"] for e in bulk_rows) == [2, 3]
        single, _ = audit.list_events(session, limit=1, action="job.retry")
        assert single[0].target == chosen[0] and single[0].detail["new_job_id"] == again["id"]


def test_search_by_id_prefix_file_name_and_error_text(fresh: System) -> None:
    tag = uuid.uuid4().hex[:8]
    job = imported(fresh, "proj-search", f"Pump-Station-{tag}.csv")
    failed = seed_failed(fresh, job, 2, error=f"row 7: power_kw 'x{tag}' is not a number")
    with as_(fresh, ADMIN) as admin:

        def search(q: str, **extra: str) -> set[str]:
            body = admin.get("/api/v1/jobs", params={"q": q, "limit": 100, **extra}).json()
            assert body["total"] == len(body["items"])
            return {j["id"] for j in body["items"]}

        assert job["id"] in search(job["id"][:8])
        assert job["id"] in search(job["id"][:8].upper())
        # The start of an id names that job: another job that only mentions it (in its file
        # name) is not listed then; its text is searched when no id starts so.
        other = imported(fresh, "proj-search", f"copy-of-{job['id'][:8]}.csv")
        assert search(job["id"][:8]) == {job["id"]}
        assert search(f"copy-of-{job['id'][:8]}") == {other["id"]}
        assert search(f"pump-station-{tag}") == {job["id"], *failed}  # the file name, any case
        assert search(f"x{tag}' is not") == set(failed)  # error text
        assert search(f"x{tag}", state="completed") == set()
        assert search(f"{tag}%") == set()  # % is a character, not a wildcard
        assert search("zz-nothing-matches-this") == set()
        assert admin.get("/api/v1/jobs", params={"q": "x" * 201}).status_code == 422


def test_the_8_characters_a_list_shows_lead_to_the_job(fresh: System) -> None:
    prefix = uuid.uuid4().hex[:6]
    twins = []
    with session_scope(fresh.settings) as session:
        for _ in range(2):
            job_id = prefix + str(uuid.uuid4())[6:]
            store.add_job(
                session, job_id=job_id, task_name="test.sleeper", params={}, queue="default",
                project_key="proj-m", state="SUCCESS",
            )  # fmt: skip
            twins.append(job_id)
    with as_(fresh, ADMIN) as admin:
        one = admin.get(f"/jobs/{twins[0][:8]}", follow_redirects=False)
        assert one.status_code == 303 and one.headers["location"] == f"/jobs/{twins[0]}"
        both = admin.get(f"/jobs/{prefix}")
        assert both.status_code == 200 and all(t in both.text for t in twins)
        none = admin.get("/jobs/zzzzzzzz")
        assert none.status_code == 404 and "text/html" in none.headers["content-type"]
        assert 'href="/imports"' in none.text  # the menu, not raw JSON
    with as_(fresh, MEMBER) as member:  # proj-m is theirs; proj-bulk is not
        other = fresh_job(fresh, "proj-bulk")
        hidden = member.get(f"/jobs/{other}")
        assert hidden.status_code == 404 and 'href="/imports"' in hidden.text
        assert member.get(f"/jobs/{twins[1][:8]}", follow_redirects=False).status_code == 303


def fresh_job(system: System, project: str) -> str:
    with session_scope(system.settings) as session:
        job = store.add_job(
            session, job_id=str(uuid.uuid4()), task_name="test.sleeper", params={},
            queue="default", project_key=project, state="SUCCESS",
        )  # fmt: skip
        return job.id


def test_cursor_paging_walks_every_job_exactly_once(fresh: System) -> None:
    with as_(fresh, ADMIN) as admin:
        everything = admin.get("/api/v1/jobs", params={"limit": 1000}).json()
        assert everything["total"] > 7  # more than one page
        for order in ("newest", "oldest"):
            seen: list[str] = []
            params: dict[str, Any] = {"limit": 7, "order": order}
            while True:
                page = admin.get("/api/v1/jobs", params=params).json()
                assert page["total"] == everything["total"]
                seen.extend(j["id"] for j in page["items"])
                if not page["next_cursor"]:
                    break
                params["cursor"] = page["next_cursor"]
            assert len(seen) == len(set(seen)) == everything["total"], order
            ids = [j["id"] for j in everything["items"]]
            assert seen == (ids if order == "newest" else ids[::-1])
        # Old clients keep limit/offset; a bad cursor is a 422, not a 500.
        second = admin.get("/api/v1/jobs", params={"limit": 5, "offset": 5}).json()
        assert [j["id"] for j in second["items"]] == ids[5:10]
        assert admin.get("/api/v1/jobs", params={"cursor": "nonsense"}).status_code == 422


def test_a_members_bulk_retry_skips_the_jobs_of_others(fresh: System) -> None:
    template = imported(fresh, "proj-m", "members-file.csv")
    mine = seed_failed(fresh, template, 2, error="member fault", by=MEMBER_ID)
    others = seed_failed(fresh, template, 3, error="member fault", by=ADMIN_ID)
    elsewhere = seed_failed(
        fresh, imported(fresh, "proj-x", "other.csv"), 1, error="member fault", by=MEMBER_ID
    )
    with as_(fresh, MEMBER) as member:
        flt = {"state": "failed", "q": "member fault"}
        dry = bulk(member, action="retry", filter=flt, dry_run=True)
        assert (dry["matched"], dry["eligible"], dry["skipped"]) == (5, 2, 3)
        assert dry["skipped_reasons"] == {"submitted by someone else (admins only)": 3}
        done = bulk(member, action="retry", ids=[*mine, *others, *elsewhere])
        assert (done["matched"], done["done"]) == (6, 2)
        assert done["skipped_reasons"] == {
            "submitted by someone else (admins only)": 3,
            "not found": 1,  # another project's job does not exist for a member
        }
        assert {i["id"] for i in done["skipped_items"]} == {*others, *elsewhere}
        mine_listed = member.get("/api/v1/jobs", params={"submitted_by": "me"}).json()
        assert set(done["new_job_ids"]) <= {j["id"] for j in mine_listed["items"]}
        assert {j["submitted_by"] for j in mine_listed["items"]} == {MEMBER_ID}
        # Bounded: more than 10,000 ids is a 422 with a detail, for everyone.
        too_many = member.post("/api/v1/jobs/bulk", json={"action": "retry", "ids": ["x"] * 10_001})
        assert too_many.status_code == 422 and too_many.json()["detail"]
    for job_id in done["new_job_ids"]:
        assert fresh.wait_job(job_id)["state"] in FINISHED
    with session_scope(fresh.settings) as session:
        retried = session.get(Job, done["new_job_ids"][0])
        assert retried is not None and retried.submitted_by == MEMBER_ID
