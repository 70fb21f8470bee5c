"""`make bench-scheduled`: how soon after its time a scheduled job starts (docs/scheduled-jobs.md).

Per database: one `synapse worker` (prefork, 2 processes) and one `synapse beat`; 1,000 no-op
jobs submitted with `run_at` 5-15 s after their own submission (about 100 fall due each second).
Prints, over the 1,000 jobs: how long after its time the beat queued each one ("Due at" log
line) and how long after its time each one started (`started_at - run_at`), p50/p95/p99/max, and
how many started early (must be 0). Target: every job started within 1 s of its time.
SQLite always; PostgreSQL too when reachable (SYNAPSE_TEST_POSTGRES_URL or the local default).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import drop_postgres, redis_server, scratch_postgres, wait
from jobs_cases import DEFAULT_PG, System, machine


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return (
        f"p50 {at(0.50):.3f} s, p95 {at(0.95):.3f} s, p99 {at(0.99):.3f} s, max {ordered[-1]:.3f} s"
    )


def run(system: System, count: int) -> None:
    from sqlalchemy import select

    from synapse.db.engine import session_scope
    from synapse.db.models import Job, JobLog
    from synapse.jobs.service import submit_job
    from synapse.jobs.workers import list_workers
    from synapse.maintenance.beatlock import beat_status

    system.worker("worker")
    system.spawn("beat", "beat")
    wait(lambda: list_workers(system.settings), 60, "the worker")
    wait(lambda: beat_status(system.settings).leader, 60, "the beat")
    rng = random.Random(count)
    due: dict[str, datetime] = {}
    for _ in range(count):
        run_at = datetime.now(UTC) + timedelta(seconds=rng.uniform(5, 15))
        job = submit_job(
            settings=system.settings,
            celery=system.celery,
            task_name="bench.job_noop",
            params={},
            run_at=run_at,
        )
        due[job.id] = run_at

    def finished() -> dict[str, Job] | None:
        with session_scope(system.settings) as session:
            jobs = session.scalars(select(Job).where(Job.id.in_(due))).all()
        done = {job.id: job for job in jobs if job.state == "SUCCESS"}
        return done if len(done) == len(due) else None

    jobs = wait(finished, 120, "every scheduled job", interval=0.5)
    with session_scope(system.settings) as session:
        queued_at = dict(
            session.execute(
                select(JobLog.job_id, JobLog.at).where(
                    JobLog.job_id.in_(due), JobLog.message.like("Due at%")
                )
            ).all()
        )
    released = [(queued_at[i] - due[i]).total_seconds() for i in due if i in queued_at]
    started = [(jobs[i].started_at - due[i]).total_seconds() for i in due]  # type: ignore[operator]
    early = sum(1 for s in started if s < 0)
    within = sum(1 for s in started if 0 <= s <= 1.0)
    print(f"  queued by the beat after its time: {percentiles(released)}")
    print(f"  started after its time:            {percentiles(started)}")
    print(f"  started within 1 s: {within}/{count}; started early: {early}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-scheduled-") as tmp:
        work = Path(tmp)
        with redis_server(work) as redis_url:
            print(f"bench-scheduled on {machine(redis_url)}")
            print(f"{args.count:,} no-op jobs due 5-15 s after submission, 1 worker x 2 processes")
            sqlite = System(work, "sqlite", f"sqlite:///{work / 'sqlite.db'}", redis_url)
            print("SQLite:")
            try:
                run(sqlite, args.count)
            finally:
                sqlite.close()
            admin = os.environ.get("SYNAPSE_TEST_POSTGRES_URL", DEFAULT_PG)
            url = scratch_postgres(admin)
            if url is None:
                print("PostgreSQL: not reachable, skipped")
                return
            pg = System(work, "postgresql", url, redis_url)
            print("PostgreSQL:")
            try:
                run(pg, args.count)
            finally:
                pg.close()
                drop_postgres(admin, url)


if __name__ == "__main__":
    main()
