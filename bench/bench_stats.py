"""The Dashboard's queries over 100,000 finished jobs: throughput, durations and queue latency
for each window, on SQLite and (with a URL) PostgreSQL; the percentiles are checked against
linear interpolation in Python over the same seeded values.

    .venv/bin/python bench/bench_stats.py [--postgres postgresql://…/scratch_db] [--jobs 100000]

The PostgreSQL database given is written to (its `jobs` table gets the seeded rows, removed
afterwards): give it a scratch database.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert

from synapse import stats
from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.migrate import upgrade
from synapse.db.models import Job, utcnow

TYPES = ("import_csv_assets", "generate_package", "run_rules")


def seed(settings: Settings, count: int) -> list[dict[str, Any]]:
    """`count` finished jobs over the last 7 days, 10 % failed and 10 % cancelled."""
    rng = random.Random(1)
    now = utcnow()
    rows = []
    for _ in range(count):
        created = now - timedelta(seconds=rng.uniform(0, 7 * 86_400))
        started = created + timedelta(seconds=rng.expovariate(1 / 3))
        rows.append(
            {"id": f"bench-{uuid.uuid4().hex}", "type": rng.choice(TYPES),
             "project_key": rng.choice(["p1", "p2"]), "params": {},
             "queue": rng.choice(["default", "bulk", "urgent"]),
             "state": rng.choice(["SUCCESS"] * 8 + ["FAILURE", "CANCELLED"]),
             "created_at": created, "started_at": started,
             "finished_at": started + timedelta(seconds=rng.expovariate(1 / 20))}
        )  # fmt: skip
    with session_scope(settings) as session:
        session.execute(delete(Job).where(Job.id.like("bench-%")))
        for start in range(0, len(rows), 10_000):
            session.execute(insert(Job), rows[start : start + 10_000])
    return rows


def best_ms(call: Callable[[], Any], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        times.append((time.perf_counter() - began) * 1000)
    return min(times)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    position = p * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def run(name: str, settings: Settings, count: int) -> None:
    upgrade(settings)
    rows = seed(settings, count)
    print(f"\n{name}: {count:,} finished jobs over 7 days (best of 5, ms)")
    print(f"{'window':>7} {'throughput':>11} {'durations':>10} {'latency':>8} {'member':>8}")
    for window in stats.WINDOWS:
        span = stats.span_of(window, None)
        with session_scope(settings) as session:
            figures = [
                best_ms(lambda s=span, ss=session: stats.throughput(ss, s, scope=None)),
                best_ms(lambda s=span, ss=session: stats.durations(ss, s, scope=None)),
                best_ms(lambda s=span, ss=session: stats.latency(ss, s, scope=None)),
                best_ms(lambda s=span, ss=session: stats.durations(ss, s, scope=frozenset({"p1"}))),
            ]
        print(f"{window:>7} " + " ".join(f"{v:>10.1f}" for v in figures))
    span = stats.span_of("7d", None)
    with session_scope(settings) as session:
        found = {item["type"]: item for item in stats.durations(session, span, scope=None)}
    worst = 0.0
    for job_type in TYPES:
        runs = [
            (r["finished_at"] - r["started_at"]).total_seconds()
            for r in rows
            if r["type"] == job_type and r["finished_at"] >= span.start
        ]
        for key, p in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            worst = max(worst, abs(found[job_type][key] - percentile(runs, p)))
    print(f"largest difference from Python's own percentiles: {worst:.4f} s")
    with session_scope(settings) as session:
        session.execute(delete(Job).where(Job.id.like("bench-%")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--postgres", help="a scratch PostgreSQL database URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        settings = Settings(_env_file=None, data_dir=Path(folder), database_url=url)  # type: ignore[call-arg]
        run("SQLite", settings, args.jobs)
        if args.postgres:
            pg = Settings(_env_file=None, data_dir=Path(folder), database_url=args.postgres)  # type: ignore[call-arg]
            run("PostgreSQL", pg, args.jobs)


if __name__ == "__main__":
    main()
