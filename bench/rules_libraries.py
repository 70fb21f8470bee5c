"""Which expression library for the rule language: the same ten conditions in each.

Not part of `make bench-rules` (the other libraries are not dependencies). To run it:

    python -m venv .venv-libs && .venv-libs/bin/pip install simpleeval rule-engine cel-python \
        pydantic orjson
    PYTHONPATH=src .venv-libs/bin/python bench/rules_libraries.py

Each library gets the assets with numbers already converted (what it needs to compare text
numbers as numbers); ours gets the text as imported, and converts as it compares.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

TYPES = ("Motor", "Pump", "Transmitter", "Valve")
CONDITIONS = [
    'type == "Motor" and power_kw > 50',
    'type == "Pump" and power_kw >= 30',
    "power_kw < 5",
    'type == "Valve" or type == "Pump"',
    'area == "A3"',
    "power_kw > 20 and power_kw < 40",
    'not (type == "Motor")',
    'type == "Transmitter" and area != "A1"',
    "power_kw * 2 > 150",
    'tag == "P-000042"',
]
PLAIN: list[Callable[[dict[str, Any]], bool]] = [
    lambda a: a["type"] == "Motor" and a["power_kw"] > 50,
    lambda a: a["type"] == "Pump" and a["power_kw"] >= 30,
    lambda a: a["power_kw"] < 5,
    lambda a: a["type"] == "Valve" or a["type"] == "Pump",
    lambda a: a["area"] == "A3",
    lambda a: a["power_kw"] > 20 and a["power_kw"] < 40,
    lambda a: not (a["type"] == "Motor"),
    lambda a: a["type"] == "Transmitter" and a["area"] != "A1",
    lambda a: a["power_kw"] * 2 > 150,
    lambda a: a["tag"] == "P-000042",
]


def assets(n: int) -> list[dict[str, Any]]:
    return [
        {"tag": f"P-{i:06d}", "type": TYPES[i % 4], "power_kw": str(i % 90 + 1),
         "area": f"A{i % 7}", "description": f"item {i}"}
        for i in range(n)
    ]  # fmt: skip


def numbers(asset: dict[str, Any]) -> dict[str, Any]:
    return asset | {"power_kw": int(asset["power_kw"])}


def measure(name: str, evaluate: Callable[[Any, Any], Any], compiled: list[Any], rows: list[Any]
            ) -> None:  # fmt: skip
    best, hits = float("inf"), 0
    for _ in range(3):
        started, hits = time.perf_counter(), 0
        for row in rows:
            for item in compiled:
                hits += bool(evaluate(item, row))
        best = min(best, time.perf_counter() - started)
    count = len(rows) * len(compiled)
    print(f"  {name:<34} {count:>9,} {best:>8.3f}s {count / best:>12,.0f}/s   hits {hits:,}")


def main(n: int) -> None:
    data = assets(n)
    converted = [numbers(a) for a in data]
    print(
        f"{len(CONDITIONS)} conditions x {n:,} assets, best of 3 (Python {sys.version.split()[0]})"
    )
    measure("plain Python", lambda fn, row: fn(row), PLAIN, converted)
    try:
        from synapse.rules.language import Evaluator, TreeEvaluator, compile_condition

        conditions = [compile_condition(c) for c in CONDITIONS]
        measure("synapse closures + text numbers", Evaluator().test, conditions, data)
        measure("synapse tree walk (simpleeval)", TreeEvaluator().test, conditions, data)
    except ImportError as exc:
        print(f"  synapse: not importable ({exc}); run with PYTHONPATH=src")
    try:
        import simpleeval

        plain = simpleeval.SimpleEval()
        trees = [(c, plain.parse(c)) for c in CONDITIONS]

        def simple(item: Any, row: Any) -> Any:
            plain.names = row
            return plain.eval(item[0], previously_parsed=item[1])

        measure(f"simpleeval {version('simpleeval')}", simple, trees, converted)
    except ImportError:
        print("  simpleeval: not installed")
    try:
        import rule_engine

        context = rule_engine.Context(default_value=None)
        rules = [rule_engine.Rule(c, context=context) for c in CONDITIONS]
        measure(f"rule-engine {version('rule-engine')}", lambda r, row: r.matches(row), rules,
                converted)  # fmt: skip
    except ImportError:
        print("  rule-engine: not installed")
    try:
        import celpy

        env = celpy.Environment()
        cel = [c.replace(" and ", " && ").replace(" or ", " || ").replace("not (", "!(")
               for c in CONDITIONS]  # fmt: skip
        programs = [env.program(env.compile(c)) for c in cel]
        rows = [celpy.json_to_cel(a) for a in converted[: max(1, n // 10)]]
        measure(
            f"cel-python {version('cel-python')} (n/10)",
            lambda p, row: p.evaluate(row),
            programs,
            rows,
        )
    except ImportError:
        print("  cel-python: not installed")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
