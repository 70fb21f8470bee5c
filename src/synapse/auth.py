"""Who is asking: API tokens from settings, each with a role and, for members, their projects.

`SYNAPSE_API_TOKENS` holds comma-separated `TOKEN:ROLE[:PROJECT|PROJECT…]` entries, e.g.
`s3cret-admin:admin,m3mber:member:proj-a|proj-b`. With no tokens configured everything is open,
which the API allows only on a loopback address (see `check_exposure`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass, field

ADMIN = "admin"
MEMBER = "member"
ROLES = (ADMIN, MEMBER)


class TokenConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Principal:
    """The caller: `id` is a fingerprint of the token (never the token itself)."""

    id: str
    role: str
    projects: frozenset[str] = field(default_factory=frozenset)
    open: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN

    def sees(self, project_key: str | None) -> bool:
        """Admins see everything; members only their projects (not system-wide jobs)."""
        return self.is_admin or (project_key is not None and project_key in self.projects)

    @property
    def project_scope(self) -> frozenset[str] | None:
        """The projects a listing is limited to; None: no limit."""
        return None if self.is_admin else self.projects


OPEN = Principal(id="local", role=ADMIN, open=True)


@dataclass(frozen=True)
class TokenEntry:
    secret: str
    principal: Principal


def fingerprint(secret: str, role: str) -> str:
    return f"{role}-{hashlib.sha256(secret.encode()).hexdigest()[:8]}"


def parse_tokens(raw: str) -> list[TokenEntry]:
    """Parse `TOKEN:ROLE[:PROJECT|…]` entries; a malformed entry is an error (never ignored)."""
    entries: list[TokenEntry] = []
    for number, item in enumerate((x.strip() for x in raw.split(",")), start=1):
        if not item:
            continue
        parts = item.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise TokenConfigError(
                f"SYNAPSE_API_TOKENS entry {number} must be TOKEN:ROLE or TOKEN:member:PROJECT|…"
            )
        secret, role = parts[0], parts[1].strip().lower()
        if role not in ROLES:
            raise TokenConfigError(
                f"SYNAPSE_API_TOKENS entry {number}: role must be admin or member, not {role!r}"
            )
        projects = (
            frozenset(p.strip() for p in parts[2].split("|") if p.strip())
            if len(parts) == 3
            else frozenset()
        )
        if role == MEMBER and not projects:
            raise TokenConfigError(
                f"SYNAPSE_API_TOKENS entry {number}: a member token needs its projects "
                "(TOKEN:member:PROJECT|PROJECT)"
            )
        entries.append(TokenEntry(secret, Principal(fingerprint(secret, role), role, projects)))
    return entries


def authenticate(entries: list[TokenEntry], presented: str | None) -> Principal | None:
    """The principal of a presented token, compared in constant time; None if unknown."""
    if not presented:
        return None
    found: Principal | None = None
    for entry in entries:
        if hmac.compare_digest(entry.secret.encode(), presented.encode()):
            found = entry.principal
    return found


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, entries: list[TokenEntry]) -> None:
    """Refuse to serve beyond loopback without tokens."""
    if not entries and not is_loopback(host):
        raise TokenConfigError(
            f"refusing to listen on {host} without API tokens: anyone who can reach it could "
            "read and change every job. Set SYNAPSE_API_TOKENS, for example "
            "SYNAPSE_API_TOKENS='<long-random-secret>:admin,<another>:member:proj-a|proj-b', "
            "or listen on 127.0.0.1 (SYNAPSE_HOST)."
        )
