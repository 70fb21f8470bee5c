"""Creating, changing, deleting and listing rules, and listing findings: what the API calls.

A rule is checked in full before it is stored: its body (RuleCreate), its condition (compiled,
so a syntax error is a 422 naming the position) and its name (unique in the project: 409).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from synapse.db.models import Project, Rule, utcnow
from synapse.errors import Conflict, InvalidInput, NotFound
from synapse.projects import ensure_project, get_project
from synapse.rules import store
from synapse.rules.language import compile_condition
from synapse.rules.schemas import (
    SEVERITIES,
    FindingList,
    FindingPublic,
    RuleCreate,
    RuleList,
    RulePublic,
    RuleUpdate,
)
from synapse.validation import parse


def public(rule: Rule, project_key: str) -> RulePublic:
    return RulePublic(
        id=rule.id,
        project_id=project_key,
        name=rule.name,
        applies_to=list(rule.applies_to or []),
        condition=rule.condition,
        action=dict(rule.action),
        enabled=rule.enabled,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def _checked(data: RuleCreate) -> RuleCreate:
    condition = compile_condition(data.condition)  # RuleSyntaxError: 422 with the position
    return data.model_copy(update={"condition": condition.text})


def _store(session: Session, rule: Rule, project: Project) -> None:
    """Write the new or changed rule now, so that a clash is a 409 here, not at the commit.
    A failed flush leaves the transaction to roll back, which the Conflict does."""
    # Read before the flush: after a failed one the session refuses to load anything, the
    # rule's attributes included, until it is rolled back.
    name, key = rule.name, project.key
    with session.no_autoflush:  # a renamed rule is not written before its name is checked
        taken = store.name_taken(session, project.id, name, but=rule.id)
    if taken:
        raise Conflict(f"project {key} already has a rule named {name!r}")
    try:
        session.add(rule)
        session.flush()
    except IntegrityError as error:  # a race: the same name saved, or the rule deleted meanwhile
        raise _conflict(error, name, key) from None


def _conflict(error: IntegrityError, name: str, project_key: str) -> Conflict:
    text = str(error.orig)
    if "uq_rules_project_name" in text or "rules.project_id, rules.name" in text:
        return Conflict(f"project {project_key} already has a rule named {name!r}")
    return Conflict(
        f"rule {name!r} of project {project_key} could not be saved: it was changed or "
        "deleted by someone else meanwhile; reload it and try again"
    )


def create_rule(session: Session, project_key: str, body: Any) -> RulePublic:
    """A new rule; an unknown project is created (like an upload does)."""
    data = _checked(parse(RuleCreate, body, "rule"))
    project = ensure_project(session, project_key)
    now = utcnow()
    rule = Rule(
        project_id=project.id,
        name=data.name,
        applies_to=data.applies_to,
        condition=data.condition,
        action=data.action.model_dump(mode="json"),
        enabled=data.enabled,
        created_at=now,
        updated_at=now,
    )
    _store(session, rule, project)
    return public(rule, project.key)


# rules.id is a 32-bit INTEGER: a larger id (the API takes any 64-bit one) is no rule at all.
MAX_RULE_ID = 2**31 - 1


def _rule(session: Session, project: Project, rule_id: int) -> Rule:
    rule = store.get_rule(session, project.id, rule_id) if 0 < rule_id <= MAX_RULE_ID else None
    if rule is None:
        raise NotFound(f"rule {rule_id} not found in project {project.key}")
    return rule


def get_rule(session: Session, project_key: str, rule_id: int) -> RulePublic:
    project = get_project(session, project_key)
    return public(_rule(session, project, rule_id), project.key)


def update_rule(session: Session, project_key: str, rule_id: int, body: Any) -> RulePublic:
    """Change the given fields; the result is checked like a new rule."""
    changes = parse(RuleUpdate, body, "rule update").model_dump(exclude_unset=True)
    project = get_project(session, project_key)
    rule = _rule(session, project, rule_id)
    merged = public(rule, project.key).model_dump(
        include={"name", "applies_to", "condition", "action", "enabled"}
    )
    merged.update(changes)
    data = _checked(parse(RuleCreate, merged, "rule"))
    rule.name, rule.applies_to, rule.condition = data.name, data.applies_to, data.condition
    rule.action, rule.enabled = data.action.model_dump(mode="json"), data.enabled
    rule.updated_at = utcnow()
    _store(session, rule, project)
    return public(rule, project.key)


def delete_rule(session: Session, project_key: str, rule_id: int) -> None:
    """The rule and its findings (properties it set stay: they are the assets' data now)."""
    project = get_project(session, project_key)
    rule = _rule(session, project, rule_id)
    store.delete_findings_of_rule(session, rule.id)
    session.delete(rule)


def list_rules(session: Session, project_key: str, *, limit: int, offset: int) -> RuleList:
    project = get_project(session, project_key)
    rows, total = store.list_rules(session, project.id, limit=limit, offset=offset)
    items = [public(r, project.key) for r in rows]
    return RuleList(items=items, total=total, limit=limit, offset=offset)


def severities_of(text: str | None) -> tuple[str, ...]:
    """`error` or `error,warning` → the severities; anything else is a 422."""
    if not text:
        return ()
    wanted = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    unknown = [s for s in wanted if s not in SEVERITIES]
    if unknown:
        raise InvalidInput(
            f"severity must be one or more of {', '.join(SEVERITIES)}, not {', '.join(unknown)}"
        )
    return wanted


def list_findings(
    session: Session,
    project_key: str,
    *,
    severity: str | None = None,
    rule_id: int | None = None,
    rule: str | None = None,
    tag: str | None = None,
    limit: int,
    offset: int,
) -> FindingList:
    project = get_project(session, project_key)
    if rule_id is not None and not 0 < rule_id <= MAX_RULE_ID:
        rule_id = 0  # no rule has it: no findings (ids start at 1)
    rows, total, totals = store.list_findings(
        session,
        project.id,
        severities=severities_of(severity),
        rule_id=rule_id,
        rule_name=rule,
        asset_tag=tag,
        limit=limit,
        offset=offset,
    )
    items = [
        FindingPublic(
            id=f.id,
            rule_id=f.rule_id,
            rule_name=name,
            asset_tag=f.asset_tag,
            severity=f.severity,
            message=f.message,
            job_id=f.job_id,
            created_at=f.created_at,
        )
        for f, name in rows
    ]
    return FindingList(items=items, total=total, limit=limit, offset=offset, totals=totals)
