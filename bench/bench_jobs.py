"""`make bench-jobs`: the job layer's throughput beside raw Celery, and live-event latency.

One run prints:
1. no-op tasks/s drained by one `synapse worker` (prefork, 2 processes, acks_late, prefetch 1,
   task events on) — plain Celery tasks against the same tasks as jobs (row written at submit;
   the worker claims it, runs a heartbeat thread, publishes start and end, writes the end
   state), on the same broker, settings and worker command; their ratio (target >= 0.75);
2. where a job's extra time goes: each step of the job layer timed in-process;
3. the enqueue rate through the HTTP API (POST /api/v1/ingestion/upload-csv, no worker);
4. progress-event latency worker -> Redis -> API relay -> WebSocket client, p50/p95/p99, with
   1 and 100 connected clients (target p95 < 50 ms).
With `--fair-share` it prints instead the cost of the per-project limit (docs/fair-share.md):
the same drain of no-op jobs without a project, of one project with the limit off, of two
projects with a limit of 1 slot each, and of one project with a limit of 1.
SQLite always; PostgreSQL too when reachable (SYNAPSE_TEST_POSTGRES_URL or the local default).
Redis: SYNAPSE_TEST_REDIS_URL, else a private redis-server on a loopback TCP port.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import drop_postgres, redis_server, scratch_postgres, wait
from jobs_cases import CONCURRENCY, DEFAULT_PG, System, machine

# -- 1. drain ---------------------------------------------------------------------------------


def drain(
    system: System,
    kind: str,
    count: int,
    *,
    projects: tuple[str, ...] = (),
    limit: int | None = None,
) -> float:
    """Queue `count` no-op tasks with no worker running, start one, time it until all are done.

    Jobs get the `projects` in turn (none: no project); `limit`: the worker's
    SYNAPSE_PROJECT_CONCURRENCY.
    """
    from synapse.jobs.service import submit_job

    ids = []
    for i in range(count):
        if kind == "raw":
            ids.append(system.celery.send_task("bench.raw_noop", queue="default").id)
        else:
            project = projects[i % len(projects)] if projects else None
            job = submit_job(
                settings=system.settings,
                celery=system.celery,
                task_name="bench.job_noop",
                params={},
                project_key=project,
            )
            ids.append(job.id)
    # Done means every task's result is stored. (An empty queue and no unacknowledged message
    # is not enough: kombu pops a message before it records it as unacknowledged.)
    results = [f"{system.prefix}:celery-task-meta-{task_id}" for task_id in ids]
    assert system.waiting() == (count, 0), system.waiting()
    env = {} if limit is None else {"SYNAPSE_PROJECT_CONCURRENCY": str(limit)}
    worker = system.worker(f"{kind}-drain", **env)
    first = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        queued, held = system.waiting()
        now = time.perf_counter()
        if first is None and queued < count:
            first = now
        if (
            queued == 0
            and held == 0
            and system.redis.exists(*results) == count
            # A stored result may be only STARTED (task_track_started): with fair share, a job
            # that stepped back has one and waits to be sent again; the job table tells.
            and (kind == "raw" or succeeded(system, ids) == count)
        ):
            break
        time.sleep(0.002)
    else:
        raise SystemExit(f"{kind} drain did not finish; see {system.dir}")
    system.stop(worker)
    assert first is not None
    if kind == "job":
        check_all_succeeded(system, ids)
    return count / (now - first)


def succeeded(system: System, ids: list[str]) -> int:
    from sqlalchemy import func, select

    from synapse.db.engine import session_scope
    from synapse.db.models import Job

    with session_scope(system.settings) as session:
        done = session.scalar(
            select(func.count()).select_from(Job).where(Job.state == "SUCCESS", Job.id.in_(ids))
        )
    return int(done or 0)


def check_all_succeeded(system: System, ids: list[str]) -> None:
    done = succeeded(system, ids)
    assert done == len(ids), f"{done} of {len(ids)} jobs succeeded"


# -- the cost of fair share -------------------------------------------------------------------

# (label, projects of the jobs in turn, SYNAPSE_PROJECT_CONCURRENCY of the worker)
FAIR_CASES: tuple[tuple[str, tuple[str, ...], int | None], ...] = (
    ("no project", (), None),
    ("1 project, limit off (2)", ("a",), CONCURRENCY),
    ("2 projects, limit 1", ("a", "b"), 1),
    ("1 project, limit 1", ("a",), 1),
)


def fair_share_rounds(
    systems: list[System], labels: list[str], args: argparse.Namespace
) -> list[dict[str, float]]:
    """Every case on every database, alternated over the rounds (the machine's speed drifts)."""
    rounds = []
    for _ in range(args.rounds):
        rates: dict[str, float] = {}
        for label, system in zip(labels, systems, strict=True):
            for case, projects, limit in FAIR_CASES:
                rates[f"{label}|{case}"] = drain(
                    system, "job", args.tasks, projects=projects, limit=limit
                )
        rounds.append(rates)
    return rounds


class _NoSend:
    def send_task(self, name: str, *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"nothing is sent again here ({name})")


def fair_share_steps(system: System, count: int) -> dict[str, float]:
    """Median µs, in-process, of what fair share adds to a project job: the gate's count
    (admitted), the look at its end (nothing waits), and a whole step-back; with the job
    layer's statements on a kept connection, as in a worker (db/hot.py)."""
    from synapse.db import hot

    hot.enable()
    try:
        return _fair_share_steps(system, count)
    finally:
        hot.reset()


def _fair_share_steps(system: System, count: int) -> dict[str, float]:
    from sqlalchemy import update

    from synapse.db.engine import session_scope
    from synapse.db.models import Job
    from synapse.jobs import attempts, fairshare, store

    settings = system.settings.model_copy(update={"project_concurrency": 1})
    ids = [str(uuid.uuid4()) for _ in range(count + 1)]
    with session_scope(settings) as session:
        for job_id in ids:
            store.add_job(
                session, job_id=job_id, task_name="bench.job_noop", params={}, queue="default",
                project_key="steps",
            )  # fmt: skip
    times: dict[str, list[float]] = {"admit": [], "end": [], "step_back": []}
    clock, sender = time.perf_counter, _NoSend()

    def claim(job_id: str) -> int:
        got = attempts.claim_attempt(
            settings, job_id=job_id, task_name="bench.job_noop", params={}, queue="default",
            worker="bench",
        )  # fmt: skip
        return int(got.attempts)

    for job_id in ids[:count]:
        attempt = claim(job_id)
        t0 = clock()
        assert fairshare.admit(
            settings, sender, job_id=job_id, project_key="steps", attempt=attempt
        )
        t1 = clock()
        attempts.finish(
            settings, job_id=job_id, state="SUCCESS", message="Complete", attempt=attempt
        )
        t2 = clock()
        fairshare.slot_freed(settings, sender, project_key="steps")
        t3 = clock()
        times["admit"].append((t1 - t0) * 1e6)
        times["end"].append((t3 - t2) * 1e6)
    holder = ids[count]
    claim(holder)  # holds the one slot: every job below steps back
    for job_id in ids[:count]:
        with session_scope(settings) as session:  # back to a fresh QUEUED job
            session.execute(
                update(Job)
                .where(Job.id == job_id)
                .values(state="QUEUED", attempts=0, message="Queued")
            )
        attempt = claim(job_id)
        t0 = clock()
        assert not fairshare.admit(
            settings, sender, job_id=job_id, project_key="steps", attempt=attempt
        )
        times["step_back"].append((clock() - t0) * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


FAIR_STEPS = (
    ("admit", "gate, admitted: count of the project's RUNNING jobs"),
    ("end", "end of a project job, nothing waiting: one Redis EXISTS (the hint)"),
    ("step_back", "a step-back: count, UPDATE + log line, event, look for free slots"),
)


def fair_share_report(
    rounds: list[dict[str, float]], dbs: list[str], args: int, steps: dict[str, dict[str, float]]
) -> None:
    print(
        f"fair share: drain of {args:,} queued no-op jobs, jobs/s (one worker, {CONCURRENCY} "
        f"processes), {len(rounds)} rounds; ratio: median over the jobs without a project"
    )
    print("| database | case | " + " | ".join(f"round {n}" for n in range(1, len(rounds) + 1))
          + " | median | ratio |")  # fmt: skip
    print("|---|---|" + "---:|" * (len(rounds) + 2))
    for db in dbs:
        base = statistics.median(r[f"{db}|no project"] for r in rounds)
        for case, _projects, _limit in FAIR_CASES:
            values = [r[f"{db}|{case}"] for r in rounds]
            median = statistics.median(values)
            cells = " | ".join(f"{v:,.0f}" for v in values)
            print(f"| {db} | {case} | {cells} | **{median:,.0f}** | {median / base:.2f} |")
    print("\nwhat fair share adds to a project job, median µs, timed in-process (500 jobs)")
    print("| step | " + " | ".join(dbs) + " |")
    print("|---|" + "---:|" * len(dbs))
    for name, text in FAIR_STEPS:
        print(f"| {text} | " + " | ".join(f"{steps[db][name]:,.0f}" for db in dbs) + " |")


# -- 2. where the time goes -------------------------------------------------------------------


STEPS = (
    ("claim", "claim: compare-and-set UPDATE ... RETURNING, 1 transaction"),
    ("started", "start event + cancel flag: PUBLISH + EXISTS, 1 pipeline"),
    ("hb_start", "heartbeat: register with the process's thread"),
    ("checkpoint", "first cancel checkpoint (flag read with the start event)"),
    ("hb_stop", "heartbeat: unregister"),
    ("succeeded", "end state: UPDATE (1 transaction) + PUBLISH"),
)


def step_costs(system: System, count: int) -> dict[str, float]:
    """Median microseconds of each step of a job's life in the worker, timed in-process, on
    the worker's path: the job layer's statements on a kept connection (db/hot.py)."""
    from synapse.db import hot

    hot.enable()
    try:
        return _step_costs(system, count)
    finally:
        hot.reset()


def _step_costs(system: System, count: int) -> dict[str, float]:
    from synapse.db.engine import session_scope
    from synapse.jobs import attempts, store
    from synapse.jobs.heartbeat import Heartbeat
    from synapse.jobs.runtime import JobRun

    ids = [str(uuid.uuid4()) for _ in range(count)]
    with session_scope(system.settings) as session:
        for job_id in ids:
            store.add_job(
                session, job_id=job_id, task_name="bench.job_noop", params={}, queue="default",
                project_key=None,
            )  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name, _ in STEPS}
    clock = time.perf_counter
    for job_id in ids:
        t0 = clock()
        claim = attempts.claim_attempt(
            system.settings, job_id=job_id, task_name="bench.job_noop", params={},
            queue="default", worker="bench",
        )  # fmt: skip
        t1 = clock()
        run = JobRun(
            system.settings, job_id=job_id, job_type=claim.type, project_key=None,
            attempt=claim.attempts,
        )  # fmt: skip
        run.started(claim.reason)
        t2 = clock()
        beat = Heartbeat(system.settings, job_id=job_id, attempt=claim.attempts)
        beat.__enter__()
        t3 = clock()
        run.checkpoint_at_start()
        t4 = clock()
        beat.__exit__(None, None, None)
        t5 = clock()
        run.succeeded(None)
        t6 = clock()
        for (name, _), took in zip(
            STEPS, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True
        ):
            times[name].append(took * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


# -- 3. enqueue through the HTTP API ----------------------------------------------------------


def enqueue_rate(system: System, uploads: int, threads: int) -> tuple[float, float, float]:
    api = system.spawn("api", "api")
    base = f"http://127.0.0.1:{system.port}"
    wait(lambda: httpx.get(f"{base}/healthz", timeout=2).status_code == 200, 60, "the API")
    body = b"tag,type,power_kw\nP-1,Pump,15\nM-1,Motor,7.5\n"
    latencies: list[float] = []
    lock = threading.Lock()
    left = [uploads]

    def client() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while True:
                with lock:
                    if left[0] == 0:
                        return
                    left[0] -= 1
                t = time.perf_counter()
                response = http.post(
                    "/api/v1/ingestion/upload-csv",
                    files={"file": ("a.csv", body, "text/csv")},
                    data={"project_id": "bench"},
                )
                took = time.perf_counter() - t
                assert response.status_code == 202, response.text
                with lock:
                    latencies.append(took)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start
    system.stop(api)
    system.procs.remove(api)
    system.redis.delete(f"{system.prefix}:default")
    cuts = statistics.quantiles(latencies, n=100)
    return uploads / elapsed, cuts[49] * 1000, cuts[94] * 1000


# -- 4. progress-event latency ----------------------------------------------------------------


async def _listen(url: str, clients: int, start_job: Any) -> list[tuple[float, str]]:
    from websockets.asyncio.client import connect

    received: list[tuple[float, str]] = []
    conns = [await connect(url, max_queue=None) for _ in range(clients)]

    async def recv_all(ws: Any) -> None:
        async for raw in ws:
            received.append((time.time(), raw))  # parsed later: only the arrival is timed here
            if '"action_type": "STATE"' in raw and '"SUCCESS"' in raw:
                return

    tasks = [asyncio.create_task(recv_all(ws)) for ws in conns]
    await asyncio.sleep(0.2)
    await asyncio.get_running_loop().run_in_executor(None, start_job)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
    for ws in conns:
        await ws.close()
    return received


def event_latency(system: System, clients: int, events: int, interval: float) -> list[float]:
    from synapse.jobs.service import submit_job

    job_ids: list[str] = []

    def start_job() -> None:
        job = submit_job(
            settings=system.settings,
            celery=system.celery,
            task_name="bench.progress",
            params={"count": events, "interval": interval},
            queue="urgent",
        )
        job_ids.append(job.id)

    url = f"ws://127.0.0.1:{system.port}/ws/logs"
    received = asyncio.run(_listen(url, clients, start_job))
    latencies = []
    for arrived, raw in received:
        event = json.loads(raw)
        if event["action_type"] == "PROGRESS" and event["context"]["task_id"] == job_ids[0]:
            sent = datetime.fromisoformat(event["timestamp"]).timestamp()
            latencies.append((arrived - sent) * 1000)
    assert len(latencies) == clients * events, (len(latencies), clients * events)
    return latencies


# -- the run ----------------------------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=1500, help="no-op tasks per drain")
    parser.add_argument("--rounds", type=int, default=3, help="drains of each kind, alternated")
    parser.add_argument("--uploads", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8, help="HTTP clients at once")
    parser.add_argument("--events", type=int, default=300, help="progress events per client run")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between events")
    parser.add_argument(
        "--postgres", default=os.environ.get("SYNAPSE_TEST_POSTGRES_URL") or DEFAULT_PG
    )
    parser.add_argument(
        "--fair-share",
        action="store_true",
        help="only the cost of the per-project limit (SYNAPSE_PROJECT_CONCURRENCY)",
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="synapse-bench-jobs-") as tmp,
        redis_server(Path(tmp)) as redis_url,
    ):
        work = Path(tmp)
        print(f"job benchmark · {time.strftime('%Y-%m-%d')} · {machine(redis_url)}")
        print(
            f"worker: `synapse worker --concurrency {CONCURRENCY}` (prefork, acks_late, prefetch 1,"
            " task events on, Redis result backend) for both kinds\n"
        )
        databases = [("SQLite", f"sqlite:///{work / 'sqlite' / 'bench.db'}")]
        admin = args.postgres.replace("postgresql+psycopg://", "postgresql://")
        pg = scratch_postgres(admin)
        if pg:
            databases.append(("PostgreSQL", pg))
        systems = [System(work, label.lower(), url, redis_url) for label, url in databases]
        results: dict[str, Any] = {"rounds": []}
        labels = [label for label, _url in databases]
        if args.fair_share:
            try:
                rounds = fair_share_rounds(systems, labels, args)
                steps = {
                    label: fair_share_steps(system, 500)
                    for label, system in zip(labels, systems, strict=True)
                }
            finally:
                for system in systems:
                    system.close()
                if pg:
                    drop_postgres(admin, pg)
            fair_share_report(rounds, labels, args.tasks, steps)
            return
        try:
            # The machine's speed drifts (it is shared): raw and job drains alternate, and the
            # medians of the rounds are compared.
            for _ in range(args.rounds):
                rates = {"raw": drain(systems[0], "raw", args.tasks)}
                for (label, _url), system in zip(databases, systems, strict=True):
                    rates[label] = drain(system, "job", args.tasks)
                results["rounds"].append(rates)
            for (label, _url), system in zip(databases, systems, strict=True):
                results[label] = {
                    "steps": step_costs(system, 500),
                    "enqueue": enqueue_rate(system, args.uploads, args.threads),
                }
            results["latency"] = latency_runs(systems[-1], databases[-1][0], args)
        finally:
            for system in systems:
                system.close()
            if pg:
                drop_postgres(admin, pg)
        report(results, [label for label, _url in databases], args)


def latency_runs(system: System, label: str, args: argparse.Namespace) -> dict[Any, Any]:
    system.spawn("api", "api")
    system.worker("latency")
    base = f"http://127.0.0.1:{system.port}"
    wait(lambda: httpx.get(f"{base}/readyz", timeout=3).status_code == 200, 60, "readyz")
    return {
        "database": label,
        1: event_latency(system, 1, args.events, args.interval),
        100: event_latency(system, 100, args.events, args.interval),
    }


def report(results: dict[str, Any], dbs: list[str], args: argparse.Namespace) -> None:
    rounds = results["rounds"]
    print(
        f"1. drain of {args.tasks:,} queued no-op tasks, tasks/s (one worker, {CONCURRENCY} "
        f"processes); {len(rounds)} rounds, raw and job drains alternated"
    )
    print("| round | raw Celery | " + " | ".join(f"job layer, {db}" for db in dbs) + " |")
    print("|---|---:|" + "---:|" * len(dbs))
    for number, rates in enumerate(rounds, start=1):
        cells = " | ".join(f"{rates[db]:,.0f} ({rates[db] / rates['raw']:.2f})" for db in dbs)
        print(f"| {number} | {rates['raw']:,.0f} | {cells} |")
    raw = statistics.median(r["raw"] for r in rounds)
    medians = {db: statistics.median(r[db] for r in rounds) for db in dbs}
    cells = " | ".join(f"**{medians[db]:,.0f} ({medians[db] / raw:.2f})**" for db in dbs)
    print(f"| median | **{raw:,.0f}** | {cells} |")
    for db in dbs:
        ratio = medians[db] / raw
        print(f"ratio {db}: {ratio:.2f}, target >= 0.75 {'met' if ratio >= 0.75 else 'NOT met'}")
    per_raw = CONCURRENCY / raw * 1e6
    added = ", ".join(f"{db} {CONCURRENCY / medians[db] * 1e6 - per_raw:,.0f} µs" for db in dbs)
    print(
        f"\n2. the job layer's steps, median µs per job, timed in-process. Raw Celery costs "
        f"{per_raw:,.0f} µs per task and worker process; a job adds {added}"
    )
    print("| step | " + " | ".join(dbs) + " |")
    print("|---|" + "---:|" * len(dbs))
    for name, text in STEPS:
        print(
            f"| {text} | " + " | ".join(f"{results[db]['steps'][name]:,.0f}" for db in dbs) + " |"
        )
    print(
        "| total | " + " | ".join(f"{sum(results[db]['steps'].values()):,.0f}" for db in dbs) + " |"
    )
    print(f"\n3. enqueue through the HTTP API: {args.uploads} uploads of a 2-row CSV, "
          f"{args.threads} clients at once, no worker")  # fmt: skip
    print("| database | uploads/s | p50 ms | p95 ms |")
    print("|---|---:|---:|---:|")
    for db in dbs:
        rate, p50, p95 = results[db]["enqueue"]
        print(f"| {db} | {rate:,.0f} | {p50:.1f} | {p95:.1f} |")
    latency = results.get("latency")
    if latency:
        print(
            "\n4. progress-event latency, worker -> Redis -> API relay -> WebSocket client "
            f"({args.events} events {args.interval * 1000:.0f} ms apart; {latency['database']})"
        )
        print("| clients | events received | p50 ms | p95 ms | p99 ms | max ms | p95 < 50 ms |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for clients in (1, 100):
            values = latency[clients]
            p95 = pct(values, 95)
            print(
                f"| {clients} | {len(values):,} | {pct(values, 50):.1f} | {p95:.1f} | "
                f"{pct(values, 99):.1f} | {max(values):.1f} | {'met' if p95 < 50 else 'NOT met'} |"
            )


if __name__ == "__main__":
    main()
