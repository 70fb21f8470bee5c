"""The shapes of rules and findings (DESIGN §3): RuleCreate / RuleUpdate / RulePublic, findings.

Request bodies are checked here (a bad body is a 422 whose `detail` names each problem); the
condition itself is compiled by the service, which names the position of a syntax error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from synapse.validation import plain_text

SEVERITIES: tuple[str, ...] = ("error", "warning", "info")  # most severe first
Severity = Literal["info", "warning", "error"]
RESERVED = frozenset({"tag", "type"})
MAX_NAME = 200
MAX_TYPE = 100
MAX_PROPERTY = 100
MAX_TEXT = 1000


class FlagAction(BaseModel):
    """Record a finding for each asset the condition holds for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["flag"]
    severity: Severity = "warning"
    # May quote fields: "{tag} draws {power_kw} kW". `{{` and `}}` are literal braces.
    message: str = Field(min_length=1, max_length=MAX_TEXT)


class SetAction(BaseModel):
    """Set a derived property on each asset the condition holds for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["set"]
    property: str
    value: (
        StrictBool
        | StrictInt
        | Annotated[StrictFloat, Field(allow_inf_nan=False)]
        | Annotated[StrictStr, Field(max_length=MAX_TEXT)]
    )

    @field_validator("property")
    @classmethod
    def _property(cls, value: str) -> str:
        # Named like imported columns: trimmed, spaces folded, lower case.
        value = plain_text(value, "property", MAX_PROPERTY).lower()
        if value in RESERVED:
            raise ValueError(f"{value!r} is the asset's own field; set a property instead")
        return value


Action = Annotated[FlagAction | SetAction, Field(discriminator="type")]


def _types(value: list[str]) -> list[str]:
    return list(dict.fromkeys(plain_text(v, "an asset type", MAX_TYPE) for v in value))


class RuleCreate(BaseModel):
    """The body of `POST /api/v1/projects/{project_id}/rules`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    applies_to: list[str] = Field(default_factory=list, max_length=500)  # []: every type
    condition: str = Field(min_length=1, max_length=2000)
    action: Action
    enabled: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return plain_text(value, "name", MAX_NAME)

    _applies_to = field_validator("applies_to")(_types)


class RuleUpdate(BaseModel):
    """The body of `PUT .../rules/{rule_id}`: the fields to change."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = None
    applies_to: list[str] | None = Field(default=None, max_length=500)
    condition: str | None = Field(default=None, min_length=1, max_length=2000)
    action: Action | None = None
    enabled: bool | None = None


class RulePublic(BaseModel):
    id: int
    project_id: str
    name: str
    applies_to: list[str]
    condition: str
    action: dict[str, Any]
    enabled: bool
    created_at: datetime
    updated_at: datetime


class RuleList(BaseModel):
    items: list[RulePublic]
    total: int
    limit: int
    offset: int


class FindingPublic(BaseModel):
    id: int
    rule_id: int
    rule_name: str
    asset_tag: str
    severity: str
    message: str
    job_id: str | None
    created_at: datetime


class FindingList(BaseModel):
    items: list[FindingPublic]
    total: int
    limit: int
    offset: int
    # Counts by severity under the same filters except `severity`, e.g. for tabs.
    totals: dict[str, int]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    priority: Literal["urgent", "default", "bulk"] = "bulk"
