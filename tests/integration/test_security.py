"""Access control on a secured system: tokens, roles and project scopes, over HTTP and WebSocket."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from synapse.auth import fingerprint
from tests.support.csvdata import assets_csv
from tests.support.system import EventCollector, System, running_system

ADMIN = "adm-7f3c9e1b2d4a"
MEMBER_A = "mem-a-51c0e8f2b7"
MEMBER_B = "mem-b-9d2e6a4c13"
TOKENS = f"{ADMIN}:admin,{MEMBER_A}:member:proj-a,{MEMBER_B}:member:proj-b|proj-c"


@pytest.fixture(scope="module")
def secured(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("secured")
    url = f"sqlite:///{base / 'secured' / 'synapse.db'}"
    with running_system(
        "secured", database_url=url, redis_url=redis_url, base=base, SYNAPSE_API_TOKENS=TOKENS
    ) as system:
        yield system


def client(system: System, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=system.base_url, headers=headers, timeout=30)


def upload(system: System, token: str, project: str, rows: int = 5) -> httpx.Response:
    with client(system, token) as c:
        return c.post(
            "/api/v1/ingestion/upload-csv",
            files={"file": ("a.csv", assets_csv(rows))},
            data={"project_id": project},
        )


def test_every_api_route_needs_a_valid_token(secured: System) -> None:
    with client(secured) as anonymous:
        spec = anonymous.get("/openapi.json").json()
        assert anonymous.get("/healthz").status_code == 200
    calls = [
        (method.upper(), re.sub(r"\{[^}]+\}", "x-1", path))
        for path, item in spec["paths"].items()
        if path.startswith("/api/")
        for method in item
    ]
    assert len(calls) >= 8
    for token in (None, "not-a-token"):
        with client(secured, token) as c:
            for method, path in calls:
                response = c.request(method, path)
                assert response.status_code == 401, (token, method, path, response.text)
                assert "token" in response.json()["detail"]
                assert set(response.json()) == {"detail"}  # never data


def test_members_see_and_act_only_on_their_projects(secured: System) -> None:
    a_job = upload(secured, MEMBER_A, "proj-a").json()["job_id"]
    b_job = upload(secured, MEMBER_B, "proj-b").json()["job_id"]
    admin_job_a = upload(secured, ADMIN, "proj-a").json()["job_id"]
    for job in (a_job, b_job, admin_job_a):
        secured.wait_job(job)  # the test client has no token: use the admin one below

    with client(secured, MEMBER_A) as member:
        assert member.get(f"/api/v1/jobs/{a_job}").status_code == 200
        for path in (
            f"/api/v1/jobs/{b_job}",
            f"/api/v1/jobs/{b_job}/logs",
            f"/api/v1/jobs/{b_job}/errors",
            f"/api/v1/ingestion/job-status/{b_job}",
            "/api/v1/projects/proj-b/assets",
        ):
            response = member.get(path)
            assert response.status_code == 404, path
            assert set(response.json()) == {"detail"} and "P-000" not in response.text
        listed = member.get("/api/v1/jobs").json()
        assert {j["project_id"] for j in listed["items"]} == {"proj-a"}
        assert b_job not in {j["id"] for j in listed["items"]}
        # Another project is invisible, even to upload into.
        assert upload(secured, MEMBER_A, "proj-b").status_code == 404
        assert upload(secured, MEMBER_A, "brand-new").status_code == 404
        # Acting on a job of one's project that someone else submitted is for admins.
        assert member.post(f"/api/v1/jobs/{admin_job_a}/retry").status_code == 403
        assert member.post(f"/api/v1/jobs/{b_job}/retry").status_code == 404
        assert member.post(f"/api/v1/jobs/{a_job}/cancel").status_code == 409  # own, finished

    with client(secured, ADMIN) as admin:
        everything = admin.get("/api/v1/jobs", params={"limit": 1000}).json()
        assert {a_job, b_job, admin_job_a} <= {j["id"] for j in everything["items"]}
        assert admin.get("/api/v1/projects/proj-b/assets").json()["total"] == 5
        assert upload(secured, ADMIN, f"new-{uuid.uuid4().hex[:6]}").status_code == 202


def test_every_project_route_hides_other_projects_from_members(secured: System) -> None:
    """Rules, findings, packages, assets: a member reaches none of another project's routes."""
    upload_b = upload(secured, MEMBER_B, "proj-b")
    secured.wait_job(upload_b.json()["job_id"])
    with client(secured, MEMBER_A) as member:
        spec = member.get("/openapi.json").json()
        calls = [
            (method.upper(), path.replace("{project_id}", "proj-b"))
            for path, item in spec["paths"].items()
            if path.startswith("/api/v1/projects/{project_id}")
            for method in item
        ]
        assert len(calls) >= 8, calls  # assets, rules (5), rules/run, findings, packages
        for method, path in calls:
            path = re.sub(r"\{[^}]+\}", "1", path)
            body = {"name": "x", "condition": "true", "action": {"type": "flag"}}
            response = member.request(
                method, path, json=body if method in ("POST", "PUT") else None
            )
            assert response.status_code == 404, (method, path, response.text)
            assert "proj-b" in response.json()["detail"]
        # Their own project's rules are theirs to write and run, as themselves.
        rule = {
            "name": "big motors",
            "condition": "true",
            "action": {"type": "flag", "severity": "info", "message": "{tag}"},
        }
        assert member.post("/api/v1/projects/proj-a/rules", json=rule).status_code == 201
        run = member.post("/api/v1/projects/proj-a/rules/run")
        assert run.status_code == 202, run.text
        job = secured.wait_job(run.json()["job_id"])
        assert job["state"] == "SUCCESS", job
        assert job["submitted_by"] == fingerprint(MEMBER_A, "member")


def test_websocket_needs_a_token_and_carries_only_the_members_projects(secured: System) -> None:
    with pytest.raises(InvalidStatus):
        connect(f"{secured.ws_url}?token=wrong", open_timeout=10)
    with connect(secured.ws_url, open_timeout=10) as ws:
        ws.send("not a token")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    member = EventCollector(f"{secured.ws_url}?token={MEMBER_A}")
    admin = EventCollector(f"{secured.ws_url}?token={ADMIN}")
    with connect(secured.ws_url, open_timeout=10) as by_message:  # token as the first message
        by_message.send(json.dumps({"token": MEMBER_B}))
        try:
            other = upload(secured, ADMIN, "proj-b").json()["job_id"]
            mine = upload(secured, ADMIN, "proj-a").json()["job_id"]
            admin.wait_final(other)
            admin.wait_final(mine)
            member.wait_final(mine)
            assert member.for_job(other) == []
            assert {m["context"]["project_id"] for m in member.messages} == {"proj-a"}
            first = json.loads(by_message.recv(timeout=10))
            assert first["context"]["project_id"] == "proj-b"
        finally:
            member.close()
            admin.close()
