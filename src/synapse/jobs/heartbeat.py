"""Liveness of a running job: a thread that writes the job's heartbeat while it runs."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from synapse.config import Settings
from synapse.jobs import store

log = logging.getLogger("synapse.jobs")


class Heartbeat:
    """`with Heartbeat(settings, job_id, attempt):` — beats every `heartbeat_interval` seconds.

    A job whose heartbeat stops (its worker was SIGKILLed, its machine lost) is taken over by the
    next delivery of its message; see `store.claim_attempt`.
    """

    def __init__(self, settings: Settings, *, job_id: str, attempt: int) -> None:
        self.settings = settings
        self.job_id = job_id
        self.attempt = attempt
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{job_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_interval):
            try:
                store.heartbeat(self.settings, job_id=self.job_id, attempt=self.attempt)
            except Exception as exc:  # the database is away: the job itself will notice
                log.warning("heartbeat of %s failed: %s", self.job_id, exc)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
