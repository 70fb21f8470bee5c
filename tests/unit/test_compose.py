"""docker-compose.yml and the Dockerfile, checked without a Docker engine.

Every command in the compose file must name a real `synapse` or `celery` entry point, with
options those commands accept (parsed by their own click parsers, never run); every setting it
passes must be one SYNAPSE reads.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from synapse.cli import cli
from synapse.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC_SERVICES = {"redis", "postgres", "api", "celery-worker", "celery-beat", "flower"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run our image."""
    return {
        name: service
        for name, service in compose["services"].items()
        if service.get("build") or str(service.get("image", "")).startswith("synapse")
    }


def parse_command(argv: list[str]) -> Any:
    """Parse argv with the real command's parser (no callback runs); fail on anything unknown."""
    argv = [a.replace("$$", "$") for a in argv]
    program, args = argv[0], argv[1:]
    if program == "synapse":
        group: Any = typer.main.get_command(cli)  # typer carries its own click
    elif program == "celery":
        from celery.bin.celery import celery

        group = celery
    else:
        raise AssertionError(f"{argv}: not a synapse or celery command")
    ctx = group.make_context(program, list(args))
    # The sub-command and its arguments; click keeps the first of them apart ("protected").
    protected = getattr(ctx, "_protected_args", None)
    if protected is None:
        protected = getattr(ctx, "protected_args", [])
    name, command, rest = group.resolve_command(ctx, [*protected, *ctx.args])
    assert command is not None, f"{argv}: no command {name!r}"
    if program == "celery":
        assert ctx.params["app"] == "synapse.celery_app", f"{argv}: -A synapse.celery_app"
    sub = command.make_context(name or "", list(rest), parent=ctx)
    if program == "celery" and name == "flower":
        return sub  # flower passes its own options on to tornado
    assert not sub.args, f"{argv}: unexpected arguments {sub.args}"
    return sub


def test_yaml_has_the_spec_services_with_health_checks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert SPEC_SERVICES <= set(services)
    for name in ("redis", "postgres", "api", "celery-worker", "flower"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    assert services["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    assert "noeviction" in services["redis"]["command"]
    for name in ("redis", "postgres"):  # reachable only inside the compose network
        assert "ports" not in services[name], f"{name} must not be published"
    assert services["flower"]["ports"] == ["127.0.0.1:5555:5555"]
    assert "FLOWER_BASIC_AUTH" in services["flower"]["environment"]


def test_every_command_is_a_real_entry_point(compose: dict[str, Any]) -> None:
    mine = ours(compose)
    assert SPEC_SERVICES - {"redis", "postgres"} <= set(mine)
    seen = set()
    for name, service in mine.items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec (list) form"
        ctx = parse_command(command)
        seen.add(ctx.info_name)
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD-SHELL" and test[1].split()[0] in ("synapse", "celery"):
            parse_command(shlex.split(test[1]))
    assert {"migrate", "api", "worker", "beat", "flower"} <= seen
    worker = parse_command(mine["celery-worker"]["command"])
    assert worker.params["name"] == "worker@%h"
    urgent = parse_command(mine["celery-worker-urgent"]["command"])
    assert urgent.params["queues"] == "urgent"


def test_settings_it_passes_are_settings_we_read(compose: dict[str, Any]) -> None:
    fields = {f"SYNAPSE_{name.upper()}" for name in Settings.model_fields}
    for name, service in ours(compose).items():
        env = service["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SYNAPSE_API_TOKENS"} <= set(env), name
        for key in env:
            if key.startswith("SYNAPSE_"):
                assert key in fields, f"{name}: {key} is not a setting"
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "synapse_data:/data" in service["volumes"]


def test_dependencies_start_in_order_and_volumes_are_declared(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("api", "celery-worker", "celery-beat"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == deps["postgres"]["condition"] == "service_healthy"
    assert "migrate" not in services["migrate"]["depends_on"]
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_dockerfile_runs_our_entry_point_as_a_user() -> None:
    text = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD \[(.+)\]$", text, re.M)
    assert cmd is not None
    parse_command([part.strip().strip('"') for part in cmd.group(1).split(",")])
    assert re.search(r'pip install "\.\[flower\]"', text)
    assert re.search(r"^USER synapse$", text, re.M)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", ".env"} <= set(ignored)
