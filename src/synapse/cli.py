"""The `synapse` command: thin commands over the service functions."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated

import typer

from synapse.client.commands import demo_data, import_file, jobs_app
from synapse.config import QUEUES, get_settings

cli = typer.Typer(
    help="SYNAPSE background processing.", no_args_is_help=True, pretty_exceptions_enable=False
)


def _logging(role: str) -> None:
    from synapse.logs import setup_logging

    setup_logging(get_settings(), role)  # SYNAPSE_LOG_FORMAT=text|json, as api, worker and beat


def _refuse_exposure(host: str) -> None:
    from synapse.auth import TokenConfigError, check_exposure

    try:
        check_exposure(host, get_settings().tokens)
    except TokenConfigError as exc:
        typer.echo(f"synapse: {exc}", err=True)
        raise typer.Exit(2) from None


@cli.command()
def up(
    concurrency: Annotated[int | None, typer.Option(help="worker processes")] = None,
) -> None:
    """Run the whole system on this machine (embedded Redis unless REDIS_URL is set)."""
    from synapse.embedded import Supervisor

    _refuse_exposure(get_settings().host)
    _logging("up")
    raise typer.Exit(Supervisor(get_settings(), concurrency=concurrency).run())


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from synapse.db.migrate import upgrade

    _logging("migrate")
    upgrade(get_settings())
    typer.echo("database is up to date")


@cli.command()
def api(
    host: Annotated[str | None, typer.Option(help="default: SYNAPSE_HOST")] = None,
    port: Annotated[int | None, typer.Option(help="default: SYNAPSE_PORT")] = None,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes")] = 1,
) -> None:
    """Run the HTTP + WebSocket API (uvicorn)."""
    import uvicorn

    from synapse.logs import logging_config

    if host:  # the app reads its host from the settings, to refuse an unsafe one
        os.environ["SYNAPSE_HOST"] = host
        get_settings.cache_clear()
    settings = get_settings()
    _refuse_exposure(settings.host)
    uvicorn.run(
        "synapse.api.app:create_app",
        factory=True,
        host=settings.host,
        port=port or settings.port,
        workers=workers,
        log_level=settings.log_level.lower(),
        log_config=logging_config(settings, "api"),
        ws_ping_interval=20,
    )


@cli.command()
def worker(
    concurrency: Annotated[int | None, typer.Option(help="processes")] = None,
    queues: Annotated[str, typer.Option(help="taken in this order")] = ",".join(QUEUES),
    name: Annotated[str | None, typer.Option(help="node name")] = None,
) -> None:
    """Run a Celery worker taking urgent, then default, then bulk jobs."""
    from synapse.celery_app import app

    settings = get_settings()
    app.worker_main(
        [
            "worker",
            f"--loglevel={settings.log_level}",
            f"--concurrency={concurrency or settings.worker_concurrency}",
            f"--queues={queues}",
            f"--hostname={name or f'worker{os.getpid()}@%h'}",
            "--pool=prefork",
        ]
    )


@cli.command()
def beat() -> None:
    """Run Celery Beat, the scheduler. A second beat only stands by (the beat lock in Redis);
    the schedule's state lives in Redis too, so beat needs no file of its own."""
    from synapse.celery_app import app

    settings = get_settings()
    app.start(["beat", f"--loglevel={settings.log_level}", "--pidfile="])


@cli.command()
def flower(
    port: Annotated[int, typer.Option(help="where Flower listens")] = 5555,
    address: Annotated[str | None, typer.Option(help="default: SYNAPSE_HOST")] = None,
    basic_auth: Annotated[
        str | None,
        typer.Option(envvar="FLOWER_BASIC_AUTH", show_default=False, help="user:password[,…]"),
    ] = None,
) -> None:
    """Run Flower, Celery's monitoring UI, on this system's broker (the `flower` extra)."""
    from synapse.auth import is_loopback
    from synapse.celery_app import app

    if importlib.util.find_spec("flower") is None:
        typer.echo("synapse: Flower is not installed: pip install 'synapse[flower]'", err=True)
        raise typer.Exit(2)
    address = address or get_settings().host
    if basic_auth:  # Flower reads it from its environment: never on a command line (ps shows it)
        os.environ["FLOWER_BASIC_AUTH"] = basic_auth
    elif is_loopback(address):  # open on loopback, like the API without tokens
        os.environ.setdefault("FLOWER_UNAUTHENTICATED_API", "true")
    else:
        typer.echo(
            f"synapse: refusing to serve Flower on {address} without FLOWER_BASIC_AUTH", err=True
        )
        raise typer.Exit(2)
    _logging("flower")
    app.start(["flower", f"--port={port}", f"--address={address}"])


@cli.command()
def backup() -> None:
    """Make a verified backup of the database now, in this process (also a job: see docs)."""
    from synapse.errors import OperationFailed
    from synapse.maintenance.backup import run_backup
    from synapse.maintenance.common import Quiet

    _logging("backup")
    try:
        result = run_backup(get_settings(), Quiet())
    except OperationFailed as exc:
        typer.echo(f"synapse: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{result['summary']}\n{get_settings().backups_dir / result['backup']['name']}")


@cli.command()
def restore(
    file: Annotated[str, typer.Argument(help="a backup file, or its name in the backup folder")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="restore without asking")] = False,
) -> None:
    """Bring the database back to a backup: every row is replaced by the backup's."""
    from synapse.errors import OperationFailed
    from synapse.maintenance import restore as restoring

    _logging("restore")
    settings = get_settings()
    try:
        chosen = restoring.plan(settings, file)
        typer.echo(f"Restore {chosen.describe()}")
        if not yes and not typer.confirm(
            "This replaces every row of the database. Stop the API, workers and beat first. "
            "Restore now?",
            default=False,
        ):
            typer.echo("Nothing was changed.")
            raise typer.Exit(1)
        outcome = restoring.restore(settings, chosen)
    except OperationFailed as exc:
        typer.echo(f"synapse: {exc}", err=True)
        raise typer.Exit(1) from None
    tables = outcome["tables"]
    typer.echo(f"Restored {len(tables)} tables, {sum(tables.values()):,} rows.")
    if outcome["differences"]:
        for table, diff in outcome["differences"].items():
            typer.echo(f"  {table}: {diff['now']} rows, the backup had {diff['backup']}", err=True)
        raise typer.Exit(1)
    typer.echo(
        "Row counts match the backup's."
        if outcome["expected"]
        else "The backup has no manifest: row counts not compared."
    )


# Client commands: they speak to a running API (SYNAPSE_API_URL, SYNAPSE_TOKEN).
cli.add_typer(jobs_app, name="jobs")
cli.command("import")(import_file)
cli.command("demo-data")(demo_data)


def main() -> None:
    from pydantic import ValidationError

    try:
        cli()
    except ValidationError as exc:  # bad settings: say which, without a traceback
        for error in exc.errors():
            where = ".".join(str(x) for x in error["loc"]) or "settings"
            typer.echo(f"synapse: invalid setting {where}: {error['msg']}", err=True)
        raise SystemExit(2) from None
