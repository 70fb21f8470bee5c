"""Checking request bodies with pydantic: one line naming every problem, for a 422's `detail`."""

from __future__ import annotations

import unicodedata
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from synapse.errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def plain_text(value: str, what: str, limit: int) -> str:
    """Trimmed, inner whitespace folded; not empty, at most `limit` characters, no control
    characters."""
    value = " ".join(value.split())
    if not value:
        raise ValueError(f"{what} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{what} must be at most {limit} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs") for c in value):
        raise ValueError(f"{what} must not contain control characters")
    return value


def describe(what: str, exc: ValidationError) -> str:
    """`invalid <what>: options.formats.0: Input should be 'xlsx' or 'pdf'; title: …`."""
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "body"
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(f"{where}: {message}")
    return f"invalid {what}: " + "; ".join(problems)


def parse(model: type[M], body: Any, what: str, *, example: str = "") -> M:
    """`body` as `model`, or InvalidInput naming every problem."""
    if not isinstance(body, dict):
        like = f" like {example}" if example else ""
        raise InvalidInput(f"the {what} must be a JSON object{like}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise InvalidInput(describe(what, exc)) from None
