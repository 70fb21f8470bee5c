"""Where an import's time goes: timers patched around functions of `synapse.imports` (`apply`,
the stagers, the ledger and asset statements), the option of skipping the ledger's statements,
one timed `run_import`, and the accounting built on them (phases, the ledger's cost)."""

from __future__ import annotations

import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

from common import Quiet
from synapse.config import Settings
from synapse.imports import apply, identical, service, writer
from synapse.imports.service import ImportRequest, run_import


class _Skipped:
    """What a skipped ledger statement returns in place of its cursor: a row count of -1, "not
    known" (an applied import then inserts its new assets without knowing how many there are:
    it counts them from that INSERT, not from the ledger)."""

    rowcount = -1


def _statement_kind(text: str) -> str:
    head = text.lstrip()[:40]
    if head.startswith("INSERT INTO asset_changes"):
        return "ledger"
    if head.startswith(("INSERT INTO assets", "UPDATE assets")):
        return "write"
    return "other"


@contextmanager
def instrumented(skip_ledger: bool = False, fast_path: bool = True) -> Iterator[dict[str, float]]:
    """Seconds spent in the stages of `run_import`, by timers around functions of
    `synapse.imports` (patched for the duration; the product code is not changed):

    - `apply`: `apply_import`, everything after reading (compare, ledger, writes, commit);
    - `stage`: `Stager.add` (rows into the temporary staging table; on PostgreSQL writes to
      the open COPY) and `begin` (PostgreSQL: the end of that COPY and ANALYZE);
    - `ledger`: the statements writing `asset_changes` (`_Dialect.run`/`many`);
    - `write`: the statements writing `assets`;
    - `commit`.

    With `skip_ledger`, the ledger statements are not executed at all (INSERT ... SELECT and
    executemany alike). With `fast_path=False`, `imports.identical` never finds an import
    identical, so an identical re-import takes the normal path (read, stage, compare).
    """
    spent: dict[str, float] = defaultdict(float)

    def timed(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started

        return wrapper

    def statement(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, text: str, *args: Any) -> Any:
            kind = _statement_kind(text)
            if kind == "ledger" and skip_ledger:
                return _Skipped()
            if kind == "other":
                return fn(self, text, *args)
            return timed(kind, fn)(self, text, *args)

        return wrapper

    with ExitStack() as stack:

        def patch(owner: Any, name: str, new: Any) -> None:
            stack.enter_context(mock.patch.object(owner, name, new))

        patch(service, "apply_import", timed("apply", apply.apply_import))
        patch(identical, "record_if_identical", timed("identical", identical.record_if_identical))
        if not fast_path:
            patch(identical, "record_if_identical", lambda *args, **kwargs: None)
        patch(apply._Dialect, "run", statement(apply._Dialect.run))
        patch(apply._Dialect, "many", statement(apply._Dialect.many))
        for stager in (writer.SqliteStager, writer.PostgresStager):
            patch(stager, "add", timed("add", stager.add))
            patch(stager, "begin", timed("begin", stager.begin))
            patch(stager, "commit", timed("commit", stager.commit))
        yield spent


@dataclass
class Run:
    seconds: float
    rows: int
    cpu: float = 0.0  # this process's CPU seconds (not a database server's)
    spent: dict[str, float] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def phases(self) -> dict[str, float]:
        """The run's seconds by stage; they add up to `seconds`. The identical re-import's
        check (and, when it holds, its whole record) counts as "compare"."""
        s = self.spent
        apply_s, begin = s.get("apply", 0.0), s.get("begin", 0.0)
        ledger, write, commit = s.get("ledger", 0.0), s.get("write", 0.0), s.get("commit", 0.0)
        stage, same = s.get("add", 0.0) + begin, s.get("identical", 0.0)
        return {
            "read+validate": self.seconds - apply_s - s.get("add", 0.0) - same,
            "stage": stage,
            "compare": apply_s - begin - ledger - write - commit + same,
            "ledger": ledger,
            "write": write,
            "commit": commit,
        }


def import_file(
    settings: Settings,
    path: Path,
    key: str,
    rows: int,
    *,
    skip_ledger: bool = False,
    fast_path: bool = True,
) -> Run:
    """One `run_import` (upsert, as the API runs it, with a job id for the ledger), timed."""
    request = ImportRequest(project_key=key, path=path, job_id=str(uuid.uuid4()))
    with instrumented(skip_ledger, fast_path) as spent:
        started, cpu = time.perf_counter(), time.process_time()
        result = run_import(settings, request, Quiet())
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return Run(seconds, rows, cpu, dict(spent), result)


def expect(run: Run, identical: bool | None = None, **counts: int) -> Run:
    """The import did what the case says (so a fast figure is not a broken import); with
    `identical`, whether it took the identical re-import's fast path."""
    got = {name: run.result[f"{name}_count"] for name in counts}
    if got != counts:
        raise AssertionError(f"expected {counts}, the import reported {got}")
    if identical is not None and ("identical_to" in run.result) != identical:
        raise AssertionError(f"expected the fast path {identical}, got {run.result}")
    return run


def best(runs: list[Run]) -> Run:
    return min(runs, key=lambda r: r.seconds)


# The stages of `Run.phases`, in the order of the "where the time goes" table.
PHASES = ("read+validate", "stage", "compare", "ledger", "write", "commit")


APPLY = ("compare", "ledger", "write", "commit")


@dataclass
class LedgerCost:
    """The ledger's cost over the import without it, three ways (see LEGEND in bench_import.py)."""

    apply: float  # the apply phases of the two imports compared: the verdict
    whole: float  # the two whole imports compared
    statements: float  # the ledger statements' own time over the rest

    @classmethod
    def of(cls, with_ledger: Run, skipped_ledger: Run) -> LedgerCost:
        """From a first import with its ledger and the same import with the ledger skipped."""
        first, skipped = with_ledger.phases(), skipped_ledger.phases()
        extra = sum(first[p] for p in APPLY) - sum(skipped[p] for p in APPLY)
        total = with_ledger.seconds
        return cls(
            apply=extra / (total - extra),
            whole=total / skipped_ledger.seconds - 1,
            statements=first["ledger"] / (total - first["ledger"]),
        )

    def describe(self) -> str:
        return (
            f"ledger {self.apply:+.0%} (apply phases compared; whole imports {self.whole:+.0%}, "
            f"its statements alone {self.statements:+.0%})"
        )
