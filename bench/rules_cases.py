"""Pieces of the rules benchmark: data, the ten rules, and the same ten in plain Python."""

from __future__ import annotations

import csv
import io
import random
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from synapse.config import Settings
from synapse.db.engine import get_engine, session_scope
from synapse.db.migrate import upgrade
from synapse.db.models import Asset, utcnow
from synapse.projects import ensure_project
from synapse.rules import crud
from synapse.rules.engine import AssetRow, BatchEngine, compile_rules
from synapse.rules.store import stream_assets

TYPES = ("Motor", "Pump", "Transmitter", "Valve")
_draw = random.Random(7)
_SIZES = [_draw.randrange(5, 2501) for _ in range(100_003)]  # tenths of kW, 0.5 to 250.0


def fields_of(i: int) -> tuple[str, str, dict[str, str]]:
    """Asset i: tag, type and text properties as an imported CSV gives them. Sizes take 2,496
    values (0.5 to 250.0 kW) spread like random draws, areas 40; descriptions nearly unique."""
    kind = TYPES[i % 4]
    props = {
        "power_kw": f"{_SIZES[i % len(_SIZES)] / 10:.1f}",
        "area": f"A{(i * 31) % 40 + 1:02d}",
        "description": f"{kind} for unit {i % 97}, line {i % 13}" if i % 5 == 0 else f"{kind} {i}",
    }
    if kind == "Transmitter" and i % 3:
        props["range_max"] = str(i % 250)
    return f"P-{i:06d}", kind, props


def csv_bytes(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["tag", "type", "power_kw", "area", "description", "range_max"])
    for i in range(rows):
        tag, kind, p = fields_of(i)
        writer.writerow(
            [tag, kind, p["power_kw"], p["area"], p["description"], p.get("range_max", "")]
        )
    return out.getvalue().encode()


def _flag(severity: str, message: str) -> dict[str, Any]:
    return {"type": "flag", "severity": severity, "message": message}


# Ten rules engineers write: six for one type, four for every type; two set properties, one
# reads a derived property, one meets a missing property on every valve (an error finding).
RULES: list[dict[str, Any]] = [
    {"name": "big motors need a VFD", "applies_to": ["Motor"], "condition": "power_kw > 50",
     "action": _flag("warning", "{tag}: {power_kw} kW needs a VFD")},
    {"name": "requires_vfd", "applies_to": ["Motor"], "condition": "power_kw > 50",
     "action": {"type": "set", "property": "requires_vfd", "value": True}},
    {"name": "vfd model", "applies_to": ["Motor"],
     "condition": "get('requires_vfd') == true and not has('vfd_model')",
     "action": _flag("warning", "{tag} needs a VFD model")},
    {"name": "transmitter range", "applies_to": ["Transmitter"],
     "condition": "not has('range_max') or range_max <= 0",
     "action": _flag("error", "{tag} has no range")},
    {"name": "heavy duty", "applies_to": ["Pump"], "condition": "power_kw >= 30",
     "action": {"type": "set", "property": "duty", "value": "heavy"}},
    {"name": "valve stroke", "applies_to": ["Valve"], "condition": "stroke_mm > 10",
     "action": _flag("info", "{tag} has a long stroke")},
    {"name": "small loads", "applies_to": [], "condition": "power_kw < 3",
     "action": _flag("info", "{tag}: {power_kw} kW")},
    {"name": "area A3 instruments", "applies_to": [],
     "condition": "area == 'A03' and type in ['Valve', 'Transmitter']",
     "action": _flag("warning", "{tag} in {area}")},
    {"name": "nines", "applies_to": [], "condition": "'9' in description and power_kw * 2 > 170",
     "action": _flag("info", "{tag}: {description}")},
    {"name": "tag format", "applies_to": [], "condition": "not startswith(tag, 'P-')",
     "action": _flag("error", "{tag} does not follow the tag format")},
]  # fmt: skip

_NUM = re.compile(r"\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*")


def num(text: Any) -> float:
    """What the language does with text where a number is needed, by hand."""
    if isinstance(text, str) and _NUM.fullmatch(text):
        return float(text)
    raise TypeError(f"not a number: {text!r}")


Fields = dict[str, Any]
# The same ten rules in Python: (types or None for all, condition, flag message or set).
PLAIN: list[tuple[tuple[str, ...] | None, Callable[[Fields], bool], Any]] = [
    (("Motor",), lambda f: num(f["power_kw"]) > 50,
     ("warning", lambda f: f"{f['tag']}: {f['power_kw']} kW needs a VFD")),
    (("Motor",), lambda f: num(f["power_kw"]) > 50, ("set", "requires_vfd", True)),
    (("Motor",), lambda f: f.get("requires_vfd") is True and not f.get("vfd_model"),
     ("warning", lambda f: f"{f['tag']} needs a VFD model")),
    (("Transmitter",), lambda f: not f.get("range_max") or num(f["range_max"]) <= 0,
     ("error", lambda f: f"{f['tag']} has no range")),
    (("Pump",), lambda f: num(f["power_kw"]) >= 30, ("set", "duty", "heavy")),
    (("Valve",), lambda f: num(f["stroke_mm"]) > 10,
     ("info", lambda f: f"{f['tag']} has a long stroke")),
    (None, lambda f: num(f["power_kw"]) < 3, ("info", lambda f: f"{f['tag']}: {f['power_kw']} kW")),
    (None, lambda f: f["area"] == "A03" and f["type"] in ("Valve", "Transmitter"),
     ("warning", lambda f: f"{f['tag']} in {f['area']}")),
    (None, lambda f: "9" in f["description"] and num(f["power_kw"]) * 2 > 170,
     ("info", lambda f: f"{f['tag']}: {f['description']}")),
    (None, lambda f: not f["tag"].startswith("P-"),
     ("error", lambda f: f"{f['tag']} does not follow the tag format")),
]  # fmt: skip


def plain_python(assets: list[AssetRow]) -> tuple[int, int, int]:
    """The ten rules hand-written in Python, same loop: (evaluations, findings, properties set)."""
    findings: list[tuple[int, str, str, str]] = []
    patches: dict[int, dict[str, Any]] = {}
    evaluations = 0
    for a in assets:
        f = dict(a.properties, tag=a.tag, type=a.type)
        for number, (types, condition, action) in enumerate(PLAIN, 1):
            if types is not None and a.type not in types:
                continue
            evaluations += 1
            try:
                if not condition(f):
                    continue
            except (KeyError, TypeError) as exc:
                findings.append((number, a.tag, "error", f"cannot evaluate: {exc}"))
                continue
            if action[0] == "set":
                if f.get(action[1]) != action[2]:
                    f[action[1]] = action[2]
                    patches.setdefault(a.id, {})[action[1]] = action[2]
            else:
                findings.append((number, a.tag, action[0], action[1](f)))
    return evaluations, len(findings), sum(len(p) for p in patches.values())


def prepare(work: Path, database_url: str | None, rows: int) -> tuple[Settings, str]:
    """A database with a project of `rows` assets and the ten rules; (settings, project key)."""
    settings = Settings(_env_file=None, data_dir=work, database_url=database_url)  # type: ignore[call-arg]
    upgrade(settings)
    key = f"bench-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    with session_scope(settings) as session:
        pid = ensure_project(session, key).id
        for start in range(0, rows, 20_000):
            batch = [fields_of(i) for i in range(start, min(rows, start + 20_000))]
            session.execute(
                insert(Asset),
                [
                    {"project_id": pid, "tag": t, "type": k, "properties": p,
                     "created_at": now, "updated_at": now}
                    for t, k, p in batch
                ],
            )  # fmt: skip
        for body in RULES:
            crud.create_rule(session, key, body)
    return settings, key


def read_assets(settings: Settings, key: str) -> list[AssetRow]:
    from sqlalchemy import select

    from synapse.db.models import Project, Rule

    with session_scope(settings) as session:
        pid = session.scalar(select(Project.id).where(Project.key == key))
        assert pid is not None
        rows = session.scalars(select(Rule).where(Rule.project_id == pid)).all()
        assert len(rows) == len(RULES)
    with get_engine(settings).connect() as conn:
        return list(stream_assets(conn, pid))


def engine_only(settings: Settings, key: str, assets: list[AssetRow], memo: bool = True) -> Any:
    """The stored rules evaluated over assets already in memory: the outcome."""
    from sqlalchemy import select

    from synapse.db.models import Project, Rule

    with session_scope(settings) as session:
        pid = session.scalar(select(Project.id).where(Project.key == key))
        rules, broken = compile_rules(
            session.scalars(select(Rule).where(Rule.project_id == pid).order_by(Rule.id)).all()
        )
    assert not broken
    return BatchEngine(rules, memo=memo).run(assets)
