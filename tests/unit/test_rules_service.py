"""run_rules and the rules' CRUD on a real SQLite file, with progress recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, insert, select

from synapse.config import Settings
from synapse.db.engine import session_scope
from synapse.db.models import Asset, Finding, utcnow
from synapse.errors import Conflict, InvalidInput, JobCancelled, NotFound
from synapse.projects import ensure_project
from synapse.rules import crud, service, store
from tests.support.local import sqlite_settings


class Recorder:
    """Keeps progress; cancels at a message, or at the n-th check that writes nothing (the
    checks inside the write transaction)."""

    def __init__(self, cancel_at: str | None = None, cancel_check: int | None = None) -> None:
        self.messages: list[tuple[int, int, str, int | None]] = []
        self.logs: list[str] = []
        self.cancel_at = cancel_at
        self.cancel_check = cancel_check
        self.checks = 0

    def checkpoint(self) -> None:
        self.checks += 1
        if self.checks == self.cancel_check:
            raise JobCancelled("job")

    def update_progress(
        self, current: int, total: int, message: str, *, percent: int | None = None
    ) -> None:
        self.messages.append((current, total, message, percent))
        if self.cancel_at and message.startswith(self.cancel_at):
            raise JobCancelled("job")

    def log(self, level: str, message: str) -> None:
        self.logs.append(f"{level} {message}")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(service, "TICK_SECONDS", 0.0)
    monkeypatch.setattr(service, "EVERY", 100)
    settings = sqlite_settings(tmp_path, monkeypatch)
    with session_scope(settings) as session:
        project = ensure_project(session, "p1")
        now = utcnow()
        rows = [
            {
                "project_id": project.id,
                "tag": f"T-{i:04d}",
                "type": ("Motor", "Pump")[i % 2],
                "properties": {"power_kw": str(i)} if i != 7 else {"power_kw": "n/a"},
                "created_at": now,
                "updated_at": now,
            }
            for i in range(1000)
        ]
        session.execute(insert(Asset), rows)
    return settings


def add(settings: Settings, body: dict[str, Any], project: str = "p1") -> Any:
    with session_scope(settings) as session:
        return crud.create_rule(session, project, body)


def flag(condition: str, severity: str = "warning", **extra: Any) -> dict[str, Any]:
    message = "{tag}: {power_kw} kW"
    action = {"type": "flag", "severity": severity, "message": message}
    return {"name": condition, "condition": condition, "action": action} | extra


def findings(settings: Settings) -> list[tuple[int, str, str, str, str | None]]:
    with session_scope(settings) as session:
        f = Finding
        query = select(f.rule_id, f.asset_tag, f.severity, f.message, f.job_id)
        rows = session.execute(query.order_by(f.asset_tag, f.rule_id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def properties(settings: Settings, tag: str) -> dict[str, Any]:
    with session_scope(settings) as session:
        return dict(session.scalar(select(Asset.properties).where(Asset.tag == tag)) or {})


def test_run_replaces_findings_and_sets_properties(settings: Settings) -> None:
    big = add(settings, flag("power_kw > 900", applies_to=["motor"]))
    add(settings, flag("power_kw < 2", "info"))
    vfd = {"type": "set", "property": "requires_vfd", "value": True}
    add(settings, {"name": "vfd", "condition": "power_kw >= 990", "action": vfd})
    add(settings, flag("false", enabled=False))
    progress = Recorder()

    first = service.run_rules(settings, "p1", progress, job_id="job-1")
    # Motors are the even numbers; T-0007 (a pump)'s "n/a" is an error for the 2 rules of all.
    assert first["findings"] == {"error": 2, "warning": 49, "info": 2}
    assert first["rules"] == 3 and first["assets"] == 1000
    assert first["evaluations"] == 500 + 1000 + 1000
    assert first["properties_set"] == 10 and first["assets_updated"] == 10
    assert first["summary"] == (
        "Rules applied: 3 rules on 1,000 assets: 2 error, 49 warning, 2 info; 10 properties set"
    )
    assert properties(settings, "T-0995") == {"power_kw": "995", "requires_vfd": True}
    rows = findings(settings)
    assert len(rows) == 53 and {r[4] for r in rows} == {"job-1"}
    assert (big.id, "T-0902", "warning", "T-0902: 902 kW", "job-1") in rows

    again = service.run_rules(settings, "p1", Recorder(), job_id="job-2")
    assert again["findings"] == first["findings"] and again["properties_set"] == 0
    rows = findings(settings)
    assert len(rows) == 53 and {r[4] for r in rows} == {"job-2"}  # replaced, not added

    evaluated = [m for m in progress.messages if m[2].startswith("Applying rules... ")]
    assert evaluated[-1][:2] == (1000, 1000) and len(evaluated) >= 9
    percents = [m[3] for m in progress.messages]
    assert percents == sorted(percents) and percents[-1] == 90  # type: ignore[type-var]
    assert progress.messages[-1][2] == "Writing 53 findings..."
    assert progress.checks == 2  # after the batch of findings and the batch of sets


def test_a_run_over_some_tags_replaces_only_their_findings(settings: Settings) -> None:
    add(settings, flag("power_kw >= 0"))
    service.run_rules(settings, "p1", Recorder(), job_id="all")
    result = service.run_rules(settings, "p1", Recorder(), ["T-0001", "T-0002"], job_id="some")
    assert result["assets"] == 2 and result["scope"] == "tags"
    rows = findings(settings)
    assert len(rows) == 1000
    assert {r[1] for r in rows if r[4] == "some"} == {"T-0001", "T-0002"}


def test_cancel_while_writing_rolls_everything_back(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "WRITE_BATCH", 100)
    add(settings, flag("power_kw >= 0"))
    vfd = {"type": "set", "property": "requires_vfd", "value": True}
    add(settings, {"name": "vfd", "condition": "power_kw >= 0", "action": vfd})
    service.run_rules(settings, "p1", Recorder(), job_id="before")
    add(settings, flag("power_kw >= 1", "info"))
    with pytest.raises(JobCancelled):  # after 5 of the 20 batches of findings
        service.run_rules(settings, "p1", Recorder(cancel_check=5), job_id="x")
    assert {r[4] for r in findings(settings)} == {"before"} and len(findings(settings)) == 1001

    with session_scope(settings) as session:
        crud.update_rule(session, "p1", 2, {"action": vfd | {"value": "maybe"}})
    with pytest.raises(JobCancelled):  # after the 20 batches of findings and 1 of the sets
        service.run_rules(settings, "p1", Recorder(cancel_check=21), job_id="y")
    assert properties(settings, "T-0003")["requires_vfd"] is True
    assert {r[4] for r in findings(settings)} == {"before"}
    with pytest.raises(JobCancelled):  # the last check that writes comes before the write
        service.run_rules(settings, "p1", Recorder(cancel_at="Writing 2,000 findings"))
    service.run_rules(settings, "p1", Recorder(), job_id="z")
    assert properties(settings, "T-0003")["requires_vfd"] == "maybe"


def test_no_rules_clears_findings_and_unknown_projects_fail(settings: Settings) -> None:
    rule = add(settings, flag("power_kw >= 0"))
    service.run_rules(settings, "p1", Recorder())
    with session_scope(settings) as session:
        crud.update_rule(session, "p1", rule.id, {"enabled": False})
    result = service.run_rules(settings, "p1", Recorder())
    assert result["rules"] == 0 and result["findings_total"] == 0 and findings(settings) == []
    with pytest.raises(InvalidInput, match="project nope not found"):
        service.run_rules(settings, "nope", Recorder())


def test_crud(settings: Settings) -> None:
    rule = add(settings, flag("power_kw > 1", name="big"), project="new-project")
    assert rule.project_id == "new-project" and rule.applies_to == [] and rule.enabled
    with pytest.raises(Conflict, match="already has a rule named 'big'"):
        add(settings, flag("power_kw > 2", name="big"), project="new-project")
    with pytest.raises(InvalidInput, match=r"condition: the expression ends too early at column"):
        add(settings, flag("power_kw >", name="bad"))
    with session_scope(settings) as session:
        changed = crud.update_rule(
            session, "new-project", rule.id, {"condition": " power_kw > 3 ", "applies_to": ["X"]}
        )
        assert changed.condition == "power_kw > 3" and changed.applies_to == ["X"]
        assert changed.name == "big"
        assert changed.updated_at >= rule.updated_at
        with pytest.raises(InvalidInput, match="column 10"):
            crud.update_rule(session, "new-project", rule.id, {"condition": "power_kw ** 2"})
        with pytest.raises(NotFound):
            crud.update_rule(session, "p1", rule.id, {"enabled": False})  # another project's
        listed = crud.list_rules(session, "new-project", limit=10, offset=0)
        assert listed.total == 1 and listed.items[0].id == rule.id
        crud.delete_rule(session, "new-project", rule.id)
        assert crud.list_rules(session, "new-project", limit=10, offset=0).total == 0
        with pytest.raises(NotFound):
            crud.get_rule(session, "new-project", rule.id)


def test_list_findings(settings: Settings) -> None:
    warn = add(settings, flag("power_kw >= 990"))
    info = add(settings, flag("power_kw < 5", "info"))
    service.run_rules(settings, "p1", Recorder())
    with session_scope(settings) as session:
        page = crud.list_findings(session, "p1", limit=3, offset=0)
        assert page.totals == {"error": 2, "warning": 10, "info": 5} and page.total == 17
        assert [f.severity for f in page.items] == ["error", "error", "warning"]
        assert page.items[0].rule_name in (warn.name, info.name)
        both = crud.list_findings(session, "p1", severity="warning, info", limit=100, offset=0)
        assert both.total == 15 and {f.severity for f in both.items} == {"warning", "info"}
        only = crud.list_findings(session, "p1", rule_id=info.id, limit=2, offset=2)
        assert only.total == 6 and only.totals["info"] == 5 and len(only.items) == 2
        named = crud.list_findings(session, "p1", rule=warn.name, tag="T-0991", limit=9, offset=0)
        assert [(f.asset_tag, f.message) for f in named.items] == [("T-0991", "T-0991: 991 kW")]
        with pytest.raises(InvalidInput, match="severity must be one or more of"):
            crud.list_findings(session, "p1", severity="fatal", limit=1, offset=0)
        count = session.scalar(select(func.count()).select_from(Finding))
        crud.delete_rule(session, "p1", info.id)
    with session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Finding)) == count - 6
