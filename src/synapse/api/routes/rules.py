"""Rules of a project (create, list, change, delete, run) and their findings."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from synapse import audit
from synapse.api.deps import CeleryDep, IdP, IdQ, LimitQ, OffsetQ, RunAtDep, SessionDep, SettingsDep
from synapse.api.idempotency import IDEMPOTENT, IdempotentRoute
from synapse.api.schemas import UploadAccepted
from synapse.api.security import PrincipalDep, check_project
from synapse.auth import Principal
from synapse.rules import crud
from synapse.rules.schemas import FindingList, RuleList, RulePublic
from synapse.rules.service import submit_run

router = APIRouter(prefix="/api/v1/projects", tags=["rules"], route_class=IdempotentRoute)

RULE_EXAMPLES = [
    {
        "name": "Large motors need a VFD",
        "applies_to": ["Motor"],
        "condition": "power_kw > 50 and not has('vfd')",
        "action": {
            "type": "flag",
            "severity": "warning",
            "message": "{tag} draws {power_kw} kW and has no VFD",
        },
    },
    {
        "name": "Derive requires_vfd",
        "applies_to": ["Motor"],
        "condition": "power_kw > 50",
        "action": {"type": "set", "property": "requires_vfd", "value": True},
    },
]
RULE_DOC = (
    "`name` (unique in the project), `applies_to` (asset types; [] for all), `condition` (see "
    "docs/rules.md), `action`: `{type: flag, severity: info|warning|error, message}` or "
    "`{type: set, property, value}`, `enabled` (default true)"
)
RuleBody = Annotated[dict[str, Any], Body(description=RULE_DOC, examples=RULE_EXAMPLES)]


@router.get("/{project_id}/rules", response_model=RuleList)
def list_rules(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
) -> RuleList:
    """The project's rules in the order they run (by id)."""
    check_project(principal, project_id)
    return crud.list_rules(session, project_id, limit=limit, offset=offset)


@router.post("/{project_id}/rules", status_code=201, response_model=RulePublic)
def create_rule(
    project_id: str, session: SessionDep, principal: PrincipalDep, body: RuleBody, request: Request
) -> RulePublic:
    """A new rule. A condition that does not compile is a 422 naming the position and problem;
    a name the project already has is a 409."""
    check_project(principal, project_id)
    rule = crud.create_rule(session, project_id, body)
    _audit(session, principal, request, "rule.create", rule, body)
    return rule


@router.get("/{project_id}/rules/{rule_id}", response_model=RulePublic)
def get_rule(
    project_id: str, rule_id: IdP, session: SessionDep, principal: PrincipalDep
) -> RulePublic:
    check_project(principal, project_id)
    return crud.get_rule(session, project_id, rule_id)


@router.put("/{project_id}/rules/{rule_id}", response_model=RulePublic)
def update_rule(
    project_id: str,
    rule_id: IdP,
    session: SessionDep,
    principal: PrincipalDep,
    body: RuleBody,
    request: Request,
) -> RulePublic:
    """Change the given fields of a rule (checked like a new one)."""
    check_project(principal, project_id)
    rule = crud.update_rule(session, project_id, rule_id, body)
    _audit(session, principal, request, "rule.update", rule, body)
    return rule


@router.delete("/{project_id}/rules/{rule_id}", status_code=204, response_class=Response)
def delete_rule(
    project_id: str, rule_id: IdP, session: SessionDep, principal: PrincipalDep, request: Request
) -> Response:
    """The rule and its findings go; properties it set stay."""
    check_project(principal, project_id)
    rule = crud.get_rule(session, project_id, rule_id)
    crud.delete_rule(session, project_id, rule_id)
    _audit(session, principal, request, "rule.delete", rule, None)
    return Response(status_code=204)


def _audit(
    session: Session,
    principal: Principal,
    request: Request,
    action: str,
    rule: RulePublic,
    body: dict[str, Any] | None,
) -> None:
    """The rule change in the audit trail, in the change's own transaction."""
    detail: dict[str, Any] = {"project_id": rule.project_id, "name": rule.name}
    if body is not None:
        detail["fields"] = sorted(body)
    target = f"project {rule.project_id} rule {rule.id}"
    audit.record_by(session, principal, request, action, target, detail)


@router.post(
    "/{project_id}/rules/run",
    status_code=202,
    response_model=UploadAccepted,
    dependencies=[IDEMPOTENT],
)
async def run_rules(
    project_id: str,
    settings: SettingsDep,
    celery: CeleryDep,
    principal: PrincipalDep,
    body: Annotated[dict[str, Any] | None, Body(examples=[{"priority": "bulk"}])] = None,
    run_at: RunAtDep = None,
) -> UploadAccepted:
    """Queue a run of the project's enabled rules over all its assets (a job on the bulk queue
    unless `priority` says otherwise); its findings replace the previous ones."""
    check_project(principal, project_id)
    job = await run_in_threadpool(
        submit_run,
        settings=settings,
        celery=celery,
        project_key=project_id,
        body=body,
        submitted_by=principal.id,
        run_at=run_at,
    )
    return UploadAccepted.of(job, "Rules run")


@router.get("/{project_id}/findings", response_model=FindingList)
def list_findings(
    project_id: str,
    session: SessionDep,
    principal: PrincipalDep,
    severity: str | None = None,
    rule_id: IdQ = None,
    rule: str | None = None,
    tag: str | None = None,
    limit: LimitQ = 100,
    offset: OffsetQ = 0,
) -> FindingList:
    """Findings, most severe first, then by asset tag. Filters: `severity` (one, or several
    comma-separated), `rule_id` or `rule` (name), `tag`. `totals`: counts by severity under
    the other filters."""
    check_project(principal, project_id)
    return crud.list_findings(
        session,
        project_id,
        severity=severity,
        rule_id=rule_id,
        rule=rule,
        tag=tag,
        limit=limit,
        offset=offset,
    )
