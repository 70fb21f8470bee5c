"""Running pg_dump and pg_restore with credentials that never reach a command line or a log.

The connection goes to the tools as libpq environment variables (PGHOST, PGPORT, PGUSER,
PGDATABASE, PGSSLMODE…) and the password as a temporary PGPASSFILE (mode 0600, removed right
after), so `ps` shows no secret; a tool's message is returned with the password masked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from synapse.config import Settings
from synapse.errors import OperationFailed

# URL query options that libpq also reads from the environment.
QUERY_ENV = {
    "host": "PGHOST",
    "port": "PGPORT",
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
    "options": "PGOPTIONS",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}
ENV_KEYWORD = {value: key for key, value in QUERY_ENV.items()} | {
    "PGUSER": "user",
    "PGDATABASE": "dbname",
}
MAX_MESSAGE = 2000


@dataclass(frozen=True)
class PgTarget:
    """A PostgreSQL database as libpq environment variables, plus its password apart."""

    env: dict[str, str]
    password: str | None = field(repr=False)
    display: str  # the URL with the password masked, for messages

    @classmethod
    def from_url(cls, url: str) -> PgTarget:
        parsed = make_url(url)
        env = {"PGCONNECT_TIMEOUT": "10"}
        for key, value in parsed.query.items():
            if key in QUERY_ENV:
                env[QUERY_ENV[key]] = value if isinstance(value, str) else value[-1]
        if parsed.host:
            env["PGHOST"] = parsed.host
        if parsed.port:
            env["PGPORT"] = str(parsed.port)
        if parsed.username:
            env["PGUSER"] = parsed.username
        if not parsed.database:
            raise OperationFailed(f"the database URL names no database: {cls.mask(url, parsed)}")
        env["PGDATABASE"] = parsed.database
        return cls(env=env, password=parsed.password, display=cls.mask(url, parsed))

    @staticmethod
    def mask(url: str, parsed: Any) -> str:
        shown: str = parsed.set(drivername="postgresql").render_as_string(hide_password=True)
        return shown

    @property
    def dbname(self) -> str:
        return self.env["PGDATABASE"]

    def scrub(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text

    def connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        """A psycopg connection to the same database (in this process only)."""
        params = {ENV_KEYWORD[k]: v for k, v in self.env.items() if k in ENV_KEYWORD}
        if self.password:
            params["password"] = self.password
        return psycopg.connect(make_conninfo("", **params), **kwargs)


def tool(settings: Settings, name: str) -> str:
    """The path of a PostgreSQL client tool (SYNAPSE_PG_BIN_DIR, else the PATH)."""
    if settings.pg_bin_dir is not None:
        candidate = settings.pg_bin_dir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
        raise OperationFailed(f"{name} was not found in SYNAPSE_PG_BIN_DIR ({settings.pg_bin_dir})")
    found = shutil.which(name)
    if found is None:
        raise OperationFailed(
            f"{name} was not found on the PATH: install the PostgreSQL client tools "
            "(the postgresql-client package, of the server's major version or newer) "
            "or set SYNAPSE_PG_BIN_DIR"
        )
    return found


@contextmanager
def tool_env(target: PgTarget) -> Iterator[dict[str, str]]:
    """The environment for a tool: libpq variables and, with a password, a private PGPASSFILE."""
    env = dict(os.environ)
    env.update(target.env)
    if not target.password:  # credentials as the operator set them up (PGPASSWORD, ~/.pgpass)
        yield env
        return
    env.pop("PGPASSWORD", None)  # it would win over the passfile
    folder = Path(tempfile.mkdtemp(prefix="synapse-pg-"))  # mode 0700
    passfile = folder / "pgpass"
    try:
        escaped = target.password.replace("\\", "\\\\").replace(":", "\\:")
        fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"*:*:*:*:{escaped}\n")
        env["PGPASSFILE"] = str(passfile)
        yield env
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(
    argv: list[str],
    *,
    env: dict[str, str],
    target: PgTarget | None = None,
    watch: Callable[[], None] | None = None,
    interval: float = 0.5,
) -> str:
    """Run a tool to its end, calling `watch` meanwhile (progress, cancel: it may raise, which
    stops the tool). Returns its standard output; a failure raises with the tool's message."""
    name = Path(argv[0]).name
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        try:
            while proc.poll() is None:
                if watch is not None:
                    watch()
                time.sleep(interval)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err.seek(0)
        message = err.read().decode(errors="replace").strip()
        message = target.scrub(message) if target else message
        if proc.returncode != 0:
            if len(message) > MAX_MESSAGE:
                message = message[:MAX_MESSAGE] + " …"
            raise OperationFailed(
                f"{name} failed (exit {proc.returncode}): {message or 'no message'}"
            )
        out.seek(0)
        return out.read().decode(errors="replace")


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Rows of every table of the current schema, in the connection's transaction."""
    names = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') ORDER BY c.relname"
        )
    ]
    counts = {}
    for name in names:
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
        ).fetchone()
        counts[name] = int(row[0]) if row else 0
    return counts


def archive_tables(listing: str) -> set[str]:
    """Tables whose data a `pg_restore --list` table of contents holds."""
    found = set()
    for line in listing.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        # "215; 0 16390 TABLE DATA public jobs postgres"
        parts = line.split(" TABLE DATA ", 1)[1].split()
        if len(parts) >= 2:
            found.add(parts[1])
    return found
