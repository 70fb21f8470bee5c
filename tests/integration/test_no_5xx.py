"""No 5xx on any input: schemathesis over every operation of `/openapi.json` of a real system
(API, worker, Redis, SQLite), with every check but the three the contract deliberately differs
on (docs/api-checks.md says which and why). Deterministic: the same cases every run.

The system is this module's own: the fuzzer queues backups, runs schedules and pauses queues,
which must not reach the shared systems of other tests."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.system import System, running_system

# Each exclusion is explained in docs/api-checks.md.
EXCLUDED = ("positive_data_acceptance", "unsupported_method", "allow_header_conformance")
# Cases per operation and phase: the suite's budget (about 30 s on two cores) buys 5.
MAX_EXAMPLES = 5
BUDGET_SECONDS = 240


@pytest.fixture(scope="module")
def fuzzed(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("no5xx")
    url = f"sqlite:///{base / 'no5xx' / 'synapse.db'}"
    with running_system("no5xx", database_url=url, redis_url=redis_url, base=base) as system:
        yield system


def test_schemathesis_finds_no_server_error_and_no_contract_violation(
    fuzzed: System, tmp_path: Path
) -> None:
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{fuzzed.base_url}/openapi.json"),
        *("--checks", "all", "--exclude-checks", ",".join(EXCLUDED)),
        *("--phases", "examples,coverage,fuzzing,stateful"),
        *("--max-examples", str(MAX_EXAMPLES), "--generation-deterministic"),
        *("--workers", "2", "--request-timeout", "30", "--no-color"),
        *("--report", "junit", "--report-dir", str(tmp_path)),
    ]
    run = subprocess.run(
        command,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=BUDGET_SECONDS,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-20_000:] + "\n--- API log ---\n" + fuzzed.tail("api", 80)
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-5000:]
    # Every operation of the schema was selected and tested.
    assert selected[1] == selected[2] == tested[1] and int(tested[1]) >= 40, output[-5000:]
