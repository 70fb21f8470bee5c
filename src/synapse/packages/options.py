"""What a package request may ask for, checked once: bad input is a 422 naming the problem.

`package_type` picks the parts, `formats` the files:

- `instrument_index` (the index part): the workbook has Summary, Index (every asset, one row
  each, every property a column) and one sheet per asset type; the PDF has a cover, contents and
  the index as a table (tag, type, properties).
- `datasheets` (the datasheets part): the workbook has Summary and Datasheets (tag, type,
  property, value); the PDF has a cover, contents and one datasheet page per asset.
- `full`: both parts in each file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synapse.validation import parse, plain_text

PackageType = Literal["instrument_index", "datasheets", "full"]
Format = Literal["xlsx", "pdf"]
PACKAGE_TYPES: tuple[str, ...] = ("instrument_index", "datasheets", "full")
FORMATS: tuple[str, ...] = ("xlsx", "pdf")
PARTS: dict[str, tuple[str, ...]] = {
    "instrument_index": ("index",),
    "datasheets": ("datasheets",),
    "full": ("index", "datasheets"),
}
DEFAULT_TITLES = {
    "instrument_index": "Instrument index",
    "datasheets": "Datasheets",
    "full": "Engineering package",
}
MAX_TITLE = 200
MAX_REVISION = 20
MAX_TYPE = 100
MAX_TYPES = 500


class PackageOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    formats: tuple[Format, ...] = Field(default=("xlsx", "pdf"), min_length=1)
    # Only these asset types; left out or empty: every type.
    asset_types: tuple[str, ...] = Field(default=(), max_length=MAX_TYPES)
    title: str | None = None
    revision: str = "A"

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(value))

    @field_validator("asset_types")
    @classmethod
    def _types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(plain_text(v, "an asset type", MAX_TYPE) for v in value))

    @field_validator("title")
    @classmethod
    def _title(cls, value: str | None) -> str | None:
        return None if value is None else plain_text(value, "title", MAX_TITLE)

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        return plain_text(value, "revision", MAX_REVISION)


class PackageRequest(BaseModel):
    """The body of `POST /api/v1/projects/{project_id}/packages`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    package_type: PackageType
    options: PackageOptions = PackageOptions()
    priority: Literal["urgent", "default", "bulk"] = "bulk"


def parse_request(body: Any) -> PackageRequest:
    return parse(PackageRequest, body, "package request", example='{"package_type": "full"}')


@dataclass(frozen=True)
class PackageJob:
    """One package to make: what `run_package` needs."""

    project_key: str
    package_type: str
    options: PackageOptions
    job_id: str | None = None

    @property
    def parts(self) -> tuple[str, ...]:
        return PARTS[self.package_type]

    @property
    def title(self) -> str:
        return self.options.title or DEFAULT_TITLES[self.package_type]


def package_job(
    *, project_key: str, package_type: str, options: Any, job_id: str | None = None
) -> PackageJob:
    """The task's arguments (as stored with the job) checked again: a worker trusts no one."""
    request = parse_request({"package_type": package_type, "options": options or {}})
    return PackageJob(
        project_key=project_key,
        package_type=request.package_type,
        options=request.options,
        job_id=job_id,
    )
