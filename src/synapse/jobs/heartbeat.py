"""Liveness of a running job: its heartbeat is written while it runs.

One thread per process (a prefork pool process runs one job at a time) beats for every job the
process is running, instead of a thread started and joined for each job.
"""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType

from synapse.config import Settings
from synapse.jobs import attempts

log = logging.getLogger("synapse.jobs")


class _Beater(threading.Thread):
    """Writes the heartbeat of each registered attempt every `interval` seconds."""

    def __init__(self, interval: float) -> None:
        super().__init__(name="synapse-job-heartbeat", daemon=True)
        self.interval = interval
        self.lock = threading.Lock()
        # job id -> (the attempt this process runs, its settings)
        self.attempts: dict[str, tuple[int, Settings]] = {}

    def add(self, settings: Settings, job_id: str, attempt: int) -> None:
        with self.lock:
            self.attempts[job_id] = (attempt, settings)

    def remove(self, job_id: str, attempt: int) -> None:
        with self.lock:
            if job_id in self.attempts and self.attempts[job_id][0] == attempt:
                del self.attempts[job_id]

    def run(self) -> None:
        stop = threading.Event()  # never set: the thread lives as long as its process
        while not stop.wait(self.interval):
            with self.lock:
                running = list(self.attempts.items())
            for job_id, (attempt, settings) in running:
                # A beat that lands after the attempt ended changes nothing: it only touches
                # the row while that attempt is RUNNING.
                try:
                    attempts.heartbeat(settings, job_id=job_id, attempt=attempt)
                except Exception as exc:  # the database is away: the job itself will notice
                    log.warning("heartbeat of %s failed: %s", job_id, exc)


_lock = threading.Lock()
_beaters: dict[tuple[int, float], _Beater] = {}


def _beater(settings: Settings) -> _Beater:
    """This process's heartbeat thread (a forked process starts its own)."""
    key = (os.getpid(), settings.heartbeat_interval)
    with _lock:
        beater = _beaters.get(key)
        if beater is None or not beater.is_alive():
            beater = _beaters[key] = _Beater(settings.heartbeat_interval)
            beater.start()
        return beater


class Heartbeat:
    """`with Heartbeat(settings, job_id, attempt):` — beats every `heartbeat_interval` seconds.

    A job whose heartbeat stops (its worker was SIGKILLed, its machine lost) is taken over by the
    next delivery of its message; see `attempts.claim_attempt`.
    """

    def __init__(self, settings: Settings, *, job_id: str, attempt: int) -> None:
        self.settings = settings
        self.job_id = job_id
        self.attempt = attempt
        self._beater: _Beater | None = None

    def __enter__(self) -> Heartbeat:
        self._beater = _beater(self.settings)
        self._beater.add(self.settings, self.job_id, self.attempt)
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if self._beater is not None:
            self._beater.remove(self.job_id, self.attempt)
